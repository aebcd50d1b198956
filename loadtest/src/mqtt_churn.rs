//! The `mqtt-churn` scenario: authenticated MQTT connect → subscribe or publish → close cycles
//! against the embedded broker, and the server's RSS along the way and after idling. It shows
//! whether memory kept per closed connection (rights, broker state) is bounded.
//!
//! By default three quarters of the cycles are a user (the administrator, password = a session
//! token) with a fresh client id `<login>:<n>` per cycle, subscribing to a device's alarm
//! topic; the other quarter are devices (client id = username = unique id, password = their
//! MQTT token) publishing one position at QoS 1. Each of the `--concurrency` workers has a device of its
//! own, so no two live connections share a client id. `--abrupt-share` of the cycles end by
//! dropping the TCP connection, the others with DISCONNECT. Bounded by `--cycles` and
//! `--max-secs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Connect, Packet, Publish, Subscribe};
use rumqttc::mqttbytes::{Error as MqttError, QoS};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pending::api_login;
use crate::scenarios::{Live, Spec, header_pub, write_json_pub};
use crate::target::{ADMIN_EMAIL, DbKind, load_average, raise_fd_limit, rss_bytes};

/// Arguments of `mqtt-churn`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChurnArgs {
    /// Connect/close cycles measured (after the warm-up).
    #[arg(long, default_value_t = 15_000)]
    pub cycles: u64,
    /// Cycles in flight at once (one worker each).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Warm-up cycles before the first RSS figure (not counted).
    #[arg(long, default_value_t = 500)]
    pub warmup: u64,
    /// Print the server's RSS every N cycles.
    #[arg(long, default_value_t = 1_000)]
    pub report_every: u64,
    /// Share of the cycles that are devices publishing a position (the rest: users
    /// subscribing).
    #[arg(long, default_value_t = 0.25)]
    pub device_share: f64,
    /// Share of the cycles that drop the TCP connection instead of sending DISCONNECT.
    #[arg(long, default_value_t = 0.5)]
    pub abrupt_share: f64,
    /// Seconds to idle after the last cycle before the final RSS figure.
    #[arg(long, default_value_t = 5)]
    pub idle_secs: u64,
    /// Stop issuing cycles after this many seconds (the run is bounded in time too).
    #[arg(long, default_value_t = 600)]
    pub max_secs: u64,
    /// Database of the Vigil run.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: DbKind,
    /// PostgreSQL base URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub pg: String,
    /// The `vigil` binary.
    #[arg(long)]
    pub vigil_bin: Option<PathBuf>,
    /// Extra server settings, `KEY=VALUE` (as `VIGIL_KEY`), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Write the figures as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Test a server started elsewhere (e.g. under a heap profiler): its MQTT listener.
    /// Needs `--http` and `--server-pid`; its administrator must be the one this tool starts
    /// servers with (`VIGIL_ADMIN_EMAIL=loadtest@example.invalid`,
    /// `VIGIL_ADMIN_PASSWORD=loadtest-password-1`).
    #[arg(long, value_name = "ADDR", requires_all = ["http", "server_pid"])]
    pub mqtt: Option<SocketAddr>,
    /// HTTP API of the server started elsewhere.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Process id of the server started elsewhere (for its RSS).
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// What the cycles log in as.
struct Logins {
    /// The user's login and session token.
    user: (String, String),
    /// Per worker: device unique id and MQTT password.
    devices: Vec<(String, String)>,
}

