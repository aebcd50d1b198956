//! `GET /api/v1/stream`: a WebSocket of bus events (JSON text frames, `{"type": "position" |
//! "alarm" | "command", …}`), optionally filtered by `device_id` and `unit_id`.
//!
//! Each client has its own bus subscription: a client that cannot keep up lags, receives
//! `{"type":"lagged","skipped":n}` and continues with current events; the pipeline never waits
//! for it. Permission filtering (which devices a user may see) is the access layer's job:
//! today only users passing [`crate::alarms::can_manage`] may connect.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::Message;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::api::alarms::require_manage;
use crate::api::auth::AuthUser;
use crate::api::{ApiError, AppState};
use crate::bus::BusEvent;

/// Filters of the stream.
#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Only this device.
    pub device_id: Option<i64>,
    /// Only alarms routed to and positions pursued by this unit.
    pub unit_id: Option<i64>,
}

impl StreamQuery {
    fn passes(&self, e: &BusEvent) -> bool {
        let (device, unit) = match e {
            BusEvent::Position(p) => (Some(p.device_id), p.unit_id),
            BusEvent::Alarm { alarm, .. } => (Some(alarm.device_id), alarm.unit_id),
            BusEvent::Command(_) => (None, None),
        };
        self.device_id.is_none_or(|d| device == Some(d))
            && self.unit_id.is_none_or(|u| unit == Some(u))
    }
}

/// Registers the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stream", web::get().to(stream));
}

/// `GET /api/v1/stream?device_id&unit_id` (WebSocket upgrade).
pub async fn stream(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    auth: AuthUser,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    require_manage(&auth)?;
    let filter = q.into_inner();
    let (response, mut session, mut incoming) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request("not_websocket", e.to_string()))?;
    let mut events = state.bus.subscribe();
    actix_web::rt::spawn(async move {
        loop {
            tokio::select! {
                e = events.recv() => {
                    let text = match e {
                        Ok(e) if filter.passes(&e) => serde_json::to_string(&e).unwrap_or_default(),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(n)) => {
                            metrics::counter!("vigil_bus_lagged_total", "subscriber" => "websocket").increment(n);
                            format!("{{\"type\":\"lagged\",\"skipped\":{n}}}")
                        }
                        Err(RecvError::Closed) => break,
                    };
                    if session.text(text).await.is_err() {
                        return;
                    }
                }
                m = incoming.recv() => match m {
                    Some(Ok(Message::Ping(b))) => {
                        if session.pong(&b).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                }
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}
