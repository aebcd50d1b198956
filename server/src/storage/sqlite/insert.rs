//! The SQLite position INSERT, and why `positions` is laid out as it is (migration 8).
//!
//! Since migration 8 `positions` is a WITHOUT ROWID table clustered by its unique key
//! `(device_id, fix_time)`: one B-tree per fix to write. Before, a rowid table plus two
//! device-keyed indexes (the unique key and the covering track index of migration 5) put each
//! stored fix on three pages, two of them leaves of its own device that no other fix of the
//! batch shared: ~3.4 WAL pages (14 KB) per position at 300 devices, the SQLite writer thread
//! saturated at ~19k positions/s (57 µs of server CPU per position).
//!
//! Measured (issue #18; `loadtest/README.md`, "SQLite positions layout", has the commands and
//! every figure): the same SQL and pragmas from a storage-level script (3,000 devices, batches
//! of 3,000, checkpoints as the server does; process CPU per stored row, SQLite 3.40):
//!
//! | layout | CPU/row | WAL pages/row | file/row |
//! |---|---|---|---|
//! | rowid table + 2 indexes (before) | 34.0 µs | 1.35 | 239 B |
//! | **clustered, WITHOUT ROWID (this)** | **25.8 µs** | **1.11** | **128 B** |
//! | + page size 1 KiB / 2 KiB / 8 KiB | 29.1 / 31.4 / 26.8 µs | 2.42 / 1.65 / 0.70 | |
//! | recent rowid table keyed (fix_time, device_id), never folded | 13.5 µs | 0.04 | |
//! | the same, folded into the clustered table every ~36k rows | 20.8–25.0 µs | 0.18 | |
//! | recent table keyed (device_id, fix_time), folded by device range | 25.5–30.1 µs | 0.60 | |
//!
//! (About 8 µs of each CPU figure is the script's own per-row work: a plain append costs it
//! 8.1 µs.) Through this code (`examples/sqlite_layout.rs`, process CPU per stored row, the
//! writer's connection and checkpointer): 3,000 devices 56.0 → 34.4 / 37.3 µs and 2.39 →
//! 1.13 WAL pages per row; 300 devices 24.3 → 15.0 µs and 0.47 → 0.29 pages. The recent-table designs write less WAL, but folding costs ~7 µs a row on top
//! (read, sort, insert into the clustered table, delete from the recent one) and holds
//! SQLite's only write lock for 200–300 ms per 36k-row fold, which every position batch and
//! alarm then waits behind (the throughput scenario allows p99 100 ms, alarms 20 ms); folding
//! in small pieces keeps the lock short but loses the locality that made the fold cheap, and
//! a time-keyed recent table needs a second index for the device reads (latest, track,
//! count). The clustered table wins: fewer pages and less CPU per fix, half the file, reads
//! unchanged in shape (a device's fixes are adjacent, in time order, in the table itself),
//! one table for retention and backup.

use sqlx::types::Json;
use sqlx::{Connection, QueryBuilder};

use crate::domain::PositionRow;
use crate::storage::DbError;

/// Most rows per SQLite INSERT statement (21 binds each: below SQLite's 32766), a power of two.
const INSERT_CHUNK: usize = 1024;

/// SQLite: `rows` in one transaction, retried fixes skipped; returns how many were new.
///
/// `id` is a plain column since migration 8 (not the rowid); the batch takes the next ids
/// from `positions_seq` in the same transaction, so ids grow in arrival order as before.
///
/// A multi-row INSERT is one statement per row count, and preparing one with thousands of
/// placeholders costs more than running it; so the rows go in chunks whose sizes are powers
/// of two (at most one statement of each size per batch), which stay in the connection's
/// statement cache.
pub(crate) async fn insert_positions(
    conn: &mut sqlx::SqliteConnection,
    rows: &[PositionRow],
) -> Result<u64, DbError> {
    let mut chunks = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let n = if rest.len() >= INSERT_CHUNK {
            INSERT_CHUNK
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(n);
        chunks.push(chunk);
        rest = tail;
    }
    if chunks.is_empty() {
        return Ok(0);
    }
    let mut tx = conn.begin().await?;
    // The ids of this batch: the next `rows.len()` after the last one handed out (a row
    // skipped as a retry leaves its id unused).
    let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let last: i64 =
        sqlx::query_scalar("UPDATE positions_seq SET last_id = last_id + $1 RETURNING last_id")
            .bind(n)
            .fetch_one(&mut *tx)
            .await?;
    let mut next_id = last - n + 1;
    let mut inserted = 0u64;
    for chunk in chunks {
        inserted += positions_insert(chunk, next_id)
            .build()
            .execute(&mut *tx)
            .await?
            .rows_affected();
        next_id += chunk.len() as i64;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// SQLite: one multi-row INSERT of `rows` (at most [`INSERT_CHUNK`]) with ids from `first_id`,
/// retried frames skipped.
fn positions_insert(rows: &[PositionRow], first_id: i64) -> QueryBuilder<sqlx::Sqlite> {
    let mut qb = QueryBuilder::new(
        "INSERT INTO positions (id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes) ",
    );
    qb.push_values(rows.iter().zip(first_id..), |mut b, (r, id)| {
        b.push_bind(id)
            .push_bind(r.device_id)
            .push_bind(r.fix_time)
            .push_bind(r.server_time)
            .push_bind(r.lat)
            .push_bind(r.lon)
            .push_bind(r.valid)
            .push_bind(r.speed_kmh)
            .push_bind(r.course)
            .push_bind(r.altitude_m)
            .push_bind(r.satellites)
            .push_bind(r.accuracy_m)
            .push_bind(r.odometer_m)
            .push_bind(r.archived)
            .push_bind(r.ignition)
            .push_bind(r.armed)
            .push_bind(r.charging)
            .push_bind(r.battery_level)
            .push_bind(r.battery_voltage)
            .push_bind(r.alarms.clone())
            .push_bind(Json(r.attributes.clone()));
    });
    qb.push(" ON CONFLICT (device_id, fix_time) DO NOTHING");
    qb
}
