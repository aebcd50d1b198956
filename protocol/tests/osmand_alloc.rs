#![allow(unsafe_code)]
//! Heap allocations per OsmAnd request, counted with a wrapping global allocator. There is no
//! zero-allocation target for this HTTP protocol (the request itself is already on the heap);
//! the figures are printed and loosely bounded so that a regression shows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};
use protocol::osmand::{self, OsmandConfig};

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

const N: usize = 100;

fn per_request(f: impl Fn()) -> f64 {
    f(); // warm up lazily initialised state
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..N {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / N as f64
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
    let extra = "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&ignition=true&rpm=933&fuel=24";
    let query_attrs = per_request(|| {
        let r = osmand::parse_request("GET", extra, None, b"", now, &config);
        assert!(r.is_ok());
    });
    let body = br#"{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{}},"device_id":"48241179"}"#;
    let json = per_request(|| {
        let r = osmand::parse_request("POST", "/", Some("application/json"), body, now, &config);
        assert!(r.is_ok());
    });
    println!(
        "osmand allocations per request: plain query {query}, query with 3 attributes {query_attrs}, Traccar Client JSON {json}"
    );
    assert_eq!(query, 0.0, "a plain query position needs no heap");
    assert!(query_attrs <= 8.0, "{query_attrs}");
    assert!(json <= 16.0, "{json}");
}
