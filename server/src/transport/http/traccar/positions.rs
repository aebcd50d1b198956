//! `GET /api/positions`: the latest position of every device the caller may see; with
//! `deviceId` (repeatable) that device's latest, or its history with `from` and `to`; with
//! `id` (repeatable) those positions. Speeds are knots, attributes Traccar's names
//! ([`super::model::TraccarPosition`]).

use actix_web::{HttpRequest, HttpResponse, web};

use super::model::TraccarPosition;
use crate::domain::StoredPosition;
use crate::services::access::{self, Actor};
use crate::transport::http::{ApiError, AppState};

/// Most positions one history request returns (Traccar has no paging; the oldest come first).
pub const HISTORY_MAX: usize = 50_000;

/// A position as Traccar shows it, with the assigned fences it is inside.
pub fn traccar_position(
    state: &AppState,
    p: &StoredPosition,
    protocol: Option<String>,
) -> TraccarPosition {
    let assigned: Vec<_> = state.fences.assigned(p.device_id).into_iter().collect();
    let mut inside: Vec<i64> = if assigned.is_empty() {
        Vec::new()
    } else {
        state
            .fences
            .snapshot()
            .query_among(p.lon, p.lat, &assigned)
            .iter()
            .map(|f| f.id.0 as i64)
            .collect()
    };
    inside.sort_unstable();
    TraccarPosition::new(p, protocol, inside)
}

/// `GET /api/positions`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Actor,
) -> Result<HttpResponse, ApiError> {
    let q = super::query_pairs(&req);
    let position_ids = super::ids(&q, "id")?;
    let device_ids = super::ids(&q, "deviceId")?;
    let (from, to) = (super::time(&q, "from")?, super::time(&q, "to")?);
    let mut out = Vec::new();
    if !position_ids.is_empty() {
        // A position of a device the caller may not see is left out, as a missing one.
        for id in position_ids {
            if let Some(p) = state.db.position(id).await?
                && let Ok(d) = access::visible_device(&state.db, &auth, p.device_id).await
            {
                out.push(traccar_position(&state, &p, d.protocol));
            }
        }
        return Ok(HttpResponse::Ok().json(out));
    }
    if device_ids.is_empty() {
        if from.is_some() || to.is_some() {
            return Err(ApiError::bad_request(
                "invalid_query",
                "deviceId: required with from and to",
            ));
        }
        for d in access::visible_devices(&state.db, &auth).await? {
            if let Some(p) = state.db.latest_position(d.id).await? {
                out.push(traccar_position(&state, &p, d.protocol.clone()));
            }
        }
        return Ok(HttpResponse::Ok().json(out));
    }
    let range = match (from, to) {
        (Some(f), Some(t)) if f < t => Some((f, t)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_range",
                "from must be before to",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "from and to: give both or neither",
            ));
        }
    };
    for id in device_ids {
        let d = access::visible_device(&state.db, &auth, id).await?;
        let Some((from, to)) = range else {
            if let Some(p) = state.db.latest_position(d.id).await? {
                out.push(traccar_position(&state, &p, d.protocol.clone()));
            }
            continue;
        };
        let mut after = None;
        while out.len() < HISTORY_MAX {
            let page = state.db.positions(d.id, from, to, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.fix_time);
            let full = page.len() == 1000;
            out.extend(
                page.iter()
                    .map(|p| traccar_position(&state, p, d.protocol.clone())),
            );
            if !full {
                break;
            }
        }
    }
    out.truncate(HISTORY_MAX);
    Ok(HttpResponse::Ok().json(out))
}
