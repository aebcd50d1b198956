//! GT06 decode throughput: a buffer of location frames through the stream `Decoder`.
use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::gt06::{Gt06Codec, device};
use protocol::{CellTower, LatLon, Position};
use tokio_util::codec::Decoder;

const FRAMES: usize = 10_000;

fn frames() -> Vec<u8> {
    let mut p = Position::new(
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 0).unwrap(),
        LatLon::new(22.5461, 114.0579).unwrap(),
        true,
        42.0,
    );
    p.course = Some(181.0);
    p.satellites = Some(9);
    p.cell = Some(CellTower {
        mcc: 460,
        mnc: 0,
        lac: 0x287D,
        cell_id: 0x1FB8,
    });
    let mut out = Vec::new();
    for i in 0..FRAMES {
        out.extend_from_slice(&device::location_0x12(&p, i as u16));
    }
    out
}

fn bench(c: &mut Criterion) {
    let data = frames();
    let mut group = c.benchmark_group("gt06");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("decode_location_0x12", |b| {
        b.iter_batched(
            || BytesMut::from(&data[..]),
            |mut buf| {
                let mut codec = Gt06Codec::default();
                let mut n = 0usize;
                while let Ok(Some(d)) = codec.decode(&mut buf) {
                    std::hint::black_box(&d);
                    n += 1;
                }
                assert_eq!(n, FRAMES);
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
