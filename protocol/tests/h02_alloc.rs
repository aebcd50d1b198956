//! Decoding H02 location frames must not touch the heap (with `vendor_attributes` off; the
//! default keeps traccar's `status` attribute, which costs exactly one allocation per frame).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use protocol::DeviceMessage;
use protocol::h02::{H02Codec, H02Config};
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
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    while let Ok(Some(decoded)) = codec.decode(&mut buf) {
        if matches!(decoded.message, DeviceMessage::Position(_)) && decoded.device.is_some() {
            positions += 1;
        }
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(positions, N);
    after - before
}

fn lean() -> H02Config {
    H02Config {
        vendor_attributes: false,
        ..H02Config::default()
    }
}

// One test function so that no other test thread allocates while counting.
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
