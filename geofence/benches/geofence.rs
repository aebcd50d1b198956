#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Benchmarks: one `query`, one full tracker step (`DeviceTrackers::step`) and the linear-scan
//! equivalents at 1k/10k/100k/1M fences over a province; point tests against a 5,000-vertex
//! boundary; snapshot edits. Prints build time and memory for each size.
//!
//! Run: `cargo bench -p vigil-geofence --bench geofence` (add a filter such as `n=100000`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use geo::{Contains, Coord, Intersects, LineString, MultiPolygon, Polygon};
use geofence::synth::{
    PROVINCE, SynthRng, blob_ring, offset, random_fence, random_fences, random_position, star_ring,
};
use geofence::{DeviceTrackers, FenceIndex, FenceShape, Fix, TrackerConfig};

/// Resident set size in MiB (Linux), for rough memory figures.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |pages| pages * 4096.0 / (1024.0 * 1024.0))
}

const DEVICES: usize = 256;
const STEPS: usize = 512;

/// Per device a wandering path of 30 s fixes with 100–400 m moves (a vehicle in town).
fn device_paths(seed: u64) -> Vec<Vec<Fix>> {
    let mut rng = SynthRng::new(seed);
    (0..DEVICES)
        .map(|_| {
            let mut at = random_position(&mut rng, PROVINCE);
            (0..STEPS)
                .map(|i| {
                    at = offset(at, rng.range(-400.0, 400.0), rng.range(-400.0, 400.0));
                    at.x = at.x.clamp(PROVINCE[0], PROVINCE[2]);
                    at.y = at.y.clamp(PROVINCE[1], PROVINCE[3]);
                    let mut fix = Fix::new(i as i64 * 30_000, at.y, at.x);
                    fix.accuracy_m = Some(rng.range(5.0, 30.0) as f32);
                    fix
                })
                .collect()
        })
        .collect()
}

fn bench_sizes(c: &mut Criterion) {
    let mut rng = SynthRng::new(42);
    let points: Vec<Coord<f64>> = (0..4096)
        .map(|_| random_position(&mut rng, PROVINCE))
        .collect();
    let paths = device_paths(7);
    let config = TrackerConfig::default();
    for n in [1_000usize, 10_000, 100_000, 1_000_000] {
        let rss0 = rss_mib();
        let t0 = Instant::now();
        let fences = random_fences(n as u64, n, PROVINCE);
        let t_shapes = t0.elapsed();
        let vertices: usize = fences.iter().map(|f| f.shape.vertex_count()).sum();
        let t1 = Instant::now();
        let index = FenceIndex::from_fences(fences).expect("unique ids");
        let t_index = t1.elapsed();
        let rss1 = rss_mib();
        let hits: usize = points.iter().map(|p| index.query(p.x, p.y).len()).sum();
        println!(
            "n={n}: {vertices} vertices; validate+compile {:.2} s, index build {:.2} s; RSS +{:.0} MiB; \
             mean {:.2} fences contain a random point",
            t_shapes.as_secs_f64(),
            t_index.as_secs_f64(),
            rss1 - rss0,
            hits as f64 / points.len() as f64
        );

        let mut group = c.benchmark_group(format!("n={n}"));
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        let mut i = 0usize;
        group.bench_function("query", |b| {
            b.iter(|| {
                i = (i + 1) % points.len();
                let p = points[i];
                let mut count = 0usize;
                index.for_each_containing(p.x, p.y, |_| true, |_| count += 1);
                black_box(count)
            })
        });
        let mut devices: Vec<DeviceTrackers> = vec![DeviceTrackers::new(); DEVICES];
        let mut events = Vec::new();
        let mut k = 0usize;
        let mut lap = 0i64;
        group.bench_function("tracker_step", |b| {
            b.iter(|| {
                let d = k % DEVICES;
                let step = (k / DEVICES) % STEPS;
                if d == 0 && step == 0 && k > 0 {
                    lap += 1;
                }
                k += 1;
                // Later laps replay the path with later timestamps so fixes stay in order.
                let mut fix = paths[d][step];
                fix.time_ms += lap * STEPS as i64 * 30_000;
                events.clear();
                devices[d].step(&index, &fix, &config, |_| true, &mut events);
                black_box(events.len())
            })
        });
        let tracked: usize = devices.iter().map(|d| d.entries().len()).sum();
        println!(
            "n={n}: mean {:.2} non-idle fence states per device",
            tracked as f64 / DEVICES as f64
        );
        if n >= 100_000 {
            group.sample_size(10);
        }
        group.bench_function("query_linear", |b| {
            b.iter(|| {
                i = (i + 1) % points.len();
                let p = points[i];
                black_box(index.iter().filter(|f| f.contains(p.x, p.y)).count())
            })
        });
        group.bench_function("tracker_step_linear", |b| {
            // What a tracker step costs without the index: classify against every fence.
            b.iter(|| {
                i = (i + 1) % points.len();
                let p = points[i];
                black_box(
                    index
                        .iter()
                        .filter(|f| {
                            f.classify(p.x, p.y, config.margin_m) != geofence::Side::Outside
                        })
                        .count(),
                )
            })
        });
        if n >= 100_000 {
            let mut next_id = n as u64;
            let mut edit_rng = SynthRng::new(3);
            let mut current = index.clone();
            group.bench_function("upsert_snapshot", |b| {
                b.iter(|| {
                    let fence = random_fence(&mut edit_rng, next_id % (n as u64 + 5_000), PROVINCE);
                    next_id += 1;
                    current = current.with_upsert(fence);
                    black_box(current.len())
                })
            });
            let t = Instant::now();
            let rebuilt = FenceIndex::from_fences(current.iter().cloned()).expect("unique");
            println!(
                "n={n}: full rebuild (compaction) of {} fences took {:.2} s",
                rebuilt.len(),
                t.elapsed().as_secs_f64()
            );
        }
        group.finish();
        drop(index);
    }
}

