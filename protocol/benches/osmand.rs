//! OsmAnd parse throughput: positions per second for the query and the JSON shapes.

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::osmand::{self, OsmandConfig};
use protocol::{DeviceId, LatLon, Position};
use std::hint::black_box;

const N: u64 = 1000;

fn requests() -> (Vec<String>, Vec<String>, String) {
    let id = DeviceId::parse("123456789012345").unwrap_or_else(|_| unreachable!());
    let t0 = Utc
        .with_ymd_and_hms(2025, 6, 15, 12, 0, 0)
        .single()
        .unwrap_or_default();
    let positions: Vec<Position> = (0..N)
        .map(|i| {
            let d = i as f64 * 1e-4;
            let loc = LatLon::new(52.52 + d, 13.405 + d).unwrap_or_else(|_| unreachable!());
            let mut p = Position::new(t0 + chrono::Duration::seconds(i as i64), loc, true, 42.5);
            p.course = Some((i % 360) as f32);
            p.altitude_m = Some(34.0);
            p.accuracy_m = Some(5.0);
            p.status.battery_level = Some(87);
            p
        })
        .collect();
    let uris = positions
        .iter()
        .map(|p| osmand::device::uri(&id, p))
        .collect();
    let bodies = positions
        .iter()
        .map(|p| osmand::device::json(&id, p))
        .collect();
    let batch = osmand::device::json_batch(&id, &positions);
    (uris, bodies, batch)
}

fn bench(c: &mut Criterion) {
    let (uris, bodies, batch) = requests();
    let config = OsmandConfig::default();
    let now = Utc::now();
    let mut g = c.benchmark_group("osmand");
    g.throughput(Throughput::Elements(N));
    g.bench_function("query", |b| {
        b.iter(|| {
            for uri in &uris {
                let r = osmand::parse_request("GET", uri, None, b"", now, &config);
                black_box(r.is_ok());
            }
        })
    });
    g.bench_function("json", |b| {
        b.iter(|| {
            for body in &bodies {
                let r = osmand::parse_request(
                    "POST",
                    "/",
                    Some("application/json"),
                    body.as_bytes(),
                    now,
                    &config,
                );
                black_box(r.is_ok());
            }
        })
    });
    g.bench_function("json_batch", |b| {
        b.iter(|| {
            let r = osmand::parse_json(batch.as_bytes(), None, now, &config);
            black_box(r.is_ok());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
