//! What the planning figures read (same SQL text for both engines): alarms of a period with
//! their position and unit, and their lifecycle steps. The counting is
//! [`crate::domain::stats`]'s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::alarms::AlarmKind;
use crate::domain::stats::{AlarmPoint, Handling};
use crate::storage::{Db, DbError, on_pool};

#[derive(sqlx::FromRow)]
struct PointRecord {
    first_time: DateTime<Utc>,
    lat: Option<f64>,
    lon: Option<f64>,
    unit_id: Option<i64>,
}

/// Alarms first seen in `[from, to)` (of one kind when given).
pub async fn alarm_points(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    kind: Option<AlarmKind>,
) -> Result<Vec<AlarmPoint>, DbError> {
    let mut sql = String::from(
        "SELECT first_time, lat, lon, unit_id FROM alarms WHERE first_time >= $1 AND first_time < $2",
    );
    if kind.is_some() {
        sql.push_str(" AND kind = $3");
    }
    let rows: Vec<PointRecord> = on_pool!(db, p => {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
        if let Some(k) = kind {
            q = q.bind(k.as_str());
        }
        q.fetch_all(p).await?
    });
    Ok(rows
        .into_iter()
        .map(|r| AlarmPoint {
            time: r.first_time,
            lat: r.lat,
            lon: r.lon,
            unit_id: r.unit_id,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct AlarmRecord {
    id: i64,
    unit_id: Option<i64>,
    created_at: DateTime<Utc>,
    outcome: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StepRecord {
    alarm_id: i64,
    action: String,
    user_id: Option<i64>,
    time: DateTime<Utc>,
}

/// How the alarms first seen in `[from, to)` were handled: the first step a person took
/// (acknowledged, assigned or resolved) and the resolution.
pub async fn handling(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Handling>, DbError> {
    let (alarms, steps): (Vec<AlarmRecord>, Vec<StepRecord>) = on_pool!(db, p => {
        let a = sqlx::query_as("SELECT id, unit_id, created_at, outcome FROM alarms WHERE first_time >= $1 AND first_time < $2 ORDER BY id")
            .bind(from).bind(to).fetch_all(p).await?;
        let s = sqlx::query_as("SELECT alarm_id, action, user_id, time FROM alarm_actions WHERE alarm_id IN (SELECT id FROM alarms WHERE first_time >= $1 AND first_time < $2) ORDER BY id")
            .bind(from).bind(to).fetch_all(p).await?;
        (a, s)
    });
    // Per alarm: (first step by a person, resolution).
    type Firsts = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let mut firsts: HashMap<i64, Firsts> = HashMap::new();
    for s in steps {
        let e = firsts.entry(s.alarm_id).or_default();
        let by_person = s.user_id.is_some();
        if by_person
            && matches!(s.action.as_str(), "acknowledged" | "assigned" | "resolved")
            && e.0.is_none()
        {
            e.0 = Some(s.time);
        }
        if s.action == "resolved" && e.1.is_none() {
            e.1 = Some(s.time);
        }
    }
    Ok(alarms
        .into_iter()
        .map(|a| {
            let (ack, res) = firsts.get(&a.id).copied().unwrap_or_default();
            Handling {
                unit_id: a.unit_id,
                opened: a.created_at,
                acknowledged: ack,
                resolved: res,
                outcome: a.outcome,
            }
        })
        .collect())
}
