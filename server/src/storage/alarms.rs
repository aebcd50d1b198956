//! Alarm, patrol-unit, fence and arming storage on either engine (same SQL text for both).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

pub use crate::domain::alarms::{AlarmStatus, ArmedContact, Guard, Severity};
use crate::storage::on_pool;
use crate::storage::{Db, DbError};

const ALARM_COLS: &str = "id, device_id, kind, severity, status, unit_id, count, first_time, last_time, lat, lon, evidence, outcome, created_at, updated_at";

macro_rules! alarm_from_row {
    ($r:expr) => {{
        let r = $r;
        let evidence: String = r.try_get("evidence")?;
        AlarmView {
            id: r.try_get("id")?,
            device_id: r.try_get("device_id")?,
            kind: r.try_get("kind")?,
            severity: crate::storage::stored_name(
                "severity",
                r.try_get("severity")?,
                Severity::parse,
            )?,
            status: crate::storage::stored_name(
                "status",
                r.try_get("status")?,
                AlarmStatus::parse,
            )?,
            unit_id: r.try_get("unit_id")?,
            count: r.try_get("count")?,
            first_time: r.try_get("first_time")?,
            last_time: r.try_get("last_time")?,
            lat: r.try_get("lat")?,
            lon: r.try_get("lon")?,
            evidence: serde_json::from_str(&evidence).unwrap_or_default(),
            outcome: r.try_get("outcome")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}

/// An alarm as stored and as the API, WebSocket, MQTT and webhooks show it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AlarmView {
    /// Alarm id.
    pub id: i64,
    /// Device row id.
    pub device_id: i64,
    /// `theft`, `vibration`, `sos`, `low_battery`, `geofence_exit`, …
    pub kind: String,
    /// `high`, `medium` or `low`.
    pub severity: Severity,
    /// Where it is in its lifecycle.
    pub status: AlarmStatus,
    /// Patrol unit the alarm is routed or assigned to.
    pub unit_id: Option<i64>,
    /// How many times it was raised while open (de-duplication).
    pub count: i64,
    /// Fix time of the first occurrence.
    pub first_time: DateTime<Utc>,
    /// Fix time of the latest occurrence.
    pub last_time: DateTime<Utc>,
    /// Latest latitude.
    pub lat: Option<f64>,
    /// Latest longitude.
    pub lon: Option<f64>,
    /// Evidence gathered (for `theft`: `ignition_on`, `moved`, `power_cut`, `vibration_then_movement`).
    pub evidence: Vec<String>,
    /// Resolution outcome.
    pub outcome: Option<String>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A new alarm.
#[derive(Debug, Clone)]
pub struct NewAlarm {
    /// Device row id.
    pub device_id: i64,
    /// Kind.
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// Routed patrol unit.
    pub unit_id: Option<i64>,
    /// Fix time.
    pub time: DateTime<Utc>,
    /// Latitude (none when the device never sent a fix).
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Evidence.
    pub evidence: Vec<String>,
}

/// One lifecycle step.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlarmActionRow {
    /// `opened`, `acknowledged`, `assigned`, `resolved`.
    pub action: String,
    /// Who (none for the system).
    pub user_id: Option<i64>,
    /// Unit concerned.
    pub unit_id: Option<i64>,
    /// Outcome or note.
    pub note: Option<String>,
    /// When.
    pub time: DateTime<Utc>,
}

/// A patrol unit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatrolUnit {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Alarms outside every jurisdiction go here.
    pub is_default: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A stored fence row.
#[derive(Debug, Clone)]
pub struct FenceRow {
    /// Id (the geofence crate's `FenceId`).
    pub id: i64,
    /// Patrol unit owning it (jurisdictions).
    pub unit_id: Option<i64>,
    /// GeoJSON Feature text.
    pub feature: String,
}

/// Filters of the alarm list.
#[derive(Debug, Clone, Default)]
pub struct AlarmFilter {
    /// Status.
    pub status: Option<AlarmStatus>,
    /// Kind.
    pub kind: Option<String>,
    /// Patrol unit.
    pub unit_id: Option<i64>,
    /// Device.
    pub device_id: Option<i64>,
    /// Last occurrence at or after.
    pub from: Option<DateTime<Utc>>,
    /// Last occurrence before.
    pub to: Option<DateTime<Utc>>,
    /// Ids below this (newest first paging).
    pub before: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Restricts to what one caller may see (`None`: everything).
    pub visible_to: Option<AlarmVisibility>,
}

/// Which alarms a restricted caller sees: those of their patrol units (officers) and those of
/// the devices they own or that are shared with them.
#[derive(Debug, Clone, Copy)]
pub struct AlarmVisibility {
    /// The caller.
    pub user_id: i64,
    /// Include the alarms of the caller's patrol units (officers).
    pub units: bool,
}

enum Bind {
    I64(i64),
    Str(String),
    Time(DateTime<Utc>),
}

/// Inserts an alarm and its `opened` step.
pub async fn insert_alarm(db: &Db, a: &NewAlarm) -> Result<AlarmView, DbError> {
    let now = Utc::now();
    let evidence = serde_json::to_string(&a.evidence).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "INSERT INTO alarms (device_id, kind, severity, status, unit_id, count, first_time, last_time, lat, lon, evidence, created_at, updated_at) \
         VALUES ($1, $2, $3, 'open', $4, 1, $5, $5, $6, $7, $8, $9, $9) RETURNING {ALARM_COLS}"
    );
    // The alarm and its "opened" step in one transaction: one commit (one fsync, one turn at
    // SQLite's write lock) on the way to the patrol units.
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(a.device_id).bind(&a.kind).bind(a.severity.as_str()).bind(a.unit_id).bind(a.time)
            .bind(a.lat).bind(a.lon).bind(&evidence).bind(now)
            .fetch_one(&mut *tx).await?;
        let view = alarm_from_row!(&r);
        sqlx::query(ACTION_INSERT)
            .bind(view.id).bind("opened").bind(None::<i64>).bind(view.unit_id).bind(None::<&str>).bind(now)
            .execute(&mut *tx).await?;
        tx.commit().await?;
        view
    }))
}

