//! Decodes a fixed buffer of JT808 0x0200 location frames through the stream `Decoder`, for
//! instruction-count profiling (`valgrind --tool=callgrind --toggle-collect='*decode_all*'`).
//!
//! The frames are those of `benches/jt808.rs` (a position one second apart, items 0x01 odometer,
//! 0x30 signal, 0x31 satellites; some latitudes hold escaped bytes).
//!
//! Usage: `jt808_profile [frames]`.
use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use protocol::jt808::Jt808Codec;
use protocol::jt808::device::Device;
use protocol::{DeviceId, LatLon, Position};
use tokio_util::codec::Decoder;

fn frames(n: usize) -> Vec<u8> {
    let mut device = Device::new(&DeviceId::parse("13511221122").unwrap());
    let mut out = Vec::new();
    for i in 0..n {
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

#[inline(never)]
fn decode_all(buf: &mut BytesMut) -> usize {
    let mut codec = Jt808Codec::default();
    let mut n = 0usize;
    while let Ok(Some(d)) = codec.decode(buf) {
        std::hint::black_box(&d);
        n += 1;
    }
    n
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let data = frames(n);
    let mut buf = BytesMut::from(&data[..]);
    let decoded = decode_all(&mut buf);
    assert_eq!(decoded, n);
    println!("0x0200: decoded {decoded} frames ({} bytes)", data.len());
}
