//! Decode throughput per protocol (filled in with the codecs).
fn main() {}
