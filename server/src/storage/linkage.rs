//! Camera, checkpoint and intercept-request storage on either engine (same SQL text for both,
//! migration 0007). Imports are one transaction of multi-row `INSERT … ON CONFLICT (code) DO
//! UPDATE` statements of [`UPSERT_CHUNK`] rows, so 20,000 cameras are 20 statements, not
//! 20,000 round trips.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::linkage::{Camera, CameraKind, Checkpoint, Code, NewCamera, NewCheckpoint};
use crate::storage::{Db, DbError, is_unique_violation, on_pool, stored_name};

/// Rows per upsert statement: 13 binds a camera row, 13,000 a statement (SQLite allows
/// 32,766, PostgreSQL 65,535).
pub const UPSERT_CHUNK: usize = 1000;

const CAMERA_COLS: &str = "id, code, name, lat, lon, facing_deg, fov_deg, range_m, kind, unit_id, video_device_id, video_channel_id, created_at, updated_at";
const CHECKPOINT_COLS: &str =
    "id, code, name, lat, lon, unit_id, staffed_hours, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct CameraRecord {
    id: i64,
    code: String,
    name: String,
    lat: f64,
    lon: f64,
    facing_deg: Option<f64>,
    fov_deg: f64,
    range_m: f64,
    kind: String,
    unit_id: Option<i64>,
    video_device_id: Option<String>,
    video_channel_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CameraRecord {
    fn into_camera(self) -> Result<Camera, sqlx::Error> {
        Ok(Camera {
            id: self.id,
            code: Code::stored(self.code),
            name: self.name,
            lat: self.lat,
            lon: self.lon,
            facing_deg: self.facing_deg,
            fov_deg: self.fov_deg,
            range_m: self.range_m,
            kind: stored_name("kind", self.kind, CameraKind::parse)?,
            unit_id: self.unit_id,
            video_device_id: self.video_device_id,
            video_channel_id: self.video_channel_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CheckpointRecord {
    id: i64,
    code: String,
    name: String,
    lat: f64,
    lon: f64,
    unit_id: Option<i64>,
    staffed_hours: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CheckpointRecord> for Checkpoint {
    fn from(r: CheckpointRecord) -> Self {
        Checkpoint {
            id: r.id,
            code: Code::stored(r.code),
            name: r.name,
            lat: r.lat,
            lon: r.lon,
            unit_id: r.unit_id,
            staffed_hours: r.staffed_hours,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// How many rows an import created and how many it updated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upserted {
    /// New codes.
    pub created: usize,
    /// Codes that were there and were replaced.
    pub updated: usize,
}

fn conflict(e: sqlx::Error, what: &'static str) -> DbError {
    if is_unique_violation(&e) {
        DbError::Conflict(what)
    } else {
        e.into()
    }
}

/// Every camera, by id.
pub async fn cameras(db: &Db) -> Result<Vec<Camera>, DbError> {
    let sql = format!("SELECT {CAMERA_COLS} FROM cameras ORDER BY id");
    let rows: Vec<CameraRecord> =
        on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?);
    Ok(rows
        .into_iter()
        .map(CameraRecord::into_camera)
        .collect::<Result<_, _>>()?)
}

/// One camera.
pub async fn camera(db: &Db, id: i64) -> Result<Option<Camera>, DbError> {
    let sql = format!("SELECT {CAMERA_COLS} FROM cameras WHERE id = $1");
    let row: Option<CameraRecord> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
    Ok(row.map(CameraRecord::into_camera).transpose()?)
}

/// Creates a camera ([`DbError::Conflict`] for a code already there).
pub async fn insert_camera(db: &Db, c: &NewCamera) -> Result<Camera, DbError> {
    let now = Utc::now();
    let sql = format!(
        "INSERT INTO cameras (code, name, lat, lon, facing_deg, fov_deg, range_m, kind, unit_id, video_device_id, video_channel_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {CAMERA_COLS}"
    );
    let r: Result<CameraRecord, sqlx::Error> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(c.code.as_str()).bind(&c.name).bind(c.lat).bind(c.lon).bind(c.facing.map(|f| f.deg()))
        .bind(c.fov_deg).bind(c.range_m).bind(c.kind.as_str()).bind(c.unit_id)
        .bind(&c.video_device_id).bind(&c.video_channel_id).bind(now)
        .fetch_one(p).await);
    Ok(r.map_err(|e| conflict(e, "camera code"))?.into_camera()?)
}

/// Replaces a camera's values (id and creation kept); `None` when there is no such camera.
pub async fn update_camera(db: &Db, id: i64, c: &NewCamera) -> Result<Option<Camera>, DbError> {
    let sql = format!(
        "UPDATE cameras SET code = $2, name = $3, lat = $4, lon = $5, facing_deg = $6, fov_deg = $7, range_m = $8, kind = $9, unit_id = $10, video_device_id = $11, video_channel_id = $12, updated_at = $13 \
         WHERE id = $1 RETURNING {CAMERA_COLS}"
    );
    let r: Result<Option<CameraRecord>, sqlx::Error> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id).bind(c.code.as_str()).bind(&c.name).bind(c.lat).bind(c.lon).bind(c.facing.map(|f| f.deg()))
        .bind(c.fov_deg).bind(c.range_m).bind(c.kind.as_str()).bind(c.unit_id)
        .bind(&c.video_device_id).bind(&c.video_channel_id).bind(Utc::now())
        .fetch_optional(p).await);
    Ok(r.map_err(|e| conflict(e, "camera code"))?
        .map(CameraRecord::into_camera)
        .transpose()?)
}

/// Deletes a camera; false when there was none.
pub async fn delete_camera(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(
        on_pool!(db, p => sqlx::query("DELETE FROM cameras WHERE id = $1").bind(id).execute(p).await?.rows_affected() > 0),
    )
}

/// Inserts or replaces (by code) every camera in one transaction: all or nothing.
pub async fn upsert_cameras(db: &Db, rows: &[NewCamera]) -> Result<Upserted, DbError> {
    let now = Utc::now();
    let head = "INSERT INTO cameras (code, name, lat, lon, facing_deg, fov_deg, range_m, kind, unit_id, video_device_id, video_channel_id, created_at, updated_at) ";
    let tail = " ON CONFLICT (code) DO UPDATE SET name = excluded.name, lat = excluded.lat, lon = excluded.lon, facing_deg = excluded.facing_deg, fov_deg = excluded.fov_deg, range_m = excluded.range_m, kind = excluded.kind, unit_id = excluded.unit_id, video_device_id = excluded.video_device_id, video_channel_id = excluded.video_channel_id, updated_at = excluded.updated_at";
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        let existing: HashSet<String> = sqlx::query("SELECT code FROM cameras").fetch_all(&mut *tx).await?
            .into_iter().map(|r| r.try_get::<String, _>("code")).collect::<Result<_, _>>()?;
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let mut qb = sqlx::QueryBuilder::new(head);
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.code.as_str().to_owned()).push_bind(c.name.clone()).push_bind(c.lat).push_bind(c.lon)
                    .push_bind(c.facing.map(|f| f.deg())).push_bind(c.fov_deg).push_bind(c.range_m)
                    .push_bind(c.kind.as_str()).push_bind(c.unit_id).push_bind(c.video_device_id.clone())
                    .push_bind(c.video_channel_id.clone()).push_bind(now).push_bind(now);
            });
            qb.push(tail);
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let updated = rows.iter().filter(|c| existing.contains(c.code.as_str())).count();
        Upserted { created: rows.len() - updated, updated }
    }))
}

