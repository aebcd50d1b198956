//! `/api/v1/units`: patrol units (one may be the default for alarms outside every
//! jurisdiction).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::alarms::require_manage;
use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::alarms::store;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/units")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    );
}

/// Body of `POST /api/v1/units`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUnit {
    /// Name (unique).
    pub name: String,
    /// Receives alarms outside every jurisdiction.
    #[serde(default)]
    pub default: bool,
}

/// `POST /api/v1/units`.
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<CreateUnit>,
) -> Result<HttpResponse, ApiError> {
    require_manage(&auth)?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name must be 1..=200 bytes",
        ));
    }
    let unit = store::create_unit(&state.db, name, body.default).await?;
    Ok(HttpResponse::Created().json(unit))
}

/// `GET /api/v1/units`: `{units}`.
pub async fn list(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    require_manage(&auth)?;
    let units = store::units(&state.db).await?;
    Ok(HttpResponse::Ok().json(json!({ "units": units })))
}
