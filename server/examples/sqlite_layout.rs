//! Storage-level figure of the SQLite positions layout: what one stored position costs the
//! process (CPU from `/proc/self/stat`), the WAL and the file, through the real write path
//! (`PositionSink`, the position writer's dedicated connection, and the background
//! checkpointer's `Db::checkpoint` every 500 ms), then the trajectory read at that size.
//!
//! `cargo run --release -p vigil-server --example sqlite_layout -- [ROWS] [DEVICES] [BATCH] [FILE]`
//! (default: 3,000,000 rows, 3,000 devices, batches of 3,000 rows, a temp file). Each batch
//! holds the next fix of `BATCH` devices in a shuffled order (fix times 30 s apart per device,
//! as a fleet reporting every 30 s sends them); a line per million rows gives that segment's
//! rows/s, CPU µs per row, WAL pages per row and bytes written (`wchar`) per row. Then
//! `Db::track` for 100 random device-days (2,880 fixes each), the first time (cold in the
//! process, the OS may cache the file) and again (warm), and `latest_position`/`count_positions`.
//!
//! `LAYOUT=rowid` measures the layout before migration 8 with the same binary: `positions`
//! rebuilt as the rowid table with the unique `(device_id, fix_time)` index and the covering
//! track index of migration 5 (the insert then sets the rowid from `positions_seq`).
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use vigil_server::domain::PositionRow;
use vigil_server::storage::writer::{PositionSink, WalWatch};
use vigil_server::storage::{Db, DbConfig};

/// Process CPU seconds (user + system) from `/proc/self/stat`, and bytes written (`wchar`).
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let wchar = io
        .lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    (cpu, wchar)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// WAL frames written: the checkpointer's readings, summed over every restart of the log.
#[derive(Default)]
struct Frames {
    total: i64,
    last: i64,
}
impl Frames {
    fn saw(&mut self, frames: i64) {
        if frames < self.last {
            self.total += self.last;
        }
        self.last = frames;
    }
    fn now(&self) -> i64 {
        self.total + self.last
    }
}

const STEP_SECS: i64 = 30;

