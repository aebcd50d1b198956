//! `vigil-loadtest`: the fleet simulator (being written).
fn main() {
    println!(
        "vigil-loadtest {}: not yet implemented",
        env!("CARGO_PKG_VERSION")
    );
}
