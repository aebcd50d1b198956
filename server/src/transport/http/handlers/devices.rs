//! `/api/v1/devices`: create, list, get; latest position; positions in a time range.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use protocol::DeviceId;
use serde::{Deserialize, Serialize};

use crate::domain::{Device, NewDevice, StoredPosition};
use crate::services::access::{self, Actor};
use crate::storage::access as store;
use crate::transport::http::{ApiError, AppState};

/// A device with its live state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    /// Stored fields.
    #[serde(flatten)]
    pub device: Device,
    /// Whether it has an open connection now.
    pub online: bool,
}

fn view(state: &AppState, device: Device) -> DeviceView {
    let online = state.sessions.is_online(&device.unique_id);
    DeviceView { device, online }
}

/// Body of `POST /api/v1/devices`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    /// The identifier the device reports (IMEI, phone number…): 1 to 64 of `A-Z a-z 0-9 . _ : -`.
    #[schema(pattern = r"^\s*[A-Za-z0-9._:-]{1,64}\s*$")]
    pub unique_id: String,
    /// Display name (defaults to the unique id; at most 200 bytes).
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Protocol, if known (`gt06`, `jt808`, `h02`, `osmand`, `mqtt`).
    #[schema(pattern = "^(gt06|jt808|h02|osmand|mqtt)$")]
    pub protocol: Option<String>,
    /// Owning user.
    pub owner_id: Option<i64>,
}

/// `POST /api/v1/devices` (administrators).
pub async fn create(
    state: web::Data<AppState>,
    _admin: Actor,
    body: web::Json<CreateDevice>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(owner) = body.owner_id
        && store::user(&state.db, owner).await?.is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_owner_id",
            format!("owner_id: no user {owner}"),
        ));
    }
    let unique_id = DeviceId::parse(body.unique_id.trim())
        .map_err(|e| ApiError::bad_request("invalid_unique_id", e.to_string()))?;
    if let Some(p) = &body.protocol
        && !["gt06", "jt808", "h02", "osmand", "mqtt"].contains(&p.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_protocol",
            format!("unknown protocol {p:?}"),
        ));
    }
    let name = body.name.unwrap_or_else(|| unique_id.to_string());
    if name.len() > 200 {
        return Err(ApiError::bad_request("invalid_name", "name is too long"));
    }
    let device = state
        .db
        .create_device(&NewDevice {
            unique_id,
            name,
            protocol: body.protocol,
            claimed: true,
        })
        .await?;
    let device = match body.owner_id {
        Some(owner) => {
            store::set_owner(&state.db, device.id, Some(owner)).await?;
            Device {
                owner_id: Some(owner),
                ..device
            }
        }
        None => device,
    };
    Ok(HttpResponse::Created().json(view(&state, device)))
}

/// Answer of `GET /api/v1/devices`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceList {
    /// The page.
    pub devices: Vec<DeviceView>,
    /// Pass as `after` for the next page (null: last page).
    pub next_after: Option<i64>,
}

/// Paging of `GET /api/v1/devices`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Return devices with id greater than this (the previous page's `next_after`).
    pub after: Option<i64>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/devices`: `{devices, next_after}`, only the devices the caller may see.
pub async fn list(
    state: web::Data<AppState>,
    auth: Actor,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::transport::http::page_limit(q.limit)?;
    let after = q.after.unwrap_or(0);
    let devices = match access::visible_device_ids(&state.db, &auth).await? {
        None => state.db.list_devices(after, limit).await?,
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids.into_iter().filter(|&i| i > after).take(limit as usize) {
                if let Some(d) = state.db.device(id).await? {
                    out.push(d);
                }
            }
            out
        }
    };
    let next = crate::transport::http::next_cursor(&devices, limit, |d| d.id);
    let devices: Vec<_> = devices.into_iter().map(|d| view(&state, d)).collect();
    Ok(HttpResponse::Ok().json(DeviceList {
        devices,
        next_after: next,
    }))
}

/// Loads a device the caller may see (404 otherwise: ids cannot be probed).
async fn load(state: &AppState, auth: &Actor, id: i64) -> Result<Device, ApiError> {
    Ok(access::visible_device(&state.db, auth, id).await?)
}

/// `GET /api/v1/devices/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let device = load(&state, &auth, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&state, device)))
}

