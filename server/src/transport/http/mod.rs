//! The HTTP API (actix-web, JSON): `/api/v1/...`, the Traccar-compatible `/api/...`
//! ([`traccar`]), `/health`, `/metrics`.
//!
//! Every `/api/v1` route is listed once in [`routes::ROUTES`] with who may call it; the
//! handlers enforce it through [`crate::services::access`], and the permission-matrix test and the
//! OpenAPI document are generated from the same table.

pub mod error;
pub mod extractors;
pub mod handlers;
pub mod openapi;
pub mod osmand;
pub mod routes;
pub mod static_files;
pub mod traccar;

use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpServer, web};
use metrics_exporter_prometheus::PrometheusHandle;

pub use error::ApiError;

use crate::services::batcher::PositionBatcher;
use crate::services::device_sessions::DeviceSessions;
use crate::services::health::Health;
use crate::storage::Db;

/// A running HTTP server (the API's or OsmAnd's): awaiting it serves until it stops.
pub type Server = actix_web::dev::Server;

/// What the HTTP layer needs of the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Directory of the built web app (`index.html` + `assets/`); empty = found beside the
    /// binary or the source tree ([`static_files::resolve_dir`]).
    pub web_dir: String,
    /// Map tile URL template for the web app; empty = no tiles.
    pub tile_url: String,
    /// Attribution shown under the map tiles.
    pub tile_attribution: String,
    /// The `cut_power` speed interlock, shown by the web app beside the button.
    pub cut_power_max_speed_kmh: f64,
    /// Lifetime of a login session.
    pub session_ttl: chrono::Duration,
    /// The datum the map tiles are drawn in (the web app converts what it draws).
    pub tile_crs: static_files::TileCrs,
}

/// Everything a handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Storage.
    pub db: Db,
    /// Health reasons.
    pub health: Health,
    /// Live device sessions.
    pub sessions: DeviceSessions,
    /// Position writer (queue depth).
    pub batcher: PositionBatcher,
    /// What the HTTP layer itself needs of the settings.
    pub config: Arc<HttpConfig>,
    /// Prometheus renderer.
    pub metrics: PrometheusHandle,
    /// Login throttle (shared with the MQTT broker's authentication).
    pub login_throttle: crate::services::access::LoginThrottle,
    /// Bounded password hashing.
    pub passwords: crate::services::auth::Passwords,
    /// Device commands.
    pub commands: crate::services::commands::CommandQueue,
    /// Internal event bus.
    pub bus: crate::services::bus::Bus,
    /// The alarm stage.
    pub alarms: crate::services::alarms::AlarmEngine,
    /// Fences and jurisdictions.
    pub fences: Arc<crate::services::fences::FenceStore>,
    /// Webhook subscribers.
    pub webhooks: crate::services::webhooks::Webhooks,
    /// Web Push subscriptions and sender.
    pub push: crate::services::push::Push,
    /// Cameras, checkpoints, cameras passed, checkpoints ahead, intercepts.
    pub linkage: crate::services::linkage::Linkage,
}

/// Registers every route (used by the server and usable in `actix_web::test`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(256 * 1024)
            .error_handler(|e, _| ApiError::bad_request("invalid_json", e.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::bad_request("invalid_query", e.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::not_found(format!("no such resource: {e}")).into()),
    )
    .route("/health", web::get().to(handlers::ops::health))
    .route("/metrics", web::get().to(handlers::ops::metrics))
    .route(
        "/config.json",
        web::get().to(|state: web::Data<AppState>| async move {
            crate::transport::http::static_files::config_json(
                &state.config,
                state.push.public_key(),
            )
        }),
    )
    .service(openapi::swagger_ui())
    .service(routes::register(web::scope("/api/v1"), routes::Surface::V1))
    .service(routes::register(
        web::scope("/api"),
        routes::Surface::Traccar,
    ))
    .default_service(web::to(fallback));
}

/// The page size of a list request: `limit`, 1..=1000, default 100; 400 `invalid_limit` else.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit.unwrap_or(100) {
        l @ 1..=1000 => Ok(l),
        _ => Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        )),
    }
}

/// The cursor of the next page of a list: the key of the last item when the page is full
/// (`limit` items), `None` on the last page.
pub(crate) fn next_cursor<T, K>(items: &[T], limit: i64, key: impl Fn(&T) -> K) -> Option<K> {
    if items.len() as i64 == limit {
        items.last().map(key)
    } else {
        None
    }
}

async fn method_not_allowed(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

/// Anything no route matched: the web app for GET/HEAD outside the API, else a JSON 404.
async fn fallback(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let path = req.path();
    let api =
        path == "/api" || path.starts_with("/api/") || path == "/health" || path == "/metrics";
    let read = matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    );
    if !api && read {
        return Ok(crate::transport::http::static_files::serve(&req, &state.config).await);
    }
    not_found(req).await
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Builds the HTTP server on an already-bound listener. Signals are left to the caller
/// (`disable_signals`); stop it through its handle.
pub fn http_server(
    listener: std::net::TcpListener,
    state: AppState,
    workers: usize,
) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let mut server =
        HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
            .disable_signals()
            .shutdown_timeout(5);
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}
