//! The `connections` scenario: as many concurrent idle, logged-in devices as the server process
//! may hold (20,000 file descriptors per process here), the simulator's side spread over worker
//! processes; server RSS per connection; connect rate of a reconnect storm.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::scenarios::{Live, Spec, header_pub, write_json_pub};
use crate::sim::{Mix, Proto, SimConfig, login_idle};
use crate::target::{DbKind, load_average, raise_fd_limit, rss_bytes};

/// Arguments of `connections`.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    /// Idle devices to hold (the server needs one descriptor each, plus ~30).
    #[arg(long, default_value_t = 19_000)]
    pub devices: usize,
    /// Devices per worker process (each worker needs one descriptor per device).
    #[arg(long, default_value_t = 9_500)]
    pub per_worker: usize,
    /// Protocol of the idle devices.
    #[arg(long, default_value = "gt06")]
    pub protocol: Proto,
    /// Concurrent logins per worker.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Database of the Vigil run.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: DbKind,
    /// PostgreSQL base URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub pg: String,
    /// The `vigil` binary.
    #[arg(long)]
    pub vigil_bin: Option<PathBuf>,
    /// Skip the baseline (sink) run.
    #[arg(long)]
    pub no_baseline: bool,
    /// Skip the reconnect storm.
    #[arg(long)]
    pub no_storm: bool,
    /// Write the figures as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Arguments of a worker.
#[derive(clap::Args, Debug, Clone)]
pub struct HoldArgs {
    /// Listener.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Protocol.
    #[arg(long)]
    pub protocol: Proto,
    /// First device index.
    #[arg(long)]
    pub first: usize,
    /// Devices.
    #[arg(long)]
    pub count: usize,
    /// Source addresses to spread over.
    #[arg(long)]
    pub source_ips: u32,
    /// Id namespace.
    #[arg(long)]
    pub id_base: u64,
    /// Concurrent logins.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
}

fn hold_config(a: &HoldArgs) -> SimConfig {
    let mut addrs = [None; 3];
    addrs[a.protocol as usize] = Some(a.addr);
    let mut w = [0; 3];
    w[a.protocol as usize] = 1;
    SimConfig {
        devices: a.count,
        mix: Mix(w),
        addrs,
        ramp: Duration::ZERO,
        heartbeat_every: 0,
        alarm_share: 0.0,
        leave_share: 0.0,
        center: (0.0, 0.0),
        radius_km: 1.0,
        fix_step_secs: 10,
        window: 1,
        source_ips: a.source_ips,
        id_base: a.id_base,
        start_time: chrono::Utc::now(),
    }
}

async fn connect_all(a: &HoldArgs, cfg: &Arc<SimConfig>) -> (Vec<TcpStream>, u64, f64) {
    let t0 = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(a.concurrency.max(1)));
    let mut set = JoinSet::new();
    for i in a.first..a.first + a.count {
        let permit = sem.clone().acquire_owned().await.expect("semaphore open");
        let cfg = cfg.clone();
        let proto = a.protocol;
        set.spawn(async move {
            let r = login_idle(i, proto, &cfg).await;
            drop(permit);
            r
        });
    }
    let mut conns = Vec::with_capacity(a.count);
    let mut errors = 0u64;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(s)) => conns.push(s),
            Ok(Err(e)) => {
                if errors < 3 {
                    eprintln!("worker: {e:#}");
                }
                errors += 1;
            }
            Err(_) => errors += 1,
        }
    }
    (conns, errors, t0.elapsed().as_secs_f64())
}

/// Worker: connects its devices, reports `held N SECS ERRORS`; on `storm` drops and
/// reconnects them all, reporting `storm N SECS ERRORS`; exits on `exit` or end of input.
pub async fn hold(a: HoldArgs) -> anyhow::Result<()> {
    raise_fd_limit(a.count as u64 + 50);
    let cfg = Arc::new(hold_config(&a));
    let (mut conns, errors, secs) = connect_all(&a, &cfg).await;
    println!("held {} {secs:.3} {errors}", conns.len());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match line.trim() {
            "storm" => {
                conns.clear();
                let (c, errors, secs) = connect_all(&a, &cfg).await;
                conns = c;
                println!("storm {} {secs:.3} {errors}", conns.len());
            }
            _ => break,
        }
    }
    Ok(())
}

