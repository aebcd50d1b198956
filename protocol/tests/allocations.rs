//! Decoding plain location frames must not touch the heap: one counting allocator for every
//! protocol, counting only the calling thread's allocations so that the test harness's own
//! threads cannot disturb the figures.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // `try_with` because the allocator also runs while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations made so far by the calling thread.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Decoding plain GT06 location frames must not touch the heap.
mod gt06 {
    use bytes::BytesMut;
    use chrono::{TimeZone, Utc};
    use protocol::gt06::{Gt06Codec, device};
    use protocol::{CellTower, DeviceMessage, LatLon, Position};
    use tokio_util::codec::Decoder;

    #[test]
    fn location_frames_decode_without_allocating() {
        const N: usize = 2_000;
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
        let mut buf = BytesMut::new();
        for i in 0..N {
            let serial = i as u16;
            if i % 2 == 0 {
                buf.extend_from_slice(&device::location_0x12(&p, serial));
            } else {
                buf.extend_from_slice(&device::location(&p, serial));
            }
        }
        let mut codec = Gt06Codec::default();
        let mut positions = 0usize;
        let before = super::allocations();
        while let Ok(Some(d)) = codec.decode(&mut buf) {
            if let DeviceMessage::Position(pos) = &d.message {
                positions += usize::from(pos.attributes.is_empty());
            }
            std::hint::black_box(&d);
        }
        let after = super::allocations();
        assert_eq!(positions, N);
        assert_eq!(
            after - before,
            0,
            "allocations while decoding {N} location frames"
        );
    }
}

/// Decoding plain JT808 location frames must not touch the heap.
mod jt808 {
    use bytes::BytesMut;
    use chrono::{TimeZone, Utc};
    use protocol::jt808::Jt808Codec;
    use protocol::jt808::device::Device;
    use protocol::{DeviceId, DeviceMessage, LatLon, Position};
    use tokio_util::codec::Decoder;

    #[test]
    fn location_frames_decode_without_allocating() {
        const N: usize = 1000;
        let mut device = Device::new(&DeviceId::parse("13511221122").unwrap());
        let mut buf = BytesMut::new();
        for i in 0..N {
            let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
                + chrono::Duration::seconds(i as i64);
            // Coordinates with 0x7E/0x7D bytes in them exercise the in-place un-escaping too.
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
            p.status.battery_level = Some(80);
            p.status.power_voltage = Some(12.5);
            buf.extend_from_slice(&device.location(&p));
        }
        let mut codec = Jt808Codec::default();
        let before = super::allocations();
        let mut positions = 0;
        while let Ok(Some(d)) = codec.decode(&mut buf) {
            if let DeviceMessage::Position(p) = &d.message {
                assert!(p.attributes.is_empty());
                positions += 1;
            }
            assert!(d.ack.is_some());
        }
        let allocations = super::allocations() - before;
        assert_eq!(positions, N);
        assert_eq!(
            allocations, 0,
            "{allocations} allocations for {N} location frames"
        );
    }
}

/// Decoding H02 location frames must not touch the heap (with `vendor_attributes` off; the
mod h02 {
    use bytes::BytesMut;
    use protocol::DeviceMessage;
    use protocol::h02::{H02Codec, H02Config};
    use tokio_util::codec::Decoder;

    const N: usize = 1000;
    const V1: &[u8] =
        b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#\r\n";
    const BINARY: &str = "2441060116601245431311165035313006004318210e000000fffffbffff0024";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Allocations made while decoding `N` copies of `frame`, after checking they are positions.
    fn allocations(frame: &[u8], config: H02Config) -> usize {
        let mut buf = BytesMut::with_capacity(frame.len() * N);
        for _ in 0..N {
            buf.extend_from_slice(frame);
        }
        let mut codec = H02Codec::new(config);
        let mut positions = 0;
        let before = super::allocations();
        while let Ok(Some(decoded)) = codec.decode(&mut buf) {
            if matches!(decoded.message, DeviceMessage::Position(_)) && decoded.device.is_some() {
                positions += 1;
            }
        }
        let after = super::allocations();
        assert_eq!(positions, N);
        after - before
    }

    fn lean() -> H02Config {
        H02Config {
            vendor_attributes: false,
            ..H02Config::default()
        }
    }

    #[test]
    fn location_frames_decode_without_allocating() {
        assert_eq!(allocations(V1, lean()), 0, "V1 text frames");
        let binary = unhex(BINARY);
        assert_eq!(allocations(&binary, lean()), 0, "binary frames");
        assert_eq!(
            allocations(V1, H02Config::default()),
            N,
            "default config: one allocation per frame for the status attribute"
        );
    }
}

/// Heap allocations per OsmAnd request (no zero target: the request itself is on the heap).
mod osmand {
    use chrono::{TimeZone, Utc};
    use protocol::osmand::{self, OsmandConfig};

    const N: usize = 100;

    fn per_request(f: impl Fn()) -> f64 {
        f(); // warm up lazily initialised state
        let before = super::allocations();
        for _ in 0..N {
            f();
        }
        (super::allocations() - before) as f64 / N as f64
    }

    #[test]
    fn allocations_per_request() {
        let config = OsmandConfig::default();
        let now = Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        // Traccar Client's legacy URL.
        let uri = "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&accuracy=5.0&batt=87";
        let query = per_request(|| {
            let r = osmand::parse_request("GET", uri, None, b"", now, &config);
            assert!(r.is_ok());
        });
        let extra =
            "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&ignition=true&rpm=933&fuel=24";
        let query_attrs = per_request(|| {
            let r = osmand::parse_request("GET", extra, None, b"", now, &config);
            assert!(r.is_ok());
        });
        let body = br#"{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{}},"device_id":"48241179"}"#;
        let json = per_request(|| {
            let r =
                osmand::parse_request("POST", "/", Some("application/json"), body, now, &config);
            assert!(r.is_ok());
        });
        println!(
            "osmand allocations per request: plain query {query}, query with 3 attributes {query_attrs}, Traccar Client JSON {json}"
        );
        assert_eq!(query, 0.0, "a plain query position needs no heap");
        assert!(query_attrs <= 8.0, "{query_attrs}");
        assert!(json <= 16.0, "{json}");
    }
}
