//! `GET /api/server`: Traccar's server information, for clients that check the server (Home
//! Assistant validates its credentials with it).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::services::access::Actor;
use crate::transport::http::{ApiError, AppState};

/// The Traccar API version this subset follows.
pub const TRACCAR_VERSION: &str = "6.0";

/// Traccar's `Server`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TraccarServer)]
pub struct TraccarServer {
    /// Always 1.
    pub id: i64,
    /// Always false (administrators create accounts).
    pub registration: bool,
    /// Always false.
    pub readonly: bool,
    /// Always true (administrators create devices).
    pub device_readonly: bool,
    /// Always false.
    pub limit_commands: bool,
    /// Always null.
    pub map: Option<String>,
    /// Always null.
    pub bing_key: Option<String>,
    /// The tile URL template the web app uses (null: none).
    pub map_url: Option<String>,
    /// Always null.
    pub poi_layer: Option<String>,
    /// Always 0.
    pub latitude: f64,
    /// Always 0.
    pub longitude: f64,
    /// Always 0.
    pub zoom: i64,
    /// Always false.
    pub twelve_hour_format: bool,
    /// The Traccar API version this subset follows.
    pub version: &'static str,
    /// Always false.
    pub force_settings: bool,
    /// Always null.
    pub coordinate_format: Option<String>,
    /// Always false.
    pub open_id_enabled: bool,
    /// Always false.
    pub open_id_force: bool,
    /// `vigilVersion`: the server's own version.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// `GET /api/server`.
pub async fn get(state: web::Data<AppState>, _auth: Actor) -> Result<HttpResponse, ApiError> {
    let mut attributes = Map::new();
    attributes.insert("vigilVersion".into(), env!("CARGO_PKG_VERSION").into());
    let tiles = &state.config.tile_url;
    Ok(HttpResponse::Ok().json(TraccarServer {
        id: 1,
        registration: false,
        readonly: false,
        device_readonly: true,
        limit_commands: false,
        map: None,
        bing_key: None,
        map_url: (!tiles.is_empty()).then(|| tiles.clone()),
        poi_layer: None,
        latitude: 0.0,
        longitude: 0.0,
        zoom: 0,
        twelve_hour_format: false,
        version: TRACCAR_VERSION,
        force_settings: false,
        coordinate_format: None,
        open_id_enabled: false,
        open_id_force: false,
        attributes,
    }))
}
