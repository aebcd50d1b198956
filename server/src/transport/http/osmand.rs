//! The OsmAnd HTTP listener (phone tracking apps, Traccar Client): every request is one report
//! or one JSON batch, answered `200` only after its positions are committed.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use protocol::osmand::{OsmandConfig, parse_request};
use protocol::{DeviceMessage, FixTimeWindow, Protocol};
use serde_json::json;

use crate::app::settings::UnknownDevicePolicy;
use crate::domain::{NewEvent, PositionRow};
use crate::services::batcher::PositionBatcher;
use crate::storage::Db;

/// What the OsmAnd handler needs.
#[derive(Debug, Clone)]
pub struct OsmandState {
    /// Storage.
    pub db: Db,
    /// Position writer.
    pub batcher: PositionBatcher,
    /// The alarm stage (positions go through it like the gateway's).
    pub alarms: Option<crate::services::alarms::AlarmEngine>,
    /// Unknown devices: register or reject.
    pub unknown_devices: UnknownDevicePolicy,
    /// Parser limits.
    pub config: OsmandConfig,
    /// Fixes dated outside it are answered 200 but not stored (see [`crate::ingest`]).
    pub fix_window: FixTimeWindow,
    /// `last_seen_at` writes, at most one a minute per device.
    pub touches: crate::services::ingest::DeviceTouches,
}

const P: &str = "osmand";

async fn report(state: web::Data<OsmandState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let uri = req.uri().to_string();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let now = Utc::now();
    let report = match parse_request(
        req.method().as_str(),
        &uri,
        content_type,
        &body,
        now,
        &state.config,
    ) {
        Ok(r) => r,
        Err(e) => {
            metrics::counter!("vigil_decode_errors_total", "protocol" => P, "kind" => e.kind())
                .increment(1);
            let status = actix_web::http::StatusCode::from_u16(e.http_status())
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
            return HttpResponse::build(status).body(e.to_string());
        }
    };
    metrics::counter!("vigil_frames_total", "protocol" => P).increment(1);
    let uid = report.device.as_str();
    let device = match state.db.device_by_unique_id(uid).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            let reject = state.unknown_devices == UnknownDevicePolicy::Reject;
            let event = NewEvent {
                kind: "unknown_device",
                unique_id: Some(uid.to_owned()),
                protocol: Some(P),
                peer: req.peer_addr().map(|a| a.to_string()),
                detail: json!({ "action": if reject { "rejected" } else { "registered" } }),
                ..NewEvent::default()
            };
            if reject {
                let _ = state.db.insert_event(&event).await;
                let status =
                    actix_web::http::StatusCode::from_u16(report.shape.unknown_device_status())
                        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
                return HttpResponse::build(status).body("unknown device");
            }
            match state.db.register_device(uid, P).await {
                Ok((d, created)) => {
                    if created {
                        let _ = state
                            .db
                            .insert_event(&NewEvent {
                                device_id: Some(d.id),
                                ..event
                            })
                            .await;
                    }
                    d
                }
                Err(e) => {
                    tracing::warn!(error = %e, "osmand: device registration failed");
                    return HttpResponse::ServiceUnavailable().body("database unavailable");
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "osmand: device lookup failed");
            return HttpResponse::ServiceUnavailable().body("database unavailable");
        }
    };
    let mut positions = match report.message {
        DeviceMessage::Position(p) => vec![p],
        DeviceMessage::Batch(ps) => ps,
        _ => Vec::new(),
    };
    if state.touches.due(device.id, std::time::Instant::now()) {
        let _ = state.db.touch_device(device.id, P, now).await;
    }
    let rejected = crate::services::ingest::screen(&state.fix_window, &mut positions, now);
    if !rejected.is_empty() {
        // Still a 200 below: an app that got an error would retry the same report forever.
        crate::services::ingest::record_rejected(
            &state.db,
            Protocol::Osmand,
            (device.id, device.unique_id.as_str()),
            req.peer_addr().map(|a| a.to_string()),
            now,
            &rejected,
        )
        .await;
    }
    if !positions.is_empty() {
        let rows = positions
            .iter()
            .map(|p| PositionRow::from_position(device.id, p, now))
            .collect();
        // Answer only once stored: the app keeps the report and retries otherwise.
        if state.batcher.store(rows).await.is_err() {
            return HttpResponse::ServiceUnavailable().body("shutting down");
        }
        if let Some(alarms) = &state.alarms {
            alarms
                .observe(device.id, &device.unique_id, positions)
                .await;
        }
    }
    HttpResponse::Ok().finish()
}

/// Builds the OsmAnd HTTP server on an already-bound listener (signals left to the caller).
pub fn server(
    listener: std::net::TcpListener,
    state: OsmandState,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let limit = state.config.max_body_bytes;
    let data = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(limit + 1))
            .default_service(web::to(report))
    })
    .disable_signals()
    .shutdown_timeout(5);
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}
