//! `/api/v1/fences`: geofences as GeoJSON (in and out), jurisdictions of patrol units, and
//! assignment of fences to devices.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::services::access::{self, Actor};
use crate::services::fences::FenceStoreError;
use crate::storage::units;
use crate::transport::http::{ApiError, AppState};

impl From<FenceStoreError> for ApiError {
    fn from(e: FenceStoreError) -> Self {
        match e {
            FenceStoreError::Invalid(e) => ApiError::bad_request("invalid_fence", e.to_string()),
            FenceStoreError::Db(e) => e.into(),
        }
    }
}

/// The fence ids the caller may see, `None` for all: administrators and dispatchers all;
/// officers the jurisdictions of their units; everyone the fences assigned to the devices
/// they may see.
pub(crate) async fn visible_fences(
    state: &AppState,
    auth: &Actor,
) -> Result<Option<std::collections::HashSet<geofence::FenceId>>, ApiError> {
    let Some(devices) = access::visible_device_ids(&state.db, auth).await? else {
        return Ok(None);
    };
    let mut ids = std::collections::HashSet::new();
    for d in devices {
        ids.extend(state.fences.assigned(d));
    }
    let units = access::officer_units(&state.db, auth).await?;
    if !units.is_empty() {
        for f in state.fences.snapshot().iter() {
            if state.fences.owner(f.id).is_some_and(|u| units.contains(&u)) {
                ids.insert(f.id);
            }
        }
    }
    Ok(Some(ids))
}

/// `GET /api/v1/fences`: a GeoJSON FeatureCollection (`unit_id` in the properties of
/// jurisdictions) of the fences the caller may see.
pub async fn list(state: web::Data<AppState>, auth: Actor) -> Result<HttpResponse, ApiError> {
    let visible = visible_fences(&state, &auth).await?;
    let index = state.fences.snapshot();
    let mut fences: Vec<_> = index
        .iter()
        .filter(|f| visible.as_ref().is_none_or(|v| v.contains(&f.id)))
        .collect();
    fences.sort_by_key(|f| f.id);
    let text = geofence::fences_to_geojson(fences.iter().copied());
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(ApiError::internal)?;
    if let Some(features) = value["features"].as_array_mut() {
        for f in features {
            let owner = f["id"]
                .as_u64()
                .and_then(|id| state.fences.owner(geofence::FenceId(id)));
            if let (Some(u), Some(props)) = (owner, f["properties"].as_object_mut()) {
                props.insert("unit_id".into(), u.into());
            }
        }
    }
    Ok(HttpResponse::Ok().json(value))
}

/// Checks the `unit_id` of a fence body: an existing unit, only on jurisdictions.
async fn fence_unit(
    state: &AppState,
    feature: &serde_json::Value,
) -> Result<Option<i64>, ApiError> {
    let unit_id = feature["properties"]["unit_id"].as_i64();
    if let Some(u) = unit_id
        && !units::units(&state.db).await?.iter().any(|x| x.id == u)
    {
        return Err(ApiError::bad_request(
            "invalid_unit",
            format!("no patrol unit {u}"),
        ));
    }
    if unit_id.is_some() && feature["properties"]["kind"] != "jurisdiction" {
        return Err(ApiError::bad_request(
            "invalid_fence",
            "unit_id is only for fences of kind jurisdiction",
        ));
    }
    Ok(unit_id)
}

/// The stored Feature as the API shows it (`unit_id` in the properties of jurisdictions).
fn feature_json(
    fence: &geofence::Fence,
    unit_id: Option<i64>,
) -> Result<serde_json::Value, ApiError> {
    let mut out: serde_json::Value =
        serde_json::from_str(&geofence::fences_to_geojson([fence])).map_err(ApiError::internal)?;
    let mut one = out["features"][0].take();
    if let (Some(u), Some(props)) = (unit_id, one["properties"].as_object_mut()) {
        props.insert("unit_id".into(), u.into());
    }
    Ok(one)
}

/// `POST /api/v1/fences`: one GeoJSON Feature (properties `kind`, `name`, and `unit_id` for a
/// jurisdiction). The server assigns the id; returns the stored Feature. Administrators.
pub async fn create(
    state: web::Data<AppState>,
    _admin: Actor,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let feature = body.into_inner();
    let unit_id = fence_unit(&state, &feature).await?;
    let fence = state.fences.create(&state.db, &feature, unit_id).await?;
    Ok(HttpResponse::Created().json(feature_json(&fence, unit_id)?))
}

/// `PUT /api/v1/fences/{fence_id}`: replaces a fence (shape, kind, name, jurisdiction unit)
/// with the given GeoJSON Feature, keeping its id and device assignments. Administrators.
pub async fn update(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let feature = body.into_inner();
    let unit_id = fence_unit(&state, &feature).await?;
    match state
        .fences
        .update(&state.db, id, &feature, unit_id)
        .await?
    {
        Some(fence) => Ok(HttpResponse::Ok().json(feature_json(&fence, unit_id)?)),
        None => Err(ApiError::not_found(format!("fence {id} not found"))),
    }
}

/// `DELETE /api/v1/fences/{id}` (administrators).
pub async fn delete(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if state.fences.delete(&state.db, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("fence {id} not found")))
    }
}

/// Body of `POST /api/v1/devices/{id}/fences`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignFence {
    /// The fence.
    pub fence_id: i64,
}

/// `POST /api/v1/devices/{id}/fences` `{fence_id}`: the device's fixes are tracked against it
/// (administrators).
pub async fn assign(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
    body: web::Json<AssignFence>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if state.db.device(id).await?.is_none() {
        return Err(ApiError::not_found(format!("device {id} not found")));
    }
    if state
        .fences
        .snapshot()
        .get(geofence::FenceId(body.fence_id as u64))
        .is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_fence",
            format!("no fence {}", body.fence_id),
        ));
    }
    state.fences.assign(&state.db, id, body.fence_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
