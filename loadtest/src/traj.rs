//! The `trajectory` scenario: fills `positions` with N devices × days of fixes by bulk SQL into
//! the server's schema, then times one device-day through `GET /api/v1/devices/{id}/positions`
//! (paged, 1,000 per page) and the same range straight from the database.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::fleet::{latency_json, latency_line};
use crate::pending::api_login;
use crate::route::Rng;
use crate::scenarios::{header_pub, write_json_pub};
use crate::target::{DbKind, RunDb, Target, load_average};

/// Arguments of `trajectory`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrajArgs {
    /// Databases (a fresh one each).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite,postgres"
    )]
    pub db: Vec<DbKind>,
    /// Devices in the table.
    #[arg(long, default_value_t = 100)]
    pub devices: u64,
    /// Days of history per device.
    #[arg(long, default_value_t = 10)]
    pub days: u64,
    /// Seconds between fixes (30 s = 2,880 per device-day).
    #[arg(long, default_value_t = 30)]
    pub interval_secs: u64,
    /// Timed device-day queries.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// PostgreSQL base URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub pg: String,
    /// The `vigil` binary.
    #[arg(long)]
    pub vigil_bin: Option<PathBuf>,
    /// Write the figures as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

const COLS: &str = "device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, alarms, attributes";

