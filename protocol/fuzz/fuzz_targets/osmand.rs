#![no_main]
//! Fuzz target for the OsmAnd request parser: the input is split into a method/content-type
//! selector, a request target and a body; every entry point must return, never panic.
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use protocol::osmand::{self, OsmandConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = if selector & 1 == 0 { "GET" } else { "POST" };
    let content_type = match (selector >> 1) & 3 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("application/x-www-form-urlencoded"),
        _ => Some("text/plain"),
    };
    // The target runs up to the first NUL; the body is what follows.
    let (uri, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let uri = String::from_utf8_lossy(uri);
    let config = OsmandConfig {
        max_params: 64,
        max_batch: 64,
        ..OsmandConfig::default()
    };
    let now = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    if let Ok(report) = osmand::parse_request(method, &uri, content_type, body, now, &config) {
        // What the parser accepted can be re-encoded by the device side.
        if let protocol::DeviceMessage::Position(p) = &report.message {
            let _ = osmand::device::query(&report.device, p);
            let _ = osmand::device::json(&report.device, p);
        }
    }
    let _ = osmand::parse_json(body, None, now, &config);
    let _ = osmand::parse_query(body, now, &config);
});
