//! `/api/v1/alarms` (list/filter, one alarm with its lifecycle, ack/assign/resolve) and
//! arming: `/api/v1/devices/{id}/arm`, `/disarm`, `/guard`, `/speed-limit`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Role;
use crate::domain::alarms::AlarmStep;
use crate::domain::alarms::{AlarmView, Guard};
use crate::services::access::{self, Actor};
use crate::services::bus::{AlarmAction, BusEvent};
use crate::storage::alarms;
use crate::storage::{guards, units};
use crate::transport::http::{ApiError, AppState};

const OUTCOMES: [&str; 5] = [
    "false_alarm",
    "recovered",
    "not_found",
    "duplicate",
    "other",
];

/// Filters of `GET /api/v1/alarms`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open`, `acknowledged`, `assigned`, `resolved`.
    #[param(pattern = "^(open|acknowledged|assigned|resolved)$")]
    pub status: Option<String>,
    /// Alarm kind (`theft`, `vibration`, …); an unknown kind is a 400.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Patrol unit.
    pub unit_id: Option<i64>,
    /// Device.
    pub device_id: Option<i64>,
    /// Latest occurrence at or after (ISO-8601 UTC).
    pub from: Option<DateTime<Utc>>,
    /// Latest occurrence before.
    pub to: Option<DateTime<Utc>>,
    /// Page: ids below this (the previous page's `next_before`).
    pub before: Option<i64>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Answer of `GET /api/v1/alarms`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlarmList {
    /// The page, newest first.
    pub alarms: Vec<AlarmView>,
    /// Pass as `before` for the next page (null: last page).
    pub next_before: Option<i64>,
}

/// The vehicle owner's contact, for those who handle an alarm.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OwnerContact {
    /// Display name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// Answer of `GET /api/v1/alarms/{alarm_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlarmDetail {
    /// The alarm.
    pub alarm: AlarmView,
    /// Its lifecycle steps, oldest first.
    pub actions: Vec<AlarmStep>,
    /// Only for administrators, dispatchers and officers: the owner's contact (null: the
    /// vehicle has no owner). Absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<OwnerContact>)]
    pub owner: Option<Option<OwnerContact>>,
}

/// `GET /api/v1/devices/{id}/guard` of a device never armed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NeverArmed {
    /// Device row id.
    pub device_id: i64,
    /// Always false.
    pub armed: bool,
}

/// Answer of `GET /api/v1/devices/{id}/guard`: the stored guard state, or `{device_id, armed:
/// false}` for a device that was never armed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum GuardState {
    /// Stored state.
    Stored(Guard),
    /// Never armed.
    Never(NeverArmed),
}

/// `GET /api/v1/alarms`: `{alarms, next_before}`, newest first, only what the caller may see
/// (administrators and dispatchers: all; officers: their units'; everyone: their own and
/// shared devices').
pub async fn list(
    state: web::Data<AppState>,
    auth: Actor,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(alarms::AlarmStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_status",
                format!(
                    "status must be one of {:?}",
                    alarms::AlarmStatus::ALL.map(|a| a.as_str())
                ),
            )
        })?),
    };
    let kind = match q.kind.as_deref() {
        None => None,
        // An unknown kind would only ever match nothing (and text the database refuses would
        // reach it): refused here, with the `invalid_value` code the database refusal had.
        Some(k) => Some(alarms::AlarmKind::parse(k).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_value",
                format!(
                    "type must be one of {:?}",
                    alarms::AlarmKind::ALL.map(|k| k.as_str())
                ),
            )
        })?),
    };
    let limit = crate::transport::http::page_limit(q.limit)?;
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f >= t
    {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from must be before to",
        ));
    }
    let alarms = alarms::list_alarms(
        &state.db,
        &alarms::AlarmFilter {
            status,
            kind,
            unit_id: q.unit_id,
            device_id: q.device_id,
            from: q.from,
            to: q.to,
            before: q.before,
            limit,
            visible_to: access::alarm_visibility(&auth),
        },
    )
    .await?;
    let next = crate::transport::http::next_cursor(&alarms, limit, |a| a.id);
    Ok(HttpResponse::Ok().json(AlarmList {
        alarms,
        next_before: next,
    }))
}