/// Raises an open alarm again: count + `times`, latest time and position, evidence.
pub async fn bump_alarm(
    db: &Db,
    id: i64,
    times: i64,
    time: DateTime<Utc>,
    lat: Option<f64>,
    lon: Option<f64>,
    evidence: &[String],
) -> Result<AlarmView, DbError> {
    let evidence = serde_json::to_string(evidence).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "UPDATE alarms SET count = count + $2, last_time = CASE WHEN last_time < $3 THEN $3 ELSE last_time END, lat = COALESCE($4, lat), lon = COALESCE($5, lon), evidence = $6, updated_at = $7 WHERE id = $1 RETURNING {ALARM_COLS}"
    );
    Ok(on_pool!(db, p => {
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id).bind(times).bind(time).bind(lat).bind(lon).bind(&evidence).bind(Utc::now())
            .fetch_one(p).await?;
        alarm_from_row!(&r)
    }))
}

/// The newest not-resolved alarm of a device and kind.
pub async fn open_alarm(db: &Db, device_id: i64, kind: &str) -> Result<Option<AlarmView>, DbError> {
    let sql = format!(
        "SELECT {ALARM_COLS} FROM alarms WHERE device_id = $1 AND kind = $2 AND status <> 'resolved' ORDER BY id DESC LIMIT 1"
    );
    Ok(on_pool!(db, p => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).bind(kind).fetch_optional(p).await? {
            Some(r) => Some(alarm_from_row!(&r)),
            None => None,
        }
    }))
}

/// Every not-resolved alarm (start-up: which vehicles are being pursued by which unit).
pub async fn unresolved_alarms(db: &Db) -> Result<Vec<AlarmView>, DbError> {
    let sql = format!("SELECT {ALARM_COLS} FROM alarms WHERE status <> 'resolved' ORDER BY id");
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await? {
            out.push(alarm_from_row!(&r));
        }
        out
    }))
}

/// One alarm.
pub async fn alarm(db: &Db, id: i64) -> Result<Option<AlarmView>, DbError> {
    let sql = format!("SELECT {ALARM_COLS} FROM alarms WHERE id = $1");
    Ok(on_pool!(db, p => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await? {
            Some(r) => Some(alarm_from_row!(&r)),
            None => None,
        }
    }))
}

