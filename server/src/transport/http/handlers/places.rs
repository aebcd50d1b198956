//! `/api/v1/cameras` and `/api/v1/checkpoints`: lists (paged by id, filtered by unit and
//! bounding box, only what the caller sees), one, create/update/delete and imports
//! (`POST …/import`: a GeoJSON FeatureCollection or a CSV file; `crs=wgs84|gcj02|bd09`;
//! upsert by code, all or nothing, a bad row answers 400 naming its line or feature and
//! field).

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::domain::engine::crs::Crs;
use crate::domain::linkage::{Camera, Checkpoint};
use crate::domain::linkage_import::Format;
use crate::services::access::{self, Actor};
use crate::services::linkage::places::PlaceFilter;
use crate::transport::http::{ApiError, AppState};

/// Largest import body (20,000 cameras as GeoJSON are about 6 MB).
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// Filters of the camera and checkpoint lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlaceQuery {
    /// Only those of this patrol unit.
    pub unit_id: Option<i64>,
    /// `min_lon,min_lat,max_lon,max_lat` (WGS-84).
    pub bbox: Option<String>,
    /// Ids above this (the previous page's `next_after`).
    pub after: Option<i64>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

impl PlaceQuery {
    fn filter(&self) -> Result<PlaceFilter, ApiError> {
        let limit = crate::transport::http::page_limit(self.limit)?;
        let bbox = match &self.bbox {
            None => None,
            Some(b) => {
                let v: Vec<f64> = b
                    .split(',')
                    .map(|x| x.trim().parse::<f64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bbox_error())?;
                match v[..] {
                    [a, b, c, d] if v.iter().all(|x| x.is_finite()) && a <= c && b <= d => {
                        Some([a, b, c, d])
                    }
                    _ => return Err(bbox_error()),
                }
            }
        };
        Ok(PlaceFilter {
            unit_id: self.unit_id,
            bbox,
            after: self.after,
            limit: limit as usize,
        })
    }
}

fn bbox_error() -> ApiError {
    ApiError::bad_request(
        "invalid_bbox",
        "bbox must be min_lon,min_lat,max_lon,max_lat",
    )
}

/// Answer of `GET /api/v1/cameras`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CameraList {
    /// The page, by id.
    pub cameras: Vec<Camera>,
    /// Pass as `after` for the next page (null: last page).
    pub next_after: Option<i64>,
}

/// Answer of `GET /api/v1/checkpoints`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointList {
    /// The page, by id.
    pub checkpoints: Vec<Checkpoint>,
    /// Pass as `after` for the next page (null: last page).
    pub next_after: Option<i64>,
}

/// Query of the imports.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `csv` or `geojson`; default from the Content-Type (`text/csv` → CSV, else GeoJSON).
    #[param(pattern = "^(csv|geojson)$")]
    pub format: Option<String>,
    /// Coordinate system of the file: `wgs84` (default), `gcj02`, `bd09`; stored as WGS-84.
    #[param(pattern = "^(wgs84|gcj02|bd09)$")]
    pub crs: Option<String>,
}

impl ImportQuery {
    fn parse(&self, req: &HttpRequest) -> Result<(Format, Crs), ApiError> {
        let format = match self.format.as_deref() {
            Some("csv") => Format::Csv,
            Some("geojson") => Format::GeoJson,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_format",
                    "format must be csv or geojson",
                ));
            }
            None => {
                let ct = req
                    .headers()
                    .get(actix_web::http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if ct.starts_with("text/csv") {
                    Format::Csv
                } else {
                    Format::GeoJson
                }
            }
        };
        let crs = match self.crs.as_deref() {
            None => Crs::Wgs84,
            Some(c) => c.parse::<Crs>().map_err(|_| {
                ApiError::bad_request("invalid_crs", "crs must be wgs84, gcj02 or bd09")
            })?,
        };
        Ok((format, crs))
    }
}

/// Reads a request body up to [`MAX_IMPORT_BYTES`].
async fn read_body(mut body: web::Payload) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if out.len() + chunk.len() > MAX_IMPORT_BYTES {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("an import is at most {MAX_IMPORT_BYTES} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `GET /api/v1/cameras?unit_id&bbox&after&limit`.
pub async fn list_cameras(
    state: web::Data<AppState>,
    auth: Actor,
    q: web::Query<PlaceQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter()?;
    let vis = access::linkage_visibility(&state.db, &auth).await?;
    let cameras = state.linkage.list_cameras(&vis, &f);
    let next_after = crate::transport::http::next_cursor(&cameras, f.limit as i64, |c| c.id);
    Ok(HttpResponse::Ok().json(CameraList {
        cameras,
        next_after,
    }))
}

/// `GET /api/v1/cameras/{id}`.
pub async fn get_camera(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let vis = access::linkage_visibility(&state.db, &auth).await?;
    Ok(HttpResponse::Ok().json(state.linkage.camera(&vis, id.into_inner())?))
}

/// `POST /api/v1/cameras` (administrators).
pub async fn create_camera(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(state.linkage.create_camera(&body).await?))
}

/// `PUT /api/v1/cameras/{id}` (administrators): replaces every value.
pub async fn update_camera(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.linkage.update_camera(id.into_inner(), &body).await?))
}

/// `DELETE /api/v1/cameras/{id}` (administrators).
pub async fn delete_camera(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.linkage.delete_camera(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/cameras/import?format&crs` (administrators).
pub async fn import_cameras(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (format, crs) = q.parse(&req)?;
    let bytes = read_body(body).await?;
    let report = state.linkage.import_cameras(&bytes, format, crs).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /api/v1/checkpoints?unit_id&bbox&after&limit`.
pub async fn list_checkpoints(
    state: web::Data<AppState>,
    auth: Actor,
    q: web::Query<PlaceQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter()?;
    let vis = access::linkage_visibility(&state.db, &auth).await?;
    let checkpoints = state.linkage.list_checkpoints(&vis, &f);
    let next_after = crate::transport::http::next_cursor(&checkpoints, f.limit as i64, |c| c.id);
    Ok(HttpResponse::Ok().json(CheckpointList {
        checkpoints,
        next_after,
    }))
}

/// `GET /api/v1/checkpoints/{id}`.
pub async fn get_checkpoint(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let vis = access::linkage_visibility(&state.db, &auth).await?;
    Ok(HttpResponse::Ok().json(state.linkage.checkpoint(&vis, id.into_inner())?))
}

/// `POST /api/v1/checkpoints` (administrators).
pub async fn create_checkpoint(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(state.linkage.create_checkpoint(&body).await?))
}

/// `PUT /api/v1/checkpoints/{id}` (administrators): replaces every value.
pub async fn update_checkpoint(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .linkage
            .update_checkpoint(id.into_inner(), &body)
            .await?,
    ))
}

/// `DELETE /api/v1/checkpoints/{id}` (administrators).
pub async fn delete_checkpoint(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.linkage.delete_checkpoint(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/checkpoints/import?format&crs` (administrators).
pub async fn import_checkpoints(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (format, crs) = q.parse(&req)?;
    let bytes = read_body(body).await?;
    let report = state
        .linkage
        .import_checkpoints(&bytes, format, crs)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
