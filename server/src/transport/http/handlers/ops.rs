//! `GET /health` and `GET /metrics`.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::transport::http::AppState;

/// `GET /health`: 200 `{"status":"ok"}` or 503 `{"status":"degraded","reasons":{…}}`.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let mut report = state.health.report();
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            report.reasons.insert("database".into(), e.to_string());
        }
        Err(_) => {
            report
                .reasons
                .insert("database".into(), "no answer within 2 s".into());
        }
    }
    let ok = report.reasons.is_empty();
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "reasons": report.reasons,
        "sessions": state.sessions.len(),
        "queue_depth": state.batcher.queue_depth(),
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    metrics::gauge!("vigil_sessions").set(state.sessions.len() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
