//! `GET /api/socket` (WebSocket): Traccar's live updates. On connect, `{"positions":[…]}` with
//! the latest position of every device the caller may see; then `{"positions":[p]}` for each
//! new fix (with `"devices":[d]` in the same message when the device's `status` changed since
//! the socket last showed it) and `{"events":[e]}` for each new alarm; `{}` as keep-alive
//! after [`KEEPALIVE`] of silence.
//!
//! Fed from the bus like `GET /api/v1/stream`, through the same pump and the same per-caller
//! rights ([`crate::transport::http::handlers::stream`]): what that stream would not send the
//! caller, this socket does not either.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::{self, Presented};
use super::model::{DeviceStatus, TraccarDevice, TraccarEvent};
use super::positions::traccar_position;
use crate::domain::{Device, PositionRow, StoredPosition};
use crate::services::access::{self, Actor, Scope};
use crate::services::bus::{AlarmAction, BusEvent};
use crate::transport::http::handlers::stream::{Pump, Rights, pump};
use crate::transport::http::{ApiError, AppState};

/// Silence after which `{}` is sent.
pub const KEEPALIVE: Duration = Duration::from_secs(30);

/// What the socket knows of a visible device: its row and the status it last showed.
struct Known {
    device: Device,
    status: DeviceStatus,
}

/// A bus event as Traccar's socket message, if it is one (new fixes and new alarms).
fn message(state: &AppState, known: &mut HashMap<i64, Known>, e: &BusEvent) -> Option<String> {
    match e {
        BusEvent::Position(p) => {
            let row = PositionRow::from_position(p.device_id, &p.fix, p.server_time);
            let k = known.get_mut(&p.device_id);
            let protocol = k.as_ref().and_then(|k| k.device.protocol.clone());
            let tp = traccar_position(state, &StoredPosition::unsaved(row), protocol);
            let mut m = json!({ "positions": [tp] });
            if let Some(k) = k {
                k.device.last_seen_at = Some(p.server_time);
                let online = state.sessions.is_online(&k.device.unique_id);
                if DeviceStatus::of(&k.device, online) != k.status {
                    k.status = DeviceStatus::of(&k.device, online);
                    let d = TraccarDevice::new(&k.device, online, None);
                    m["devices"] = json!([d]);
                }
            }
            Some(m.to_string())
        }
        BusEvent::Alarm {
            action: AlarmAction::Opened,
            alarm,
        } => Some(json!({ "events": [TraccarEvent::alarm(alarm)] }).to_string()),
        // An intercept request is police data with no Traccar event type.
        BusEvent::Alarm { .. } | BusEvent::Command(_) | BusEvent::Intercept { .. } => None,
    }
}

/// `GET /api/socket` (WebSocket upgrade; cookie, Bearer, Basic or `?token=`).
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let token = match auth::presented(&req, true)? {
        Some(Presented::Bearer(t) | Presented::Cookie(t) | Presented::Query(t)) => Some(t),
        Some(Presented::Basic(..)) | None => None,
    };
    let rights = Rights::load(&state.db, &actor).await?;
    // Subscribed before the snapshot is read: a fix in between is sent, not lost.
    let events = state.bus.subscribe();
    let devices = access::visible_devices(&state.db, &actor).await?;
    let mut initial = Vec::new();
    if actor.has_scope(Scope::PositionsRead) {
        for d in &devices {
            if let Some(p) = state.db.latest_position(d.id).await? {
                initial.push(traccar_position(&state, &p, d.protocol.clone()));
            }
        }
    }
    let mut known: HashMap<i64, Known> = devices
        .into_iter()
        .map(|device| {
            let online = state.sessions.is_online(&device.unique_id);
            let status = DeviceStatus::of(&device, online);
            (device.id, Known { device, status })
        })
        .collect();
    let (response, mut session, incoming) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request("not_websocket", e.to_string()))?;
    let db = state.db.clone();
    let first = json!({ "positions": initial }).to_string();
    actix_web::rt::spawn(async move {
        if session.text(first).await.is_err() {
            return;
        }
        let render = move |rights: &mut Rights, e: &BusEvent| {
            if !rights.admit(e) {
                return None;
            }
            message(&state, &mut known, e)
        };
        let p = Pump {
            lagged_notice: false,
            keepalive: Some((KEEPALIVE, "{}".to_owned())),
            ..Pump::new(session, incoming, events, db, actor, token, rights)
        };
        pump(p, render).await;
    });
    Ok(response)
}