/// `GET /api/v1/devices/{id}/positions/latest`.
pub async fn latest_position(
    state: web::Data<AppState>,
    auth: Actor,
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PositionsQuery {
    /// Start (inclusive), ISO-8601 UTC; default `to` minus 24 hours.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), ISO-8601 UTC; default now.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this fix time (the previous page's `next_after`).
    pub after: Option<DateTime<Utc>>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Answer of `GET /api/v1/devices/{id}/positions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PositionPage {
    /// The page, oldest first.
    pub positions: Vec<StoredPosition>,
    /// Pass as `after` for the next page (null: last page).
    pub next_after: Option<DateTime<Utc>>,
}

/// `GET /api/v1/devices/{id}/positions?from&to&after&limit`: `{positions, next_after}`,
/// oldest first.
pub async fn positions(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    q: web::Query<PositionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let device = load(&state, &auth, id.into_inner()).await?;
    let limit = crate::transport::http::page_limit(q.limit)?;
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
    let next = crate::transport::http::next_cursor(&positions, limit, |p| p.fix_time);
    Ok(HttpResponse::Ok().json(PositionPage {
        positions,
        next_after: next,
    }))
}

/// Answer of `POST /api/v1/devices/{id}/mqtt-token`: how the device logs in to the broker.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MqttCredentials {
    /// MQTT user name (the device's unique id).
    pub username: String,
    /// MQTT client id (the device's unique id).
    pub client_id: String,
    /// The new password (shown only here).
    pub password: String,
    /// Where the device publishes positions.
    pub topic: String,
}

/// `POST /api/v1/devices/{id}/mqtt-token` (owner or administrator): issues a new MQTT password for
/// the device (username and client id = its unique id); the old one stops working.
pub async fn new_mqtt_token(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let device = access::managed_device(&state.db, &auth, id.into_inner()).await?;
    let token = crate::services::auth::random_hex(16)?;
    state.db.set_mqtt_token(device.id, Some(&token)).await?;
    Ok(HttpResponse::Created().json(MqttCredentials {
        topic: crate::domain::topics::position_topic(device.unique_id.as_str()),
        username: device.unique_id.to_string(),
        client_id: device.unique_id.to_string(),
        password: token,
    }))
}

/// Body of `PUT /api/v1/devices/{id}/owner`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOwner {
    /// The new owner (`null`: none).
    pub owner_id: Option<i64>,
}

/// `PUT /api/v1/devices/{id}/owner` (administrators).
pub async fn set_owner(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<SetOwner>,
) -> Result<HttpResponse, ApiError> {
    let device = load(&state, &auth, id.into_inner()).await?;
    if let Some(owner) = body.owner_id
        && store::user(&state.db, owner).await?.is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_owner_id",
            format!("owner_id: no user {owner}"),
        ));
    }
    store::set_owner(&state.db, device.id, body.owner_id).await?;
    let device = Device {
        owner_id: body.owner_id,
        ..device
    };
    Ok(HttpResponse::Ok().json(view(&state, device)))
}

/// Answer of `GET /api/v1/devices/{id}/shares`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareList {
    /// Users the device is shared with (read-only).
    pub user_ids: Vec<i64>,
}

/// Answer of `POST /api/v1/devices/{id}/shares`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Share {
    /// The device.
    pub device_id: i64,
    /// The user who may now see it.
    pub user_id: i64,
}

/// `GET /api/v1/devices/{id}/shares` (owner or administrator): `{user_ids}`.
pub async fn shares(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let device = access::managed_device(&state.db, &auth, id.into_inner()).await?;
    let users = store::shares_of(&state.db, device.id).await?;
    Ok(HttpResponse::Ok().json(ShareList { user_ids: users }))
}

/// Body of `POST /api/v1/devices/{id}/shares`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    /// The user who may then see the device (read-only).
    pub user_id: i64,
}

/// `POST /api/v1/devices/{id}/shares` (owner or administrator): share read-only.
pub async fn share(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<ShareBody>,
) -> Result<HttpResponse, ApiError> {
    let device = access::managed_device(&state.db, &auth, id.into_inner()).await?;
    if store::user(&state.db, body.user_id).await?.is_none() {
        return Err(ApiError::bad_request(
            "invalid_user_id",
            format!("user_id: no user {}", body.user_id),
        ));
    }
    store::share(&state.db, device.id, body.user_id).await?;
    Ok(HttpResponse::Created().json(Share {
        device_id: device.id,
        user_id: body.user_id,
    }))
}

/// `DELETE /api/v1/devices/{id}/shares/{user_id}` (owner or administrator).
pub async fn unshare(
    state: web::Data<AppState>,
    auth: Actor,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user) = path.into_inner();
    let device = access::managed_device(&state.db, &auth, id).await?;
    store::unshare(&state.db, device.id, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The latest fix of one device (`GET /api/v1/positions/latest`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LivePosition {
    /// The device.
    pub device_id: i64,
    /// Its latest fix.
    pub position: StoredPosition,
}

/// Answer of `GET /api/v1/positions/latest`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LivePositions {
    /// One entry per visible device that has a fix.
    pub positions: Vec<LivePosition>,
}

/// `GET /api/v1/positions/latest`: live tracking, the latest fix of every device the caller
/// may see, `{positions: [{device_id, position}]}` (devices without a fix are left out).
pub async fn live(state: web::Data<AppState>, auth: Actor) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for device in access::visible_devices(&state.db, &auth).await? {
        if let Some(p) = state.db.latest_position(device.id).await? {
            out.push(LivePosition {
                device_id: device.id,
                position: p,
            });
        }
    }
    Ok(HttpResponse::Ok().json(LivePositions { positions: out }))
}
