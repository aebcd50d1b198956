//! The `logins` scenario: rounds of concurrent password logins against a started Vigil, the
//! server's RSS after each round and after idling, and the time a known and an unknown login
//! take to be refused (account enumeration by timing).
//!
//! Each request comes from its own loopback source address (127.1.x.y), as a crowd of phones
//! would, so the login throttle — per client — does not turn the load away and every login
//! reaches the password check; what is measured is the memory of the password checks.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::scenarios::{header_pub, settings_env, write_json_pub};
use crate::target::{ADMIN_EMAIL, ADMIN_PASSWORD, DbKind, RunDb, Target, load_average, rss_bytes};

/// Arguments of `logins`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoginArgs {
    /// Database (a fresh one).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: DbKind,
    /// PostgreSQL base URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub pg: String,
    /// The `vigil` binary.
    #[arg(long)]
    pub vigil_bin: Option<PathBuf>,
    /// Rounds of concurrent logins.
    #[arg(long, default_value_t = 10)]
    pub rounds: u32,
    /// Logins sent at once per round.
    #[arg(long, default_value_t = 100)]
    pub concurrency: u32,
    /// Send wrong passwords instead of the right one.
    #[arg(long)]
    pub wrong: bool,
    /// Seconds to idle after the rounds before the last RSS reading.
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// Sequential refused logins timed per kind (known login, unknown login); 0: none.
    #[arg(long, default_value_t = 200)]
    pub timing: u32,
    /// Extra server settings, `KEY=VALUE` (as `VIGIL_KEY`), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Write the figures as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// A client whose connections come from the `n`-th address of 127.1.0.0/16.
fn client_from(n: u32) -> anyhow::Result<reqwest::Client> {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 1)) + n);
    Ok(reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()?)
}

/// `POST /api/v1/session` from source `n`: the status.
async fn login(url: &str, n: u32, email: &str, password: &str) -> anyhow::Result<u16> {
    let r = client_from(n)?
        .post(url)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    Ok(r.status().as_u16())
}

fn mib(bytes: Option<u64>) -> f64 {
    bytes.map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0))
}

/// Runs the scenario.
pub async fn run(a: LoginArgs) -> anyhow::Result<()> {
    let db = RunDb::create(a.db, &a.pg, "logins").await?;
    let env = settings_env(&a.settings)?;
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let target = Target::spawn_vigil(a.vigil_bin.as_ref(), &db, &env)?;
    let pid = target.pid();
    let http = target.addr("http").context("no http listener")?;
    let url = format!("http://{http}/api/v1/session");
    // One login first: the server is up, its pools warm.
    anyhow::ensure!(
        login(&url, 0, ADMIN_EMAIL, ADMIN_PASSWORD).await? == 201,
        "the administrator cannot log in"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_bytes(pid);
    println!(
        "logins: {} rounds × {} concurrent {} logins on {:?}; load average {}",
        a.rounds,
        a.concurrency,
        if a.wrong { "wrong-password" } else { "correct" },
        a.db,
        load_average()
    );
    println!("idle RSS before: {:.1} MiB", mib(idle));
    println!("round   201   401   429   503  other   secs   RSS MiB");
    let password = if a.wrong {
        "not the password"
    } else {
        ADMIN_PASSWORD
    };
    let mut rounds = Vec::new();
    let mut peak = idle.unwrap_or(0);
    for r in 0..a.rounds {
        let start = Instant::now();
        let tasks: Vec<_> = (0..a.concurrency)
            .map(|i| {
                let url = url.clone();
                let n = 1 + r * a.concurrency + i;
                tokio::spawn(async move { login(&url, n, ADMIN_EMAIL, password).await })
            })
            .collect();
        let mut counts = [0u32; 5];
        for t in tasks {
            let slot = match t.await? {
                Ok(201) => 0,
                Ok(401) => 1,
                Ok(429) => 2,
                Ok(503) => 3,
                _ => 4,
            };
            counts[slot] += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let rss = rss_bytes(pid);
        peak = peak.max(rss.unwrap_or(0));
        println!(
            "{:>5} {:>5} {:>5} {:>5} {:>5} {:>6} {:>6.2} {:>9.1}",
            r + 1,
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4],
            secs,
            mib(rss)
        );
        rounds.push(
            json!({"round": r + 1, "created": counts[0], "unauthorized": counts[1],
            "throttled": counts[2], "busy": counts[3], "other": counts[4], "secs": secs,
            "rss_bytes": rss}),
        );
    }
    tokio::time::sleep(Duration::from_secs(a.idle_secs)).await;
    let after = rss_bytes(pid);
    println!(
        "peak RSS {:.1} MiB; after {} s idle: {:.1} MiB (idle before: {:.1} MiB)",
        mib(Some(peak)),
        a.idle_secs,
        mib(after),
        mib(idle)
    );

    // Known and unknown logins refused, alternating, each from a fresh address.
    let mut timing = json!(null);
    if a.timing > 0 {
        let base = 1 + a.rounds * a.concurrency;
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for i in 0..a.timing {
            for (email, out) in [
                (ADMIN_EMAIL, &mut known),
                ("nobody@example.invalid", &mut unknown),
            ] {
                let n = base + 2 * i + u32::from(email != ADMIN_EMAIL);
                let client = client_from(n)?;
                let t = Instant::now();
                let s = client
                    .post(&url)
                    .json(&json!({"email": email, "password": "wrong guess"}))
                    .send()
                    .await?
                    .status()
                    .as_u16();
                out.push(t.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(s == 401, "a refused login answered {s}");
            }
        }
        let stats = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (v[v.len() / 2], mean, v[v.len() * 99 / 100])
        };
        let (kp50, kmean, kp99) = stats(&mut known);
        let (up50, umean, up99) = stats(&mut unknown);
        println!(
            "refused login, {} each: known p50 {kp50:.2} ms mean {kmean:.2} p99 {kp99:.2}; \
             unknown p50 {up50:.2} ms mean {umean:.2} p99 {up99:.2}; p50 difference {:.2} ms",
            a.timing,
            kp50 - up50
        );
        timing = json!({"count": a.timing,
            "known_ms": {"p50": kp50, "mean": kmean, "p99": kp99},
            "unknown_ms": {"p50": up50, "mean": umean, "p99": up99}});
    }
    target.stop(Duration::from_secs(20))?;
    db.drop_db().await?;
    let v: Value = json!({"header": header_pub(), "scenario": "logins", "db": format!("{:?}", a.db),
        "concurrency": a.concurrency, "wrong": a.wrong, "idle_rss_bytes": idle,
        "peak_rss_bytes": peak, "after_idle_rss_bytes": after, "rounds": rounds,
        "timing": timing});
    write_json_pub(a.json.as_ref(), &v)
}
