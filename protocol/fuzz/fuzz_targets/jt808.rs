#![no_main]
//! Fuzz target for the jt808 decoder (filled in with the codec).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
