//! `vigil-loadtest`: a fleet simulator and benchmarks for Vigil.
//!
//! Every scenario is one command; each starts the system under test itself (Vigil as a child
//! process on free loopback ports with a fresh database, and the baseline sink), prints a
//! summary table and can write the figures as JSON (`--json FILE`).

mod conns;
mod fleet;
mod logins;
mod mqtt_churn;
mod pending;
mod push_probe;
mod route;
mod scenarios;
mod sim;
mod sink;
mod target;
mod traj;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::sim::Mix;
use crate::target::DbKind;

/// Fleet simulator and benchmarks for Vigil (traffic to 127.0.0.0/8 only).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// How the simulated devices behave.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Number of simulated devices.
    #[arg(long, default_value_t = 200)]
    pub devices: usize,
    /// Protocol mix, weights per protocol.
    #[arg(long, default_value = "gt06=40,jt808=40,h02=20")]
    pub mix: Mix,
    /// Seconds between two reports of one device (the offered rate is devices / interval).
    #[arg(long, default_value_t = 1.0)]
    pub interval_secs: f64,
    /// Seconds over which devices connect.
    #[arg(long, default_value_t = 3.0)]
    pub ramp_secs: f64,
    /// A heartbeat after every N positions (0: none).
    #[arg(long, default_value_t = 20)]
    pub heartbeat_every: u32,
    /// Share of positions sent as alarms (vibration, SOS, power cut, tampering).
    #[arg(long, default_value_t = 0.01)]
    pub alarm_share: f64,
    /// Share of devices that drive out of the circle.
    #[arg(long, default_value_t = 0.05)]
    pub leave_share: f64,
    /// Centre of the circle, `lat,lon`.
    #[arg(long, default_value = "22.5431,114.0579")]
    pub center: String,
    /// Radius of the circle, km.
    #[arg(long, default_value_t = 5.0)]
    pub radius_km: f64,
    /// Simulated seconds between two fixes of one device.
    #[arg(long, default_value_t = 10)]
    pub fix_step_secs: i64,
    /// Most unacknowledged frames per device before sends are skipped.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Source addresses 127.0.0.2.. to spread connections over (0: one per 1,000 devices).
    #[arg(long, default_value_t = 0)]
    pub source_ips: u32,
    /// Seconds devices wait for outstanding acks after the run.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
}