/// What one cycle does once connected.
enum Action<'a> {
    Subscribe(&'a str),
    Publish(&'a str, Vec<u8>),
}

const MAX_PACKET: usize = 64 * 1024;

async fn write_packet(s: &mut TcpStream, p: Packet) -> anyhow::Result<()> {
    let mut b = BytesMut::new();
    p.write(&mut b, MAX_PACKET)
        .map_err(|e| anyhow::anyhow!("encode: {e:?}"))?;
    s.write_all(&b).await?;
    Ok(())
}

async fn read_packet(s: &mut TcpStream, buf: &mut BytesMut) -> anyhow::Result<Packet> {
    loop {
        match Packet::read(buf, MAX_PACKET) {
            Ok(p) => return Ok(p),
            Err(MqttError::InsufficientBytes(_)) => {}
            Err(e) => bail!("decode: {e:?}"),
        }
        if s.read_buf(buf).await? == 0 {
            bail!("closed by the server");
        }
    }
}

/// One MQTT 3.1.1 session: CONNECT (clean session) → CONNACK, the action and its ack, then
/// DISCONNECT and wait for the server to close, or (`abrupt`) just drop the connection.
async fn cycle(
    addr: SocketAddr,
    client_id: &str,
    (user, pass): (&str, &str),
    action: Action<'_>,
    abrupt: bool,
) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(256);
    let mut connect = Connect::new(client_id);
    connect.keep_alive = 30;
    connect.set_login(user, pass);
    write_packet(&mut s, Packet::Connect(connect)).await?;
    match read_packet(&mut s, &mut buf).await? {
        Packet::ConnAck(a) if a.code == rumqttc::mqttbytes::v4::ConnectReturnCode::Success => {}
        other => bail!("connect refused: {other:?}"),
    }
    match action {
        Action::Subscribe(filter) => {
            let mut sub = Subscribe::new(filter, QoS::AtLeastOnce);
            sub.pkid = 1;
            write_packet(&mut s, Packet::Subscribe(sub)).await?;
            match read_packet(&mut s, &mut buf).await? {
                Packet::SubAck(a)
                    if a.return_codes.iter().all(|c| {
                        matches!(c, rumqttc::mqttbytes::v4::SubscribeReasonCode::Success(_))
                    }) => {}
                other => bail!("subscribe refused: {other:?}"),
            }
        }
        Action::Publish(topic, payload) => {
            let mut p = Publish::new(topic, QoS::AtLeastOnce, payload);
            p.pkid = 1;
            write_packet(&mut s, Packet::Publish(p)).await?;
            match read_packet(&mut s, &mut buf).await? {
                Packet::PubAck(_) => {}
                other => bail!("publish not acked: {other:?}"),
            }
        }
    }
    if abrupt {
        return Ok(());
    }
    write_packet(&mut s, Packet::Disconnect).await?;
    // The server closes the connection on DISCONNECT.
    let mut rest = [0u8; 64];
    while s.read(&mut rest).await? > 0 {}
    Ok(())
}

