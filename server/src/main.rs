//! The `vigil` binary: `vigil serve [--config FILE]`, `vigil backup FILE`, `vigil restore FILE`,
//! `vigil healthcheck`.
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vigil_server::app::telemetry;
use vigil_server::{Application, Settings};

/// Vigil GPS tracker gateway and anti-theft alarm server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server (the default).
    Serve {
        /// TOML settings file; every key can be overridden by `VIGIL_<KEY>`.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Copy the embedded SQLite database to a new FILE, consistent, while the server runs
    /// (PostgreSQL: use pg_dump).
    Backup {
        /// The backup file to create (must not exist).
        file: PathBuf,
        /// TOML settings file (to find `database_url`).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Replace the embedded SQLite database by a backup FILE; the server must be stopped.
    Restore {
        /// The backup file (made by `vigil backup`).
        file: PathBuf,
        /// TOML settings file (to find `database_url`).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Exit 0 if the running server's `GET /health` answers 200 (container health checks).
    Healthcheck {
        /// TOML settings file (to find `http_listen`).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("vigil: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Cmd::Serve { config: None }) {
        Cmd::Serve { config } => serve(config),
        Cmd::Healthcheck { config } => healthcheck(config),
        Cmd::Backup { file, config } => copy_database(config, DatabaseCopy::BackupTo(file)),
        Cmd::Restore { file, config } => copy_database(config, DatabaseCopy::RestoreFrom(file)),
    }
}

/// Which way `copy_database` copies.
enum DatabaseCopy {
    BackupTo(PathBuf),
    RestoreFrom(PathBuf),
}

#[tokio::main(flavor = "current_thread")]
async fn copy_database(config: Option<PathBuf>, copy: DatabaseCopy) -> anyhow::Result<()> {
    use vigil_server::storage::sqlite::backup;
    let settings = Settings::load(config.as_deref())?;
    let report = match copy {
        DatabaseCopy::BackupTo(file) => backup::backup(&settings.database_url, &file).await?,
        DatabaseCopy::RestoreFrom(file) => backup::restore(&file, &settings.database_url).await?,
    };
    println!(
        "wrote {} ({} bytes, {} positions)",
        report.path.display(),
        report.bytes,
        report.positions
    );
    Ok(())
}

fn healthcheck(config: Option<PathBuf>) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let settings = Settings::load(config.as_deref())?;
    let mut addr: std::net::SocketAddr = settings
        .http_listen
        .parse()
        .context("http_listen is not an address")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = std::time::Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot reach {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let status = reply.lines().next().unwrap_or_default();
    anyhow::ensure!(status.contains(" 200 "), "unhealthy: {status}");
    Ok(())
}

#[tokio::main]
async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    telemetry::init_tracing();
    let settings = Settings::load(config.as_deref())?;
    let app = Application::build(settings).await?;
    if let Some(admin) = app.first_admin() {
        match &admin.generated_password {
            Some(pw) => println!(
                "created administrator {:?} with password {pw:?} (shown only this once; change it)",
                admin.user.email
            ),
            None => println!("created administrator {:?}", admin.user.email),
        }
    }
    for (name, addr) in app.addrs() {
        println!(
            "vigil {} listening: {name:>7} {addr}",
            env!("CARGO_PKG_VERSION")
        );
    }
    let token = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        token.cancel();
    });
    app.run().await.context("server failed")?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
