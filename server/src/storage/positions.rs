//! Positions: the batched insert, the latest fix, keyset pages of rows and of track points.
//! The engines' own ways of doing the heavy two are in `sqlite` and `postgres`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::types::Json;

use crate::domain::{PositionRow, StoredPosition, TrackPoint};
use crate::storage::{Db, DbError, on_pool, postgres, sqlite};

const POSITION_COLS: &str = "id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes";

/// A row of the track queries: fix time, lat, lon, speed, course, altitude, valid.
pub(super) type TrackTuple = (DateTime<Utc>, f64, f64, f64, Option<f64>, Option<f64>, bool);

/// The point of one row of the track queries.
pub(super) fn track_point(t: TrackTuple) -> TrackPoint {
    let (fix_time, lat, lon, speed_kmh, course, altitude_m, valid) = t;
    TrackPoint {
        altitude_m,
        course,
        lat,
        lon,
        speed_kmh,
        fix_time,
        valid,
    }
}

/// The exclusive lower bound of a page of positions from `from`: the keyset cursor `after`,
/// or just before `from` on the first page (so one `fix_time > $4` serves both).
fn page_after(from: DateTime<Utc>, after: Option<DateTime<Utc>>) -> DateTime<Utc> {
    after
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .max(from - chrono::Duration::microseconds(1))
}

/// A track query's decode error (`what` is the part, `text` what was found).
pub(super) fn track_decode_error(what: &str, text: &str) -> DbError {
    DbError::Sqlx(sqlx::Error::Decode(
        format!("track: invalid {what}: {text:?}").into(),
    ))
}

/// A `positions` row as read ([`POSITION_COLS`]).
#[derive(sqlx::FromRow)]
struct PositionRecord {
    id: i64,
    device_id: i64,
    fix_time: DateTime<Utc>,
    server_time: DateTime<Utc>,
    lat: f64,
    lon: f64,
    valid: bool,
    speed_kmh: f64,
    course: Option<f64>,
    altitude_m: Option<f64>,
    satellites: Option<i64>,
    accuracy_m: Option<f64>,
    odometer_m: Option<i64>,
    archived: bool,
    ignition: Option<bool>,
    armed: Option<bool>,
    charging: Option<bool>,
    battery_level: Option<i64>,
    battery_voltage: Option<f64>,
    /// Comma-separated alarm names.
    alarms: String,
    attributes: Json<Value>,
}

impl From<PositionRecord> for StoredPosition {
    fn from(r: PositionRecord) -> StoredPosition {
        let id = r.id;
        let row = PositionRow {
            device_id: r.device_id,
            fix_time: r.fix_time,
            server_time: r.server_time,
            lat: r.lat,
            lon: r.lon,
            valid: r.valid,
            speed_kmh: r.speed_kmh,
            course: r.course,
            altitude_m: r.altitude_m,
            satellites: r.satellites,
            accuracy_m: r.accuracy_m,
            odometer_m: r.odometer_m,
            archived: r.archived,
            ignition: r.ignition,
            armed: r.armed,
            charging: r.charging,
            battery_level: r.battery_level,
            battery_voltage: r.battery_voltage,
            alarms: r.alarms,
            attributes: r.attributes.0,
        };
        StoredPosition {
            id,
            ..StoredPosition::unsaved(row)
        }
    }
}

/// How a batch of positions goes into PostgreSQL (SQLite has one way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgInsert {
    /// One `INSERT .. SELECT * FROM UNNEST(20 arrays) ON CONFLICT DO NOTHING`: one round trip.
    Unnest,
    /// Binary `COPY` into a temporary staging table, then `INSERT .. SELECT .. ON CONFLICT DO
    /// NOTHING` from it, in one transaction (four round trips). The default: it cost the
    /// PostgreSQL backend 15–18 µs per row against 18–22 µs for UNNEST, 10–20% less in each
    /// pair (`examples/pg_write.rs`, 2,000-row batches of 3,000 devices, partitioned table;
    /// figures in server/README.md).
    #[default]
    Copy,
}

impl Db {
    /// Inserts positions in one transaction; a row whose `(device, fix_time)` is already
    /// stored is skipped (a retried frame). Returns the rows actually inserted.
    pub async fn insert_positions(&self, rows: &[PositionRow]) -> Result<u64, DbError> {
        self.insert_positions_by(PgInsert::default(), rows).await
    }

    /// [`Db::insert_positions`] the PostgreSQL way `how` (the write benchmark compares them).
    pub async fn insert_positions_by(
        &self,
        how: PgInsert,
        rows: &[PositionRow],
    ) -> Result<u64, DbError> {
        match (self, how) {
            (Db::Postgres(p), PgInsert::Unnest) => postgres::insert_positions(p, rows).await,
            (Db::Postgres(p), PgInsert::Copy) => {
                postgres::copy::insert_positions(&mut *p.acquire().await?, rows).await
            }
            (Db::Sqlite(p), _) => sqlite::insert_positions(&mut *p.acquire().await?, rows).await,
        }
    }

    /// The position with the latest fix time of a device.
    pub async fn latest_position(&self, device_id: i64) -> Result<Option<StoredPosition>, DbError> {
        let sql = format!(
            "SELECT {POSITION_COLS} FROM positions WHERE device_id = $1 ORDER BY fix_time DESC LIMIT 1"
        );
        let row: Option<PositionRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id).fetch_optional(p).await?);
        Ok(row.map(StoredPosition::from))
    }

    /// One position by row id.
    pub async fn position(&self, id: i64) -> Result<Option<StoredPosition>, DbError> {
        let sql = format!("SELECT {POSITION_COLS} FROM positions WHERE id = $1");
        let row: Option<PositionRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(StoredPosition::from))
    }

    /// Positions of a device with `from <= fix_time < to` and `fix_time > after` (keyset
    /// paging), oldest first, at most `limit`.
    pub async fn positions(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<StoredPosition>, DbError> {
        let sql = format!(
            "SELECT {POSITION_COLS} FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5"
        );
        let after = page_after(from, after);
        let rows: Vec<PositionRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id).bind(from).bind(to).bind(after).bind(limit).fetch_all(p).await?);
        Ok(rows.into_iter().map(StoredPosition::from).collect())
    }

    /// The track columns of [`Db::positions`]' rows (same range, paging and order), decoded
    /// without the rest of the row: on PostgreSQL from the covering unique index alone
    /// (migration 5), on SQLite from the table, clustered by device and time (migration 8).
    pub async fn track(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<TrackPoint>, DbError> {
        let after = page_after(from, after);
        match self {
            Db::Sqlite(p) => sqlite::track(p, device_id, from, to, after, limit).await,
            Db::Postgres(p) => postgres::track(p, device_id, from, to, after, limit).await,
        }
    }

    /// Number of stored positions of a device.
    pub async fn count_positions(&self, device_id: i64) -> Result<i64, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query("SELECT COUNT(*) AS n FROM positions WHERE device_id = $1")
            .bind(device_id).fetch_one(p).await?.try_get("n")?);
        Ok(n)
    }
}
