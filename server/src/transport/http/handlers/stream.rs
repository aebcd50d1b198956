//! `GET /api/v1/stream`: a WebSocket of bus events (JSON text frames, `{"type": "position" |
//! "alarm" | "command", …}`), filtered by the caller's rights and optionally by `device_id`
//! and `unit_id`.
//!
//! Authentication: `Authorization: Bearer` or, for browsers (which cannot set headers on a
//! WebSocket), `?token=<session token or API key>`; checked before the upgrade (401 JSON).
//!
//! Rights (the same as the REST routes): administrators and dispatchers receive everything;
//! officers the alarms of their units and the positions and command updates of the vehicles
//! with an open alarm of their units (live pursuit); everyone the positions, alarms and command
//! updates of their own devices and of devices shared with them. An API key acts as its user
//! and needs `positions:read` for positions, `alarms:read` for alarms, `devices:read` for
//! command updates. The rights are re-read every [`REFRESH`] (new shares, unit changes) and
//! the credential re-checked: a logged-out session or revoked key ends the stream.
//!
//! Each client has its own bus subscription: a client that cannot keep up lags, receives
//! `{"type":"lagged","skipped":n}` and continues with current events; the pipeline never waits
//! for it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::services::access::{self, Actor, Scope};
use crate::services::bus::BusEvent;
use crate::storage::{Db, DbError};
use crate::transport::http::{ApiError, AppState};

/// How often a stream re-reads its caller's rights and re-checks the credential.
pub const REFRESH: Duration = Duration::from_secs(10);

/// Query of the stream.
#[derive(Debug, Default, Deserialize, Clone, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Only this device.
    pub device_id: Option<i64>,
    /// Only alarms routed to and positions pursued by this unit.
    pub unit_id: Option<i64>,
    /// The bearer token (session token or API key) when no `Authorization` header can be
    /// sent (browsers).
    pub token: Option<String>,
    /// Only these event types, comma-separated: `position`, `alarm`, `command` (default:
    /// all). An alarm console asks for `alarm` and is not queued behind the position traffic.
    pub types: Option<String>,
}

/// Which event types a stream carries.
#[derive(Debug, Clone, Copy)]
struct Types {
    position: bool,
    alarm: bool,
    command: bool,
}

impl Types {
    fn parse(list: Option<&str>) -> Result<Types, ApiError> {
        let Some(list) = list else {
            return Ok(Types {
                position: true,
                alarm: true,
                command: true,
            });
        };
        let mut t = Types {
            position: false,
            alarm: false,
            command: false,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "position" => t.position = true,
                "alarm" => t.alarm = true,
                "command" => t.command = true,
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_types",
                        format!("unknown event type {other:?}: use position, alarm or command"),
                    ));
                }
            }
        }
        if !(t.position || t.alarm || t.command) {
            return Err(ApiError::bad_request(
                "invalid_types",
                "types names no event type: use position, alarm or command",
            ));
        }
        Ok(t)
    }

    fn admits(&self, e: &BusEvent) -> bool {
        match e {
            BusEvent::Position(_) => self.position,
            BusEvent::Alarm { .. } | BusEvent::Intercept { .. } => self.alarm,
            BusEvent::Command(_) => self.command,
        }
    }
}

impl StreamQuery {
    fn passes(&self, e: &BusEvent) -> bool {
        let (device, unit) = match e {
            BusEvent::Position(p) => (Some(p.device_id), p.unit_id),
            BusEvent::Alarm { alarm, .. } => (Some(alarm.device_id), alarm.unit_id),
            BusEvent::Command(c) => (command_device(c), None),
            // For the checkpoint's unit and for the alarm's.
            BusEvent::Intercept {
                alarm, intercept, ..
            } => {
                return self.device_id.is_none_or(|d| alarm.device_id == d)
                    && self
                        .unit_id
                        .is_none_or(|u| intercept.unit_id == Some(u) || alarm.unit_id == Some(u));
            }
        };
        self.device_id.is_none_or(|d| device == Some(d))
            && self.unit_id.is_none_or(|u| unit == Some(u))
    }
}

/// The device of a command event (`{"command": {"device_id", …}}`).
pub fn command_device(v: &serde_json::Value) -> Option<i64> {
    v["command"]["device_id"].as_i64()
}

