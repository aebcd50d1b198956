//! `GET /api/v1/events`: server events (connect, disconnect, unknown device…), newest first.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::domain::DeviceEvent;
use crate::services::access::{self, Actor};
use crate::transport::http::{ApiError, AppState};

/// Filters and paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events of this device (row id).
    pub device_id: Option<i64>,
    /// Events with id below this (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Answer of `GET /api/v1/events`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    /// The page, newest first.
    pub events: Vec<DeviceEvent>,
    /// Pass as `before` for the next page (null: last page).
    pub next_before: Option<i64>,
}

/// `GET /api/v1/events`: `{events, next_before}`. Administrators and dispatchers see every
/// event; others must name a `device_id` they may see (404 otherwise).
pub async fn list(
    state: web::Data<AppState>,
    auth: Actor,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    match q.device_id {
        Some(id) => {
            access::visible_device(&state.db, &auth, id).await?;
        }
        None if auth.sees_everything() => {}
        None => {
            return Err(ApiError::bad_request(
                "device_id_required",
                "device_id: required unless you are an administrator or dispatcher",
            ));
        }
    }
    let limit = crate::transport::http::page_limit(q.limit)?;
    let events = state.db.events(q.device_id, q.before, limit).await?;
    let next = crate::transport::http::next_cursor(&events, limit, |e| e.id);
    Ok(HttpResponse::Ok().json(EventList {
        events,
        next_before: next,
    }))
}
