//! Decoding plain GT06 location frames must not touch the heap.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use protocol::gt06::{Gt06Codec, device};
use protocol::{CellTower, DeviceMessage, LatLon, Position};
use tokio_util::codec::Decoder;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    while let Ok(Some(d)) = codec.decode(&mut buf) {
        if let DeviceMessage::Position(pos) = &d.message {
            positions += usize::from(pos.attributes.is_empty());
        }
        std::hint::black_box(&d);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(positions, N);
    assert_eq!(
        after - before,
        0,
        "allocations while decoding {N} location frames"
    );
}