/// Alarms matching `f`, newest first.
pub async fn list_alarms(db: &Db, f: &AlarmFilter) -> Result<Vec<AlarmView>, DbError> {
    let mut sql = format!("SELECT {ALARM_COLS} FROM alarms WHERE 1 = 1");
    let mut binds = Vec::new();
    let mut add = |cond: &str, b: Bind, sql: &mut String| {
        binds.push(b);
        sql.push_str(&format!(" AND {cond} ${}", binds.len()));
    };
    if let Some(s) = &f.status {
        add("status =", Bind::Str(s.as_str().to_owned()), &mut sql);
    }
    if let Some(k) = &f.kind {
        add("kind =", Bind::Str(k.clone()), &mut sql);
    }
    if let Some(u) = f.unit_id {
        add("unit_id =", Bind::I64(u), &mut sql);
    }
    if let Some(d) = f.device_id {
        add("device_id =", Bind::I64(d), &mut sql);
    }
    if let Some(t) = f.from {
        add("last_time >=", Bind::Time(t), &mut sql);
    }
    if let Some(t) = f.to {
        add("last_time <", Bind::Time(t), &mut sql);
    }
    if let Some(b) = f.before {
        add("id <", Bind::I64(b), &mut sql);
    }
    if let Some(v) = f.visible_to {
        binds.push(Bind::I64(v.user_id));
        let n = binds.len();
        let units = if v.units {
            format!("unit_id IN (SELECT unit_id FROM unit_members WHERE user_id = ${n}) OR ")
        } else {
            String::new()
        };
        sql.push_str(&format!(
            " AND ({units}device_id IN (SELECT id FROM devices WHERE owner_id = ${n} UNION SELECT device_id FROM device_shares WHERE user_id = ${n}))"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY id DESC LIMIT {}",
        f.limit.clamp(1, 1000)
    ));
    Ok(on_pool!(db, p => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = match b {
                Bind::I64(v) => q.bind(*v),
                Bind::Str(v) => q.bind(v.clone()),
                Bind::Time(v) => q.bind(*v),
            };
        }
        let mut out = Vec::new();
        for r in q.fetch_all(p).await? {
            out.push(alarm_from_row!(&r));
        }
        out
    }))
}

/// Moves an alarm to `status` (with unit and outcome when given) and records the step.
/// Returns `None` when the alarm does not exist or is already resolved.
pub async fn transition(
    db: &Db,
    id: i64,
    status: AlarmStatus,
    user_id: Option<i64>,
    unit_id: Option<i64>,
    outcome: Option<&str>,
) -> Result<Option<AlarmView>, DbError> {
    let sql = format!(
        "UPDATE alarms SET status = $2, unit_id = COALESCE($3, unit_id), outcome = COALESCE($4, outcome), updated_at = $5 \
         WHERE id = $1 AND status <> 'resolved' RETURNING {ALARM_COLS}"
    );
    let now = Utc::now();
    // The change and its step in one transaction, as an alarm and its `opened` step.
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id).bind(status.as_str()).bind(unit_id).bind(outcome).bind(now)
            .fetch_optional(&mut *tx).await? {
            Some(r) => {
                let view = alarm_from_row!(&r);
                sqlx::query(ACTION_INSERT)
                    .bind(id).bind(status.as_str()).bind(user_id).bind(unit_id).bind(outcome).bind(now)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
                Some(view)
            }
            None => None,
        }
    }))
}

/// One step of an alarm's lifecycle: alarm, action, user, unit, note, time.
const ACTION_INSERT: &str = "INSERT INTO alarm_actions (alarm_id, action, user_id, unit_id, note, time) VALUES ($1, $2, $3, $4, $5, $6)";

/// The lifecycle steps of an alarm, oldest first.
pub async fn actions(db: &Db, alarm_id: i64) -> Result<Vec<AlarmActionRow>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT action, user_id, unit_id, note, time FROM alarm_actions WHERE alarm_id = $1 ORDER BY id")
            .bind(alarm_id).fetch_all(p).await? {
            out.push(AlarmActionRow {
                action: r.try_get("action")?,
                user_id: r.try_get("user_id")?,
                unit_id: r.try_get("unit_id")?,
                note: r.try_get("note")?,
                time: r.try_get("time")?,
            });
        }
        out
    }))
}

// ---- patrol units ----

