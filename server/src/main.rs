//! The `vigil` binary.
use clap::{Parser, Subcommand};

/// Vigil GPS tracker gateway and anti-theft alarm server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server.
    Serve,
}

fn main() {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Cmd::Serve) {
        Cmd::Serve => {
            println!("vigil {}", env!("CARGO_PKG_VERSION"));
            for (proto, port) in [
                ("gt06", 5023),
                ("jt808", 5015),
                ("h02", 5013),
                ("osmand", 5055),
                ("http", 8082),
                ("mqtt", 1883),
            ] {
                println!("planned listener {proto:>7} 0.0.0.0:{port}");
            }
        }
    }
}