fn row(device: i64, k: i64, t0: DateTime<Utc>) -> PositionRow {
    let fix_time = t0 + chrono::Duration::seconds(k * STEP_SECS + device % STEP_SECS);
    PositionRow {
        device_id: device,
        fix_time,
        server_time: fix_time + chrono::Duration::milliseconds(800),
        lat: 22.5 + ((k * 37 + device * 101) % 2000) as f64 / 40000.0,
        lon: 114.0 + ((k * 53 + device * 211) % 2000) as f64 / 40000.0,
        valid: true,
        speed_kmh: ((k * 7 + device) % 80) as f64,
        course: Some(((k * 13) % 360) as f64),
        altitude_m: Some(35.0),
        satellites: Some(9),
        accuracy_m: None,
        odometer_m: Some(k * 250),
        archived: false,
        ignition: Some(true),
        armed: None,
        charging: None,
        battery_level: Some(80),
        battery_voltage: None,
        alarms: String::new(),
        attributes: serde_json::json!({}),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: i64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3_000_000);
    let devices: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3_000);
    let batch: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3_000);
    let dir = tempfile::tempdir_in("/var/tmp")?;
    let file = args
        .next()
        .unwrap_or_else(|| dir.path().join("layout.db").display().to_string());
    let url = format!("sqlite://{file}");
    let db = Db::connect(&DbConfig {
        url: url.clone(),
        max_connections: 4,
    })
    .await?;
    let Db::Sqlite(pool) = &db else {
        anyhow::bail!("SQLite only")
    };
    sqlx::query(
        "INSERT INTO devices (id, unique_id, created_at) WITH RECURSIVE d(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM d WHERE n < $1) SELECT n, 'dev' || n, '2026-01-01T00:00:00+00:00' FROM d",
    )
    .bind(devices)
    .execute(pool)
    .await?;
    let layout = std::env::var("LAYOUT").unwrap_or_else(|_| "clustered".into());
    if layout == "rowid" {
        sqlx::raw_sql(
            "DROP TABLE positions; CREATE TABLE positions (id INTEGER PRIMARY KEY, \
             device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE, fix_time TEXT NOT NULL, \
             server_time TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL, valid INTEGER NOT NULL, \
             speed_kmh REAL NOT NULL, course REAL, altitude_m REAL, satellites INTEGER, accuracy_m REAL, \
             odometer_m INTEGER, archived INTEGER NOT NULL DEFAULT 0, ignition INTEGER, armed INTEGER, \
             charging INTEGER, battery_level INTEGER, battery_voltage REAL, alarms TEXT NOT NULL DEFAULT '', \
             attributes TEXT NOT NULL DEFAULT '{}'); \
             CREATE UNIQUE INDEX positions_device_time ON positions (device_id, fix_time); \
             CREATE INDEX positions_track ON positions (device_id, fix_time, lat, lon, speed_kmh, course, altitude_m, valid);",
        )
        .execute(pool)
        .await?;
    }
    println!("{file}: layout {layout}, {rows} rows, {devices} devices, batches of {batch}");

    let wal = Arc::new(WalWatch::default());
    let frames = Arc::new(std::sync::Mutex::new(Frames::default()));
    let stop = tokio_util::sync::CancellationToken::new();
    let checkpointer = {
        let (db, wal, frames, stop) = (db.clone(), wal.clone(), frames.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if let Ok(Some(f)) = db.checkpoint().await {
                    wal.observed(f);
                    frames.lock().map(|mut x| x.saw(f)).ok();
                }
            }
        })
    };

    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let mut sink = PositionSink::new(&db, wal.clone());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut order: Vec<i64> = (1..=devices).collect();
    let mut next_k = vec![0i64; devices as usize + 1];
    let mut cursor = 0usize;
    let (mut done, mut seg_rows) = (0i64, 0i64);
    let (mut seg_cpu, mut seg_w) = usage();
    let mut seg_frames = 0i64;
    let mut seg_start = Instant::now();
    let (all_cpu, all_w, all_start) = (seg_cpu, seg_w, Instant::now());
    while done < rows {
        let n = batch.min(rows - done);
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            if cursor == 0 {
                for i in (1..order.len()).rev() {
                    order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
                }
            }
            let d = order[cursor];
            cursor = (cursor + 1) % order.len();
            out.push(row(d, next_k[d as usize], t0));
            next_k[d as usize] += 1;
        }
        let stored = sink.insert(&out).await?;
        anyhow::ensure!(stored == n as u64, "stored {stored} of {n}");
        done += n;
        seg_rows += n;
        if seg_rows >= 1_000_000 || done == rows {
            let (cpu, w) = usage();
            let f = frames.lock().map(|x| x.now()).unwrap_or(0);
            let secs = seg_start.elapsed().as_secs_f64();
            println!(
                "{:>11} rows: {:>7.0} rows/s  {:>5.1} µs CPU/row  {:.3} WAL pages/row  {:>6.0} B written/row",
                done,
                seg_rows as f64 / secs,
                (cpu - seg_cpu) / seg_rows as f64 * 1e6,
                (f - seg_frames) as f64 / seg_rows as f64,
                (w - seg_w) as f64 / seg_rows as f64,
            );
            (seg_cpu, seg_w, seg_frames, seg_rows) = (cpu, w, f, 0);
            seg_start = Instant::now();
        }
    }
    sink.close().await;
    stop.cancel();
    let _ = checkpointer.await;
    let (cpu, w) = usage();
    println!(
        "all: {:.0} rows/s, {:.1} µs CPU/row, {:.0} B written/row, file {:.0} B/row",
        rows as f64 / all_start.elapsed().as_secs_f64(),
        (cpu - all_cpu) / rows as f64 * 1e6,
        (w - all_w) as f64 / rows as f64,
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / rows as f64,
    );

    // Trajectory reads: device-days that are complete (2,880 fixes).
    let full_days = next_k.iter().skip(1).copied().min().unwrap_or(0) / 2880;
    if full_days == 0 {
        println!("no complete device-day yet: no track figures");
        return Ok(());
    }
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut points = 0usize;
    for _ in 0..100 {
        let d = (rng.next() % devices as u64) as i64 + 1;
        let day = (rng.next() % full_days as u64) as i64;
        let from = t0 + chrono::Duration::days(day);
        let to = from + chrono::Duration::days(1);
        for times in [&mut cold, &mut warm] {
            let s = Instant::now();
            let page = db.track(d, from, to, None, 5000).await?;
            times.push(s.elapsed());
            points = page.len();
        }
    }
    let p = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3
    };
    println!(
        "track of a device-day ({points} points, {full_days} full days): cold p50 {:.2} ms p99 {:.2} ms, warm p50 {:.2} ms p99 {:.2} ms",
        p(&mut cold, 0.5),
        p(&mut cold, 0.99),
        p(&mut warm, 0.5),
        p(&mut warm, 0.99)
    );
    let s = Instant::now();
    for d in 1..=100 {
        db.latest_position(d).await?;
    }
    let latest = s.elapsed().as_secs_f64() * 10.0;
    let s = Instant::now();
    let n = db.count_positions(1).await?;
    println!(
        "latest_position: {latest:.3} ms each; count_positions of one device ({n}): {:.1} ms",
        s.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
