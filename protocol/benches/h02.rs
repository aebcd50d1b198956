//! H02 decode throughput: V1 text frames and 32-byte binary records through the `Decoder`.
use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::h02::{H02Codec, H02Config};
use tokio_util::codec::Decoder;

const FRAMES: usize = 1000;
const V1: &[u8] =
    b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#\r\n";
const BINARY: [u8; 32] = [
    0x24, 0x41, 0x06, 0x01, 0x16, 0x60, 0x12, 0x45, 0x43, 0x13, 0x11, 0x16, 0x50, 0x35, 0x31, 0x30,
    0x06, 0x00, 0x43, 0x18, 0x21, 0x0e, 0x00, 0x00, 0x00, 0xff, 0xff, 0xfb, 0xff, 0xff, 0x00, 0x24,
];

fn stream(frame: &[u8]) -> BytesMut {
    let mut buf = BytesMut::with_capacity(frame.len() * FRAMES);
    for _ in 0..FRAMES {
        buf.extend_from_slice(frame);
    }
    buf
}

fn run(c: &mut Criterion, name: &str, frame: &[u8], config: &H02Config) {
    let input = stream(frame);
    let mut group = c.benchmark_group("h02");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function(name, |b| {
        b.iter_batched_ref(
            || (H02Codec::new(config.clone()), input.clone()),
            |(codec, buf)| {
                let mut n = 0;
                while let Ok(Some(d)) = codec.decode(buf) {
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

fn decode(c: &mut Criterion) {
    let lean = H02Config {
        vendor_attributes: false,
        ..H02Config::default()
    };
    run(c, "v1_text_lean", V1, &lean);
    run(c, "v1_text_default", V1, &H02Config::default());
    run(c, "binary_lean", &BINARY, &lean);
}

criterion_group!(benches, decode);
criterion_main!(benches);
