//! Arming and alarm-rule state storage on either engine (same SQL text for both): a device's
//! guard (armed, where, speed limit), the rules' persisted state, the armed devices' last
//! contact.

use chrono::{DateTime, Utc};

pub use crate::domain::alarms::{ArmedContact, Guard};
use crate::storage::on_pool;
use crate::storage::{Db, DbError};

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

/// A `device_guard` row as read ([`GUARD_COLS`]).
#[derive(sqlx::FromRow)]
struct GuardRow {
    device_id: i64,
    armed: bool,
    armed_lat: Option<f64>,
    armed_lon: Option<f64>,
    speed_limit_kmh: Option<f64>,
    changed_at: DateTime<Utc>,
}

impl From<GuardRow> for Guard {
    fn from(r: GuardRow) -> Guard {
        Guard {
            device_id: r.device_id,
            armed: r.armed,
            armed_lat: r.armed_lat,
            armed_lon: r.armed_lon,
            speed_limit_kmh: r.speed_limit_kmh,
            changed_at: r.changed_at,
        }
    }
}

/// One device's guard row.
pub async fn guard(db: &Db, device_id: i64) -> Result<Option<Guard>, DbError> {
    let sql = format!("SELECT {GUARD_COLS} FROM device_guard WHERE device_id = $1");
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, GuardRow>(sqlx::AssertSqlSafe(sql)).bind(device_id)
            .fetch_optional(p).await?.map(Guard::from)
    }))
}

/// Every guard row (start-up).
pub async fn guards(db: &Db) -> Result<Vec<Guard>, DbError> {
    let sql = format!("SELECT {GUARD_COLS} FROM device_guard");
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, GuardRow>(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?
            .into_iter().map(Guard::from).collect()
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
        sqlx::query_as::<_, (i64, String)>("SELECT device_id, state FROM alarm_state").fetch_all(p).await?
    }))
}

/// A row of [`armed_contacts`]' query.
#[derive(sqlx::FromRow)]
struct ArmedRow {
    device_id: i64,
    changed_at: DateTime<Utc>,
    armed_lat: Option<f64>,
    armed_lon: Option<f64>,
    last_seen_at: Option<DateTime<Utc>>,
}

/// Every armed device with its last contact.
pub async fn armed_contacts(db: &Db) -> Result<Vec<ArmedContact>, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, ArmedRow>("SELECT g.device_id, g.changed_at, g.armed_lat, g.armed_lon, d.last_seen_at \
                                      FROM device_guard g JOIN devices d ON d.id = g.device_id WHERE g.armed = $1")
            .bind(true).fetch_all(p).await?
            .into_iter()
            .map(|r| ArmedContact {
                device_id: r.device_id,
                last_seen: r.last_seen_at,
                armed_at: r.changed_at,
                armed_lat: r.armed_lat,
                armed_lon: r.armed_lon,
            })
            .collect()
    }))
}