fn bench_big_boundary(c: &mut Criterion) {
    let mut group = c.benchmark_group("boundary");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for (label, vertices) in [
        ("county", 5_000usize),
        ("county", 20_000),
        ("spiky_star", 5_000),
    ] {
        let mut rng = SynthRng::new(vertices as u64);
        let centre = Coord { x: 116.0, y: 40.0 };
        // A county-like boundary; the spiky star (every edge a 10–20 km spike) is a worst case.
        let ring = if label == "county" {
            blob_ring(&mut rng, centre, 30_000.0, vertices)
        } else {
            star_ring(&mut rng, centre, 40_000.0, vertices)
        };
        let poly = Polygon::new(LineString::new(ring), vec![]);
        let t = Instant::now();
        let shape = FenceShape::polygon(&poly).expect("valid");
        println!(
            "county {vertices} vertices: validate+compile {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let interval =
            geo::algorithm::indexed::IntervalTreeMultiPolygon::new(&MultiPolygon::new(vec![
                poly.clone(),
            ]));
        let points: Vec<Coord<f64>> = (0..4096)
            .map(|_| Coord {
                x: rng.range(115.5, 116.5),
                y: rng.range(39.6, 40.4),
            })
            .collect();
        let mut i = 0usize;
        group.bench_function(format!("{label}_{vertices}v/contains"), |b| {
            b.iter(|| {
                i = (i + 1) % points.len();
                black_box(shape.contains(points[i]))
            })
        });
        group.bench_function(format!("{label}_{vertices}v/classify_50m"), |b| {
            b.iter(|| {
                i = (i + 1) % points.len();
                black_box(shape.classify(points[i], 50.0))
            })
        });
        group.bench_function(
            format!("{label}_{vertices}v/geo_interval_tree_contains"),
            |b| {
                b.iter(|| {
                    i = (i + 1) % points.len();
                    black_box(interval.contains(&points[i]))
                })
            },
        );
        group.bench_function(format!("{label}_{vertices}v/geo_polygon_intersects"), |b| {
            b.iter(|| {
                i = (i + 1) % points.len();
                black_box(poly.intersects(&points[i]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_big_boundary, bench_sizes);
criterion_main!(benches);
