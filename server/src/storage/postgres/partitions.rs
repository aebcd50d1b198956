//! PostgreSQL's weekly partitions of `positions` (migration 0008): created ahead of time,
//! dropped whole once older than the retention cutoff.
//!
//! A partition is `positions_wYYYYMMDD`, the UTC week starting that Monday 00:00 UTC up to the
//! next Monday; `positions_default` holds every fix of a week without a partition (a clock in
//! 1990 or 2100, a fix beyond the weeks created so far, the latest position of a device kept
//! after its week was dropped). Schema changes wait at most [`LOCK_TIMEOUT`] for their locks
//! and give up (the job tries again later) rather than queue the position writer behind them.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use sqlx::{Connection, PgPool};

use crate::storage::DbError;

/// Longest wait for a lock a partition change needs. Whoever asks for the same table after us
/// queues behind our request, so this is also the longest stall it can cause an INSERT.
const LOCK_TIMEOUT: &str = "250ms";

/// The columns of `positions`, in table order (a partition created `LIKE positions` has them
/// in the same order).
const COLUMNS: &str = "id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes";

/// Monday 00:00 UTC of the week holding `t`.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.date_naive();
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    Utc.from_utc_datetime(&monday.and_time(NaiveTime::MIN))
}

/// The name of the partition of the week starting `start`.
fn partition_name(start: DateTime<Utc>) -> String {
    format!("positions_w{}", start.format("%Y%m%d"))
}

/// The week start a partition name stands for (`None` for `positions_default` or a name this
/// code did not make).
fn partition_start(name: &str) -> Option<DateTime<Utc>> {
    let digits = name.strip_prefix("positions_w")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day = NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    Some(Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)))
}

/// The weekly partitions of `positions` (week start, name), oldest first.
pub(in crate::storage) async fn weekly_partitions(
    p: &PgPool,
) -> Result<Vec<(DateTime<Utc>, String)>, DbError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'positions'::regclass",
    )
    .fetch_all(p)
    .await?;
    let mut out: Vec<(DateTime<Utc>, String)> = names
        .into_iter()
        .filter_map(|n| partition_start(&n).map(|s| (s, n)))
        .collect();
    out.sort();
    Ok(out)
}

/// Creates the partitions of the week holding `now` and of the `ahead` weeks after it that do
/// not exist yet; returns the names created.
///
/// Rows of such a week already in the default partition (a fix that came before its week had a
/// partition) move into the new partition in the same transaction: PostgreSQL refuses to
/// attach a partition while the default holds rows of its range. The partition is created
/// detached and then ATTACHed, which locks `positions` only against other schema changes
/// (SHARE UPDATE EXCLUSIVE; `CREATE TABLE .. PARTITION OF` would take ACCESS EXCLUSIVE and
/// stop every INSERT and read meanwhile); the default partition is locked for the move.
pub(in crate::storage) async fn ensure_partitions(
    p: &PgPool,
    now: DateTime<Utc>,
    ahead: u32,
) -> Result<Vec<String>, DbError> {
    let existing: Vec<DateTime<Utc>> = weekly_partitions(p)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let first = week_start(now);
    let mut created = Vec::new();
    for k in 0..=i64::from(ahead) {
        let start = first + Duration::weeks(k);
        if existing.contains(&start) {
            continue;
        }
        let end = start + Duration::weeks(1);
        let name = partition_name(start);
        let mut c = p.acquire().await?;
        let mut tx = c.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
        )))
        .execute(&mut *tx)
        .await?;
        // The parent first, as an INSERT takes them (parent, then the partition it routes to).
        sqlx::query("LOCK TABLE positions IN SHARE UPDATE EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        sqlx::query("LOCK TABLE positions_default IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {name} (LIKE positions INCLUDING DEFAULTS)"
        )))
        .execute(&mut *tx)
        .await?;
        let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH moved AS (DELETE FROM positions_default WHERE fix_time >= $1 AND fix_time < $2 \
             RETURNING {COLUMNS}) INSERT INTO {name} ({COLUMNS}) SELECT {COLUMNS} FROM moved"
        )))
        .bind(start)
        .bind(end)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Bounds as literals: ATTACH takes no parameters. RFC 3339 with an offset is exact
        // whatever the session's TimeZone.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE positions ATTACH PARTITION {name} FOR VALUES FROM ('{}') TO ('{}')",
            start.to_rfc3339(),
            end.to_rfc3339()
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(partition = %name, moved_from_default = moved, "positions partition created");
        created.push(name);
    }
    Ok(created)
}

/// What dropping old partitions did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartitionsDropped {
    /// Partitions dropped, oldest first.
    pub names: Vec<String>,
    /// Rows kept from them (each the latest position of its device), now in the default
    /// partition.
    pub kept: u64,
}

/// Drops every weekly partition whose whole week is before `cutoff`, keeping from each the
/// rows that are the latest position of their device (moved to the default partition, ids
/// unchanged). One transaction per partition; DETACH needs ACCESS EXCLUSIVE on `positions`
/// for a moment (PostgreSQL 15 cannot DETACH CONCURRENTLY while a default partition exists).
pub(in crate::storage) async fn drop_partitions_before(
    p: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<PartitionsDropped, DbError> {
    let mut out = PartitionsDropped::default();
    for (start, name) in weekly_partitions(p).await? {
        if start + Duration::weeks(1) > cutoff {
            break;
        }
        let mut c = p.acquire().await?;
        let mut tx = c.begin().await?;
        // Each device's newest row of this week, unless it has a newer one anywhere: found
        // before the exclusive lock (one index probe per device).
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TEMP TABLE positions_kept ON COMMIT DROP AS \
             SELECT k.* FROM devices d CROSS JOIN LATERAL \
               (SELECT * FROM ONLY {name} w WHERE w.device_id = d.id ORDER BY w.fix_time DESC LIMIT 1) k \
             WHERE NOT EXISTS (SELECT 1 FROM positions n WHERE n.device_id = d.id AND n.fix_time > k.fix_time)"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE positions DETACH PARTITION {name}"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await?;
        // The week is no partition's any more: these rows route to the default partition.
        let kept = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO positions ({COLUMNS}) OVERRIDING SYSTEM VALUE SELECT {COLUMNS} FROM positions_kept"
        )))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        tracing::info!(partition = %name, kept, "positions partition dropped (retention)");
        out.names.push(name);
        out.kept += kept;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_utc_and_names_read_back() {
        let t = Utc.with_ymd_and_hms(2026, 12, 3, 17, 0, 0).unwrap();
        let w = week_start(t);
        assert_eq!(w, Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap());
        assert_eq!(week_start(w), w);
        assert_eq!(
            week_start(w - Duration::microseconds(1)),
            w - Duration::weeks(1)
        );
        assert_eq!(partition_name(w), "positions_w20261130");
        assert_eq!(partition_start("positions_w20261130"), Some(w));
        assert_eq!(partition_start("positions_default"), None);
        assert_eq!(partition_start("positions_w2026113"), None);
    }
}
