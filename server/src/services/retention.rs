//! The storage upkeep job (the named worker `storage_upkeep`): at start and then every
//! [`RetentionConfig::every`], creates PostgreSQL's coming weekly `positions` partitions, then
//! removes positions and device events older than their retention.
//!
//! Removal goes in small batches with a pause between them, so it never holds SQLite's single
//! writer lock for long: the position writer's commits and the alarms' writes get the lock in
//! the gaps (each batch is one short transaction through the pool, whose connections poll for
//! the lock every 100 µs; see `storage::writer`). On PostgreSQL old weeks are dropped whole,
//! and only the default partition is cleaned row by row. Alarms, their actions and the command
//! audit are never removed; each device's latest position always stays.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::storage::retention::DeviceCursor;
use crate::storage::{Db, DbError};

/// What the job keeps and how it paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Positions whose fix is older than this are removed (`None`: kept forever).
    pub positions: Option<chrono::Duration>,
    /// Device events older than this are removed (`None`: kept forever).
    pub events: Option<chrono::Duration>,
    /// Time between two runs.
    pub every: Duration,
    /// Rows removed per transaction at most (about).
    pub batch_rows: u32,
    /// Pause after each batch.
    pub pause: Duration,
    /// PostgreSQL: weeks of `positions` partitions kept ready beyond the current one.
    pub weeks_ahead: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            positions: Some(chrono::Duration::days(365)),
            events: Some(chrono::Duration::days(90)),
            every: Duration::from_secs(3600),
            batch_rows: 2000,
            pause: Duration::from_millis(50),
            weeks_ahead: 4,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpkeepReport {
    /// Partitions created.
    pub partitions_created: Vec<String>,
    /// Partitions dropped.
    pub partitions_dropped: Vec<String>,
    /// Position rows removed by batches (not counting dropped partitions).
    pub positions_deleted: u64,
    /// Device events removed.
    pub events_deleted: u64,
}

/// Runs [`run_once`] at start and every `config.every` until `stop`; a failed run is logged
/// and tried again at the next (a partition change that could not get its lock, say).
pub async fn storage_upkeep(
    db: Db,
    config: RetentionConfig,
    stop: CancellationToken,
) -> Result<(), String> {
    let mut tick = tokio::time::interval(config.every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        match run_once(&db, &config, Utc::now(), &stop).await {
            Ok(r) => {
                if r != UpkeepReport::default() {
                    tracing::info!(
                        created = ?r.partitions_created,
                        dropped = ?r.partitions_dropped,
                        positions = r.positions_deleted,
                        events = r.events_deleted,
                        "storage upkeep"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "storage upkeep failed; tried again later"),
        }
    }
}

/// One run at `now`: partitions ahead, old partitions dropped, then the batches; returns early
/// (with what was done) once `stop` is cancelled.
pub async fn run_once(
    db: &Db,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    stop: &CancellationToken,
) -> Result<UpkeepReport, DbError> {
    let mut report = UpkeepReport {
        partitions_created: db
            .ensure_position_partitions(now, config.weeks_ahead)
            .await?,
        ..UpkeepReport::default()
    };
    if let Some(keep) = config.positions {
        let cutoff = now - keep;
        report.partitions_dropped = db.drop_position_partitions_before(cutoff).await?.names;
        let mut from = Some(DeviceCursor::default());
        while let Some(cursor) = from {
            if stop.is_cancelled() {
                return Ok(report);
            }
            let done = db
                .delete_old_positions(cutoff, cursor, config.batch_rows)
                .await?;
            report.positions_deleted += done.rows;
            from = done.next;
            if done.rows > 0 {
                pause(config.pause, stop).await;
            }
        }
    }
    if let Some(keep) = config.events {
        let cutoff = now - keep;
        while !stop.is_cancelled() {
            let n = db.delete_old_events(cutoff, config.batch_rows).await?;
            report.events_deleted += n;
            if n == 0 {
                break;
            }
            pause(config.pause, stop).await;
        }
    }
    Ok(report)
}

async fn pause(d: Duration, stop: &CancellationToken) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(d) => {}
    }
}