/// `GET /api/v1/alarms/{id}`: the alarm, its lifecycle steps and, for those who handle
/// alarms (administrators, dispatchers, officers), the vehicle owner's contact
/// (`owner: {name, phone}`, null without an owner). Invisible alarm: 404.
pub async fn get(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let alarm = access::visible_alarm(&state.db, &auth, id.into_inner()).await?;
    let actions = alarms::actions(&state.db, alarm.id).await?;
    let mut body = AlarmDetail {
        alarm,
        actions,
        owner: None,
    };
    if matches!(
        auth.user.role,
        Role::Admin | Role::Dispatcher | Role::Officer
    ) {
        let owner = match state
            .db
            .device(body.alarm.device_id)
            .await?
            .and_then(|d| d.owner_id)
        {
            Some(o) => crate::storage::access::profile(&state.db, o).await?,
            None => None,
        };
        body.owner = Some(owner.map(|p| OwnerContact {
            name: p.display_name,
            phone: p.phone,
        }));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// One lifecycle step on an alarm the caller handles (404 invisible, 403 read-only).
async fn step(
    state: &AppState,
    auth: &Actor,
    id: i64,
    status: alarms::AlarmStatus,
    unit_id: Option<i64>,
    outcome: Option<&str>,
    action: AlarmAction,
) -> Result<HttpResponse, ApiError> {
    let current = access::handled_alarm(&state.db, auth, id).await?;
    if current.status == alarms::AlarmStatus::Resolved {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "conflict",
            "alarm is already resolved",
        ));
    }
    let alarm = alarms::transition(&state.db, id, status, Some(auth.user.id), unit_id, outcome)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::CONFLICT,
                "conflict",
                "alarm is already resolved",
            )
        })?;
    state.alarms.alarm_changed(alarm.clone()).await;
    state.bus.publish(BusEvent::Alarm {
        action,
        alarm: alarm.clone(),
    });
    Ok(HttpResponse::Ok().json(alarm))
}

/// `POST /api/v1/alarms/{id}/ack`.
pub async fn ack(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let current = access::handled_alarm(&state.db, &auth, id).await?;
    // Acknowledging an assigned alarm keeps it assigned.
    let status = if current.status == alarms::AlarmStatus::Assigned {
        alarms::AlarmStatus::Assigned
    } else {
        alarms::AlarmStatus::Acknowledged
    };
    step(
        &state,
        &auth,
        id,
        status,
        None,
        None,
        AlarmAction::Acknowledged,
    )
    .await
}

/// Body of `POST /api/v1/alarms/{id}/assign`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The patrol unit.
    pub unit_id: i64,
}

/// `POST /api/v1/alarms/{id}/assign` `{unit_id}`.
pub async fn assign(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Authorise before validating the unit, so the answer does not reveal the alarm.
    access::handled_alarm(&state.db, &auth, id).await?;
    let unit = body.unit_id;
    if !units::units(&state.db).await?.iter().any(|u| u.id == unit) {
        return Err(ApiError::bad_request(
            "invalid_unit",
            format!("no patrol unit {unit}"),
        ));
    }
    step(
        &state,
        &auth,
        id,
        alarms::AlarmStatus::Assigned,
        Some(unit),
        None,
        AlarmAction::Assigned,
    )
    .await
}

/// Body of `POST /api/v1/alarms/{id}/resolve`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `false_alarm`, `recovered`, `not_found`, `duplicate`, `other`.
    #[schema(pattern = "^(false_alarm|recovered|not_found|duplicate|other)$")]
    pub outcome: String,
}

