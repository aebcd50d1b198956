//! Decoding plain JT808 location frames must not touch the heap.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use protocol::jt808::Jt808Codec;
use protocol::jt808::device::Device;
use protocol::{DeviceId, DeviceMessage, LatLon, Position};
use tokio_util::codec::Decoder;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut positions = 0;
    while let Ok(Some(d)) = codec.decode(&mut buf) {
        if let DeviceMessage::Position(p) = &d.message {
            assert!(p.attributes.is_empty());
            positions += 1;
        }
        assert!(d.ack.is_some());
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(positions, N);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations for {N} location frames"
    );
}
