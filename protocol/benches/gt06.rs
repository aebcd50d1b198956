//! gt06 decode throughput (filled in with the codec).
fn main() {}
