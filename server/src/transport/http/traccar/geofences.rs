//! `GET /api/geofences`: the fences the caller may see (the same as `GET /api/v1/fences`),
//! areas as Traccar's WKT, latitude first ([`super::model::wkt`]).

use actix_web::{HttpResponse, web};

use super::model::TraccarGeofence;
use crate::services::access::Actor;
use crate::transport::http::handlers::fences::visible_fences;
use crate::transport::http::{ApiError, AppState};

/// `GET /api/geofences`.
pub async fn list(state: web::Data<AppState>, auth: Actor) -> Result<HttpResponse, ApiError> {
    let visible = visible_fences(&state, &auth).await?;
    let index = state.fences.snapshot();
    let mut out: Vec<TraccarGeofence> = index
        .iter()
        .filter(|f| visible.as_ref().is_none_or(|v| v.contains(&f.id)))
        .map(TraccarGeofence::new)
        .collect();
    out.sort_by_key(|g| g.id);
    Ok(HttpResponse::Ok().json(out))
}