/// What one caller may receive; kept up to date from the alarm events it sees and a periodic
/// re-read of the database.
#[derive(Debug, Clone, Default)]
pub struct Rights {
    /// Administrators and dispatchers: everything.
    all: bool,
    /// Devices owned by or shared with the caller.
    devices: HashSet<i64>,
    /// The officer's patrol units.
    units: HashSet<i64>,
    /// Open alarms of the officer's units: alarm id → device (live pursuit).
    pursued: HashMap<i64, i64>,
    positions: bool,
    alarms: bool,
    commands: bool,
    /// Police linkage data (intercept requests): administrators, dispatchers and officers,
    /// an API key only with `linkage:read`.
    linkage: bool,
}

impl Rights {
    /// Reads the caller's rights.
    pub async fn load(db: &Db, actor: &Actor) -> Result<Rights, DbError> {
        let mut r = Rights {
            all: actor.sees_everything(),
            positions: actor.has_scope(Scope::PositionsRead),
            alarms: actor.has_scope(Scope::AlarmsRead),
            commands: actor.has_scope(Scope::DevicesRead),
            linkage: actor.has_scope(Scope::LinkageRead)
                && matches!(
                    actor.user.role,
                    crate::domain::Role::Admin
                        | crate::domain::Role::Dispatcher
                        | crate::domain::Role::Officer
                ),
            ..Rights::default()
        };
        if r.all {
            return Ok(r);
        }
        r.devices = crate::storage::access::owned_or_shared(db, actor.user.id)
            .await?
            .into_iter()
            .collect();
        r.units = access::officer_units(db, actor)
            .await?
            .into_iter()
            .collect();
        if !r.units.is_empty() {
            for a in crate::storage::alarms::unresolved_alarms(db).await? {
                if a.unit_id.is_some_and(|u| r.units.contains(&u)) {
                    r.pursued.insert(a.id, a.device_id);
                }
            }
        }
        Ok(r)
    }

    fn sees_device(&self, d: i64) -> bool {
        self.all || self.devices.contains(&d) || self.pursued.values().any(|&p| p == d)
    }

    /// Whether the event may go to this caller (alarm events also update the pursuit set, so
    /// they must be passed here in bus order).
    pub fn admit(&mut self, e: &BusEvent) -> bool {
        match e {
            BusEvent::Position(p) => self.positions && self.sees_device(p.device_id),
            BusEvent::Command(c) => {
                self.commands && command_device(c).is_some_and(|d| self.sees_device(d))
            }
            // The checkpoint's unit gets it even when the alarm is another unit's; owners and
            // sharees never (police data).
            BusEvent::Intercept {
                alarm, intercept, ..
            } => {
                self.alarms
                    && self.linkage
                    && (self.all
                        || intercept.unit_id.is_some_and(|u| self.units.contains(&u))
                        || alarm.unit_id.is_some_and(|u| self.units.contains(&u)))
            }
            BusEvent::Alarm { alarm, .. } => {
                let ours = alarm.unit_id.is_some_and(|u| self.units.contains(&u));
                // An alarm reassigned away from the unit is still shown once, so the officer
                // learns it left them.
                let was_ours =
                    if ours && alarm.status != crate::storage::alarms::AlarmStatus::Resolved {
                        self.pursued.insert(alarm.id, alarm.device_id).is_some()
                    } else {
                        self.pursued.remove(&alarm.id).is_some()
                    };
                self.alarms
                    && (self.all || ours || was_ours || self.devices.contains(&alarm.device_id))
            }
        }
    }
}

/// `GET /api/v1/stream?device_id&unit_id&token` (WebSocket upgrade). The route guard has
/// authenticated the caller; a `device_id` or `unit_id` the caller may not see answers 404
/// before the upgrade, as the REST routes do.
pub async fn stream(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    actor: Actor,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = q.into_inner();
    let types = Types::parse(filter.types.as_deref())?;
    if let Some(id) = filter.device_id {
        access::visible_device(&state.db, &actor, id).await?;
    }
    if let Some(u) = filter.unit_id
        && !actor.sees_everything()
        && !access::officer_units(&state.db, &actor).await?.contains(&u)
    {
        return Err(ApiError::not_found(format!("unit {u} not found")));
    }
    // The credential is re-checked every REFRESH: a logout or revocation ends the stream.
    let token = crate::transport::http::extractors::bearer(&req)
        .or_else(|| filter.token.clone())
        .unwrap_or_default();
    let rights = Rights::load(&state.db, &actor).await?;
    let (response, session, incoming) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request("not_websocket", e.to_string()))?;
    let events = state.bus.subscribe();
    let db = state.db.clone();
    let render = move |rights: &mut Rights, e: &BusEvent| {
        // Rights first: alarm events keep the pursuit set current.
        if !rights.admit(e) || !types.admits(e) || !filter.passes(e) {
            return None;
        }
        serde_json::to_string(e).ok()
    };
    let p = Pump::new(session, incoming, events, db, actor, Some(token), rights);
    actix_web::rt::spawn(pump(p, render));
    Ok(response)
}

