//! `GET /api/reports/events?deviceId&type&from&to` (JSON): Vigil's alarms and connection
//! events as Traccar events ([`super::model::TraccarEvent`]), oldest first. Alarms need the
//! `alarms:read` scope on an API key, connection events `events:read`; a session or password
//! has both. Without `deviceId`, every device the caller may see; a named device the caller
//! may not see answers 404.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

use super::model::TraccarEvent;
use crate::services::access::{self, Actor, Scope};
use crate::storage::alarms::{self, AlarmFilter};
use crate::transport::http::{ApiError, AppState};

/// Most events one report returns (the oldest first).
pub const REPORT_MAX: usize = 50_000;

/// Rows read per query while collecting a report.
const PAGE: i64 = 1000;

/// `GET /api/reports/events`.
pub async fn report(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Actor,
) -> Result<HttpResponse, ApiError> {
    let q = super::query_pairs(&req);
    let to = super::time(&q, "to")?.unwrap_or_else(Utc::now);
    let from = super::time(&q, "from")?.unwrap_or(to - chrono::Duration::hours(24));
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from must be before to",
        ));
    }
    let types: Vec<&str> = q
        .iter()
        .filter(|(k, v)| k == "type" && v != "allEvents")
        .map(|(_, v)| v.as_str())
        .collect();
    // `None`: every device the caller may see.
    let named = super::ids(&q, "deviceId")?;
    let devices = if named.is_empty() {
        None
    } else {
        for &d in &named {
            access::visible_device(&state.db, &auth, d).await?;
        }
        Some(named)
    };
    let mut out = Vec::new();
    if auth.has_scope(Scope::AlarmsRead) {
        out.extend(alarm_events(&state, &auth, devices.as_deref(), from, to).await?);
    }
    if auth.has_scope(Scope::EventsRead) {
        let ids = match &devices {
            Some(d) => Some(d.clone()),
            None => access::visible_device_ids(&state.db, &auth).await?,
        };
        out.extend(connection_events(&state, ids.as_deref(), from, to).await?);
    }
    out.retain(|e| types.is_empty() || types.contains(&e.kind));
    out.sort_by_key(|e| (e.event_time, e.id));
    out.truncate(REPORT_MAX);
    Ok(HttpResponse::Ok().json(out))
}

/// Reads newest-first pages (`page(before)`, [`PAGE`] rows each) until one is short or
/// [`REPORT_MAX`] rows are in.
async fn paged<T>(
    mut page: impl AsyncFnMut(Option<i64>) -> Result<Vec<T>, ApiError>,
    id: impl Fn(&T) -> i64,
) -> Result<Vec<T>, ApiError> {
    let mut out = Vec::new();
    let mut before = None;
    while out.len() < REPORT_MAX {
        let rows = page(before).await?;
        before = rows.last().map(&id);
        let full = rows.len() as i64 == PAGE;
        out.extend(rows);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// The devices to report on, one query each (`None`: every device in one query).
fn each(devices: Option<&[i64]>) -> Vec<Option<i64>> {
    devices.map_or(vec![None], |d| d.iter().copied().map(Some).collect())
}

/// The alarms the caller may see that started in `[from, to)`, of `devices` (or all).
async fn alarm_events(
    state: &AppState,
    auth: &Actor,
    devices: Option<&[i64]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<TraccarEvent>, ApiError> {
    let mut out = Vec::new();
    for device_id in each(devices) {
        // Still open at `from` or later; those that started before `from` are left out below.
        let filter = AlarmFilter {
            device_id,
            from: Some(from),
            limit: PAGE,
            visible_to: access::alarm_visibility(auth),
            ..AlarmFilter::default()
        };
        let rows = paged(
            async |before| {
                let f = AlarmFilter {
                    before,
                    ..filter.clone()
                };
                Ok(alarms::list_alarms(&state.db, &f).await?)
            },
            |a| a.id,
        )
        .await?;
        out.extend(
            rows.iter()
                .filter(|a| a.first_time >= from && a.first_time < to)
                .map(TraccarEvent::alarm),
        );
    }
    Ok(out)
}

/// Connects and disconnects in `[from, to)` of `devices` (`None`: every device).
async fn connection_events(
    state: &AppState,
    devices: Option<&[i64]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<TraccarEvent>, ApiError> {
    let mut out = Vec::new();
    for device_id in each(devices) {
        let rows = paged(
            async |before| {
                Ok(state
                    .db
                    .events_between(device_id, from, to, before, PAGE)
                    .await?)
            },
            |e| e.id,
        )
        .await?;
        out.extend(rows.iter().filter_map(TraccarEvent::connection));
    }
    Ok(out)
}
