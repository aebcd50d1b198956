//! h02 decode throughput (filled in with the codec).
fn main() {}
