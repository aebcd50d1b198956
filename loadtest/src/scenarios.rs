//! The `run` and `throughput` scenarios: baseline and Vigil, one after the other.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DurationRound, Utc};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::fleet::{Fleet, Phase, latency_json, latency_line, mix_json};
use crate::sim::{Counters, Proto, SimConfig};
use crate::target::{DbKind, RunDb, Target, load_average, raise_fd_limit, rss_bytes};
use crate::{SimArgs, TargetArgs};

/// What is under test in one part of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// The frame-and-discard sink.
    Baseline,
    /// Vigil on a fresh database.
    Vigil(DbKind),
    /// A server started by someone else (`--gt06` … `--server-pid`).
    External,
}

/// A started target: its addresses, process, database.
pub struct Live {
    /// Label for the tables.
    pub label: String,
    /// Spec it came from.
    pub spec: Spec,
    /// Device listeners in [`Proto`] order.
    pub addrs: [Option<SocketAddr>; 3],
    /// Process to read RSS/CPU from.
    pub pid: Option<u32>,
    /// HTTP API.
    pub http: Option<SocketAddr>,
    /// MQTT broker (when started with `VIGIL_MQTT_LISTEN`).
    pub mqtt: Option<SocketAddr>,
    target: Option<Target>,
    db: Option<RunDb>,
    db_url: Option<String>,
}

/// The targets of a run, in order: baseline first (unless skipped), then Vigil per database.
pub fn specs(t: &TargetArgs) -> Vec<Spec> {
    if t.gt06.is_some() || t.jt808.is_some() || t.h02.is_some() {
        return vec![Spec::External];
    }
    let mut v = Vec::new();
    if !t.no_baseline {
        v.push(Spec::Baseline);
    }
    v.extend(t.db.iter().map(|d| Spec::Vigil(*d)));
    v
}

/// `KEY=VALUE` settings as `VIGIL_KEY` variables.
pub fn setting_env(t: &TargetArgs) -> anyhow::Result<Vec<(String, String)>> {
    settings_env(&t.settings)
}

/// `--set KEY=VALUE` arguments as `VIGIL_KEY` variables.
pub fn settings_env(settings: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    settings
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').context("--set wants KEY=VALUE")?;
            Ok((format!("VIGIL_{}", k.trim().to_uppercase()), v.to_string()))
        })
        .collect()
}

