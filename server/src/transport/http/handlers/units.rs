//! `/api/v1/units`: patrol units (one may be the default for alarms outside every
//! jurisdiction). Any session lists the units it belongs to (all for administrators and
//! dispatchers), each with its jurisdictions as GeoJSON; administrators create, edit and
//! delete them.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::units::PatrolUnit;
use crate::services::access::Actor;
use crate::storage::units;
use crate::transport::http::{ApiError, AppState};

/// Body of `POST /api/v1/units`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUnit {
    /// Name (unique, 1..=200 bytes).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Receives alarms outside every jurisdiction.
    #[serde(default)]
    pub default: bool,
}

fn valid_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name must be 1..=200 bytes",
        ));
    }
    Ok(name)
}

/// `POST /api/v1/units` (administrators).
pub async fn create(
    state: web::Data<AppState>,
    _admin: Actor,
    body: web::Json<CreateUnit>,
) -> Result<HttpResponse, ApiError> {
    let name = valid_name(&body.name)?;
    let unit = units::create_unit(&state.db, name, body.default).await?;
    Ok(HttpResponse::Created().json(unit))
}

/// The jurisdictions of a unit as a GeoJSON FeatureCollection.
fn jurisdictions(state: &AppState, unit_id: i64) -> Result<Value, ApiError> {
    let index = state.fences.snapshot();
    let mut fences: Vec<_> = index
        .iter()
        .filter(|f| state.fences.owner(f.id) == Some(unit_id))
        .collect();
    fences.sort_by_key(|f| f.id);
    serde_json::from_str(&geofence::fences_to_geojson(fences.iter().copied()))
        .map_err(ApiError::internal)
}

/// A patrol unit with its jurisdictions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitView {
    /// The unit.
    #[serde(flatten)]
    pub unit: PatrolUnit,
    /// Its jurisdiction fences, a GeoJSON FeatureCollection.
    #[schema(value_type = crate::transport::http::openapi::FeatureCollection)]
    pub jurisdictions: Value,
}

/// Answer of `GET /api/v1/units`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitList {
    /// The units the caller may see.
    pub units: Vec<UnitView>,
}

/// `GET /api/v1/units`: `{units}`, each with `jurisdictions` (GeoJSON FeatureCollection).
/// Administrators and dispatchers see every unit, others the units they belong to.
pub async fn list(state: web::Data<AppState>, auth: Actor) -> Result<HttpResponse, ApiError> {
    let mine = if auth.sees_everything() {
        None
    } else {
        Some(crate::storage::access::units_of(&state.db, auth.user.id).await?)
    };
    let mut out = Vec::new();
    for u in units::units(&state.db).await? {
        if mine.as_ref().is_some_and(|m| !m.contains(&u.id)) {
            continue;
        }
        let jurisdictions = jurisdictions(&state, u.id)?;
        out.push(UnitView {
            unit: u,
            jurisdictions,
        });
    }
    Ok(HttpResponse::Ok().json(UnitList { units: out }))
}

/// Body of `PUT /api/v1/units/{unit_id}` (each field optional).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUnit {
    /// New name (unique).
    pub name: Option<String>,
    /// Make it (or stop it being) the default unit.
    pub default: Option<bool>,
}

/// `PUT /api/v1/units/{unit_id}` (administrators): the updated unit.
pub async fn update(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
    body: web::Json<UpdateUnit>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let name = body.name.as_deref().map(valid_name).transpose()?;
    match units::update_unit(&state.db, id, name, body.default).await? {
        Some(u) => Ok(HttpResponse::Ok().json(u)),
        None => Err(ApiError::not_found(format!("unit {id} not found"))),
    }
}

/// `DELETE /api/v1/units/{unit_id}` (administrators). Its alarms and jurisdiction fences stay,
/// without a unit; its officers lose the membership.
pub async fn delete(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if units::delete_unit(&state.db, id).await? {
        state.fences.unit_deleted(id);
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("unit {id} not found")))
    }
}
