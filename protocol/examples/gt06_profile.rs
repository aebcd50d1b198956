//! Decodes a fixed buffer of GT06 location frames through the stream `Decoder`, for
//! instruction-count profiling (`valgrind --tool=callgrind --toggle-collect='*decode_all*'`).
//!
//! Usage: `gt06_profile [0x12|0x22] [frames]`.
use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use protocol::gt06::{Gt06Codec, device};
use protocol::{CellTower, LatLon, Position};
use tokio_util::codec::Decoder;

fn frames(kind: &str, n: usize) -> Vec<u8> {
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
    let mut out = Vec::new();
    for i in 0..n {
        let f = if kind == "0x22" {
            device::location(&p, i as u16)
        } else {
            device::location_0x12(&p, i as u16)
        };
        out.extend_from_slice(&f);
    }
    out
}

#[inline(never)]
fn decode_all(buf: &mut BytesMut) -> usize {
    let mut codec = Gt06Codec::default();
    let mut n = 0usize;
    while let Ok(Some(d)) = codec.decode(buf) {
        std::hint::black_box(&d);
        n += 1;
    }
    n
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "0x12".to_string());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let data = frames(&kind, n);
    let mut buf = BytesMut::from(&data[..]);
    let decoded = decode_all(&mut buf);
    assert_eq!(decoded, n);
    println!("{kind}: decoded {decoded} frames");
}
