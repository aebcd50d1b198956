//! The system under test as a child process: `vigil serve` on free loopback ports with a fresh
//! SQLite file or PostgreSQL database, or the baseline sink; its RSS and CPU from /proc.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;

/// Administrator the child server is started with (for the HTTP API).
pub const ADMIN_EMAIL: &str = "loadtest@example.invalid";
/// Its password.
pub const ADMIN_PASSWORD: &str = "loadtest-password-1";

/// Which database a spawned Vigil uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbKind {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database (created and dropped by the run).
    Postgres,
}

/// A database created for one run.
#[derive(Debug)]
pub struct RunDb {
    /// Engine.
    pub kind: DbKind,
    /// URL the server uses.
    pub url: String,
    /// Admin URL (PostgreSQL) used to drop it at the end.
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl RunDb {
    /// Creates a fresh database of `kind`; `pg_base` is `postgres://user@host:port`.
    pub async fn create(kind: DbKind, pg_base: &str, tag: &str) -> anyhow::Result<RunDb> {
        let name = format!(
            "vigil_lt_{tag}_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis() % 1_000_000
        );
        match kind {
            DbKind::Sqlite => {
                let dir = tempfile::Builder::new().prefix("vigil-lt-").tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("vigil.db").display());
                Ok(RunDb {
                    kind,
                    url,
                    admin_url: None,
                    name,
                    _dir: Some(dir),
                })
            }
            DbKind::Postgres => {
                let admin_url = format!("{}/postgres", pg_base.trim_end_matches('/'));
                let mut c = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .with_context(|| format!("cannot reach PostgreSQL at {admin_url}"))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut c)
                    .await?;
                Ok(RunDb {
                    kind,
                    url: format!("{}/{name}", pg_base.trim_end_matches('/')),
                    admin_url: Some(admin_url),
                    name,
                    _dir: None,
                })
            }
        }
    }

    /// An existing database named by `url` (`sqlite://…` or `postgres://…/name`), used as is:
    /// [`RunDb::drop_db`] leaves it in place.
    pub fn existing(url: &str) -> anyhow::Result<RunDb> {
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            bail!("--reuse: a sqlite:// or postgres:// URL, not {url}")
        };
        Ok(RunDb {
            kind,
            url: url.to_string(),
            admin_url: None,
            name: String::new(),
            _dir: None,
        })
    }

    /// Keeps the database after the run (the SQLite directory is not deleted, the PostgreSQL
    /// database not dropped); returns its URL.
    pub fn keep(mut self) -> String {
        if let Some(dir) = self._dir.take() {
            let _ = dir.keep();
        }
        self.admin_url = None;
        self.url.clone()
    }

    /// Drops a PostgreSQL database (the SQLite directory goes with `self`).
    pub async fn drop_db(self) -> anyhow::Result<()> {
        if let Some(admin) = &self.admin_url {
            let mut c = sqlx::PgConnection::connect(admin).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut c)
            .await?;
        }
        Ok(())
    }
}

/// A running child process that serves the device protocols.
#[derive(Debug)]
pub struct Target {
    /// What it is (`vigil (sqlite)`, `baseline` …).
    pub label: String,
    child: Child,
    /// Its listeners by name (`gt06`, `jt808`, `h02`, `http`, `mqtt` when on).
    pub addrs: BTreeMap<String, SocketAddr>,
}

/// How to start Vigil: the `vigil` binary next to this one if there is one, else this binary's
/// hidden `serve-vigil` subcommand (the same `Application`).
pub fn vigil_command(explicit: Option<&PathBuf>) -> anyhow::Result<(Command, String)> {
    let me = std::env::current_exe()?;
    let path = match explicit {
        Some(p) => Some(p.clone()),
        None => me.parent().map(|d| d.join("vigil")).filter(|p| p.exists()),
    };
    Ok(match path {
        Some(p) => {
            let mut c = Command::new(&p);
            c.arg("serve");
            (c, p.display().to_string())
        }
        None => {
            let mut c = Command::new(&me);
            c.arg("serve-vigil");
            (c, format!("{} serve-vigil", me.display()))
        }
    })
}