/// Every checkpoint, by id.
pub async fn checkpoints(db: &Db) -> Result<Vec<Checkpoint>, DbError> {
    let sql = format!("SELECT {CHECKPOINT_COLS} FROM checkpoints ORDER BY id");
    let rows: Vec<CheckpointRecord> =
        on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?);
    Ok(rows.into_iter().map(Checkpoint::from).collect())
}

/// One checkpoint.
pub async fn checkpoint(db: &Db, id: i64) -> Result<Option<Checkpoint>, DbError> {
    let sql = format!("SELECT {CHECKPOINT_COLS} FROM checkpoints WHERE id = $1");
    let row: Option<CheckpointRecord> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
    Ok(row.map(Checkpoint::from))
}

/// Creates a checkpoint ([`DbError::Conflict`] for a code already there).
pub async fn insert_checkpoint(db: &Db, c: &NewCheckpoint) -> Result<Checkpoint, DbError> {
    let sql = format!(
        "INSERT INTO checkpoints (code, name, lat, lon, unit_id, staffed_hours, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {CHECKPOINT_COLS}"
    );
    let r: Result<CheckpointRecord, sqlx::Error> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(c.code.as_str()).bind(&c.name).bind(c.lat).bind(c.lon).bind(c.unit_id).bind(&c.staffed_hours).bind(Utc::now())
        .fetch_one(p).await);
    Ok(r.map_err(|e| conflict(e, "checkpoint code"))?.into())
}

/// Replaces a checkpoint's values; `None` when there is no such checkpoint.
pub async fn update_checkpoint(
    db: &Db,
    id: i64,
    c: &NewCheckpoint,
) -> Result<Option<Checkpoint>, DbError> {
    let sql = format!(
        "UPDATE checkpoints SET code = $2, name = $3, lat = $4, lon = $5, unit_id = $6, staffed_hours = $7, updated_at = $8 \
         WHERE id = $1 RETURNING {CHECKPOINT_COLS}"
    );
    let r: Result<Option<CheckpointRecord>, sqlx::Error> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id).bind(c.code.as_str()).bind(&c.name).bind(c.lat).bind(c.lon).bind(c.unit_id).bind(&c.staffed_hours).bind(Utc::now())
        .fetch_optional(p).await);
    Ok(r.map_err(|e| conflict(e, "checkpoint code"))?
        .map(Checkpoint::from))
}

