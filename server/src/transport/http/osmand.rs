//! The OsmAnd HTTP listener (phone tracking apps, Traccar Client): every request is one report
//! or one JSON batch, answered `200` only after its positions are committed.

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use protocol::Protocol;
use protocol::osmand::{OsmandConfig, parse_request};

use crate::services::ingest::{Ingest, IngestError, Outcome, Source};

/// What the OsmAnd handler needs.
#[derive(Debug, Clone)]
pub struct OsmandState {
    /// The ingest sequence (device, touch, fix times, storage, alarm stage).
    pub ingest: Ingest,
    /// Parser limits.
    pub config: OsmandConfig,
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
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            return HttpResponse::build(status).body(e.to_string());
        }
    };
    metrics::counter!("vigil_frames_total", "protocol" => P).increment(1);
    let from = Source {
        protocol: Protocol::Osmand,
        peer: req.peer_addr(),
    };
    // Fixes dated outside the window still get a 200: an app that got an error would retry
    // the same report forever.
    match state
        .ingest
        .report(from, &report.device, report.message)
        .await
    {
        // Answer only once stored: the app keeps the report and retries otherwise.
        Ok(Outcome::Submitted(receipt)) => match receipt.committed().await {
            Ok(()) => HttpResponse::Ok().finish(),
            Err(_) => HttpResponse::ServiceUnavailable().body("shutting down"),
        },
        Ok(Outcome::Nothing) => HttpResponse::Ok().finish(),
        Err(IngestError::UnknownDevice) => {
            let status = StatusCode::from_u16(report.shape.unknown_device_status())
                .unwrap_or(StatusCode::BAD_REQUEST);
            HttpResponse::build(status).body("unknown device")
        }
        Err(IngestError::WriterGone) => HttpResponse::ServiceUnavailable().body("shutting down"),
        Err(IngestError::Storage(_)) => {
            HttpResponse::ServiceUnavailable().body("database unavailable")
        }
    }
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