/// `POST /api/v1/alarms/{id}/resolve` `{outcome}`.
pub async fn resolve(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<ResolveBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    access::handled_alarm(&state.db, &auth, id).await?;
    if !OUTCOMES.contains(&body.outcome.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_outcome",
            format!("outcome must be one of {OUTCOMES:?}"),
        ));
    }
    step(
        &state,
        &auth,
        id,
        alarms::AlarmStatus::Resolved,
        None,
        Some(&body.outcome),
        AlarmAction::Resolved,
    )
    .await
}

/// Body of `POST /api/v1/devices/{id}/arm` (all optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmBody {
    /// Armed position; default the device's latest fix.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Armed position; default the device's latest fix.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
}

/// `POST /api/v1/devices/{id}/arm`: arms anti-theft at the given or latest position (owner
/// or administrator).
pub async fn arm(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let dev = access::managed_device(&state.db, &auth, id.into_inner()).await?;
    // The body is optional, but a body that is there must parse: `Option<Json<_>>` would read
    // `{"lat": "x"}` as no body and arm at the latest fix instead of answering 400.
    let body: ArmBody = if body.iter().all(u8::is_ascii_whitespace) {
        ArmBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("body: {e} (lat and lon are numbers in degrees)"),
            )
        })?
    };
    let at = match (body.lat, body.lon) {
        (Some(lat), Some(lon)) => {
            protocol::LatLon::new(lat, lon)
                .map_err(|e| ApiError::bad_request("invalid_position", e.to_string()))?;
            (lat, lon)
        }
        (None, None) => match state.db.latest_position(dev.id).await? {
            Some(p) => (p.lat, p.lon),
            None => {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::CONFLICT,
                    "no_position",
                    "the device has no position yet; give lat and lon",
                ));
            }
        },
        _ => {
            return Err(ApiError::bad_request(
                "invalid_position",
                "give both lat and lon, or neither",
            ));
        }
    };
    let guard = guards::set_guard(&state.db, dev.id, true, Some(at), Some(auth.user.id)).await?;
    state.alarms.guard_changed(guard).await;
    Ok(HttpResponse::Ok().json(guard))
}

/// `POST /api/v1/devices/{id}/disarm` (owner or administrator).
pub async fn disarm(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let dev = access::managed_device(&state.db, &auth, id.into_inner()).await?;
    let guard = guards::set_guard(&state.db, dev.id, false, None, Some(auth.user.id)).await?;
    state.alarms.guard_changed(guard).await;
    Ok(HttpResponse::Ok().json(guard))
}

/// `GET /api/v1/devices/{id}/guard`: armed state and overspeed limit (whoever sees the device).
pub async fn guard(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let dev = access::visible_device(&state.db, &auth, id.into_inner()).await?;
    match guards::guard(&state.db, dev.id).await? {
        Some(g) => Ok(HttpResponse::Ok().json(GuardState::Stored(g))),
        None => Ok(HttpResponse::Ok().json(GuardState::Never(NeverArmed {
            device_id: dev.id,
            armed: false,
        }))),
    }
}

/// Body of `PUT /api/v1/devices/{id}/speed-limit`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeedLimitBody {
    /// km/h, in (0, 1000]; null removes the limit.
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    pub limit_kmh: Option<f64>,
}

/// `PUT /api/v1/devices/{id}/speed-limit` `{limit_kmh}` (owner or administrator).
pub async fn speed_limit(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<SpeedLimitBody>,
) -> Result<HttpResponse, ApiError> {
    let dev = access::managed_device(&state.db, &auth, id.into_inner()).await?;
    if body
        .limit_kmh
        .is_some_and(|l| !l.is_finite() || l <= 0.0 || l > 1000.0)
    {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit_kmh must be in (0, 1000]",
        ));
    }
    guards::set_speed_limit(&state.db, dev.id, body.limit_kmh).await?;
    if let Some(g) = guards::guard(&state.db, dev.id).await? {
        state.alarms.guard_changed(g).await;
    }
    Ok(HttpResponse::NoContent().finish())
}
