//! The `trajectory` scenario: fills `positions` with N devices × days of fixes by bulk SQL into
//! the server's schema in fix-time order (devices interleaved, as a live fleet writes them),
//! then times one device-day through `GET /api/v1/devices/{id}/trajectory` and the same range
//! straight from the database (the server's track query, and every column).

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
    /// Keep the filled database at the end (its URL is printed, for `--reuse`).
    #[arg(long)]
    pub keep: bool,
    /// Measure an existing database filled by an earlier `--keep` run with the same
    /// `--devices`, `--days` and `--interval-secs` (`sqlite://…/vigil.db` or
    /// `postgres://…/name`): no generation, and it is never dropped; `--db` is ignored.
    #[arg(long)]
    pub reuse: Option<String>,
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
    if let Conn::Lite(_) = c {
        // Bulk load only: a page cache that holds the hot leaves of both indexes (the
        // default 2 MB does not, and every row then costs page reads), no syncs.
        c.exec("PRAGMA cache_size = -1500000").await?;
        c.exec("PRAGMA synchronous = OFF").await?;
    }
    let per_device = a.days * 86_400 / a.interval_secs;
    let (first, last) = (ids[0], ids[ids.len() - 1]);
    ensure!(
        last - first + 1 == ids.len() as i64,
        "device ids are not contiguous"
    );
    // Time-ordered like a live fleet: every statement holds `chunk` consecutive fix slots of
    // every device, so one device's fixes interleave with all the others' in the table (rows
    // per device are not adjacent, as they never are in production).
    let chunk = (100_000 / a.devices).max(1);
    let t0 = Instant::now();
    let mut rows = 0;
    let pb = indicatif::ProgressBar::new(per_device * a.devices);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} rows {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix("filling");
    let epoch = start.timestamp();
    let step = a.interval_secs;
    let mut g0 = 0;
    while g0 < per_device {
        let g1 = (g0 + chunk).min(per_device) - 1;
        // A wandering track: integer arithmetic only (no math functions needed in SQLite).
        let values = format!(
            "d, {{T}}, {{T}}, 22.50 + ((g * 37 + (d - {first}) * 101) % 2000) / 40000.0, 114.00 + ((g * 53 + (d - {first}) * 211) % 2000) / 40000.0, TRUE, (g * 7 + d - {first}) % 80, (g * 13) % 360, 35.0, 9, '', '{{}}'"
        );
        let sql = match c {
            Conn::Lite(_) => {
                let t = format!(
                    "strftime('%Y-%m-%dT%H:%M:%S+00:00', {epoch} + g * {step}, 'unixepoch')"
                );
                // Ids given, in arrival order: since migration 8 the table is clustered by
                // (device_id, fix_time) and `id` is a plain column (the server takes ids from
                // `positions_seq`, moved past these below).
                let n = last - first + 1;
                format!(
                    "INSERT INTO positions (id, {COLS}) WITH RECURSIVE s(g) AS (SELECT {g0} UNION ALL SELECT g + 1 FROM s WHERE g < {g1}), dv(d) AS (SELECT {first} UNION ALL SELECT d + 1 FROM dv WHERE d < {last}) SELECT g * {n} + d - {first} + 1, {} FROM s, dv ORDER BY g, d",
                    values.replace("{T}", &t)
                )
            }
            Conn::Pg(_) => {
                let t = format!("to_timestamp({epoch} + g * {step})");
                format!(
                    "INSERT INTO positions ({COLS}) SELECT {} FROM generate_series({g0}, {g1}) g, generate_series({first}::int8, {last}::int8) d ORDER BY g, d",
                    values.replace("{T}", &t)
                )
            }
        };
        let n = c.exec(&sql).await?;
        rows += n;
        pb.inc(n);
        pb.set_message(format!(
            "{:.0} rows/s",
            rows as f64 / t0.elapsed().as_secs_f64()
        ));
        g0 = g1 + 1;
    }
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    // PostgreSQL: statistics and the visibility map (index-only scans need it; autovacuum
    // would set it later on its own).
    match c {
        Conn::Pg(_) => c.exec("VACUUM ANALYZE positions").await?,
        Conn::Lite(_) => {
            // Server ids continue after the fill's. Before migration 8 there is no such
            // table (the rowid is the id): that error is the expected outcome there.
            let top = i64::try_from(per_device)?.saturating_mul(last - first + 1);
            let _ = c
                .exec(&format!(
                    "UPDATE positions_seq SET last_id = MAX(last_id, {top})"
                ))
                .await;
            c.exec("ANALYZE").await?
        }
    };
    Ok((ids, rows, secs))
}

