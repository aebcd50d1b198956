//! JT808 0x0200 decode throughput through the stream `Decoder` (7D un-escaping, XOR check,
//! decode into `Decoded<Outbound>`), plus the heap allocations that decoding costs (counted,
//! printed per frame).

mod support;

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::jt808::Jt808Codec;
use protocol::jt808::device::Device;
use protocol::{DeviceId, LatLon, Position};
use tokio_util::codec::Decoder;

const FRAMES: usize = 10_000;

/// Positions one second apart; the altitude (125 m = `00 7D`) puts an escape in every frame.
fn frames() -> Vec<u8> {
    let mut device = Device::new(&DeviceId::parse("13511221122").unwrap());
    let mut out = Vec::new();
    for i in 0..FRAMES {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
            + chrono::Duration::seconds(i as i64);
        let mut p = Position::new(
            t,
            LatLon::new(22.5 + i as f64 * 1e-6, 114.0).unwrap(),
            true,
            36.0,
        );
        p.course = Some(126.0);
        p.altitude_m = Some(125.0);
        p.satellites = Some(9);
        p.odometer_m = Some(123_400);
        p.status.gsm_signal = Some(20);
        out.extend_from_slice(&device.location(&p));
    }
    out
}

/// Decodes every frame in `buf`; returns how many came out.
fn decode_all(buf: &mut BytesMut) -> usize {
    let mut codec = Jt808Codec::default();
    let mut n = 0usize;
    while let Ok(Some(d)) = codec.decode(buf) {
        std::hint::black_box(&d);
        n += 1;
    }
    n
}

fn decode(c: &mut Criterion) {
    let input = frames();

    // One untimed pass to count the allocations of decoding alone (not of filling the buffer).
    let mut buf = BytesMut::from(&input[..]);
    let before = support::allocations();
    let n = decode_all(&mut buf);
    let allocations = support::allocations() - before;
    assert_eq!(n, FRAMES);
    println!(
        "jt808/decode_0x0200: {allocations} allocations for {FRAMES} frames ({} per frame)",
        allocations as f64 / FRAMES as f64
    );

    let mut group = c.benchmark_group("jt808");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("decode_0x0200", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
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

criterion_group!(benches, decode);
criterion_main!(benches);