/// A WebSocket fed from the bus ([`pump`]).
pub struct Pump {
    /// The socket's sending half.
    pub session: actix_ws::Session,
    /// What the client sends (pings, close).
    pub incoming: actix_ws::MessageStream,
    /// The socket's own bus subscription.
    pub events: tokio::sync::broadcast::Receiver<BusEvent>,
    /// Storage, to re-read the rights.
    pub db: Db,
    /// The caller.
    pub actor: Actor,
    /// The credential to re-check every [`REFRESH`] (`None`: a password sent with the
    /// upgrade request, which cannot be re-checked without it).
    pub token: Option<String>,
    /// The caller's rights now.
    pub rights: Rights,
    /// Whether a lagging client is told `{"type":"lagged","skipped":n}`.
    pub lagged_notice: bool,
    /// A text sent after this long without any (keep-alive).
    pub keepalive: Option<(Duration, String)>,
}

impl Pump {
    /// A pump as `GET /api/v1/stream` runs it: lagging clients are told, no keep-alive.
    pub fn new(
        session: actix_ws::Session,
        incoming: actix_ws::MessageStream,
        events: tokio::sync::broadcast::Receiver<BusEvent>,
        db: Db,
        actor: Actor,
        token: Option<String>,
        rights: Rights,
    ) -> Pump {
        Pump {
            session,
            incoming,
            events,
            db,
            actor,
            token,
            rights,
            lagged_notice: true,
            keepalive: None,
        }
    }
}

/// Sends each bus event that `render` turns into text (it admits the event with the rights
/// first), answers pings, re-reads the rights and re-checks the credential every
/// [`REFRESH`]: a logged-out session or revoked key ends the socket.
pub async fn pump(p: Pump, mut render: impl FnMut(&mut Rights, &BusEvent) -> Option<String>) {
    let Pump {
        mut session,
        mut incoming,
        mut events,
        db,
        actor,
        token,
        mut rights,
        lagged_notice,
        keepalive,
    } = p;
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.tick().await;
    let (idle, ping_text) = keepalive.unwrap_or((Duration::from_secs(86_400 * 365), String::new()));
    let mut ping = tokio::time::interval(idle);
    ping.tick().await;
    let mut close = None;
    loop {
        tokio::select! {
            e = events.recv() => {
                let text = match e {
                    Ok(e) => match render(&mut rights, &e) {
                        Some(t) => t,
                        None => continue,
                    },
                    Err(RecvError::Lagged(n)) => {
                        metrics::counter!("vigil_bus_lagged_total", "subscriber" => "websocket").increment(n);
                        // Skipped alarm events may have changed the pursuit set.
                        if let Ok(r) = Rights::load(&db, &actor).await {
                            rights = r;
                        }
                        if !lagged_notice {
                            continue;
                        }
                        format!("{{\"type\":\"lagged\",\"skipped\":{n}}}")
                    }
                    Err(RecvError::Closed) => break,
                };
                if session.text(text).await.is_err() {
                    return;
                }
                ping.reset();
            }
            _ = ping.tick() => {
                if session.text(ping_text.clone()).await.is_err() {
                    return;
                }
            }
            _ = refresh.tick() => {
                let current = match &token {
                    Some(t) => access::authenticate(&db, t).await,
                    None => Ok(actor.clone()),
                };
                match current {
                    Ok(a) => {
                        if let Ok(r) = Rights::load(&db, &a).await {
                            rights = r;
                        }
                    }
                    Err(access::AccessError::Unauthorized(_)) => {
                        close = Some(CloseReason {
                            code: CloseCode::Policy,
                            description: Some("credential expired or revoked".into()),
                        });
                        break;
                    }
                    // The database is unreachable: keep the rights we have.
                    Err(_) => {}
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
    let _ = session.close(close).await;
}