struct Worker {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Worker {
    async fn report(&mut self, what: &str) -> anyhow::Result<(u64, f64, u64)> {
        let line = tokio::time::timeout(Duration::from_secs(600), self.lines.next_line())
            .await
            .context("worker timed out")??
            .context("worker exited")?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 4 || f[0] != what {
            bail!("worker said {line:?}");
        }
        Ok((f[1].parse()?, f[2].parse()?, f[3].parse()?))
    }
}

fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

async fn one_target(a: &ConnArgs, spec: Spec) -> anyhow::Result<Value> {
    let t = crate::TargetArgs {
        db: vec![a.db],
        pg: a.pg.clone(),
        vigil_bin: a.vigil_bin.clone(),
        no_baseline: true,
        settings: vec!["idle_timeout_secs=3600".into()],
        gt06: None,
        jt808: None,
        h02: None,
        server_pid: None,
        database_url: None,
    };
    let live = Live::start(spec, &t, &[]).await?;
    let r = measure(a, &live).await;
    live.finish().await?;
    r
}

async fn measure(a: &ConnArgs, live: &Live) -> anyhow::Result<Value> {
    let pid = live.pid.context("no server process")?;
    let addr = live.addrs[a.protocol as usize].context("no listener")?;
    let ips = (a.devices as u32 / 1000 + 2).min(250);
    let id_base = u64::from(std::process::id()) % 1000;
    // Warm-up: 100 devices through the whole path so one-off allocations are not counted.
    let warm_args = HoldArgs {
        addr,
        protocol: a.protocol,
        first: 900_000,
        count: 100,
        source_ips: 1,
        id_base,
        concurrency: 16,
    };
    let (_warm, werr, _) = connect_all(&warm_args, &Arc::new(hold_config(&warm_args))).await;
    if werr > 0 {
        bail!("{} warm-up devices failed to log in", werr);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss0 = rss_bytes(pid).unwrap_or(0);
    let fds0 = fd_count(pid);
    let me = std::env::current_exe()?;
    let mut workers = Vec::new();
    let mut first = 0;
    while first < a.devices {
        let count = a.per_worker.min(a.devices - first);
        let mut child = tokio::process::Command::new(&me)
            .args([
                "hold",
                "--addr",
                &addr.to_string(),
                "--protocol",
                a.protocol.name(),
            ])
            .args(["--first", &first.to_string(), "--count", &count.to_string()])
            .args([
                "--source-ips",
                &ips.to_string(),
                "--id-base",
                &id_base.to_string(),
            ])
            .args(["--concurrency", &a.concurrency.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let out = child.stdout.take().context("no stdout")?;
        workers.push(Worker {
            child,
            lines: BufReader::new(out).lines(),
        });
        first += count;
    }
    eprintln!(
        "{}: {} workers connecting {} idle {} devices from {ips} source addresses",
        live.label,
        workers.len(),
        a.devices,
        a.protocol.name()
    );
    let t0 = Instant::now();
    let (mut held, mut errors) = (0, 0);
    for w in &mut workers {
        let (n, _, e) = w.report("held").await?;
        held += n;
        errors += e;
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss1 = rss_bytes(pid).unwrap_or(0);
    let fds1 = fd_count(pid);
    let per_conn = if held > 0 {
        (rss1 as f64 - rss0 as f64) / held as f64
    } else {
        0.0
    };
    println!(
        "{:<18} held {held} idle {} connections ({errors} failed) in {connect_secs:.1} s; server RSS {:.1} MB -> {:.1} MB = {per_conn:.0} B per connection; server fds {} -> {}",
        live.label,
        a.protocol.name(),
        rss0 as f64 / 1e6,
        rss1 as f64 / 1e6,
        fds0.map_or("-".into(), |n| n.to_string()),
        fds1.map_or("-".into(), |n| n.to_string()),
    );
    let mut storm = Value::Null;
    if !a.no_storm {
        let t0 = Instant::now();
        for w in &mut workers {
            w.child
                .stdin
                .as_mut()
                .context("no stdin")?
                .write_all(b"storm\n")
                .await?;
        }
        let (mut n, mut e) = (0, 0);
        for w in &mut workers {
            let (k, _, err) = w.report("storm").await?;
            n += k;
            e += err;
        }
        let secs = t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss2 = rss_bytes(pid).unwrap_or(0);
        println!(
            "{:<18} reconnect storm: {n} devices dropped and logged in again in {secs:.2} s = {:.0} logins/s ({e} failed); RSS after {:.1} MB",
            live.label,
            n as f64 / secs,
            rss2 as f64 / 1e6
        );
        storm = json!({"reconnected": n, "secs": secs, "logins_per_s": n as f64 / secs, "failed": e, "server_rss_after_bytes": rss2});
    }
    for w in &mut workers {
        if let Some(mut i) = w.child.stdin.take() {
            let _ = i.write_all(b"exit\n").await;
        }
    }
    for w in &mut workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w.child.wait()).await;
    }
    Ok(json!({
        "target": live.label,
        "protocol": a.protocol.name(),
        "requested": a.devices,
        "held": held,
        "failed": errors,
        "workers": workers.len(),
        "connect_secs": connect_secs,
        "server_rss_before_bytes": rss0,
        "server_rss_held_bytes": rss1,
        "server_rss_per_connection_bytes": per_conn,
        "server_fds_before": fds0,
        "server_fds_held": fds1,
        "storm": storm,
    }))
}

/// `connections`: baseline sink, then Vigil.
pub async fn run(a: ConnArgs) -> anyhow::Result<()> {
    let limit = raise_fd_limit(a.devices as u64 + 200);
    if (a.devices as u64 + 150) > limit {
        eprintln!(
            "the server process inherits a limit of {limit} descriptors: it cannot hold {} connections",
            a.devices
        );
    }
    let mut out = Vec::new();
    if !a.no_baseline {
        out.push(one_target(&a, Spec::Baseline).await?);
    }
    out.push(one_target(&a, Spec::Vigil(a.db)).await?);
    println!("load average {}", load_average());
    let mut v = header_pub();
    v["scenario"] = json!("connections");
    v["results"] = Value::Array(out);
    write_json_pub(a.json.as_ref(), &v)
}
