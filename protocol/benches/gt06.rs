//! GT06 decode throughput: buffers of location frames (0x12 and 0x22) through the stream
//! `Decoder`, plus the heap allocations that decoding them costs (counted, printed per frame).

mod support;

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::gt06::{Gt06Codec, device};
use protocol::{CellTower, LatLon, Position};
use tokio_util::codec::Decoder;

const FRAMES: usize = 10_000;

fn position() -> Position {
    let mut p = Position::new(
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 0).unwrap(),
        LatLon::new(22.5461, 114.0579).unwrap(),
        true,
        42.0,
    );
    p.course = Some(181.0);
    p.satellites = Some(9);
    p.status.ignition = Some(true);
    p.cell = Some(CellTower {
        mcc: 460,
        mnc: 0,
        lac: 0x287D,
        cell_id: 0x1FB8,
    });
    p
}

fn frames(encode: fn(&Position, u16) -> Vec<u8>) -> Vec<u8> {
    let p = position();
    let mut out = Vec::new();
    for i in 0..FRAMES {
        out.extend_from_slice(&encode(&p, i as u16));
    }
    out
}

/// Decodes every frame in `buf`; returns how many came out.
fn decode_all(buf: &mut BytesMut) -> usize {
    let mut codec = Gt06Codec::default();
    let mut n = 0usize;
    while let Ok(Some(d)) = codec.decode(buf) {
        std::hint::black_box(&d);
        n += 1;
    }
    n
}

fn bench_case(c: &mut Criterion, name: &str, data: &[u8]) {
    // One untimed pass to count the allocations of decoding alone (not of filling the buffer).
    let mut buf = BytesMut::from(data);
    let before = support::allocations();
    let n = decode_all(&mut buf);
    let allocations = support::allocations() - before;
    assert_eq!(n, FRAMES);
    println!(
        "gt06/{name}: {allocations} allocations for {FRAMES} frames ({} per frame)",
        allocations as f64 / FRAMES as f64
    );

    let mut group = c.benchmark_group("gt06");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function(name, |b| {
        b.iter_batched(
            || BytesMut::from(data),
            |mut buf| {
                let n = decode_all(&mut buf);
                assert_eq!(n, FRAMES);
                buf
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    bench_case(c, "decode_location_0x12", &frames(device::location_0x12));
    bench_case(c, "decode_location_0x22", &frames(device::location));
}

criterion_group!(benches, bench);
criterion_main!(benches);
