//! Profiling driver: builds `n` synthetic fences and runs `query` and tracker steps in a loop,
//! so `valgrind --tool=callgrind` / `cachegrind` or `perf stat` can count one phase at a time.
//!
//! `cargo run --release -p vigil-geofence --example probe -- <n> <query|step|build> <iterations>`

use std::hint::black_box;
use std::time::Instant;

use geo::Coord;
use geofence::synth::{PROVINCE, SynthRng, offset, random_fences, random_position};
use geofence::{DeviceTrackers, FenceIndex, Fix, TrackerConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let what = args.get(2).map_or("query", String::as_str);
    let iters: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let t = Instant::now();
    let fences = random_fences(n as u64, n, PROVINCE);
    let t_shapes = t.elapsed();
    let t = Instant::now();
    let index = FenceIndex::from_fences(fences).expect("unique ids");
    eprintln!(
        "n={n}: shapes {:.2} s, index {:.2} s",
        t_shapes.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    let mut rng = SynthRng::new(42);
    let t = Instant::now();
    match what {
        "query" => {
            let points: Vec<Coord<f64>> = (0..4096)
                .map(|_| random_position(&mut rng, PROVINCE))
                .collect();
            let mut hits = 0usize;
            for i in 0..iters {
                let p = points[i % points.len()];
                index.for_each_containing(p.x, p.y, |_| true, |_| hits += 1);
            }
            black_box(hits);
        }
        "step" => {
            let config = TrackerConfig::default();
            let mut devices = vec![DeviceTrackers::new(); 256];
            let mut at: Vec<Coord<f64>> = (0..256)
                .map(|_| random_position(&mut rng, PROVINCE))
                .collect();
            let mut events = Vec::new();
            for i in 0..iters {
                let d = i % 256;
                let p = offset(at[d], rng.range(-400.0, 400.0), rng.range(-400.0, 400.0));
                at[d] = Coord {
                    x: p.x.clamp(PROVINCE[0], PROVINCE[2]),
                    y: p.y.clamp(PROVINCE[1], PROVINCE[3]),
                };
                let fix = Fix::new(i as i64 * 30_000, at[d].y, at[d].x);
                events.clear();
                devices[d].step(&index, &fix, &config, |_| true, &mut events);
            }
            black_box(events.len());
        }
        _ => return,
    }
    let dt = t.elapsed();
    eprintln!(
        "{what}: {:.3} µs per op over {iters}",
        dt.as_secs_f64() * 1e6 / iters as f64
    );
}
