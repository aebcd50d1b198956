//! `GET /api/devices` (`?id=`, `?uniqueId=`, repeatable): the devices the caller may see as
//! Traccar's `Device`s. A named device the caller may not see is left out, as a missing one.

use actix_web::{HttpRequest, HttpResponse, web};

use super::model::TraccarDevice;
use crate::domain::Device;
use crate::services::access::{self, Actor};
use crate::transport::http::{ApiError, AppState};

/// A device as Traccar shows it: its connection state and latest position id.
pub async fn traccar_device(state: &AppState, device: &Device) -> Result<TraccarDevice, ApiError> {
    let online = state.sessions.is_online(&device.unique_id);
    let position = state.db.latest_position(device.id).await?;
    Ok(TraccarDevice::new(device, online, position.map(|p| p.id)))
}

/// `GET /api/devices`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Actor,
) -> Result<HttpResponse, ApiError> {
    let q = super::query_pairs(&req);
    let ids = super::ids(&q, "id")?;
    let unique: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "uniqueId")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut out = Vec::new();
    for d in access::visible_devices(&state.db, &auth).await? {
        let named = ids.contains(&d.id) || unique.contains(&d.unique_id.as_str());
        if (ids.is_empty() && unique.is_empty()) || named {
            out.push(traccar_device(&state, &d).await?);
        }
    }
    Ok(HttpResponse::Ok().json(out))
}
