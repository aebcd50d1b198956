//! `/api/v1/devices`: create, list, get; latest position; positions in a time range.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use protocol::DeviceId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::db::{Device, NewDevice};

/// A device with its live state.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    /// Stored fields.
    #[serde(flatten)]
    pub device: Device,
    /// Whether it has an open connection now.
    pub online: bool,
}

fn view(state: &AppState, device: Device) -> DeviceView {
    let online = DeviceId::parse(&device.unique_id)
        .map(|id| state.registry.is_online(&id))
        .unwrap_or(false);
    DeviceView { device, online }
}

/// Body of `POST /api/v1/devices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    /// The identifier the device reports (IMEI, phone number…).
    pub unique_id: String,
    /// Display name (defaults to the unique id).
    pub name: Option<String>,
    /// Protocol, if known (`gt06`, `jt808`, `h02`, `osmand`, `mqtt`).
    pub protocol: Option<String>,
}

/// `POST /api/v1/devices` (administrators).
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<CreateDevice>,
) -> Result<HttpResponse, ApiError> {
    auth.require_admin()?;
    let body = body.into_inner();
    let id = DeviceId::parse(body.unique_id.trim())
        .map_err(|e| ApiError::bad_request("invalid_unique_id", e.to_string()))?;
    if let Some(p) = &body.protocol
        && !["gt06", "jt808", "h02", "osmand", "mqtt"].contains(&p.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_protocol",
            format!("unknown protocol {p:?}"),
        ));
    }
    let name = body.name.unwrap_or_else(|| id.to_string());
    if name.len() > 200 {
        return Err(ApiError::bad_request("invalid_name", "name is too long"));
    }
    let device = state
        .db
        .create_device(&NewDevice {
            unique_id: id.to_string(),
            name,
            protocol: body.protocol,
            claimed: true,
        })
        .await?;
    Ok(HttpResponse::Created().json(view(&state, device)))
}

/// Paging of `GET /api/v1/devices`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Return devices with id greater than this (the previous page's `next_after`).
    pub after: Option<i64>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<i64>,
}

fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l.unwrap_or(100) {
        l @ 1..=1000 => Ok(l),
        _ => Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        )),
    }
}

/// `GET /api/v1/devices`: `{devices, next_after}`.
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require_admin()?;
    let limit = limit(q.limit)?;
    let devices = state.db.list_devices(q.after.unwrap_or(0), limit).await?;
    let next = (devices.len() as i64 == limit)
        .then(|| devices.last().map(|d| d.id))
        .flatten();
    let devices: Vec<_> = devices.into_iter().map(|d| view(&state, d)).collect();
    Ok(HttpResponse::Ok().json(json!({ "devices": devices, "next_after": next })))
}

/// Loads a device the caller may see. Owners and shares come with a later issue; until then
/// only administrators see devices (checked first, so others cannot probe which ids exist).
async fn load(state: &AppState, auth: &AuthUser, id: i64) -> Result<Device, ApiError> {
    auth.require_admin()?;
    state
        .db
        .device(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("device {id} not found")))
}

/// `GET /api/v1/devices/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let device = load(&state, &auth, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&state, device)))
}

/// `GET /api/v1/devices/{id}/positions/latest`.
pub async fn latest_position(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let device = load(&state, &auth, id.into_inner()).await?;
    match state.db.latest_position(device.id).await? {
        Some(p) => Ok(HttpResponse::Ok().json(p)),
        None => Err(ApiError::not_found(format!(
            "device {} has no position yet",
            device.id
        ))),
    }
}

/// Range and paging of `GET /api/v1/devices/{id}/positions`.
#[derive(Debug, Deserialize)]
pub struct PositionsQuery {
    /// Start (inclusive), ISO-8601 UTC; default `to` minus 24 hours.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), ISO-8601 UTC; default now.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this fix time (the previous page's `next_after`).
    pub after: Option<DateTime<Utc>>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<i64>,
}

/// `GET /api/v1/devices/{id}/positions?from&to&after&limit`: `{positions, next_after}`,
/// oldest first.
pub async fn positions(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    q: web::Query<PositionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let device = load(&state, &auth, id.into_inner()).await?;
    let limit = limit(q.limit)?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::hours(24));
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from must be before to",
        ));
    }
    let positions = state
        .db
        .positions(device.id, from, to, q.after, limit)
        .await?;
    let next = (positions.len() as i64 == limit)
        .then(|| positions.last().map(|p| p.fix_time))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "positions": positions, "next_after": next })))
}

/// `POST /api/v1/devices/{id}/mqtt-token` (administrators): issues a new MQTT password for
/// the device (username and client id = its unique id); the old one stops working.
pub async fn new_mqtt_token(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let device = load(&state, &auth, id.into_inner()).await?;
    let token = crate::auth::random_hex(16)?;
    state.db.set_mqtt_token(device.id, Some(&token)).await?;
    Ok(HttpResponse::Created().json(json!({
        "username": device.unique_id,
        "client_id": device.unique_id,
        "password": token,
        "topic": crate::mqtt::position_topic(&device.unique_id),
    })))
}
