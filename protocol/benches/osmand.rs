//! osmand decode throughput (filled in with the codec).
fn main() {}