enum Conn {
    Lite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl Conn {
    async fn exec(&mut self, sql: &str) -> anyhow::Result<u64> {
        Ok(match self {
            Conn::Lite(c) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(c)
                .await?
                .rows_affected(),
            Conn::Pg(c) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(c)
                .await?
                .rows_affected(),
        })
    }
}

/// Inserts `devices` devices and their positions; returns (device ids, rows, seconds).
async fn fill(
    c: &mut Conn,
    a: &TrajArgs,
    start: DateTime<Utc>,
) -> anyhow::Result<(Vec<i64>, u64, f64)> {
    let now = Utc::now();
    let mut ids = Vec::new();
    for i in 0..a.devices {
        let uid = format!("traj{i:07}");
        let id: i64 = match c {
            Conn::Lite(c) => sqlx::query_scalar("INSERT INTO devices (unique_id, protocol, name, claimed, created_at) VALUES ($1, 'gt06', $1, 1, $2) RETURNING id")
                .bind(&uid).bind(now).fetch_one(c).await?,
            Conn::Pg(c) => sqlx::query_scalar("INSERT INTO devices (unique_id, protocol, name, claimed, created_at) VALUES ($1, 'gt06', $1, TRUE, $2) RETURNING id")
                .bind(&uid).bind(now).fetch_one(c).await?,
        };
        ids.push(id);
    }
    let per_device = a.days * 86_400 / a.interval_secs;
    let t0 = Instant::now();
    let mut rows = 0;
    let pb = indicatif::ProgressBar::new(a.devices);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} devices {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_prefix("filling");
    let epoch = start.timestamp();
    let step = a.interval_secs;
    for (k, id) in ids.iter().enumerate() {
        // A wandering track: integer arithmetic only (no math functions needed in SQLite).
        let values = format!(
            "{id}, {{T}}, {{T}}, 22.50 + ((g * 37 + {k} * 101) % 2000) / 40000.0, 114.00 + ((g * 53 + {k} * 211) % 2000) / 40000.0, TRUE, (g * 7 + {k}) % 80, (g * 13) % 360, 35.0, 9, '', '{{}}'"
        );
        let sql = match c {
            Conn::Lite(_) => {
                let t = format!(
                    "strftime('%Y-%m-%dT%H:%M:%S+00:00', {epoch} + g * {step}, 'unixepoch')"
                );
                format!(
                    "INSERT INTO positions ({COLS}) WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g + 1 < {per_device}) SELECT {} FROM s",
                    values.replace("{T}", &t)
                )
            }
            Conn::Pg(_) => {
                let t = format!("to_timestamp({epoch} + g * {step})");
                format!(
                    "INSERT INTO positions ({COLS}) SELECT {} FROM generate_series(0, {per_device} - 1) g",
                    values.replace("{T}", &t)
                )
            }
        };
        rows += c.exec(&sql).await?;
        pb.inc(1);
        pb.set_message(format!(
            "{:.0} rows/s",
            rows as f64 / t0.elapsed().as_secs_f64()
        ));
    }
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    c.exec("ANALYZE").await?;
    Ok((ids, rows, secs))
}

async fn db_size(c: &mut Conn, db: &RunDb) -> Option<u64> {
    match c {
        Conn::Pg(c) => sqlx::query_scalar::<_, i64>("SELECT pg_total_relation_size('positions')")
            .fetch_one(c)
            .await
            .ok()
            .map(|n| n as u64),
        Conn::Lite(_) => {
            let path = db.url.trim_start_matches("sqlite://");
            let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            Some(size(path.to_string()) + size(format!("{path}-wal")))
        }
    }
}

/// One device-day from the database alone (one SELECT with the server's WHERE clause).
async fn db_day(
    c: &mut Conn,
    id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let sql = "SELECT id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 ORDER BY fix_time";
    Ok(match c {
        Conn::Lite(c) => sqlx::query(sql)
            .bind(id)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await?
            .len(),
        Conn::Pg(c) => sqlx::query(sql)
            .bind(id)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await?
            .len(),
    })
}

/// One device-day through the API: pages of 1,000 following `next_after`.
async fn api_day(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut after: Option<String> = None;
    loop {
        let mut q = vec![
            ("from", from.to_rfc3339()),
            ("to", to.to_rfc3339()),
            ("limit", "1000".to_string()),
        ];
        if let Some(a) = &after {
            q.push(("after", a.clone()));
        }
        let r = http
            .get(format!("{base}/api/v1/devices/{id}/positions"))
            .bearer_auth(token)
            .query(&q)
            .send()
            .await?;
        ensure!(r.status().is_success(), "positions query: {}", r.status());
        let v: Value = r.json().await?;
        n += v["positions"].as_array().map_or(0, Vec::len);
        match v["next_after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => return Ok(n),
        }
    }
}

async fn one(a: &TrajArgs, kind: DbKind) -> anyhow::Result<Value> {
    let db = RunDb::create(kind, &a.pg, "traj").await?;
    let target = Target::spawn_vigil(a.vigil_bin.as_ref(), &db, &[])?;
    let r = async {
        let mut c = match kind {
            DbKind::Sqlite => Conn::Lite(sqlx::SqliteConnection::connect(&db.url).await?),
            DbKind::Postgres => Conn::Pg(sqlx::PgConnection::connect(&db.url).await?),
        };
        let start = DateTime::from_timestamp(1_767_225_600, 0).context("start time")?; // 2026-01-01
        let (ids, rows, fill_secs) = fill(&mut c, a, start).await?;
        let size = db_size(&mut c, &db).await;
        eprintln!(
            "{kind:?}: {rows} rows in {fill_secs:.1} s = {:.0} rows/s",
            rows as f64 / fill_secs
        );
        let http_addr = target.addr("http").context("no HTTP listener")?;
        let (client, token) = api_login(http_addr).await?;
        let base = format!("http://{http_addr}");
        let per_day = (86_400 / a.interval_secs) as usize;
        let mut rng = Rng::new(42);
        let mut api = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let mut dbh = api.clone();
        let mut wrong = 0;
        for q in 0..a.queries + 5 {
            let id = ids[(rng.next_u64() % ids.len() as u64) as usize];
            let day = (rng.next_u64() % a.days) as i64;
            let from = start + chrono::Duration::days(day);
            let to = from + chrono::Duration::days(1);
            let t0 = Instant::now();
            let n = api_day(&client, &base, &token, id, from, to).await?;
            let api_us = t0.elapsed().as_micros() as u64;
            let t1 = Instant::now();
            let m = db_day(&mut c, id, from, to).await?;
            let db_us = t1.elapsed().as_micros() as u64;
            if q >= 5 {
                api.record(api_us.max(1))?;
                dbh.record(db_us.max(1))?;
            }
            if n != per_day || m != per_day {
                wrong += 1;
            }
        }
        println!(
            "trajectory {kind:?}: {rows} rows ({} devices × {} days, 1 fix / {} s), filled in {fill_secs:.1} s = {:.0} rows/s, table+indexes {:.2} GB",
            a.devices,
            a.days,
            a.interval_secs,
            rows as f64 / fill_secs,
            size.unwrap_or(0) as f64 / 1e9
        );
        println!("  one device-day ({per_day} points) via API (3 pages of ≤1000): {}", latency_line(&api));
        println!("  same range straight from the database (one SELECT): {}", latency_line(&dbh));
        if wrong > 0 {
            println!("  {wrong} queries returned a point count other than {per_day}");
        }
        anyhow::Ok(json!({
            "database": format!("{kind:?}").to_lowercase(),
            "devices": a.devices,
            "days": a.days,
            "interval_secs": a.interval_secs,
            "rows": rows,
            "fill_secs": fill_secs,
            "fill_rows_per_s": rows as f64 / fill_secs,
            "table_bytes": size,
            "points_per_day": per_day,
            "api_device_day": latency_json(&api),
            "db_device_day": latency_json(&dbh),
            "wrong_counts": wrong,
        }))
    }
    .await;
    target.stop(Duration::from_secs(20))?;
    db.drop_db().await?;
    r
}

/// `trajectory` on each database.
pub async fn run(a: TrajArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for kind in &a.db {
        out.push(one(&a, *kind).await?);
    }
    println!("load average {}", load_average());
    let mut v = header_pub();
    v["scenario"] = json!("trajectory");
    v["results"] = Value::Array(out);
    write_json_pub(a.json.as_ref(), &v)
}
