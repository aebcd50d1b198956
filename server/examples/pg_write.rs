//! Storage-level write cost of positions: the UNNEST INSERT against binary COPY into a staging
//! table (PostgreSQL, partitioned `positions`), and the disk each stored row takes on
//! PostgreSQL and SQLite.
//!
//! `cargo run --release -p vigil-server --example pg_write -- [BATCHES] [BATCH] [DEVICES] [PG_ADMIN_URL]`
//! (defaults: 300 batches of 2,000 rows, 3,000 devices, postgres://postgres@127.0.0.1:5432/postgres).
//!
//! Each way gets a fresh database (partitions of this week and four ahead, DEVICES devices);
//! batch k holds the next BATCH fixes of the devices in turn, every device reporting every 30 s
//! (so a batch touches BATCH different devices, as the position writer's do). Printed: rows/s
//! of the loop (one connection, batches back to back) and the CPU the PostgreSQL backend
//! process spent per row (utime + stime from /proc/<pg_backend_pid()>/stat: PostgreSQL must run
//! on this machine), then bytes per row on disk (`pg_total_relation_size` of every partition:
//! heap, TOAST, the unique index) and, for SQLite, pages of the database file per row after the
//! same rows went in (`--sqlite-only` skips PostgreSQL).
#![allow(missing_docs)]

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Connection;
use vigil_server::domain::PositionRow;
use vigil_server::storage::{Db, DbConfig, PgInsert};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sqlite_only = args.iter().any(|a| a == "--sqlite-only");
    let mut args = args.into_iter().filter(|a| !a.starts_with("--"));
    let batches: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let batch: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let devices: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3000);
    let admin = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    println!(
        "{batches} batches x {batch} rows, {devices} devices ({} rows)",
        batches * batch
    );
    if !sqlite_only {
        for how in [
            PgInsert::Unnest,
            PgInsert::Copy,
            PgInsert::Unnest,
            PgInsert::Copy,
        ] {
            postgres(&admin, how, batches, batch, devices).await?;
        }
    }
    sqlite(batches, batch, devices).await?;
    Ok(())
}

/// Batch `k`: fixes `k * batch ..` of the devices in turn, 30 s apart per device.
fn rows(ids: &[i64], k: usize, batch: usize, base: DateTime<Utc>) -> Vec<PositionRow> {
    (k * batch..(k + 1) * batch)
        .map(|g| {
            let device = ids[g % ids.len()];
            let round = (g / ids.len()) as i64;
            let t = base + chrono::Duration::seconds(30 * round);
            let mut p = protocol::Position::new(
                t,
                protocol::LatLon::new(22.5 + (g % 1000) as f64 * 1e-4, 114.0 + round as f64 * 1e-5)
                    .expect("valid"),
                true,
                (g % 90) as f32,
            );
            p.course = Some((g % 360) as f32);
            p.altitude_m = Some(12.0);
            p.satellites = Some(9);
            p.status.battery_level = Some(80);
            PositionRow::from_position(device, &p, t)
        })
        .collect()
}

async fn register(db: &Db, devices: usize) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(devices);
    for d in 0..devices {
        let id = protocol::DeviceId::parse(&format!("86{d:013}"))?;
        ids.push(db.register_device(&id, "gt06").await?.0.id);
    }
    Ok(ids)
}

/// utime + stime of process `pid`, in clock ticks (100 per second).
fn cpu_ticks(pid: i32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("PostgreSQL backend {pid} must run on this machine"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').context("stat format")? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

async fn postgres(
    admin: &str,
    how: PgInsert,
    batches: usize,
    batch: usize,
    devices: usize,
) -> anyhow::Result<()> {
    let name = format!("vigil_bench_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut c)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await?;
    let url = admin.rsplit_once('/').context("admin URL")?.0.to_owned() + "/" + &name;
    let db = Db::connect(&DbConfig {
        url,
        max_connections: 1,
    })
    .await?;
    let base = Utc::now() - chrono::Duration::hours(1);
    db.ensure_position_partitions(base, 4).await?;
    let ids = register(&db, devices).await?;
    let Db::Postgres(pool) = &db else {
        unreachable!()
    };
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await?;
    let all: Vec<Vec<PositionRow>> = (0..batches).map(|k| rows(&ids, k, batch, base)).collect();
    let cpu0 = cpu_ticks(pid)?;
    let start = Instant::now();
    let mut stored = 0;
    for b in &all {
        stored += db.insert_positions_by(how, b).await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid)? - cpu0) as f64 / 100.0;
    let pid_after: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(pid == pid_after, "the pool changed connections");
    anyhow::ensure!(stored as usize == batches * batch, "stored {stored}");
    sqlx::query("CHECKPOINT").execute(pool).await?;
    let bytes: i64 = sqlx::query_scalar(
        "SELECT SUM(pg_total_relation_size(inhrelid))::int8 FROM pg_inherits WHERE inhparent = 'positions'::regclass",
    )
    .fetch_one(pool)
    .await?;
    let heap: i64 = sqlx::query_scalar(
        "SELECT SUM(pg_relation_size(inhrelid))::int8 FROM pg_inherits WHERE inhparent = 'positions'::regclass",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "postgres {how:?}: {stored} rows in {secs:.2} s = {:.0} rows/s; backend CPU {:.2} us/row; \
         disk {:.0} B/row ({:.0} heap + {:.0} index/toast)",
        stored as f64 / secs,
        cpu * 1e6 / stored as f64,
        bytes as f64 / stored as f64,
        heap as f64 / stored as f64,
        (bytes - heap) as f64 / stored as f64,
    );
    db.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut c)
    .await?;
    Ok(())
}

async fn sqlite(batches: usize, batch: usize, devices: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&DbConfig {
        url,
        max_connections: 1,
    })
    .await?;
    let ids = register(&db, devices).await?;
    let Db::Sqlite(pool) = &db else {
        unreachable!()
    };
    let pages = |pool: &sqlx::SqlitePool| {
        let pool = pool.clone();
        async move {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await?;
            let n: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&pool)
                .await?;
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(&pool)
                .await?;
            let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&pool)
                .await?;
            anyhow::Ok((n - free) * size)
        }
    };
    let before = pages(pool).await?;
    let base = Utc::now() - chrono::Duration::hours(1);
    let start = Instant::now();
    let mut stored = 0;
    for k in 0..batches {
        stored += db.insert_positions(&rows(&ids, k, batch, base)).await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let after = pages(pool).await?;
    println!(
        "sqlite: {stored} rows in {secs:.2} s (through the pool, not the position writer); \
         disk {:.0} B/row (database pages used, positions and its indexes)",
        (after - before) as f64 / stored as f64
    );
    db.close().await;
    Ok(())
}