/// Deletes a checkpoint (and its intercept requests); false when there was none.
pub async fn delete_checkpoint(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query("DELETE FROM intercept_requests WHERE checkpoint_id = $1").bind(id).execute(&mut *tx).await?;
        let n = sqlx::query("DELETE FROM checkpoints WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        n > 0
    }))
}

/// Inserts or replaces (by code) every checkpoint in one transaction: all or nothing.
pub async fn upsert_checkpoints(db: &Db, rows: &[NewCheckpoint]) -> Result<Upserted, DbError> {
    let now = Utc::now();
    let head = "INSERT INTO checkpoints (code, name, lat, lon, unit_id, staffed_hours, created_at, updated_at) ";
    let tail = " ON CONFLICT (code) DO UPDATE SET name = excluded.name, lat = excluded.lat, lon = excluded.lon, unit_id = excluded.unit_id, staffed_hours = excluded.staffed_hours, updated_at = excluded.updated_at";
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        let existing: HashSet<String> = sqlx::query("SELECT code FROM checkpoints").fetch_all(&mut *tx).await?
            .into_iter().map(|r| r.try_get::<String, _>("code")).collect::<Result<_, _>>()?;
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let mut qb = sqlx::QueryBuilder::new(head);
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.code.as_str().to_owned()).push_bind(c.name.clone()).push_bind(c.lat).push_bind(c.lon)
                    .push_bind(c.unit_id).push_bind(c.staffed_hours.clone()).push_bind(now).push_bind(now);
            });
            qb.push(tail);
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let updated = rows.iter().filter(|c| existing.contains(c.code.as_str())).count();
        Upserted { created: rows.len() - updated, updated }
    }))
}

/// An intercept request as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InterceptRecord {
    /// Id.
    pub id: i64,
    /// Alarm.
    pub alarm_id: i64,
    /// Checkpoint.
    pub checkpoint_id: i64,
    /// Unit notified.
    pub unit_id: Option<i64>,
    /// Who asked.
    pub requested_by: Option<i64>,
    /// ETA when asked.
    pub eta_secs: Option<f64>,
    /// Distance when asked.
    pub distance_m: Option<f64>,
    /// When.
    pub requested_at: DateTime<Utc>,
}

const INTERCEPT_COLS: &str =
    "id, alarm_id, checkpoint_id, unit_id, requested_by, eta_secs, distance_m, requested_at";

/// A new intercept request.
#[derive(Debug, Clone)]
pub struct NewIntercept {
    /// Alarm.
    pub alarm_id: i64,
    /// Checkpoint.
    pub checkpoint_id: i64,
    /// The checkpoint's unit.
    pub unit_id: Option<i64>,
    /// Who asks.
    pub requested_by: i64,
    /// ETA.
    pub eta_secs: Option<f64>,
    /// Distance.
    pub distance_m: Option<f64>,
    /// The lifecycle step's note (JSON: checkpoint and ETA).
    pub note: String,
}

/// Records an intercept request and its `intercept_requested` lifecycle step in one
/// transaction, once per (alarm, checkpoint): `(request, true)` when new, `(the existing one,
/// false)` when it was already asked for (nothing written).
pub async fn request_intercept(
    db: &Db,
    n: &NewIntercept,
) -> Result<(InterceptRecord, bool), DbError> {
    let now = Utc::now();
    let insert = format!(
        "INSERT INTO intercept_requests (alarm_id, checkpoint_id, unit_id, requested_by, eta_secs, distance_m, requested_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (alarm_id, checkpoint_id) DO NOTHING RETURNING {INTERCEPT_COLS}"
    );
    let select = format!(
        "SELECT {INTERCEPT_COLS} FROM intercept_requests WHERE alarm_id = $1 AND checkpoint_id = $2"
    );
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        let created: Option<InterceptRecord> = sqlx::query_as(sqlx::AssertSqlSafe(insert))
            .bind(n.alarm_id).bind(n.checkpoint_id).bind(n.unit_id).bind(n.requested_by)
            .bind(n.eta_secs).bind(n.distance_m).bind(now)
            .fetch_optional(&mut *tx).await?;
        match created {
            Some(r) => {
                sqlx::query("INSERT INTO alarm_actions (alarm_id, action, user_id, unit_id, note, time) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(n.alarm_id).bind("intercept_requested").bind(n.requested_by).bind(n.unit_id).bind(&n.note).bind(now)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
                (r, true)
            }
            None => {
                let r: InterceptRecord = sqlx::query_as(sqlx::AssertSqlSafe(select))
                    .bind(n.alarm_id).bind(n.checkpoint_id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                (r, false)
            }
        }
    }))
}

/// The intercept requests of an alarm, oldest first.
pub async fn intercepts(db: &Db, alarm_id: i64) -> Result<Vec<InterceptRecord>, DbError> {
    let sql =
        format!("SELECT {INTERCEPT_COLS} FROM intercept_requests WHERE alarm_id = $1 ORDER BY id");
    Ok(
        on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(alarm_id).fetch_all(p).await?),
    )
}