/// Creates a patrol unit (a new default unit replaces the previous default).
pub async fn create_unit(db: &Db, name: &str, is_default: bool) -> Result<PatrolUnit, DbError> {
    let now = Utc::now();
    let res: Result<PatrolUnit, sqlx::Error> = on_pool!(db, p => {
        if is_default {
            sqlx::query("UPDATE patrol_units SET is_default = $1 WHERE is_default = $2").bind(false).bind(true).execute(p).await?;
        }
        match sqlx::query("INSERT INTO patrol_units (name, is_default, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(name).bind(is_default).bind(now).fetch_one(p).await {
            Ok(r) => r.try_get("id").map(|id| PatrolUnit { id, name: name.to_owned(), is_default, created_at: now }),
            Err(e) => Err(e),
        }
    });
    match res {
        Ok(u) => Ok(u),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            Err(DbError::Conflict("patrol unit"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Renames a unit and/or changes its default flag (a new default replaces the previous one);
/// `None` when there is no such unit.
pub async fn update_unit(
    db: &Db,
    id: i64,
    name: Option<&str>,
    is_default: Option<bool>,
) -> Result<Option<PatrolUnit>, DbError> {
    let res: Result<(), sqlx::Error> = on_pool!(db, p => {
        let mut tx = p.begin().await?;
        if let Some(n) = name
            && let Err(e) = sqlx::query("UPDATE patrol_units SET name = $1 WHERE id = $2").bind(n).bind(id).execute(&mut *tx).await
        {
            return match e {
                sqlx::Error::Database(d) if d.is_unique_violation() => Err(DbError::Conflict("patrol unit")),
                e => Err(e.into()),
            };
        }
        if let Some(d) = is_default {
            if d {
                sqlx::query("UPDATE patrol_units SET is_default = $1 WHERE is_default = $2 AND id <> $3").bind(false).bind(true).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE patrol_units SET is_default = $1 WHERE id = $2").bind(d).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await
    });
    res?;
    Ok(units(db).await?.into_iter().find(|u| u.id == id))
}

/// Deletes a unit (its alarms and jurisdiction fences keep existing without a unit); false
/// when there was none.
pub async fn delete_unit(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        // Explicit rather than relying on ON DELETE SET NULL, so both engines agree even if a
        // connection runs without foreign keys.
        sqlx::query("UPDATE alarms SET unit_id = NULL WHERE unit_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("UPDATE fences SET unit_id = NULL WHERE unit_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM unit_members WHERE unit_id = $1").bind(id).execute(&mut *tx).await?;
        let n = sqlx::query("DELETE FROM patrol_units WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        n > 0
    }))
}

/// Every patrol unit.
pub async fn units(db: &Db) -> Result<Vec<PatrolUnit>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT id, name, is_default, created_at FROM patrol_units ORDER BY id").fetch_all(p).await? {
            out.push(PatrolUnit {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                is_default: r.try_get("is_default")?,
                created_at: r.try_get("created_at")?,
            });
        }
        out
    }))
}

/// The default unit's id.
pub async fn default_unit(db: &Db) -> Result<Option<i64>, DbError> {
    Ok(on_pool!(db, p => {
        match sqlx::query("SELECT id FROM patrol_units WHERE is_default = $1 ORDER BY id LIMIT 1").bind(true).fetch_optional(p).await? {
            Some(r) => Some(r.try_get::<i64, _>("id")?),
            None => None,
        }
    }))
}

// ---- fences ----

/// Inserts a fence row with a placeholder feature; returns its id (the feature, which
/// carries the id, is written with [`set_fence_feature`]).
pub async fn insert_fence(
    db: &Db,
    name: &str,
    kind: &str,
    unit_id: Option<i64>,
) -> Result<i64, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query("INSERT INTO fences (name, kind, unit_id, feature, created_at) VALUES ($1, $2, $3, '', $4) RETURNING id")
            .bind(name).bind(kind).bind(unit_id).bind(Utc::now()).fetch_one(p).await?.try_get("id")?
    }))
}

/// Stores a fence's GeoJSON feature.
pub async fn set_fence_feature(db: &Db, id: i64, feature: &str) -> Result<(), DbError> {
    on_pool!(db, p => {
        sqlx::query("UPDATE fences SET feature = $2 WHERE id = $1").bind(id).bind(feature).execute(p).await?;
    });
    Ok(())
}

/// Replaces a fence's name, kind, unit and feature; false when there is no such fence.
pub async fn update_fence(
    db: &Db,
    id: i64,
    name: &str,
    kind: &str,
    unit_id: Option<i64>,
    feature: &str,
) -> Result<bool, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query("UPDATE fences SET name = $2, kind = $3, unit_id = $4, feature = $5 WHERE id = $1")
            .bind(id).bind(name).bind(kind).bind(unit_id).bind(feature).execute(p).await?.rows_affected() > 0
    }))
}

/// Deletes a fence; false when there was none.
pub async fn delete_fence(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query("DELETE FROM fences WHERE id = $1").bind(id).execute(p).await?.rows_affected() > 0
    }))
}

/// Every fence.
pub async fn fences(db: &Db) -> Result<Vec<FenceRow>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT id, unit_id, feature FROM fences WHERE feature <> '' ORDER BY id").fetch_all(p).await? {
            out.push(FenceRow { id: r.try_get("id")?, unit_id: r.try_get("unit_id")?, feature: r.try_get("feature")? });
        }
        out
    }))
}

