//! A fleet of simulated devices against one target, measured in phases.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::sim::{Counters, Mix, Proto, SimConfig, Stats, run_device};
use crate::target::{cpu_secs, rss_bytes};

/// Running devices.
pub struct Fleet {
    /// Shared counters.
    pub stats: Arc<Stats>,
    /// Per-device interval between sends, microseconds (changeable while running).
    pub interval_us: Arc<AtomicU64>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    /// The configuration.
    pub cfg: Arc<SimConfig>,
    /// Longest wait for every device to log in: the ramp and a minute.
    connect_limit: Duration,
}

/// What one measured phase saw.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Offered positions per second (devices / interval, heartbeats not counted).
    pub offered: f64,
    /// Length, seconds.
    pub secs: f64,
    /// Counters at the start.
    pub c0: Counters,
    /// Counters at the end.
    pub c1: Counters,
    /// Ack latency per protocol, microseconds.
    pub latency: [Histogram<u64>; 3],
    /// Cores used by the target during the phase.
    pub target_cpu: Option<f64>,
    /// Cores used by this simulator during the phase.
    pub sim_cpu: Option<f64>,
    /// Cores used by the PostgreSQL server processes during the phase.
    pub db_cpu: Option<f64>,
    /// Cores the whole machine was busy during the phase.
    pub machine_cpu: Option<f64>,
    /// Target RSS at the end, bytes.
    pub target_rss: Option<u64>,
}

impl Phase {
    /// Positions written per second.
    pub fn sent_rate(&self) -> f64 {
        (self.c1.sent - self.c0.sent) as f64 / self.secs
    }

    /// Positions acknowledged per second.
    pub fn acked_rate(&self) -> f64 {
        (self.c1.acked - self.c0.acked) as f64 / self.secs
    }

    /// Latency over all protocols.
    pub fn merged(&self) -> Histogram<u64> {
        let mut h = self.latency[0].clone();
        for x in &self.latency[1..] {
            let _ = h.add(x);
        }
        h
    }

    /// p99 over all protocols, milliseconds (0 when nothing was acked).
    pub fn p99_ms(&self) -> f64 {
        let h = self.merged();
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(0.99) as f64 / 1000.0
        }
    }
}

/// `{count, p50_ms, p90_ms, p99_ms, max_ms}` of a histogram in microseconds.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(0.5),
        "p90_ms": ms(0.9),
        "p99_ms": ms(0.99),
        "max_ms": h.max() as f64 / 1000.0,
    })
}

/// One table line for a latency histogram.
pub fn latency_line(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "-".into();
    }
    let ms = |v: u64| v as f64 / 1000.0;
    format!(
        "p50 {:.1} / p90 {:.1} / p99 {:.1} / max {:.1} ms (n={})",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.len()
    )
}

fn bar(len: u64, prefix: String) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix);
    pb
}

impl Fleet {
    /// Starts every device (each waits its turn in the ramp), one report per
    /// `sim.interval_secs`, each draining its acks for `sim.drain_secs` at the stop.
    pub fn start(cfg: SimConfig, sim: &crate::SimArgs) -> Fleet {
        let interval = Duration::from_secs_f64(sim.interval_secs);
        let drain = Duration::from_secs_f64(sim.drain_secs);
        let connect_limit = Duration::from_secs_f64(sim.ramp_secs + 60.0);
        let cfg = Arc::new(cfg);
        let stats = Arc::new(Stats::default());
        let interval_us = Arc::new(AtomicU64::new(interval.as_micros().max(1) as u64));
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for i in 0..cfg.devices {
            tasks.spawn(run_device(
                i,
                cfg.clone(),
                stats.clone(),
                interval_us.clone(),
                stop.clone(),
                drain,
            ));
        }
        Fleet {
            stats,
            interval_us,
            stop,
            tasks,
            cfg,
            connect_limit,
        }
    }

    /// Offered positions per second at the current interval.
    pub fn offered(&self) -> f64 {
        let per_device = 1e6 / self.interval_us.load(Relaxed) as f64;
        let hb = self.cfg.heartbeat_every;
        let position_share = if hb > 0 {
            hb as f64 / (hb as f64 + 1.0)
        } else {
            1.0
        };
        self.cfg.devices as f64 * per_device * position_share
    }

    /// Sets the per-device interval so that `rate` positions per second are offered.
    pub fn set_rate(&self, rate: f64) {
        let hb = self.cfg.heartbeat_every;
        let frames = if hb > 0 {
            rate * (hb as f64 + 1.0) / hb as f64
        } else {
            rate
        };
        let us = (self.cfg.devices as f64 * 1e6 / frames.max(1.0)).max(1.0);
        self.interval_us.store(us as u64, Relaxed);
    }

    /// Waits until every device has logged in or failed (progress bar), at most the ramp
    /// and a minute.
    pub async fn wait_connected(&self) -> Counters {
        let limit = self.connect_limit;
        let n = self.cfg.devices as u64;
        let pb = bar(n, "connecting".into());
        let t0 = Instant::now();
        loop {
            let c = self.stats.counters();
            pb.set_position(c.peak_connected + c.connect_errors);
            pb.set_message(format!("errors {}", c.connect_errors));
            if c.peak_connected + c.connect_errors >= n || t0.elapsed() >= limit {
                pb.finish_and_clear();
                return c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Measures `secs` seconds of traffic (progress bar with live rates).
    pub async fn measure(&self, secs: u64, pid: Option<u32>, label: &str) -> Phase {
        let _ = self.stats.take_latency();
        let c0 = self.stats.counters();
        let cpu0 = pid.and_then(cpu_secs);
        let me = std::process::id();
        let sim0 = cpu_secs(me);
        let db0 = crate::target::postgres_cpu_secs();
        let machine0 = crate::target::machine_busy_secs();
        let t0 = Instant::now();
        let pb = bar(secs, label.to_string());
        let mut last = c0;
        for s in 1..=secs {
            tokio::time::sleep_until((t0 + Duration::from_secs(s)).into()).await;
            let c = self.stats.counters();
            pb.set_position(s);
            pb.set_message(format!(
                "offered {:.0}/s sent {}/s acked {}/s",
                self.offered(),
                c.sent - last.sent,
                c.acked - last.acked
            ));
            last = c;
        }
        pb.finish_and_clear();
        let el = t0.elapsed().as_secs_f64();
        let c1 = self.stats.counters();
        let latency = self.stats.take_latency();
        let cores = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some((b - a) / el),
            _ => None,
        };
        Phase {
            offered: self.offered(),
            secs: el,
            c0,
            c1,
            latency,
            target_cpu: cores(cpu0, pid.and_then(cpu_secs)),
            sim_cpu: cores(sim0, cpu_secs(me)),
            db_cpu: cores(db0, crate::target::postgres_cpu_secs()),
            machine_cpu: cores(machine0, crate::target::machine_busy_secs()),
            target_rss: pid.and_then(rss_bytes),
        }
    }

    /// Stops sending, lets devices collect outstanding acks (their drain time), closes all.
    pub async fn stop(mut self) -> Counters {
        debug_assert!(self.stats.counters().connected <= self.cfg.devices as u64);
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.stats.counters()
    }
}

/// The protocol shares as JSON.
pub fn mix_json(mix: &Mix) -> Value {
    let mut m = serde_json::Map::new();
    for p in Proto::ALL {
        m.insert(p.name().into(), json!(mix.0[p as usize]));
    }
    Value::Object(m)
}