/// Creates one device with an MQTT token per worker.
async fn setup(http: SocketAddr, workers: usize) -> anyhow::Result<Logins> {
    let (c, token) = api_login(http).await?;
    let tag = std::process::id() % 100_000;
    let mut devices = Vec::with_capacity(workers);
    for w in 0..workers {
        let uid = format!("mqttchurn{tag}w{w}");
        let r = c
            .post(format!("http://{http}/api/v1/devices"))
            .bearer_auth(&token)
            .json(&json!({"unique_id": uid}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "create device: {}", r.status());
        let d: Value = r.json().await?;
        let id = d["id"].as_i64().context("device id")?;
        let r = c
            .post(format!("http://{http}/api/v1/devices/{id}/mqtt-token"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "mqtt token: {}", r.status());
        let v: Value = r.json().await?;
        let pass = v["password"].as_str().context("mqtt password")?.to_string();
        devices.push((uid, pass));
    }
    Ok(Logins {
        user: (ADMIN_EMAIL.to_string(), token),
        devices,
    })
}

/// A position at `t` seconds past 2024-01-01 (unique per device cycle).
fn position_json(uid: &str, t: u64) -> anyhow::Result<Vec<u8>> {
    let device = protocol::DeviceId::parse(uid).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let time = chrono::DateTime::from_timestamp(1_704_067_200 + t as i64, 0).context("time")?;
    let at = protocol::LatLon::new(22.5 + (t % 1000) as f64 * 1e-5, 114.0)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let p = protocol::Position::new(time, at, true, 36.5);
    Ok(protocol::osmand::device::json(&device, &p).into_bytes())
}

/// Counters shared by the workers.
#[derive(Default)]
struct Progress {
    next: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

/// Where the cycles go and how they are reported.
struct Run<'a> {
    a: &'a ChurnArgs,
    addr: SocketAddr,
    logins: Arc<Logins>,
    deadline: Instant,
    pid: u32,
    t0: Instant,
}

/// Runs cycles `from..to` (numbered globally, so client ids never repeat) on `concurrency`
/// workers until done or the deadline; prints the server's RSS every `--report-every` cycles
/// when `report`. Returns (cycles done, failed).
async fn run_cycles(run: &Run<'_>, (from, to): (u64, u64), report: bool) -> (u64, u64) {
    let Run {
        a,
        addr,
        ref logins,
        deadline,
        pid,
        t0,
    } = *run;
    let progress = Arc::new(Progress {
        next: AtomicU64::new(from),
        ..Progress::default()
    });
    let mut set = tokio::task::JoinSet::new();
    for w in 0..a.concurrency {
        let progress = progress.clone();
        let logins = logins.clone();
        let device_per_mille = (a.device_share.clamp(0.0, 1.0) * 1000.0) as u64;
        let abrupt_per_mille = (a.abrupt_share.clamp(0.0, 1.0) * 1000.0) as u64;
        set.spawn(async move {
            let (uid, dpass) = &logins.devices[w];
            let topic = format!("vigil/{uid}/position");
            let filter = format!("vigil/devices/{uid}/alarms");
            let (login, token) = &logins.user;
            loop {
                let k = progress.next.fetch_add(1, Ordering::Relaxed);
                if k >= to || Instant::now() >= deadline {
                    break;
                }
                // Spread both choices evenly and independently over the cycles.
                let device = (k * 7 % 1000) < device_per_mille;
                let abrupt = (k * 13 % 1000) < abrupt_per_mille;
                let r = if device {
                    match position_json(uid, k) {
                        Ok(body) => {
                            let act = Action::Publish(&topic, body);
                            tokio::time::timeout(
                                Duration::from_secs(10),
                                cycle(addr, uid, (uid, dpass), act, abrupt),
                            )
                            .await
                        }
                        Err(e) => Ok(Err(e)),
                    }
                } else {
                    let client_id = format!("{login}:{k}");
                    let act = Action::Subscribe(&filter);
                    tokio::time::timeout(
                        Duration::from_secs(10),
                        cycle(addr, &client_id, (login, token), act, abrupt),
                    )
                    .await
                };
                let err = match r {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("{e:#}")),
                    Err(_) => Some("timed out".to_string()),
                };
                if let Some(e) = err
                    && progress.failed.fetch_add(1, Ordering::Relaxed) < 3
                {
                    eprintln!(
                        "cycle {k} ({}): {e}",
                        if device { "device" } else { "user" }
                    );
                }
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    // Report while the workers run.
    let every = a.report_every.max(1);
    let mut next_report = every;
    let total = to - from;
    loop {
        let done = progress.done.load(Ordering::Relaxed);
        if report && done >= next_report {
            println!(
                "  cycles {:>6}/{total} ({} failed) at {:6.1} s; server RSS {:.1} MB",
                done,
                progress.failed.load(Ordering::Relaxed),
                t0.elapsed().as_secs_f64(),
                rss_bytes(pid).unwrap_or(0) as f64 / 1e6
            );
            next_report += every;
        }
        if set.is_empty() {
            break;
        }
        tokio::select! {
            _ = set.join_next() => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    (
        progress.done.load(Ordering::Relaxed),
        progress.failed.load(Ordering::Relaxed),
    )
}

/// `mqtt-churn`: Vigil with its broker on, the cycles, RSS along the way.
pub async fn run(a: ChurnArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.concurrency > 0, "--concurrency must be at least 1");
    raise_fd_limit(a.concurrency as u64 * 2 + 200);
    let t = crate::TargetArgs {
        db: vec![a.db],
        pg: a.pg.clone(),
        vigil_bin: a.vigil_bin.clone(),
        no_baseline: true,
        settings: a.settings.clone(),
        gt06: None,
        jt808: None,
        h02: None,
        server_pid: None,
        database_url: None,
    };
    let spec = if a.mqtt.is_some() {
        Spec::External
    } else {
        Spec::Vigil(a.db)
    };
    let mut live = Live::start(
        spec,
        &t,
        &[("VIGIL_MQTT_LISTEN", "127.0.0.1:0".to_string())],
    )
    .await?;
    if spec == Spec::External {
        live.pid = a.server_pid;
        live.http = a.http;
        live.mqtt = a.mqtt;
    }
    let r = measure(&a, &live).await;
    live.finish().await?;
    let v = r?;
    let mut out = header_pub();
    out["scenario"] = json!("mqtt-churn");
    out["results"] = json!([v]);
    write_json_pub(a.json.as_ref(), &out)
}

async fn measure(a: &ChurnArgs, live: &Live) -> anyhow::Result<Value> {
    let pid = live.pid.context("no server process")?;
    let http = live.http.context("no HTTP listener")?;
    let addr = live.mqtt.context("no MQTT listener")?;
    let load_start = load_average();
    let logins = Arc::new(setup(http, a.concurrency).await?);
    let t0 = Instant::now();
    let run = Run {
        a,
        addr,
        logins,
        deadline: t0 + Duration::from_secs(a.max_secs),
        pid,
        t0,
    };
    // Warm-up: every path once per worker and the allocator's pools, not counted.
    let (wd, wf) = run_cycles(&run, (0, a.warmup), false).await;
    if wf > 0 {
        bail!("{wf} of {wd} warm-up cycles failed");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = rss_bytes(pid).unwrap_or(0);
    println!(
        "{}: {} warm-up cycles done; server RSS {:.1} MB; {} cycles at concurrency {} ({:.0} % devices, {:.0} % without DISCONNECT)",
        live.label,
        wd,
        rss0 as f64 / 1e6,
        a.cycles,
        a.concurrency,
        a.device_share * 100.0,
        a.abrupt_share * 100.0
    );
    let t1 = Instant::now();
    let (done, failed) = run_cycles(&run, (a.warmup, a.warmup + a.cycles), true).await;
    let secs = t1.elapsed().as_secs_f64();
    let rss1 = rss_bytes(pid).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(a.idle_secs)).await;
    let rss2 = rss_bytes(pid).unwrap_or(0);
    let per_cycle = if done > 0 {
        (rss2 as f64 - rss0 as f64) / done as f64
    } else {
        0.0
    };
    let load_end = load_average();
    println!(
        "{}: {done} cycles ({failed} failed) in {secs:.1} s = {:.0} cycles/s; server RSS {:.1} MB -> {:.1} MB at the end -> {:.1} MB after {} s idle = {per_cycle:.0} B per cycle; load average {load_start} -> {load_end}",
        live.label,
        done as f64 / secs,
        rss0 as f64 / 1e6,
        rss1 as f64 / 1e6,
        rss2 as f64 / 1e6,
        a.idle_secs,
    );
    if done < a.cycles {
        println!(
            "stopped after --max-secs {}: {done} of {} cycles",
            a.max_secs, a.cycles
        );
    }
    Ok(json!({
        "target": live.label,
        "cycles": done,
        "failed": failed,
        "concurrency": a.concurrency,
        "device_share": a.device_share,
        "abrupt_share": a.abrupt_share,
        "secs": secs,
        "server_rss_after_warmup_bytes": rss0,
        "server_rss_end_bytes": rss1,
        "server_rss_idle_bytes": rss2,
        "rss_growth_per_cycle_bytes": per_cycle,
        "load_average": [load_start, load_end],
    }))
}