/// Assigns a fence to a device (idempotent).
pub async fn assign_fence(db: &Db, device_id: i64, fence_id: i64) -> Result<(), DbError> {
    on_pool!(db, p => {
        sqlx::query("INSERT INTO device_fences (device_id, fence_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(device_id).bind(fence_id).execute(p).await?;
    });
    Ok(())
}

/// Every (device, fence) assignment.
pub async fn fence_assignments(db: &Db) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT device_id, fence_id FROM device_fences").fetch_all(p).await? {
            out.push((r.try_get("device_id")?, r.try_get("fence_id")?));
        }
        out
    }))
}

// ---- arming ----

/// Arms or disarms a device (armed position kept when arming).
pub async fn set_guard(
    db: &Db,
    device_id: i64,
    armed: bool,
    at: Option<(f64, f64)>,
    by: Option<i64>,
) -> Result<Guard, DbError> {
    let now = Utc::now();
    let (lat, lon) = (at.map(|a| a.0), at.map(|a| a.1));
    on_pool!(db, p => {
        sqlx::query("INSERT INTO device_guard (device_id, armed, armed_lat, armed_lon, changed_at, changed_by) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (device_id) DO UPDATE SET armed = $2, armed_lat = $3, armed_lon = $4, changed_at = $5, changed_by = $6")
            .bind(device_id).bind(armed).bind(lat).bind(lon).bind(now).bind(by).execute(p).await?;
    });
    Ok(guard(db, device_id).await?.unwrap_or(Guard {
        device_id,
        armed,
        armed_lat: lat,
        armed_lon: lon,
        speed_limit_kmh: None,
        changed_at: now,
    }))
}

/// Sets a device's overspeed limit.
pub async fn set_speed_limit(db: &Db, device_id: i64, limit: Option<f64>) -> Result<(), DbError> {
    on_pool!(db, p => {
        sqlx::query("INSERT INTO device_guard (device_id, armed, changed_at, speed_limit_kmh) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (device_id) DO UPDATE SET speed_limit_kmh = $4")
            .bind(device_id).bind(false).bind(Utc::now()).bind(limit).execute(p).await?;
    });
    Ok(())
}

const GUARD_COLS: &str = "device_id, armed, armed_lat, armed_lon, speed_limit_kmh, changed_at";

macro_rules! guard_from_row {
    ($r:expr) => {{
        let r = $r;
        Guard {
            device_id: r.try_get("device_id")?,
            armed: r.try_get("armed")?,
            armed_lat: r.try_get("armed_lat")?,
            armed_lon: r.try_get("armed_lon")?,
            speed_limit_kmh: r.try_get("speed_limit_kmh")?,
            changed_at: r.try_get("changed_at")?,
        }
    }};
}

/// One device's guard row.
pub async fn guard(db: &Db, device_id: i64) -> Result<Option<Guard>, DbError> {
    let sql = format!("SELECT {GUARD_COLS} FROM device_guard WHERE device_id = $1");
    Ok(on_pool!(db, p => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).fetch_optional(p).await? {
            Some(r) => Some(guard_from_row!(&r)),
            None => None,
        }
    }))
}

/// Every guard row (start-up).
pub async fn guards(db: &Db) -> Result<Vec<Guard>, DbError> {
    let sql = format!("SELECT {GUARD_COLS} FROM device_guard");
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await? {
            out.push(guard_from_row!(&r));
        }
        out
    }))
}

// ---- rule state ----

/// Stores a device's persisted rule state (JSON), replacing the previous one.
pub async fn save_alarm_state(db: &Db, device_id: i64, state: &str) -> Result<(), DbError> {
    on_pool!(db, p => {
        sqlx::query("INSERT INTO alarm_state (device_id, state, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (device_id) DO UPDATE SET state = $2, updated_at = $3")
            .bind(device_id).bind(state).bind(Utc::now()).execute(p).await?;
    });
    Ok(())
}

/// Every persisted rule state (start-up): (device, JSON).
pub async fn alarm_states(db: &Db) -> Result<Vec<(i64, String)>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT device_id, state FROM alarm_state").fetch_all(p).await? {
            out.push((r.try_get("device_id")?, r.try_get("state")?));
        }
        out
    }))
}

/// Every armed device with its last contact.
pub async fn armed_contacts(db: &Db) -> Result<Vec<ArmedContact>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT g.device_id, g.changed_at, g.armed_lat, g.armed_lon, d.last_seen_at \
                              FROM device_guard g JOIN devices d ON d.id = g.device_id WHERE g.armed = $1")
            .bind(true).fetch_all(p).await? {
            out.push(ArmedContact {
                device_id: r.try_get("device_id")?,
                last_seen: r.try_get("last_seen_at")?,
                armed_at: r.try_get("changed_at")?,
                armed_lat: r.try_get("armed_lat")?,
                armed_lon: r.try_get("armed_lon")?,
            });
        }
        out
    }))
}
