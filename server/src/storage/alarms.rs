//! Alarm storage on either engine (same SQL text for both): alarms and their lifecycle steps
//! (`alarm_actions`). Patrol units, fences and arming are in [`super::units`],
//! [`super::fences`] and [`super::guards`].

use chrono::{DateTime, Utc};

use crate::domain::alarms::AlarmStep;
pub use crate::domain::alarms::{AlarmKind, AlarmStatus, AlarmView, Severity};
use crate::storage::on_pool;
use crate::storage::stored_name;
use crate::storage::{Db, DbError};

const ALARM_COLS: &str = "id, device_id, kind, severity, status, unit_id, count, first_time, last_time, lat, lon, evidence, outcome, created_at, updated_at";

/// An `alarms` row as read ([`ALARM_COLS`]); names are checked and evidence parsed by
/// [`AlarmRow::into_view`].
#[derive(sqlx::FromRow)]
struct AlarmRow {
    id: i64,
    device_id: i64,
    kind: String,
    severity: String,
    status: String,
    unit_id: Option<i64>,
    count: i64,
    first_time: DateTime<Utc>,
    last_time: DateTime<Utc>,
    lat: Option<f64>,
    lon: Option<f64>,
    evidence: String,
    outcome: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl AlarmRow {
    /// The alarm as shown; an unknown kind, severity or status is a decode error of its column.
    fn into_view(self) -> Result<AlarmView, sqlx::Error> {
        Ok(AlarmView {
            id: self.id,
            device_id: self.device_id,
            kind: stored_name("kind", self.kind, AlarmKind::parse)?,
            severity: stored_name("severity", self.severity, Severity::parse)?,
            status: stored_name("status", self.status, AlarmStatus::parse)?,
            unit_id: self.unit_id,
            count: self.count,
            first_time: self.first_time,
            last_time: self.last_time,
            lat: self.lat,
            lon: self.lon,
            // Written by this module only, as a JSON list of strings.
            evidence: serde_json::from_str(&self.evidence).unwrap_or_default(),
            outcome: self.outcome,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A new alarm.
#[derive(Debug, Clone)]
pub struct NewAlarm {
    /// Device row id.
    pub device_id: i64,
    /// Kind.
    pub kind: AlarmKind,
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

/// An `alarm_actions` row as read.
#[derive(sqlx::FromRow)]
struct ActionRecord {
    action: String,
    user_id: Option<i64>,
    unit_id: Option<i64>,
    note: Option<String>,
    time: DateTime<Utc>,
}

impl From<ActionRecord> for AlarmStep {
    fn from(r: ActionRecord) -> Self {
        AlarmStep {
            action: r.action,
            user_id: r.user_id,
            unit_id: r.unit_id,
            note: r.note,
            time: r.time,
        }
    }
}

/// Filters of the alarm list.
#[derive(Debug, Clone, Default)]
pub struct AlarmFilter {
    /// Status.
    pub status: Option<AlarmStatus>,
    /// Kind.
    pub kind: Option<AlarmKind>,
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
        let r = sqlx::query_as::<_, AlarmRow>(sqlx::AssertSqlSafe(sql))
            .bind(a.device_id).bind(a.kind.as_str()).bind(a.severity.as_str()).bind(a.unit_id).bind(a.time)
            .bind(a.lat).bind(a.lon).bind(&evidence).bind(now)
            .fetch_one(&mut *tx).await?;
        let view = r.into_view()?;
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
        sqlx::query_as::<_, AlarmRow>(sqlx::AssertSqlSafe(sql))
            .bind(id).bind(times).bind(time).bind(lat).bind(lon).bind(&evidence).bind(Utc::now())
            .fetch_one(p).await?
            .into_view()?
    }))
}

/// The newest not-resolved alarm of a device and kind.
pub async fn open_alarm(
    db: &Db,
    device_id: i64,
    kind: AlarmKind,
) -> Result<Option<AlarmView>, DbError> {
    let sql = format!(
        "SELECT {ALARM_COLS} FROM alarms WHERE device_id = $1 AND kind = $2 AND status <> 'resolved' ORDER BY id DESC LIMIT 1"
    );
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, AlarmRow>(sqlx::AssertSqlSafe(sql)).bind(device_id).bind(kind.as_str())
            .fetch_optional(p).await?.map(AlarmRow::into_view).transpose()?
    }))
}

/// Every not-resolved alarm (start-up: which vehicles are being pursued by which unit).
pub async fn unresolved_alarms(db: &Db) -> Result<Vec<AlarmView>, DbError> {
    let sql = format!("SELECT {ALARM_COLS} FROM alarms WHERE status <> 'resolved' ORDER BY id");
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, AlarmRow>(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?
            .into_iter().map(AlarmRow::into_view).collect::<Result<Vec<_>, _>>()?
    }))
}

/// One alarm.
pub async fn alarm(db: &Db, id: i64) -> Result<Option<AlarmView>, DbError> {
    let sql = format!("SELECT {ALARM_COLS} FROM alarms WHERE id = $1");
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, AlarmRow>(sqlx::AssertSqlSafe(sql)).bind(id)
            .fetch_optional(p).await?.map(AlarmRow::into_view).transpose()?
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
        add("kind =", Bind::Str(k.as_str().to_owned()), &mut sql);
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
        let mut q = sqlx::query_as::<_, AlarmRow>(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = match b {
                Bind::I64(v) => q.bind(*v),
                Bind::Str(v) => q.bind(v.clone()),
                Bind::Time(v) => q.bind(*v),
            };
        }
        q.fetch_all(p).await?.into_iter().map(AlarmRow::into_view).collect::<Result<Vec<_>, _>>()?
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
        match sqlx::query_as::<_, AlarmRow>(sqlx::AssertSqlSafe(sql))
            .bind(id).bind(status.as_str()).bind(unit_id).bind(outcome).bind(now)
            .fetch_optional(&mut *tx).await? {
            Some(r) => {
                let view = r.into_view()?;
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
pub async fn actions(db: &Db, alarm_id: i64) -> Result<Vec<AlarmStep>, DbError> {
    let rows = on_pool!(db, p => {
        sqlx::query_as::<_, ActionRecord>("SELECT action, user_id, unit_id, note, time FROM alarm_actions WHERE alarm_id = $1 ORDER BY id")
            .bind(alarm_id).fetch_all(p).await?
    });
    Ok(rows.into_iter().map(AlarmStep::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, severity: &str, status: &str) -> AlarmRow {
        let t = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        AlarmRow {
            id: 1,
            device_id: 2,
            kind: kind.into(),
            severity: severity.into(),
            status: status.into(),
            unit_id: None,
            count: 1,
            first_time: t,
            last_time: t,
            lat: None,
            lon: None,
            evidence: r#"["moved"]"#.into(),
            outcome: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn stored_names_decode() {
        let v = row("geofence_exit", "medium", "assigned")
            .into_view()
            .unwrap();
        assert_eq!(
            (v.kind, v.severity, v.status),
            (
                AlarmKind::GeofenceExit,
                Severity::Medium,
                AlarmStatus::Assigned
            )
        );
        assert_eq!(v.evidence, ["moved"]);
    }

    #[test]
    fn unknown_stored_name_is_a_decode_error_naming_column_and_value() {
        for (r, column, value) in [
            (row("bogus", "high", "open"), "kind", "bogus"),
            (row("sos", "urgent", "open"), "severity", "urgent"),
            (row("sos", "high", "closed"), "status", "closed"),
        ] {
            let e = r.into_view().unwrap_err().to_string();
            assert!(e.contains(column) && e.contains(value), "{e}");
        }
    }
}