impl Live {
    /// Starts `spec`.
    pub async fn start(
        spec: Spec,
        t: &TargetArgs,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Live> {
        let env = setting_env(t)?;
        let mut all: Vec<(&str, String)> =
            env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        all.extend(extra.iter().cloned());
        let addrs_of = |tg: &Target| [tg.addr("gt06"), tg.addr("jt808"), tg.addr("h02")];
        Ok(match spec {
            Spec::Baseline => {
                let tg = Target::spawn_sink()?;
                Live {
                    label: "baseline".into(),
                    spec,
                    addrs: addrs_of(&tg),
                    pid: Some(tg.pid()),
                    http: None,
                    mqtt: None,
                    target: Some(tg),
                    db: None,
                    db_url: None,
                }
            }
            Spec::Vigil(kind) => {
                let db = RunDb::create(kind, &t.pg, "run").await?;
                let tg = Target::spawn_vigil(t.vigil_bin.as_ref(), &db, &all)?;
                Live {
                    label: tg.label.clone(),
                    spec,
                    addrs: addrs_of(&tg),
                    pid: Some(tg.pid()),
                    http: tg.addr("http"),
                    mqtt: tg.addr("mqtt"),
                    db_url: Some(db.url.clone()),
                    target: Some(tg),
                    db: Some(db),
                }
            }
            Spec::External => Live {
                label: "vigil (external)".into(),
                spec,
                addrs: [t.gt06, t.jt808, t.h02],
                pid: t.server_pid,
                http: None,
                mqtt: None,
                target: None,
                db: None,
                db_url: t.database_url.clone(),
            },
        })
    }

    /// Rows in `positions` (Vigil only).
    pub async fn stored(&self) -> Option<u64> {
        let url = self.db_url.as_ref()?;
        let r: anyhow::Result<i64> = async {
            let sql = "SELECT COUNT(*) FROM positions";
            Ok(if url.starts_with("sqlite:") {
                let mut c = sqlx::SqliteConnection::connect(url).await?;
                sqlx::query_scalar(sql).fetch_one(&mut c).await?
            } else {
                let mut c = sqlx::PgConnection::connect(url).await?;
                sqlx::query_scalar(sql).fetch_one(&mut c).await?
            })
        }
        .await;
        match r {
            Ok(n) => Some(n as u64),
            Err(e) => {
                eprintln!("cannot count stored positions: {e:#}");
                None
            }
        }
    }

    /// Stops the process and drops its database.
    pub async fn finish(self) -> anyhow::Result<()> {
        if let Some(t) = self.target {
            t.stop(Duration::from_secs(20))?;
        }
        if let Some(db) = self.db {
            db.drop_db().await?;
        }
        Ok(())
    }
}

/// The simulator configuration for `sim` against `addrs`.
pub fn sim_config(
    sim: &SimArgs,
    addrs: [Option<SocketAddr>; 3],
    id_base: u64,
) -> anyhow::Result<SimConfig> {
    let (lat, lon) = sim
        .center
        .split_once(',')
        .context("--center wants lat,lon")?;
    for p in Proto::ALL {
        if sim.mix.0[p as usize] > 0 && addrs[p as usize].is_none() {
            bail!(
                "the mix has {} devices but there is no {} listener",
                p.name(),
                p.name()
            );
        }
    }
    let start =
        (Utc::now() - chrono::Duration::days(60)).duration_trunc(chrono::Duration::seconds(1))?;
    Ok(SimConfig {
        devices: sim.devices,
        mix: sim.mix,
        addrs,
        ramp: Duration::from_secs_f64(sim.ramp_secs),
        heartbeat_every: sim.heartbeat_every,
        alarm_share: sim.alarm_share,
        leave_share: sim.leave_share,
        center: (lat.trim().parse()?, lon.trim().parse()?),
        radius_km: sim.radius_km,
        fix_step_secs: sim.fix_step_secs,
        window: sim.window.max(1),
        source_ips: if sim.source_ips == 0 {
            (sim.devices as u32 / 1000 + 1).min(250)
        } else {
            sim.source_ips
        },
        id_base,
        start_time: start,
    })
}

/// The per-run part of simulated device ids.
pub fn id_base() -> u64 {
    u64::from(std::process::id()) % 1000
}

/// One target's figures.
pub struct RunResult {
    /// Label.
    pub label: String,
    /// Spec.
    pub spec: Spec,
    /// Measured phase.
    pub phase: Phase,
    /// Counters after every device logged in.
    pub connected: Counters,
    /// Counters after the drain.
    pub total: Counters,
    /// Rows stored.
    pub stored: Option<u64>,
    /// RSS before any device connected.
    pub rss_idle: Option<u64>,
    /// RSS with every device connected (before traffic).
    pub rss_connected: Option<u64>,
}

impl RunResult {
    fn json(&self) -> Value {
        let p = &self.phase;
        let per_conn = match (self.rss_idle, self.rss_connected) {
            (Some(a), Some(b)) if self.connected.peak_connected > 0 => {
                Some((b as f64 - a as f64) / self.connected.peak_connected as f64)
            }
            _ => None,
        };
        json!({
            "target": self.label,
            "connections_held": self.connected.peak_connected,
            "offered_positions_per_s": p.offered,
            "sent_positions_per_s": p.sent_rate(),
            "acked_positions_per_s": p.acked_rate(),
            "measured_secs": p.secs,
            "total_sent": self.total.sent,
            "total_acked": self.total.acked,
            "stored": self.stored,
            "alarms_sent": self.total.alarms,
            "heartbeats": self.total.heartbeats,
            "heartbeats_acked": self.total.heartbeats_acked,
            "devices_left_circle": self.total.left_circle,
            "window_full_skips": self.total.window_full,
            "latency": {
                "gt06": latency_json(&p.latency[0]),
                "jt808": latency_json(&p.latency[1]),
                "h02": latency_json(&p.latency[2]),
                "all": latency_json(&p.merged()),
            },
            "server_rss_idle_bytes": self.rss_idle,
            "server_rss_connected_bytes": self.rss_connected,
            "server_rss_end_bytes": p.target_rss,
            "server_rss_per_connection_bytes": per_conn,
            "server_cores": p.target_cpu,
            "simulator_cores": p.sim_cpu,
            "postgres_cores": p.db_cpu,
            "machine_cores": p.machine_cpu,
            "errors": {
                "connect": self.total.connect_errors,
                "io": self.total.io_errors,
                "protocol": self.total.protocol_errors,
            },
        })
    }
}

fn mb(b: Option<u64>) -> String {
    b.map_or("-".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

fn print_table(results: &[RunResult]) {
    let w = 24;
    let row = |name: &str, f: &dyn Fn(&RunResult) -> String| {
        print!("{name:<28}");
        for r in results {
            print!("{:>w$}", f(r));
        }
        println!();
    };
    row("", &|r| r.label.clone());
    row("connections held", &|r| {
        r.connected.peak_connected.to_string()
    });
    row("offered positions/s", &|r| {
        format!("{:.0}", r.phase.offered)
    });
    row("sent positions/s", &|r| {
        format!("{:.0}", r.phase.sent_rate())
    });
    row("acked positions/s", &|r| {
        format!("{:.0}", r.phase.acked_rate())
    });
    row("sent / acked / stored", &|r| {
        format!(
            "{}/{}/{}",
            r.total.sent,
            r.total.acked,
            r.stored.map_or("-".into(), |s| s.to_string())
        )
    });
    row("alarms / left circle", &|r| {
        format!("{} / {}", r.total.alarms, r.total.left_circle)
    });
    for p in Proto::ALL {
        let i = p as usize;
        row(&format!("{} ack p50/p99 ms", p.name()), &|r| {
            let h = &r.phase.latency[i];
            if h.is_empty() {
                "-".into()
            } else {
                format!(
                    "{:.1}/{:.1}",
                    h.value_at_quantile(0.5) as f64 / 1000.0,
                    h.value_at_quantile(0.99) as f64 / 1000.0
                )
            }
        });
    }
    row("server RSS idle/loaded", &|r| {
        format!("{}/{}", mb(r.rss_idle), mb(r.phase.target_rss))
    });
    row(
        "server RSS per connection",
        &|r| match (r.rss_idle, r.rss_connected) {
            (Some(a), Some(b)) if r.connected.peak_connected > 0 => format!(
                "{:.0} B",
                (b as f64 - a as f64) / r.connected.peak_connected as f64
            ),
            _ => "-".into(),
        },
    );
    row("cores server / simulator", &|r| {
        format!(
            "{:.2} / {:.2}",
            r.phase.target_cpu.unwrap_or(f64::NAN),
            r.phase.sim_cpu.unwrap_or(f64::NAN)
        )
    });
    row("errors conn/io/proto", &|r| {
        format!(
            "{}/{}/{}",
            r.total.connect_errors, r.total.io_errors, r.total.protocol_errors
        )
    });
    for r in results {
        println!(
            "{:<28}{}",
            format!("{} latency", r.label),
            latency_line(&r.phase.merged())
        );
    }
}

fn baseline_ratio(results: &[RunResult], rate: impl Fn(&RunResult) -> f64) -> Vec<(String, f64)> {
    let Some(b) = results.iter().find(|r| r.spec == Spec::Baseline) else {
        return Vec::new();
    };
    let base = rate(b);
    results
        .iter()
        .filter(|r| r.spec != Spec::Baseline && base > 0.0)
        .map(|r| (r.label.clone(), rate(r) / base))
        .collect()
}

fn header() -> Value {
    json!({
        "date": Utc::now().to_rfc3339(),
        "load_average_1m": load_average(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "version": env!("CARGO_PKG_VERSION"),
    })
}

fn write_json(path: Option<&PathBuf>, v: &Value) -> anyhow::Result<()> {
    if let Some(p) = path {
        std::fs::write(p, serde_json::to_string_pretty(v)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// `run`: every target at the same fixed rate.
pub async fn run(
    sim: SimArgs,
    t: TargetArgs,
    secs: u64,
    json_out: Option<PathBuf>,
) -> anyhow::Result<()> {
    raise_fd_limit(sim.devices as u64 * 2 + 200);
    let mut results = Vec::new();
    for (k, spec) in specs(&t).into_iter().enumerate() {
        let live = Live::start(spec, &t, &[]).await?;
        settle().await;
        let rss_idle = live.pid.and_then(rss_bytes);
        let cfg = sim_config(&sim, live.addrs, id_base() * 10 + k as u64)?;
        let fleet = Fleet::start(cfg, &sim);
        let connected = fleet.wait_connected().await;
        let rss_connected = live.pid.and_then(rss_bytes);
        let phase = fleet.measure(secs, live.pid, &live.label).await;
        let total = fleet.stop().await;
        let stored = live.stored().await;
        results.push(RunResult {
            label: live.label.clone(),
            spec,
            phase,
            connected,
            total,
            stored,
            rss_idle,
            rss_connected,
        });
        live.finish().await?;
    }
    println!(
        "\nrun: {} devices, mix {:?}, interval {} s, load average {}",
        sim.devices,
        sim.mix.0,
        sim.interval_secs,
        load_average()
    );
    print_table(&results);
    let ratios = baseline_ratio(&results, |r| r.phase.acked_rate());
    for (l, x) in &ratios {
        println!("{l} / baseline (acked positions/s at the same offered rate): {x:.2}");
    }
    let mut v = header();
    v["scenario"] = json!("run");
    v["devices"] = json!(sim.devices);
    v["mix"] = mix_json(&sim.mix);
    v["results"] = Value::Array(results.iter().map(RunResult::json).collect());
    v["ratio_to_baseline"] = json!(
        ratios
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    write_json(json_out.as_ref(), &v)
}

/// Rate steps of the throughput search.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    /// First offered rate.
    pub start_rate: f64,
    /// Multiplier per step.
    pub step_factor: f64,
    /// Highest rate tried.
    pub max_rate: f64,
    /// Seconds per step.
    pub step_secs: u64,
    /// p99 limit, ms.
    pub p99_ms: f64,
    /// Acked share a step needs.
    pub min_acked_share: f64,
}

/// One target's step search.
pub struct Search {
    /// Label.
    pub label: String,
    /// Spec.
    pub spec: Spec,
    /// Each step and whether it passed.
    pub steps: Vec<(Phase, bool)>,
    /// Counters after the drain.
    pub total: Counters,
    /// Rows stored.
    pub stored: Option<u64>,
    /// Devices logged in.
    pub connected: u64,
}

impl Search {
    /// The best passing step.
    pub fn best(&self) -> Option<&Phase> {
        self.steps
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(p, _)| p)
            .max_by(|a, b| a.acked_rate().total_cmp(&b.acked_rate()))
    }

    /// Its acked rate (0 when no step passed).
    pub fn best_rate(&self) -> f64 {
        self.best().map_or(0.0, Phase::acked_rate)
    }
}

/// Steps one started target up to its limit.
pub async fn search_one(sim: &SimArgs, live: &Live, k: u64, s: Steps) -> anyhow::Result<Search> {
    let cfg = sim_config(sim, live.addrs, id_base() * 10 + k)?;
    let fleet = Fleet::start(cfg, sim);
    fleet.set_rate(s.start_rate);
    let connected = fleet.wait_connected().await.peak_connected;
    // Warm-up at the first rate (caches, page cache, pool connections).
    let _ = fleet
        .measure(2, live.pid, &format!("{} warm-up", live.label))
        .await;
    let mut steps = Vec::new();
    let mut rate = s.start_rate;
    while rate <= s.max_rate {
        fleet.set_rate(rate);
        let label = format!("{} {:.0}/s", live.label, rate);
        let ph = fleet.measure(s.step_secs, live.pid, &label).await;
        let ok = ph.p99_ms() <= s.p99_ms
            && ph.acked_rate() >= s.min_acked_share * ph.offered
            && ph.c1.errors() == ph.c0.errors();
        eprintln!(
            "{:>22}: offered {:>7.0}/s sent {:>7.0}/s acked {:>7.0}/s p99 {:>7.1} ms cores server {:.2} sim {:.2} postgres {:.2} machine {:.2} -> {}",
            live.label,
            ph.offered,
            ph.sent_rate(),
            ph.acked_rate(),
            ph.p99_ms(),
            ph.target_cpu.unwrap_or(f64::NAN),
            ph.sim_cpu.unwrap_or(f64::NAN),
            ph.db_cpu.unwrap_or(f64::NAN),
            ph.machine_cpu.unwrap_or(f64::NAN),
            if ok { "ok" } else { "limit" }
        );
        steps.push((ph, ok));
        if !ok {
            break;
        }
        rate *= s.step_factor;
    }
    let total = fleet.stop().await;
    let stored = live.stored().await;
    Ok(Search {
        label: live.label.clone(),
        spec: live.spec,
        steps,
        total,
        stored,
        connected,
    })
}

fn step_json(p: &Phase, ok: bool) -> Value {
    json!({
        "offered_positions_per_s": p.offered,
        "sent_positions_per_s": p.sent_rate(),
        "acked_positions_per_s": p.acked_rate(),
        "latency": {
            "gt06": latency_json(&p.latency[0]),
            "jt808": latency_json(&p.latency[1]),
            "h02": latency_json(&p.latency[2]),
            "all": latency_json(&p.merged()),
        },
        "server_cores": p.target_cpu,
        "simulator_cores": p.sim_cpu,
            "postgres_cores": p.db_cpu,
            "machine_cores": p.machine_cpu,
        "server_rss_bytes": p.target_rss,
        "passed": ok,
    })
}

/// Prints and returns the figures of step searches.
pub fn report_searches(searches: &[Search], s: Steps, sim: &SimArgs, scenario: &str) -> Value {
    println!(
        "\n{scenario}: {} devices, mix {:?}, p99 limit {} ms, steps of {} s, load average {}",
        sim.devices,
        sim.mix.0,
        s.p99_ms,
        s.step_secs,
        load_average()
    );
    println!(
        "{:<20}{:>12}{:>12}{:>10}{:>10}{:>10}{:>10}{:>9}{:>9}  {:<26}",
        "target",
        "best acked/s",
        "offered/s",
        "gt06 p99",
        "jt808 p99",
        "h02 p99",
        "max ms",
        "srv cpu",
        "sim cpu",
        "sent/acked/stored"
    );
    let p99 = |p: &Phase, i: usize| {
        let h = &p.latency[i];
        if h.is_empty() {
            "-".to_string()
        } else {
            format!("{:.1}", h.value_at_quantile(0.99) as f64 / 1000.0)
        }
    };
    for x in searches {
        let totals = format!(
            "{}/{}/{}",
            x.total.sent,
            x.total.acked,
            x.stored.map_or("-".into(), |s| s.to_string())
        );
        match x.best() {
            Some(b) => println!(
                "{:<20}{:>12.0}{:>12.0}{:>10}{:>10}{:>10}{:>10.1}{:>9.2}{:>9.2}  {totals}",
                x.label,
                b.acked_rate(),
                b.offered,
                p99(b, 0),
                p99(b, 1),
                p99(b, 2),
                b.merged().max() as f64 / 1000.0,
                b.target_cpu.unwrap_or(f64::NAN),
                b.sim_cpu.unwrap_or(f64::NAN),
            ),
            None => println!("{:<20} no step passed  {totals}", x.label),
        }
        if let Some(b) = x.best() {
            // What one position costs each part: with the machine's cores, the ceiling.
            let rate = b.acked_rate().max(1.0);
            let us = |c: Option<f64>| c.map_or(f64::NAN, |c| c / rate * 1e6);
            let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
            println!(
                "{:<20}  CPU per position at that step: server {:.1} µs, postgres {:.1} µs, simulator {:.1} µs; machine busy {:.2} of {cores} cores",
                "",
                us(b.target_cpu),
                us(b.db_cpu),
                us(b.sim_cpu),
                b.machine_cpu.unwrap_or(f64::NAN),
            );
        }
        if let Some((f, false)) = x.steps.last() {
            println!(
                "{:<20}  limit at offered {:.0}/s: acked {:.0}/s, p99 {:.1} ms, server {:.2} cores, simulator {:.2} cores, postgres {:.2} cores, machine busy {:.2} cores",
                "",
                f.offered,
                f.acked_rate(),
                f.p99_ms(),
                f.target_cpu.unwrap_or(f64::NAN),
                f.sim_cpu.unwrap_or(f64::NAN),
                f.db_cpu.unwrap_or(f64::NAN),
                f.machine_cpu.unwrap_or(f64::NAN)
            );
        }
    }
    let ratios: Vec<(String, f64)> = {
        let base = searches
            .iter()
            .find(|x| x.spec == Spec::Baseline)
            .map(Search::best_rate);
        match base {
            Some(b) if b > 0.0 => searches
                .iter()
                .filter(|x| x.spec != Spec::Baseline)
                .map(|x| (x.label.clone(), x.best_rate() / b))
                .collect(),
            _ => Vec::new(),
        }
    };
    for (l, r) in &ratios {
        println!("{l} / baseline (best sustained positions/s): {r:.2}");
    }
    let mut v = header();
    v["scenario"] = json!(scenario);
    v["devices"] = json!(sim.devices);
    v["mix"] = mix_json(&sim.mix);
    v["p99_limit_ms"] = json!(s.p99_ms);
    v["targets"] = Value::Array(
        searches
            .iter()
            .map(|x| {
                json!({
                    "target": x.label,
                    "connections_held": x.connected,
                    "best_acked_positions_per_s": x.best_rate(),
                    "total_sent": x.total.sent,
                    "total_acked": x.total.acked,
                    "stored": x.stored,
                    "alarms_sent": x.total.alarms,
                    "devices_left_circle": x.total.left_circle,
                    "errors": {"connect": x.total.connect_errors, "io": x.total.io_errors, "protocol": x.total.protocol_errors},
                    "steps": x.steps.iter().map(|(p, ok)| step_json(p, *ok)).collect::<Vec<_>>(),
                })
            })
            .collect(),
    );
    v["ratio_to_baseline"] = json!(
        ratios
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    v
}

/// `throughput`: step search on the baseline, then Vigil per database.
pub async fn throughput(
    sim: SimArgs,
    t: TargetArgs,
    s: Steps,
    json_out: Option<PathBuf>,
) -> anyhow::Result<()> {
    raise_fd_limit(sim.devices as u64 * 2 + 200);
    let mut searches = Vec::new();
    for (k, spec) in specs(&t).into_iter().enumerate() {
        let live = Live::start(spec, &t, &[]).await?;
        settle().await;
        let r = search_one(&sim, &live, k as u64, s).await;
        live.finish().await?;
        searches.push(r?);
    }
    let v = report_searches(&searches, s, &sim, "throughput");
    write_json(json_out.as_ref(), &v)
}

/// Shared by the pending scenarios.
pub fn write_json_pub(path: Option<&PathBuf>, v: &Value) -> anyhow::Result<()> {
    write_json(path, v)
}

/// Shared header of every JSON report.
pub fn header_pub() -> Value {
    header()
}