impl Target {
    /// Starts Vigil on 127.0.0.1 port-0 listeners with `db`; `env` adds settings.
    pub fn spawn_vigil(
        bin: Option<&PathBuf>,
        db: &RunDb,
        env: &[(&str, String)],
    ) -> anyhow::Result<Target> {
        let (mut cmd, how) = vigil_command(bin)?;
        cmd.env("VIGIL_DATABASE_URL", &db.url)
            .env("VIGIL_HTTP_LISTEN", "127.0.0.1:0")
            .env("VIGIL_GT06_LISTEN", "127.0.0.1:0")
            .env("VIGIL_JT808_LISTEN", "127.0.0.1:0")
            .env("VIGIL_H02_LISTEN", "127.0.0.1:0")
            .env("VIGIL_OSMAND_LISTEN", "off")
            .env("VIGIL_MQTT_LISTEN", "off")
            .env("VIGIL_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("VIGIL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env(
                "RUST_LOG",
                std::env::var("VIGIL_LOG").unwrap_or("warn".into()),
            )
            // The server reads every VIGIL_* variable as a setting; this one is ours.
            .env_remove("VIGIL_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let kind = match db.kind {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
        };
        // The MQTT broker is off unless a setting turns it on; then wait for its listener too.
        let mqtt_on = env
            .iter()
            .any(|(k, v)| *k == "VIGIL_MQTT_LISTEN" && v != "off");
        let mut want = vec!["gt06", "jt808", "h02", "http"];
        if mqtt_on {
            want.push("mqtt");
        }
        let mut t = Target::start(cmd, format!("vigil ({kind})"), &want)?;
        t.label = format!("vigil ({kind})");
        eprintln!("started {how} (pid {}) on {kind}", t.pid());
        Ok(t)
    }

    /// Starts the baseline sink (this binary's `sink` subcommand).
    pub fn spawn_sink() -> anyhow::Result<Target> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("sink");
        Target::start(cmd, "baseline".into(), &["gt06", "jt808", "h02"])
    }

    fn start(mut cmd: Command, label: String, want: &[&str]) -> anyhow::Result<Target> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().context("cannot start the server process")?;
        let out = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the listening lines, then keeps draining stdout so the child never blocks.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening:").nth(1) {
                    let mut it = rest.split_whitespace();
                    if let (Some(name), Some(addr)) = (it.next(), it.next())
                        && let Ok(a) = addr.parse::<SocketAddr>()
                    {
                        let _ = tx.send((name.to_string(), a));
                    }
                } else if std::env::var_os("VIGIL_LOADTEST_ECHO").is_some() {
                    eprintln!("[server] {line}");
                }
            }
        });
        let mut addrs = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while want.iter().any(|w| !addrs.contains_key(*w)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((n, a)) => {
                    addrs.insert(n, a);
                }
                Err(_) => {
                    let _ = child.kill();
                    bail!("{label} did not print its listeners (got {addrs:?})");
                }
            }
        }
        Ok(Target {
            label,
            child,
            addrs,
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Listener of a device protocol.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.get(name).copied()
    }

    /// SIGTERM, then wait (SIGKILL after `grace`).
    pub fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + grace;
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                eprintln!("{} did not stop within {grace:?}: killing it", self.label);
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Resident set size of a process, bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system) a process has used, seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / rustix::param::clock_ticks_per_second() as f64)
}

/// CPU time (user + system) used by every PostgreSQL server process on this machine, seconds
/// (what the database spends on the run, beside the server's own CPU).
pub fn postgres_cpu_secs() -> Option<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if comm.trim_end() == "postgres" {
            total += cpu_secs(pid).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// CPU time the whole machine was busy (every core, everything but idle and I/O wait),
/// seconds, from the first line of `/proc/stat`.
pub fn machine_busy_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
    Some(busy / rustix::param::clock_ticks_per_second() as f64)
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// Raises this process's soft file-descriptor limit to the hard one and says what it got;
/// children inherit it.
pub fn raise_fd_limit(needed: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let old = getrlimit(Resource::Nofile);
    let hard = old.maximum.unwrap_or(u64::MAX);
    let soft = old.current.unwrap_or(u64::MAX);
    let got = if soft < hard {
        match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: old.maximum,
            },
        ) {
            Ok(()) => {
                eprintln!("file descriptors: soft limit raised from {soft} to {hard}");
                hard
            }
            Err(e) => {
                eprintln!("file descriptors: cannot raise the soft limit {soft} ({e})");
                soft
            }
        }
    } else {
        soft
    };
    if got < needed {
        eprintln!(
            "file descriptors: this process may hold {got}, the run wants about {needed}: \
             connections beyond that will fail (raise the hard limit: ulimit -Hn)"
        );
    }
    got
}
