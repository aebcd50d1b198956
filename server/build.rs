//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the files of
//! `migrations/` at build time, and cargo only tracks the files it has already seen.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
