//! Planning and assessment (administrators and dispatchers): `GET /api/v1/stats/alarms`
//! (where and when: grid cells as GeoJSON polygons with counts, 168 hours of the week, per
//! unit) and `GET /api/v1/stats/units` (per unit: alarms, time to acknowledge and to resolve,
//! outcomes).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::alarms::AlarmKind;
use crate::domain::engine::grid_cells::{CellId, cell_ring};
use crate::domain::stats;
use crate::storage::stats as store;
use crate::storage::units;
use crate::transport::http::{ApiError, AppState};

/// Longest period one request counts.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// Query of `GET /api/v1/stats/alarms`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlarmStatsQuery {
    /// Only this alarm kind (`theft`, …).
    pub kind: Option<String>,
    /// First occurrence at or after (default: 30 days before `to`).
    pub from: Option<DateTime<Utc>>,
    /// First occurrence before (default: now).
    pub to: Option<DateTime<Utc>>,
    /// Grid cell side, metres: 50..=50000, default 500.
    #[param(minimum = 50, maximum = 50000)]
    pub cell_m: Option<f64>,
    /// Local time offset from UTC for the hours of the week, minutes (China: 480); default 0.
    #[param(minimum = -720, maximum = 840)]
    pub tz_offset_min: Option<i32>,
}

/// Query of `GET /api/v1/stats/units`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UnitStatsQuery {
    /// First occurrence at or after (default: 30 days before `to`).
    pub from: Option<DateTime<Utc>>,
    /// First occurrence before (default: now).
    pub to: Option<DateTime<Utc>>,
}

fn period(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - Duration::days(30));
    if from >= to || to - from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(ApiError::bad_request(
            "invalid_range",
            format!("from must be before to, at most {MAX_PERIOD_DAYS} days apart"),
        ));
    }
    Ok((from, to))
}

/// Alarms of one unit (null: routed nowhere).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitCount {
    /// Unit.
    pub unit_id: Option<i64>,
    /// Alarms.
    pub count: u64,
}

/// Answer of `GET /api/v1/stats/alarms`: a GeoJSON FeatureCollection of the grid cells that
/// hold alarms (Polygon, `properties: {count, row, col}`), with the other figures as foreign
/// members.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlarmStats {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    pub kind: String,
    /// One Polygon Feature per cell with alarms: `properties: {count, row, col}`.
    #[schema(value_type = Vec<Object>)]
    pub features: Vec<serde_json::Value>,
    /// Alarms counted (with or without a position).
    pub total: u64,
    /// Cell side, metres.
    pub cell_m: f64,
    /// Alarms per hour of the week, 168 values: Monday 00:00 local time first.
    pub hour_of_week: Vec<u64>,
    /// Alarms per unit (the jurisdiction's unit they were routed or assigned to).
    pub by_unit: Vec<UnitCount>,
    /// Period start.
    pub from: DateTime<Utc>,
    /// Period end.
    pub to: DateTime<Utc>,
}

/// `GET /api/v1/stats/alarms?kind&from&to&cell_m&tz_offset_min`.
pub async fn alarms(
    state: web::Data<AppState>,
    q: web::Query<AlarmStatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = period(q.from, q.to)?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(AlarmKind::parse(k).ok_or_else(|| {
            ApiError::bad_request("invalid_value", format!("kind {k:?} is no alarm kind"))
        })?),
    };
    let cell_m = q.cell_m.unwrap_or(500.0);
    if !(50.0..=50_000.0).contains(&cell_m) {
        return Err(ApiError::bad_request(
            "invalid_cell",
            "cell_m must be 50 to 50000 metres",
        ));
    }
    let offset = q.tz_offset_min.unwrap_or(0);
    if !(-720..=840).contains(&offset) {
        return Err(ApiError::bad_request(
            "invalid_offset",
            "tz_offset_min must be -720 to 840",
        ));
    }
    let points = store::alarm_points(&state.db, from, to, kind).await?;
    let h = stats::hot_spots(&points, cell_m, offset);
    let features = h
        .cells
        .iter()
        .map(|(&(row, col), &count)| {
            let ring: Vec<[f64; 2]> = cell_ring(CellId { row, col }, cell_m)
                .into_iter()
                .map(|(lon, lat)| [lon, lat])
                .collect();
            json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                   "properties": {"count": count, "row": row, "col": col}})
        })
        .collect();
    Ok(HttpResponse::Ok().json(AlarmStats {
        kind: "FeatureCollection".into(),
        features,
        total: h.total,
        cell_m,
        hour_of_week: h.hour_of_week,
        by_unit: h
            .by_unit
            .into_iter()
            .map(|(unit_id, count)| UnitCount { unit_id, count })
            .collect(),
        from,
        to,
    }))
}

/// One unit's performance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitPerformance {
    /// Unit (null: alarms routed nowhere).
    pub unit_id: Option<i64>,
    /// Unit name.
    pub name: Option<String>,
    /// Alarms routed or assigned to it.
    pub alarms: u64,
    /// Of them acknowledged (any step by a person).
    pub acknowledged: u64,
    /// Of them resolved.
    pub resolved: u64,
    /// Median seconds from the alarm to the first step by a person (nearest rank).
    pub ack_median_secs: Option<f64>,
    /// 90th percentile of the same.
    pub ack_p90_secs: Option<f64>,
    /// Median seconds from the alarm to its resolution.
    pub resolve_median_secs: Option<f64>,
    /// 90th percentile of the same.
    pub resolve_p90_secs: Option<f64>,
    /// Resolved alarms per outcome (`recovered`, `false_alarm`, `not_found`, `duplicate`,
    /// `other`).
    pub outcomes: BTreeMap<String, u64>,
}

/// Answer of `GET /api/v1/stats/units`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitStats {
    /// Every unit with alarms in the period, and every unit (with zeros) otherwise.
    pub units: Vec<UnitPerformance>,
    /// Period start.
    pub from: DateTime<Utc>,
    /// Period end.
    pub to: DateTime<Utc>,
}

/// `GET /api/v1/stats/units?from&to`.
pub async fn units(
    state: web::Data<AppState>,
    q: web::Query<UnitStatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = period(q.from, q.to)?;
    let rows = store::handling(&state.db, from, to).await?;
    let mut figures = stats::unit_figures(&rows);
    let names: BTreeMap<i64, String> = units::units(&state.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    for id in names.keys() {
        figures.entry(Some(*id)).or_default();
    }
    let units = figures
        .into_iter()
        .map(|(unit_id, f)| UnitPerformance {
            unit_id,
            name: unit_id.and_then(|u| names.get(&u).cloned()),
            alarms: f.alarms,
            acknowledged: f.acknowledged,
            resolved: f.resolved,
            ack_median_secs: f.ack_median_secs,
            ack_p90_secs: f.ack_p90_secs,
            resolve_median_secs: f.resolve_median_secs,
            resolve_p90_secs: f.resolve_p90_secs,
            outcomes: f.outcomes,
        })
        .collect();
    Ok(HttpResponse::Ok().json(UnitStats { units, from, to }))
}