/// The device ids of a database filled by an earlier run, after checking that the fill
/// finished (the last device has its whole last day: the fill writes slots in time order).
async fn filled(c: &mut Conn, a: &TrajArgs, start: DateTime<Utc>) -> anyhow::Result<Vec<i64>> {
    const IDS: &str = "SELECT id FROM devices WHERE unique_id LIKE 'traj%' ORDER BY id";
    const DAY: &str =
        "SELECT COUNT(*) FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3";
    let ids: Vec<i64> = match c {
        Conn::Lite(c) => sqlx::query_scalar(IDS).fetch_all(c).await?,
        Conn::Pg(c) => sqlx::query_scalar(IDS).fetch_all(c).await?,
    };
    ensure!(
        ids.len() as u64 == a.devices,
        "--reuse: the database holds {} generated devices, not --devices {}",
        ids.len(),
        a.devices
    );
    let last = *ids.last().context("--reuse: no generated devices")?;
    let from = start + chrono::Duration::days(a.days as i64 - 1);
    let to = from + chrono::Duration::days(1);
    let n: i64 = match c {
        Conn::Lite(c) => {
            sqlx::query_scalar(DAY)
                .bind(last)
                .bind(from)
                .bind(to)
                .fetch_one(c)
                .await?
        }
        Conn::Pg(c) => {
            sqlx::query_scalar(DAY)
                .bind(last)
                .bind(from)
                .bind(to)
                .fetch_one(c)
                .await?
        }
    };
    ensure!(
        n as u64 == 86_400 / a.interval_secs,
        "--reuse: the fill did not finish (the last device-day holds {n} fixes)"
    );
    Ok(ids)
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

/// Every column, as `GET /positions` reads them.
const FULL_SQL: &str = "SELECT id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 ORDER BY fix_time";

/// One device-day of every column from the database alone (one SELECT with the server's
/// WHERE clause), rows decoded.
async fn full_day(
    c: &mut Conn,
    id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<usize> {
    Ok(match c {
        Conn::Lite(c) => sqlx::query(FULL_SQL)
            .bind(id)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await?
            .len(),
        Conn::Pg(c) => sqlx::query(FULL_SQL)
            .bind(id)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await?
            .len(),
    })
}

/// A trajectory page as a typed client reads it (every field parsed and checked).
#[derive(serde::Deserialize)]
#[allow(dead_code)] // parsed to be checked; only `points` and `next_after` are used
struct Page {
    device_id: i64,
    count: usize,
    source_count: usize,
    next_after: Option<DateTime<Utc>>,
    points: Vec<Point>,
}

/// One fix of [`Page`].
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Point {
    time: DateTime<Utc>,
    lat: f64,
    lon: f64,
    speed_kmh: f64,
    course: Option<f64>,
    altitude_m: Option<f64>,
    valid: bool,
}

/// Times of one API request, microseconds.
struct ApiTimes {
    /// Points received.
    points: usize,
    /// Request sent → whole body received.
    body_us: u64,
    /// Request sent → body parsed into [`Page`].
    total_us: u64,
}

/// One device-day through the API: `GET /api/v1/devices/{id}/trajectory` (JSON), one request
/// (its page limit is 50,000), body read and parsed by a typed client.
async fn api_day(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<ApiTimes> {
    let t0 = Instant::now();
    let r = http
        .get(format!("{base}/api/v1/devices/{id}/trajectory"))
        .bearer_auth(token)
        .query(&[
            ("from", from.to_rfc3339()),
            ("to", to.to_rfc3339()),
            ("limit", "5000".to_string()),
        ])
        .send()
        .await?;
    ensure!(r.status().is_success(), "trajectory query: {}", r.status());
    let body = r.bytes().await?;
    let body_us = t0.elapsed().as_micros() as u64;
    let page: Page = serde_json::from_slice(&body)?;
    let total_us = t0.elapsed().as_micros() as u64;
    ensure!(page.next_after.is_none(), "a device-day needs one page");
    Ok(ApiTimes {
        points: page.points.len(),
        body_us,
        total_us,
    })
}

/// Latency histograms of one run, microseconds.
struct Hists {
    api_cold: Histogram<u64>,
    api_cold_body: Histogram<u64>,
    api_warm: Histogram<u64>,
    api_warm_body: Histogram<u64>,
    track: Histogram<u64>,
    full: Histogram<u64>,
}

async fn one(a: &TrajArgs, kind: DbKind) -> anyhow::Result<Value> {
    let db = match &a.reuse {
        Some(url) => RunDb::existing(url)?,
        None => RunDb::create(kind, &a.pg, "traj").await?,
    };
    let target = Target::spawn_vigil(a.vigil_bin.as_ref(), &db, &[])?;
    let r = measure(a, kind, &db, &target).await;
    target.stop(Duration::from_secs(20))?;
    if a.keep && a.reuse.is_none() {
        let url = db.keep();
        println!("  kept: reuse it with --reuse {url}");
    } else {
        db.drop_db().await?;
    }
    r
}

async fn measure(a: &TrajArgs, kind: DbKind, db: &RunDb, target: &Target) -> anyhow::Result<Value> {
    let mut c = match kind {
        DbKind::Sqlite => Conn::Lite(sqlx::SqliteConnection::connect(&db.url).await?),
        DbKind::Postgres => Conn::Pg(sqlx::PgConnection::connect(&db.url).await?),
    };
    let start = DateTime::from_timestamp(1_767_225_600, 0).context("start time")?; // 2026-01-01
    let per_device = a.days * 86_400 / a.interval_secs;
    let (ids, rows, fill_secs) = if a.reuse.is_some() {
        let ids = filled(&mut c, a, start).await?;
        let rows = ids.len() as u64 * per_device;
        (ids, rows, None)
    } else {
        let (ids, rows, secs) = fill(&mut c, a, start).await?;
        (ids, rows, Some(secs))
    };
    let size = db_size(&mut c, db).await;
    let fill_text = match fill_secs {
        Some(s) => format!("filled in {s:.1} s = {:.0} rows/s", rows as f64 / s),
        None => "reused (not generated by this run)".to_string(),
    };
    eprintln!("{kind:?}: {rows} rows, {fill_text}");
    // The server's own track query and decoding (`Db::track`), on a pool of its own.
    let track = vigil_server::storage::Db::connect(&vigil_server::storage::DbConfig {
        url: db.url.clone(),
        max_connections: 1,
    })
    .await?;
    let http_addr = target.addr("http").context("no HTTP listener")?;
    let (client, token) = api_login(http_addr).await?;
    let base = format!("http://{http_addr}");
    let per_day = (86_400 / a.interval_secs) as usize;
    let mut rng = Rng::new(42);
    let hist = || Histogram::<u64>::new_with_bounds(1, 600_000_000, 3);
    let mut h = Hists {
        api_cold: hist()?,
        api_cold_body: hist()?,
        api_warm: hist()?,
        api_warm_body: hist()?,
        track: hist()?,
        full: hist()?,
    };
    let mut wrong = 0;
    // Every query asks for a device-day not asked before in this run, so the first request
    // finds it in no cache of the server process (it may be in the OS page cache).
    let mut seen = std::collections::HashSet::new();
    let (mut q, mut tries) = (0, 0);
    while q < a.queries + 5 {
        tries += 1;
        let id = ids[(rng.next_u64() % ids.len() as u64) as usize];
        let day = (rng.next_u64() % a.days) as i64;
        if !seen.insert((id, day)) && tries < 100 * (a.queries + 5) {
            continue;
        }
        let from = start + chrono::Duration::days(day);
        let to = from + chrono::Duration::days(1);
        let cold = api_day(&client, &base, &token, id, from, to).await?;
        let warm = api_day(&client, &base, &token, id, from, to).await?;
        let t1 = Instant::now();
        let m = track.track(id, from, to, None, 5000).await?.len();
        let db_us = t1.elapsed().as_micros() as u64;
        let t2 = Instant::now();
        let f = full_day(&mut c, id, from, to).await?;
        let full_us = t2.elapsed().as_micros() as u64;
        // The first five warm up the connections and the server's statement caches.
        if q >= 5 {
            h.api_cold.record(cold.total_us.max(1))?;
            h.api_cold_body.record(cold.body_us.max(1))?;
            h.api_warm.record(warm.total_us.max(1))?;
            h.api_warm_body.record(warm.body_us.max(1))?;
            h.track.record(db_us.max(1))?;
            h.full.record(full_us.max(1))?;
        }
        if cold.points != per_day || warm.points != per_day || m != per_day || f != per_day {
            wrong += 1;
        }
        q += 1;
    }
    println!(
        "trajectory {kind:?}: {rows} rows ({} devices × {} days, 1 fix / {} s), {fill_text}, table+indexes {:.2} GB",
        a.devices,
        a.days,
        a.interval_secs,
        size.unwrap_or(0) as f64 / 1e9
    );
    println!(
        "  one device-day ({per_day} points) via GET …/trajectory, one request, typed client:"
    );
    println!(
        "    cold (first request for that device-day), body parsed: {}",
        latency_line(&h.api_cold)
    );
    println!(
        "    cold, body received (before the client's parse):       {}",
        latency_line(&h.api_cold_body)
    );
    println!(
        "    warm (the same request again), body parsed:            {}",
        latency_line(&h.api_warm)
    );
    println!(
        "    warm, body received (before the client's parse):       {}",
        latency_line(&h.api_warm_body)
    );
    println!(
        "  the server's track query (`Db::track`, decoded) after the API requests: {}",
        latency_line(&h.track)
    );
    println!(
        "  every column (as GET …/positions reads them), one SELECT: {}",
        latency_line(&h.full)
    );
    track.close().await;
    if wrong > 0 {
        println!("  {wrong} queries returned a point count other than {per_day}");
    }
    Ok(json!({
        "database": format!("{kind:?}").to_lowercase(),
        "devices": a.devices,
        "days": a.days,
        "interval_secs": a.interval_secs,
        "rows": rows,
        "reused": a.reuse.is_some(),
        "fill_secs": fill_secs,
        "fill_rows_per_s": fill_secs.map(|s| rows as f64 / s),
        "table_bytes": size,
        "points_per_day": per_day,
        "api_device_day_cold": latency_json(&h.api_cold),
        "api_device_day_cold_body": latency_json(&h.api_cold_body),
        "api_device_day_warm": latency_json(&h.api_warm),
        "api_device_day_warm_body": latency_json(&h.api_warm_body),
        "db_device_day": latency_json(&h.track),
        "db_device_day_all_columns": latency_json(&h.full),
        "wrong_counts": wrong,
    }))
}

/// `trajectory` on each database.
pub async fn run(a: TrajArgs) -> anyhow::Result<()> {
    let kinds = match &a.reuse {
        Some(url) => vec![RunDb::existing(url)?.kind],
        None => a.db.clone(),
    };
    let mut out = Vec::new();
    for kind in kinds {
        out.push(one(&a, kind).await?);
    }
    println!("load average {}", load_average());
    let mut v = header_pub();
    v["scenario"] = json!("trajectory");
    v["results"] = Value::Array(out);
    write_json_pub(a.json.as_ref(), &v)
}
