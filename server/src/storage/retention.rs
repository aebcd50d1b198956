//! Retention: removing positions and device events older than a cutoff, in small batches, and
//! PostgreSQL's weekly partitions (created ahead, dropped whole when old).
//!
//! What these statements assume of the `positions` layout (SQLite's may change): a table (or
//! PostgreSQL partition) named `positions` / `positions_default` with `device_id` and `fix_time`
//! columns and an index whose leading columns are `(device_id, fix_time)` (the unique key), so
//! "this device's rows before T" and "this device's newest fix" are index range reads whatever
//! the rest of the layout. Nothing here reads `id` or `rowid`. Rows kept elsewhere (say a recent
//! table folded in later) are newer than any cutoff; a device's newest row in `positions` is
//! then kept as well — one row too many, never one too few.
//!
//! Alarms, their actions and the command audit are never touched; no table references
//! `positions` or `events`.

use chrono::{DateTime, Utc};
use sqlx::Connection;

use crate::storage::postgres::partitions;
use crate::storage::{Db, DbError, on_pool};

pub use crate::storage::postgres::partitions::{PartitionsDropped, week_start};

/// Devices looked at by one batch of [`Db::delete_old_positions`] at most.
const DEVICES_PER_BATCH: i64 = 256;

/// Where a pass of [`Db::delete_old_positions`] goes on: the next device id to look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceCursor(pub i64);

/// One batch of [`Db::delete_old_positions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// Rows removed.
    pub rows: u64,
    /// Where the next batch starts; `None` once every device was looked at.
    pub next: Option<DeviceCursor>,
}

impl Db {
    /// PostgreSQL: creates the weekly `positions` partitions from the week holding `now` to
    /// `ahead` weeks later that are missing (moving the default partition's rows of those weeks
    /// into them); returns their names. Nothing on SQLite.
    pub async fn ensure_position_partitions(
        &self,
        now: DateTime<Utc>,
        ahead: u32,
    ) -> Result<Vec<String>, DbError> {
        match self {
            Db::Postgres(p) => partitions::ensure_partitions(p, now, ahead).await,
            Db::Sqlite(_) => Ok(Vec::new()),
        }
    }

    /// PostgreSQL: the weekly partitions of `positions` as (week start, table name), oldest
    /// first. Empty on SQLite.
    pub async fn position_partitions(&self) -> Result<Vec<(DateTime<Utc>, String)>, DbError> {
        match self {
            Db::Postgres(p) => partitions::weekly_partitions(p).await,
            Db::Sqlite(_) => Ok(Vec::new()),
        }
    }

    /// PostgreSQL: drops every weekly partition entirely before `cutoff`, keeping each device's
    /// latest position (moved into the default partition). Nothing on SQLite.
    pub async fn drop_position_partitions_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<PartitionsDropped, DbError> {
        match self {
            Db::Postgres(p) => partitions::drop_partitions_before(p, cutoff).await,
            Db::Sqlite(_) => Ok(PartitionsDropped::default()),
        }
    }

    /// One batch of position retention: from the devices at and after `from` (ascending id),
    /// removes their positions with `fix_time < cutoff` except each device's newest one, at
    /// most about `max_rows` rows in one short write transaction. On SQLite that is the
    /// `positions` table; on PostgreSQL only the default partition (weeks are dropped whole by
    /// [`Db::drop_position_partitions_before`]).
    ///
    /// The rows are found by reads first (no write lock), then removed per device as one range
    /// `fix_time <= last found`: the write transaction holds SQLite's single writer lock for
    /// the DELETEs alone.
    pub async fn delete_old_positions(
        &self,
        cutoff: DateTime<Utc>,
        from: DeviceCursor,
        max_rows: u32,
    ) -> Result<Deleted, DbError> {
        let table = match self {
            Db::Sqlite(_) => "positions",
            Db::Postgres(_) => "positions_default",
        };
        let devices: Vec<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT id FROM devices WHERE id >= $1 ORDER BY id LIMIT $2")
            .bind(from.0).bind(DEVICES_PER_BATCH).fetch_all(p).await?);
        let finding = format!(
            "SELECT COUNT(*), MAX(fix_time) FROM (SELECT fix_time FROM {table} WHERE device_id = $1 AND fix_time < $2 \
             AND fix_time < (SELECT MAX(fix_time) FROM positions WHERE device_id = $1) ORDER BY fix_time LIMIT $3) AS old"
        );
        let mut found: Vec<(i64, DateTime<Utc>)> = Vec::new();
        let mut budget = i64::from(max_rows.max(1));
        let mut next = None;
        for (i, &device) in devices.iter().enumerate() {
            let (n, upto): (i64, Option<DateTime<Utc>>) = on_pool!(self, p => sqlx::query_as(
                sqlx::AssertSqlSafe(finding.clone()))
                .bind(device).bind(cutoff).bind(budget).fetch_one(p).await?);
            if let Some(upto) = upto {
                found.push((device, upto));
                budget -= n;
            }
            if budget <= 0 {
                // This device may have more: the next batch starts with it again.
                next = Some(DeviceCursor(device));
                break;
            }
            if i + 1 == devices.len() && devices.len() as i64 == DEVICES_PER_BATCH {
                next = Some(DeviceCursor(device + 1));
            }
        }
        let deleting = format!("DELETE FROM {table} WHERE device_id = $1 AND fix_time <= $2");
        let mut rows = 0;
        if !found.is_empty() {
            rows = on_pool!(self, p => {
                let mut c = p.acquire().await?;
                let mut tx = c.begin().await?;
                let mut n = 0;
                for (device, upto) in &found {
                    n += sqlx::query(sqlx::AssertSqlSafe(deleting.clone()))
                        .bind(device).bind(upto).execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                n
            });
        }
        Ok(Deleted { rows, next })
    }

    /// One batch of event retention: of the `max_rows` oldest device events (by id), removes
    /// those with `time < cutoff`; returns how many (0: nothing more to do). Events are
    /// written in time order, so the oldest ids are the old events and a batch reads
    /// `max_rows` rows of the primary key, not the table (`events` has no index on `time`).
    /// Should the clock have stepped back, a young event among the oldest ids ends the pass
    /// early; what follows it goes once it is old itself.
    pub async fn delete_old_events(
        &self,
        cutoff: DateTime<Utc>,
        max_rows: u32,
    ) -> Result<u64, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, time FROM events ORDER BY id LIMIT $2) AS oldest \
             WHERE time < $1)")
            .bind(cutoff).bind(i64::from(max_rows.max(1))).execute(p).await?.rows_affected());
        Ok(n)
    }
}