/// Which system is under test.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Databases to run Vigil on (a fresh one each).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite")]
    pub db: Vec<DbKind>,
    /// PostgreSQL base URL (a database is created and dropped per run).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub pg: String,
    /// The `vigil` binary (default: next to this one, else this binary's `serve-vigil`).
    #[arg(long)]
    pub vigil_bin: Option<PathBuf>,
    /// Skip the baseline run.
    #[arg(long)]
    pub no_baseline: bool,
    /// Extra server settings, `KEY=VALUE` (as `VIGIL_KEY`), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Test an already running server instead: its GT06/JT808/H02 listeners.
    #[arg(long, value_name = "ADDR")]
    pub gt06: Option<std::net::SocketAddr>,
    /// JT808 listener of a running server.
    #[arg(long, value_name = "ADDR")]
    pub jt808: Option<std::net::SocketAddr>,
    /// H02 listener of a running server.
    #[arg(long, value_name = "ADDR")]
    pub h02: Option<std::net::SocketAddr>,
    /// Process id of a running server (for RSS and CPU).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Database URL of a running server (to count stored positions).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// One run at a fixed rate: baseline, then Vigil, with the summary table.
    Run {
        #[command(flatten)]
        sim: SimArgs,
        #[command(flatten)]
        target: TargetArgs,
        /// Seconds measured after the ramp.
        #[arg(long, default_value_t = 20)]
        duration_secs: u64,
        /// Write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Highest sustained positions/s with p99 ack latency under a limit: the offered rate is
    /// stepped up until p99 exceeds it or acks fall behind; baseline, then Vigil per database.
    Throughput {
        #[command(flatten)]
        sim: SimArgs,
        #[command(flatten)]
        target: TargetArgs,
        /// First offered rate, positions/s.
        #[arg(long, default_value_t = 2000.0)]
        start_rate: f64,
        /// Each step multiplies the rate by this.
        #[arg(long, default_value_t = 1.3)]
        step_factor: f64,
        /// Highest rate tried.
        #[arg(long, default_value_t = 200_000.0)]
        max_rate: f64,
        /// Seconds per step.
        #[arg(long, default_value_t = 8)]
        step_secs: u64,
        /// p99 ack latency limit, ms.
        #[arg(long, default_value_t = 100.0)]
        p99_ms: f64,
        /// A step passes when at least this share of the offered rate is acked.
        #[arg(long, default_value_t = 0.95)]
        min_acked_share: f64,
        /// Write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Concurrent idle devices (spread over worker processes), server RSS per connection and
    /// the connect rate of a reconnect storm.
    Connections(conns::ConnArgs),
    /// Fills the positions table (N devices × days) and times one device-day through the API.
    Trajectory(traj::TrajArgs),
    /// Throughput with 100k fences loaded through the fence API, 4 assigned per device.
    Fences {
        #[command(flatten)]
        sim: SimArgs,
        #[command(flatten)]
        target: TargetArgs,
        /// Fences to load.
        #[arg(long, default_value_t = 100_000)]
        fences: usize,
        /// Write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// SOS packet → WebSocket alarm delivery latency under a background load.
    AlarmLatency {
        #[command(flatten)]
        sim: SimArgs,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        alarm: pending::AlarmArgs,
    },
    /// Rounds of concurrent password logins: server RSS per round and after idling, and the
    /// time a known and an unknown login take to be refused.
    Logins(logins::LoginArgs),
    /// MQTT connect → subscribe/publish → close cycles (users with a fresh client id each,
    /// devices with their token): the server's RSS along the way and after idling.
    MqttChurn(mqtt_churn::ChurnArgs),
    /// The baseline sink alone (decode + immediate ack), prints its listeners.
    Sink,
    /// Runs the Vigil server in this process (`vigil serve` equivalent, for when no `vigil`
    /// binary is at hand).
    #[command(hide = true)]
    ServeVigil,
    /// Worker process of `connections`: holds idle device connections.
    #[command(hide = true)]
    Hold(conns::HoldArgs),
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::Sink => runtime().and_then(|rt| rt.block_on(sink::run())),
        Cmd::ServeVigil => runtime().and_then(|rt| rt.block_on(serve_vigil())),
        Cmd::Hold(a) => runtime().and_then(|rt| rt.block_on(conns::hold(a))),
        Cmd::Run {
            sim,
            target,
            duration_secs,
            json,
        } => runtime().and_then(|rt| rt.block_on(scenarios::run(sim, target, duration_secs, json))),
        Cmd::Throughput {
            sim,
            target,
            start_rate,
            step_factor,
            max_rate,
            step_secs,
            p99_ms,
            min_acked_share,
            json,
        } => runtime().and_then(|rt| {
            rt.block_on(scenarios::throughput(
                sim,
                target,
                scenarios::Steps {
                    start_rate,
                    step_factor,
                    max_rate,
                    step_secs,
                    p99_ms,
                    min_acked_share,
                },
                json,
            ))
        }),
        Cmd::Connections(a) => runtime().and_then(|rt| rt.block_on(conns::run(a))),
        Cmd::MqttChurn(a) => runtime().and_then(|rt| rt.block_on(mqtt_churn::run(a))),
        Cmd::Trajectory(a) => runtime().and_then(|rt| rt.block_on(traj::run(a))),
        Cmd::Logins(a) => runtime().and_then(|rt| rt.block_on(logins::run(a))),
        Cmd::Fences {
            sim,
            target,
            fences,
            json,
        } => runtime().and_then(|rt| rt.block_on(pending::fences(sim, target, fences, json))),
        Cmd::AlarmLatency { sim, target, alarm } => {
            runtime().and_then(|rt| rt.block_on(pending::alarm_latency(sim, target, alarm)))
        }
    };
    if let Err(e) = r {
        eprintln!("vigil-loadtest: {e:#}");
        std::process::exit(1);
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `vigil serve` without the binary: settings from `VIGIL_*`, same listening lines.
async fn serve_vigil() -> anyhow::Result<()> {
    vigil_server::app::telemetry::init_tracing();
    let settings = vigil_server::Settings::load(None)?;
    let app = vigil_server::Application::build(settings).await?;
    for (name, addr) in app.addrs() {
        println!("vigil (in vigil-loadtest) listening: {name} {addr}");
    }
    let token = app.shutdown_token();
    tokio::spawn(async move {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        token.cancel();
    });
    app.run().await?;
    Ok(())
}
