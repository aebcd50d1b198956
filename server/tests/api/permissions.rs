//! The permission matrix: every route of `api::table::ROUTES` × every kind of caller. Allowed
//! callers get 2xx; everyone else 401 (no credentials), 403 or 404 — and 404 whenever the
//! caller may not see the device at all (no probing of ids). A route without a fixture here
//! fails the test, so a new route cannot be forgotten. Alarm routes likewise: 404 for callers
//! who may not see the alarm (a second owner, an officer of another unit).

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use vigil_server::domain::{PositionRow, Role, User};
use vigil_server::services::access::{self, Scope};
use vigil_server::storage::access as store;
use vigil_server::storage::alarms as alarm_store;
use vigil_server::storage::units as unit_store;
use vigil_server::transport::http::routes::{Access, Method, ROUTES, RouteSpec, key_admits};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, position, spawn_app};

both_backends!(permission_matrix);

/// Every kind of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Admin,
    Dispatcher,
    /// Member of unit 1, which has an open alarm on the device (live pursuit).
    Officer,
    /// Member of unit 2: no alarm of theirs on the device.
    Officer2,
    /// Owns the device.
    Owner,
    /// A second owner, no rights on the device.
    Owner2,
    /// The device is shared read-only with them.
    Sharee,
    /// API key with every scope; the device is shared with its user.
    Integrator,
    /// API key without scopes; the device is shared with its user.
    IntegratorNoScope,
    /// An administrator's API key with exactly this one scope: it may do what the scope
    /// allows and nothing else, however powerful its user.
    AdminKey(Scope),
}

fn callers() -> Vec<Caller> {
    let mut c = vec![
        Caller::Anonymous,
        Caller::Admin,
        Caller::Dispatcher,
        Caller::Officer,
        Caller::Officer2,
        Caller::Owner,
        Caller::Owner2,
        Caller::Sharee,
        Caller::Integrator,
        Caller::IntegratorNoScope,
    ];
    c.extend(Scope::ALL.map(Caller::AdminKey));
    c
}

/// The scopes of the integrator's full key: everything a non-administrator may hold.
fn integrator_scopes() -> Vec<Scope> {
    Scope::ALL
        .into_iter()
        .filter(|s| !s.is_administrative())
        .collect()
}

/// The scopes of the caller's API key (`None`: a login session).
fn key_scopes(c: Caller) -> Option<Vec<Scope>> {
    match c {
        Caller::Integrator => Some(integrator_scopes()),
        Caller::IntegratorNoScope => Some(Vec::new()),
        Caller::AdminKey(s) => Some(vec![s]),
        _ => None,
    }
}

/// Whether the caller is a key its route's key rule refuses (403 before anything is loaded).
fn key_refused(r: &RouteSpec, c: Caller) -> bool {
    key_scopes(c).is_some_and(|scopes| !key_admits(r, &scopes))
}

struct Fixture {
    admin: User,
    dispatcher: User,
    officer: User,
    officer2: User,
    owner: User,
    owner2: User,
    sharee: User,
    integrator: User,
    extra: User,
    device: i64,
    command: i64,
    /// Open alarm on the device routed to unit 1 (never changed by the matrix).
    alarm: i64,
    unit1: i64,
    unit2: i64,
    fence: i64,
    webhook: i64,
    /// A camera and a checkpoint of unit 1.
    camera: i64,
    checkpoint: i64,
    key_all: String,
    key_none: String,
    /// The administrator's one-scope keys, in `Scope::ALL` order.
    admin_keys: Vec<String>,
    password_hash: String,
}

impl Fixture {
    fn user(&self, c: Caller) -> &User {
        match c {
            Caller::Anonymous | Caller::Owner => &self.owner,
            Caller::Admin | Caller::AdminKey(_) => &self.admin,
            Caller::Dispatcher => &self.dispatcher,
            Caller::Officer => &self.officer,
            Caller::Officer2 => &self.officer2,
            Caller::Owner2 => &self.owner2,
            Caller::Sharee => &self.sharee,
            Caller::Integrator | Caller::IntegratorNoScope => &self.integrator,
        }
    }
}

/// Whether the caller may call the route on the fixture objects.
fn allowed(r: &RouteSpec, c: Caller) -> bool {
    if c == Caller::Anonymous {
        return r.access == Access::Public;
    }
    if key_refused(r, c) {
        return false;
    }
    let key = key_scopes(c).is_some();
    let admin = matches!(c, Caller::Admin | Caller::AdminKey(_));
    match r.access {
        Access::Public | Access::Authenticated => true,
        Access::Session => !key,
        Access::Admin => admin,
        Access::DeviceRead => sees_device(c),
        Access::DeviceManage => admin || c == Caller::Owner,
        // The officer's unit has an open alarm on the device.
        Access::DeviceCommand => admin || matches!(c, Caller::Owner | Caller::Officer),
        Access::AlarmRead => sees_alarm(c),
        Access::AlarmHandle => admin || matches!(c, Caller::Dispatcher | Caller::Officer),
        // Police data: the fixture camera and checkpoint belong to unit 1, so the officer of
        // unit 2 lists (nothing of theirs) but cannot open them.
        Access::Linkage => {
            admin
                || matches!(c, Caller::Dispatcher | Caller::Officer)
                || (c == Caller::Officer2 && !r.name.ends_with(".get"))
        }
        Access::AlarmLinkage | Access::DeviceLinkage => {
            admin || matches!(c, Caller::Dispatcher | Caller::Officer)
        }
        Access::Planning => admin || c == Caller::Dispatcher,
    }
}

fn sees_device(c: Caller) -> bool {
    matches!(
        c,
        Caller::Admin
            | Caller::AdminKey(_)
            | Caller::Dispatcher
            | Caller::Officer
            | Caller::Owner
            | Caller::Sharee
            | Caller::Integrator
            | Caller::IntegratorNoScope
    )
}

/// The fixture alarms are on the shared device and routed to unit 1.
fn sees_alarm(c: Caller) -> bool {
    sees_device(c)
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn seq() -> u32 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Path and body for one call of a route (fresh resources where the call consumes them).
async fn request(app: &TestApp, fx: &Fixture, r: &RouteSpec, c: Caller) -> (String, Option<Value>) {
    let d = fx.device;
    let (path, body) = match r.name {
        "session.login" => (
            "/session".to_owned(),
            Some(json!({"email": fx.extra.email, "password": "matrix password"})),
        ),
        "session.logout" => ("/session".into(), None),
        "users.me" => ("/users/me".into(), None),
        "users.list" => ("/users".into(), None),
        "users.create" => (
            "/users".into(),
            Some(
                json!({"email": format!("new{}@example.com", seq()), "password": "new password",
                        "role": "officer", "unit_ids": [2]}),
            ),
        ),
        "users.units" => (
            format!("/users/{}/units", fx.officer.id),
            Some(json!({"unit_ids": [1]})),
        ),
        "keys.list" => ("/keys".into(), None),
        "keys.create" => (
            "/keys".into(),
            Some(json!({"name": "matrix", "scopes": ["devices:read"]})),
        ),
        "keys.revoke" => {
            // A fresh key of the caller's own user (for the anonymous caller: the owner's).
            let (_, hash, prefix) = access::new_api_key().unwrap();
            let k = store::create_key(&app.db, fx.user(c).id, "victim", &prefix, &hash, &[])
                .await
                .unwrap();
            (format!("/keys/{}", k.id), None)
        }
        "devices.list" => ("/devices".into(), None),
        "devices.create" => (
            "/devices".into(),
            Some(json!({"unique_id": format!("{}", 900_000_000 + seq())})),
        ),
        "devices.get" => (format!("/devices/{d}"), None),
        "devices.owner" => (
            format!("/devices/{d}/owner"),
            Some(json!({"owner_id": fx.owner.id})),
        ),
        "devices.mqtt_token" => (format!("/devices/{d}/mqtt-token"), None),
        "devices.shares" => (format!("/devices/{d}/shares"), None),
        "devices.share" => (
            format!("/devices/{d}/shares"),
            Some(json!({"user_id": fx.sharee.id})),
        ),
        "devices.unshare" => (format!("/devices/{d}/shares/{}", fx.extra.id), None),
        "positions.latest" => (format!("/devices/{d}/positions/latest"), None),
        "positions.range" => (
            format!("/devices/{d}/positions?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z"),
            None,
        ),
        "positions.live" => ("/positions/latest".into(), None),
        "commands.create" => (
            format!("/devices/{d}/commands"),
            Some(json!({"type": "locate"})),
        ),
        "commands.list" => (format!("/devices/{d}/commands"), None),
        "commands.get" => (format!("/commands/{}", fx.command), None),
        "audit.device" => (format!("/devices/{d}/audit"), None),
        "audit.list" => ("/audit".into(), None),
        "trajectory.get" => (
            format!(
                "/devices/{d}/trajectory?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z&format=gpx"
            ),
            None,
        ),
        "trajectory.trips" => (
            format!("/devices/{d}/trips?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z"),
            None,
        ),
        "trajectory.summary" => (
            format!("/devices/{d}/summary?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z"),
            None,
        ),
        "events.list" => (format!("/events?device_id={d}"), None),
        "users.update_me" => (
            "/users/me".into(),
            Some(json!({"phone": "+41 79 555 01 00"})),
        ),
        "alarms.list" => ("/alarms".into(), None),
        "alarms.get" => (format!("/alarms/{}", fx.alarm), None),
        // Lifecycle steps consume an alarm: a fresh one per call, on the same device and unit.
        "alarms.ack" => (format!("/alarms/{}/ack", new_alarm(app, fx).await), None),
        "alarms.assign" => (
            format!("/alarms/{}/assign", new_alarm(app, fx).await),
            Some(json!({"unit_id": fx.unit1})),
        ),
        "alarms.resolve" => (
            format!("/alarms/{}/resolve", new_alarm(app, fx).await),
            Some(json!({"outcome": "false_alarm"})),
        ),
        "guard.arm" => (format!("/devices/{d}/arm"), None),
        "guard.disarm" => (format!("/devices/{d}/disarm"), None),
        "guard.get" => (format!("/devices/{d}/guard"), None),
        "guard.speed_limit" => (
            format!("/devices/{d}/speed-limit"),
            Some(json!({"limit_kmh": 90.0})),
        ),
        "units.list" => ("/units".into(), None),
        "units.create" => (
            "/units".into(),
            Some(json!({"name": format!("Unit {}", seq())})),
        ),
        "units.update" => (
            format!("/units/{}", fx.unit1),
            Some(json!({"name": "Unit one"})),
        ),
        "units.delete" => {
            let u = unit_store::create_unit(&app.db, &format!("Doomed {}", seq()), false)
                .await
                .unwrap();
            (format!("/units/{}", u.id), None)
        }
        "fences.list" => ("/fences".into(), None),
        "fences.create" => ("/fences".into(), Some(square("keep_in", None))),
        "fences.update" => (
            format!("/fences/{}", fx.fence),
            Some(square("keep_in", None)),
        ),
        "fences.delete" => {
            let admin = credential(app, fx, Caller::Admin).await.unwrap();
            let (s, f) = app
                .post("/api/v1/fences", &admin, &square("keep_in", None))
                .await;
            assert_eq!(s, 201, "{f}");
            (format!("/fences/{}", f["id"]), None)
        }
        "fences.assign" => (
            format!("/devices/{d}/fences"),
            Some(json!({"fence_id": fx.fence})),
        ),
        "webhooks.list" => ("/webhooks".into(), None),
        "webhooks.create" => ("/webhooks".into(), Some(webhook_body())),
        "webhooks.delete" => {
            let admin = credential(app, fx, Caller::Admin).await.unwrap();
            let (s, h) = app.post("/api/v1/webhooks", &admin, &webhook_body()).await;
            assert_eq!(s, 201, "{h}");
            (format!("/webhooks/{}", h["id"]), None)
        }
        "webhooks.deliveries" => (format!("/webhooks/{}/deliveries", fx.webhook), None),
        "push.vapid_key" => ("/push/vapid-public-key".into(), None),
        "push.list" => ("/push-subscriptions".into(), None),
        "push.subscribe" => ("/push-subscriptions".into(), Some(push_body(seq()))),
        "push.unsubscribe" => {
            // A fresh subscription of the caller's own user (for the anonymous caller: the
            // owner's), removed by its endpoint.
            let n = seq();
            let body = push_body(n);
            vigil_server::storage::push::upsert(
                &app.db,
                fx.user(c).id,
                body["endpoint"].as_str().unwrap(),
                body["keys"]["p256dh"].as_str().unwrap(),
                body["keys"]["auth"].as_str().unwrap(),
            )
            .await
            .unwrap();
            (
                "/push-subscriptions".into(),
                Some(json!({"endpoint": body["endpoint"]})),
            )
        }
        "stream" => ("/stream".into(), None),
        // The Traccar-compatible routes (under `/api`); a string body is sent as a form.
        "traccar.session.login" => (
            "/session".into(),
            Some(Value::String(format!(
                "email={}&password=matrix+password",
                fx.extra.email.replace('@', "%40")
            ))),
        ),
        "traccar.session.get" | "traccar.session.logout" => ("/session".into(), None),
        "traccar.session.token" => ("/session/token".into(), None),
        "traccar.server" => ("/server".into(), None),
        "traccar.devices" => ("/devices".into(), None),
        "traccar.positions" => ("/positions".into(), None),
        "traccar.geofences" => ("/geofences".into(), None),
        "traccar.events" => ("/reports/events".into(), None),
        "traccar.commands.send" => (
            "/commands/send".into(),
            Some(json!({"deviceId": d, "type": "engineResume"})),
        ),
        "traccar.commands.types" => (format!("/commands/types?deviceId={d}"), None),
        "traccar.socket" => ("/socket".into(), None),
        "cameras.list" => ("/cameras?limit=10".into(), None),
        "cameras.get" => (format!("/cameras/{}", fx.camera), None),
        "cameras.create" => (
            "/cameras".into(),
            Some(camera_body(&format!("CAM-{}", seq()), fx.unit1)),
        ),
        "cameras.update" => (
            format!("/cameras/{}", fx.camera),
            Some(camera_body("CAM-FX", fx.unit1)),
        ),
        "cameras.delete" => {
            let admin = credential(app, fx, Caller::Admin).await.unwrap();
            let (s, v) = app
                .post(
                    "/api/v1/cameras",
                    &admin,
                    &camera_body(&format!("DOOMED-{}", seq()), fx.unit1),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            (format!("/cameras/{}", v["id"]), None)
        }
        "cameras.import" => (
            "/cameras/import?crs=gcj02".into(),
            Some(collection(camera_body(&format!("IMP-{}", seq()), fx.unit1))),
        ),
        "checkpoints.list" => ("/checkpoints?unit_id=1".into(), None),
        "checkpoints.get" => (format!("/checkpoints/{}", fx.checkpoint), None),
        "checkpoints.create" => (
            "/checkpoints".into(),
            Some(checkpoint_body(&format!("KK-{}", seq()), fx.unit1)),
        ),
        "checkpoints.update" => (
            format!("/checkpoints/{}", fx.checkpoint),
            Some(checkpoint_body("KK-FX", fx.unit1)),
        ),
        "checkpoints.delete" => {
            let admin = credential(app, fx, Caller::Admin).await.unwrap();
            let (s, v) = app
                .post(
                    "/api/v1/checkpoints",
                    &admin,
                    &checkpoint_body(&format!("DOOMED-{}", seq()), fx.unit1),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            (format!("/checkpoints/{}", v["id"]), None)
        }
        "checkpoints.import" => (
            "/checkpoints/import".into(),
            Some(collection(checkpoint_body(
                &format!("KKI-{}", seq()),
                fx.unit1,
            ))),
        ),
        "alarms.linkage" => (format!("/alarms/{}/linkage", fx.alarm), None),
        "alarms.intercept" => (
            format!("/alarms/{}/intercepts", new_alarm(app, fx).await),
            Some(json!({"checkpoint_id": fx.checkpoint})),
        ),
        "devices.cameras_passed" => (
            format!(
                "/devices/{d}/cameras-passed?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z"
            ),
            None,
        ),
        "stats.alarms" => ("/stats/alarms?cell_m=1000&kind=vibration".into(), None),
        "stats.units" => ("/stats/units".into(), None),
        other => panic!("route {other} has no fixture in the permission matrix: add one"),
    };
    (format!("{}{path}", r.surface.prefix()), body)
}

/// A browser's push subscription (a fixed valid P-256 point; nothing is ever sent to it: the
/// matrix raises no alarm through the pipeline).
fn push_body(n: u32) -> Value {
    json!({"endpoint": format!("https://push.invalid/matrix/{n}"),
           "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                    "auth": "BTBZMqHH6r4Tts7J_aSIgg"}})
}

/// A webhook subscriber body (nothing listens there: deliveries fail in the background).
fn webhook_body() -> Value {
    json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef-matrix"})
}

/// A camera create body.
fn camera_body(code: &str, unit: i64) -> Value {
    json!({"code": code, "name": "路口", "lat": 22.5, "lon": 114.0, "facing": "E", "kind": "public", "unit_id": unit})
}

/// A checkpoint create body.
fn checkpoint_body(code: &str, unit: i64) -> Value {
    json!({"code": code, "name": "检查站", "lat": 22.51, "lon": 114.02, "unit_id": unit, "staffed_hours": "08:00-20:00"})
}

/// An import of one row: a FeatureCollection with the body's properties at its position.
fn collection(body: Value) -> Value {
    let (lat, lon) = (body["lat"].clone(), body["lon"].clone());
    json!({"type": "FeatureCollection", "features": [{"type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": body}]})
}

/// A small square fence as a GeoJSON Feature.
fn square(kind: &str, unit: Option<i64>) -> Value {
    let mut props = json!({"kind": kind, "name": format!("fence {}", seq())});
    if let Some(u) = unit {
        props["unit_id"] = u.into();
    }
    json!({"type": "Feature", "properties": props, "geometry": {"type": "Polygon",
        "coordinates": [[[114.0, 22.5], [114.01, 22.5], [114.01, 22.51], [114.0, 22.51], [114.0, 22.5]]]}})
}

/// A new open alarm on the fixture device, routed to unit 1.
async fn new_alarm(app: &TestApp, fx: &Fixture) -> i64 {
    alarm_store::insert_alarm(
        &app.db,
        &alarm_store::NewAlarm {
            device_id: fx.device,
            kind: alarm_store::AlarmKind::Vibration,
            severity: alarm_store::Severity::Medium,
            unit_id: Some(fx.unit1),
            time: chrono::Utc::now(),
            lat: Some(22.5),
            lon: Some(114.0),
            evidence: Vec::new(),
        },
    )
    .await
    .unwrap()
    .id
}

/// The credential a caller sends (a fresh session token, so logout cannot disturb others).
async fn credential(app: &TestApp, fx: &Fixture, c: Caller) -> Option<String> {
    match c {
        Caller::Anonymous => None,
        Caller::Integrator => Some(fx.key_all.clone()),
        Caller::IntegratorNoScope => Some(fx.key_none.clone()),
        Caller::AdminKey(s) => {
            let i = Scope::ALL.iter().position(|x| *x == s).unwrap();
            Some(fx.admin_keys[i].clone())
        }
        _ => {
            let token = vigil_server::services::auth::new_token().unwrap();
            app.db
                .create_session(
                    fx.user(c).id,
                    &vigil_server::services::auth::token_hash(&token),
                    chrono::Utc::now() + chrono::Duration::hours(1),
                )
                .await
                .unwrap();
            Some(token)
        }
    }
}

async fn call(
    app: &TestApp,
    m: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let url = app.url(path);
    let mut rb = match m {
        Method::Get => app.client.get(url),
        Method::Post => app.client.post(url),
        Method::Put => app.client.put(url),
        Method::Delete => app.client.delete(url),
    };
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    match body {
        Some(Value::String(form)) => {
            rb = rb
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone());
        }
        Some(b) => rb = rb.json(b),
        None => {}
    }
    if path.starts_with("/api/v1/stream") || path.starts_with("/api/socket") {
        rb = rb
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn user(app: &TestApp, hash: &str, email: &str, role: Role) -> User {
    app.db.create_user(email, email, hash, role).await.unwrap()
}

async fn fixture(app: &TestApp) -> Fixture {
    let hash = vigil_server::services::auth::hash_password("matrix password".into())
        .await
        .unwrap();
    let admin = user(app, &hash, "admin2@example.com", Role::Admin).await;
    let dispatcher = user(app, &hash, "dispatcher@example.com", Role::Dispatcher).await;
    let officer = user(app, &hash, "officer@example.com", Role::Officer).await;
    let officer2 = user(app, &hash, "officer2@example.com", Role::Officer).await;
    let owner = user(app, &hash, "owner@example.com", Role::Owner).await;
    let owner2 = user(app, &hash, "owner2@example.com", Role::Owner).await;
    let sharee = user(app, &hash, "sharee@example.com", Role::Owner).await;
    let integrator = user(app, &hash, "integrator@example.com", Role::Integrator).await;
    let extra = user(app, &hash, "extra@example.com", Role::Owner).await;
    let unit1 = unit_store::create_unit(&app.db, "Unit 1", false)
        .await
        .unwrap()
        .id;
    let unit2 = unit_store::create_unit(&app.db, "Unit 2", true)
        .await
        .unwrap()
        .id;
    store::set_units(&app.db, officer.id, &[unit1])
        .await
        .unwrap();
    store::set_units(&app.db, officer2.id, &[unit2])
        .await
        .unwrap();

    let device = app.create_device("352312094630001").await;
    store::set_owner(&app.db, device, Some(owner.id))
        .await
        .unwrap();
    store::share(&app.db, device, sharee.id).await.unwrap();
    store::share(&app.db, device, integrator.id).await.unwrap();
    // owner2 owns another device, so their lists are not trivially empty.
    let other = app.create_device("352312094630002").await;
    store::set_owner(&app.db, other, Some(owner2.id))
        .await
        .unwrap();
    let rows = [
        PositionRow::from_position(device, &position(60), chrono::Utc::now()),
        PositionRow::from_position(other, &position(60), chrono::Utc::now()),
    ];
    app.db.insert_positions(&rows).await.unwrap();

    let token = app.login().await;
    let (s, v) = app
        .post(
            &format!("/api/v1/devices/{device}/commands"),
            &token,
            &json!({"type": "locate"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let command = v["command"]["id"].as_i64().unwrap();
    let (s, f) = app
        .post("/api/v1/fences", &token, &square("keep_in", None))
        .await;
    assert_eq!(s, 201, "{f}");
    let fence = f["id"].as_i64().unwrap();
    let (s, h) = app.post("/api/v1/webhooks", &token, &webhook_body()).await;
    assert_eq!(s, 201, "{h}");
    let webhook = h["id"].as_i64().unwrap();
    let (s, cam) = app
        .post("/api/v1/cameras", &token, &camera_body("CAM-FX", unit1))
        .await;
    assert_eq!(s, 201, "{cam}");
    let camera = cam["id"].as_i64().unwrap();
    let (s, cp) = app
        .post(
            "/api/v1/checkpoints",
            &token,
            &checkpoint_body("KK-FX", unit1),
        )
        .await;
    assert_eq!(s, 201, "{cp}");
    let checkpoint = cp["id"].as_i64().unwrap();

    let mut keys = Vec::new();
    for scopes in [integrator_scopes(), Vec::new()] {
        let (key, hash, prefix) = access::new_api_key().unwrap();
        store::create_key(&app.db, integrator.id, "matrix", &prefix, &hash, &scopes)
            .await
            .unwrap();
        keys.push(key);
    }
    let key_none = keys.pop().unwrap();
    let key_all = keys.pop().unwrap();
    let mut admin_keys = Vec::new();
    for s in Scope::ALL {
        let (key, hash, prefix) = access::new_api_key().unwrap();
        store::create_key(&app.db, admin.id, s.as_str(), &prefix, &hash, &[s])
            .await
            .unwrap();
        admin_keys.push(key);
    }
    let mut fx = Fixture {
        admin,
        dispatcher,
        officer,
        officer2,
        owner,
        owner2,
        sharee,
        integrator,
        extra,
        device,
        command,
        alarm: 0,
        unit1,
        unit2,
        fence,
        webhook,
        camera,
        checkpoint,
        key_all,
        key_none,
        admin_keys,
        password_hash: hash,
    };
    fx.alarm = new_alarm(app, &fx).await;
    fx
}

async fn permission_matrix(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let fx = fixture(&app).await;
    assert!(!fx.password_hash.is_empty());

    let mut failures = Vec::new();
    let mut calls = 0;
    for r in ROUTES {
        for c in callers() {
            let (path, body) = request(&app, &fx, r, c).await;
            let token = credential(&app, &fx, c).await;
            let (status, resp) = call(&app, r.method, &path, token.as_deref(), body.as_ref()).await;
            calls += 1;
            let ok = allowed(r, c);
            let device_route = matches!(
                r.access,
                Access::DeviceRead | Access::DeviceManage | Access::DeviceCommand
            );
            let alarm_route = matches!(r.access, Access::AlarmRead | Access::AlarmHandle);
            let socket = matches!(r.name, "stream" | "traccar.socket");
            let good = if ok && socket {
                status == 101
            } else if ok {
                (200..300).contains(&status)
            } else if c == Caller::Anonymous {
                status == 401
            } else if r.access.hides_from_refused() {
                // Police data: whoever may not have it (role or key scope) learns nothing,
                // not even that the route exists.
                status == 404
            } else if key_refused(r, c) {
                // The route table refuses the key before anything is looked up.
                status == 403
            } else if (device_route && !sees_device(c)) || (alarm_route && !sees_alarm(c)) {
                // Invisible device or alarm: exactly what a missing id answers.
                status == 404
            } else {
                matches!(status, 403 | 404)
            };
            if !good || status >= 500 {
                failures.push(format!(
                    "{} {} {path} as {c:?}: {status} (allowed: {ok}) {resp}",
                    r.name,
                    r.method.as_str()
                ));
            }
            if !ok && c != Caller::Anonymous && !socket {
                assert!(
                    resp["error"]["code"].is_string(),
                    "{} as {c:?}: {resp}",
                    r.name
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Lists carry only what the caller may see.
    for (c, sees) in [
        (Caller::Owner, true),
        (Caller::Sharee, true),
        (Caller::Owner2, false),
        (Caller::Officer, true),
        (Caller::Officer2, false),
        (Caller::Dispatcher, true),
    ] {
        let token = credential(&app, &fx, c).await.unwrap();
        let (s, v) = app.get("/api/v1/devices", &token).await;
        assert_eq!(s, 200);
        let listed = v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == fx.device);
        assert_eq!(listed, sees, "devices as {c:?}: {v}");
        let (s, v) = app.get("/api/v1/positions/latest", &token).await;
        assert_eq!(s, 200);
        let listed = v["positions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["device_id"] == fx.device);
        assert_eq!(listed, sees, "live positions as {c:?}: {v}");
        let (s, v) = app.get("/api/v1/alarms", &token).await;
        assert_eq!(s, 200);
        let alarms = v["alarms"].as_array().unwrap();
        assert_eq!(
            alarms.iter().any(|a| a["id"] == fx.alarm),
            sees,
            "alarms as {c:?}: {v}"
        );
        assert!(
            alarms.iter().all(|a| a["device_id"] == fx.device),
            "only the fixture device has alarms: {v}"
        );
    }
    lists_and_contacts(&app, &fx).await;
    // A revoked key stops working at once.
    let (_, v) = call(
        &app,
        Method::Post,
        "/api/v1/keys",
        credential(&app, &fx, Caller::Owner).await.as_deref(),
        Some(&json!({"name": "tmp", "scopes": ["devices:read"]})),
    )
    .await;
    let key = v["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/devices", &key).await.0, 200);
    let owner_token = credential(&app, &fx, Caller::Owner).await.unwrap();
    let (s, _) = call(
        &app,
        Method::Delete,
        &format!("/api/v1/keys/{}", v["api_key"]["id"]),
        Some(&owner_token),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(app.get("/api/v1/devices", &key).await.0, 401);
    // Another user's key cannot be revoked (nor probed).
    let (_, v) = call(
        &app,
        Method::Post,
        "/api/v1/keys",
        Some(&owner_token),
        Some(&json!({"name": "tmp2", "scopes": []})),
    )
    .await;
    let other_token = credential(&app, &fx, Caller::Owner2).await.unwrap();
    let (s, _) = call(
        &app,
        Method::Delete,
        &format!("/api/v1/keys/{}", v["api_key"]["id"]),
        Some(&other_token),
        None,
    )
    .await;
    assert_eq!(s, 404);
    app.stop().await;
}

/// Units, fences and the owner's contact on an alarm, per caller.
async fn lists_and_contacts(app: &TestApp, fx: &Fixture) {
    let admin = credential(app, fx, Caller::Admin).await.unwrap();
    // A jurisdiction of unit 1; the fixture fence is assigned to the device.
    let (s, j) = app
        .post(
            "/api/v1/fences",
            &admin,
            &square("jurisdiction", Some(fx.unit1)),
        )
        .await;
    assert_eq!(s, 201, "{j}");
    let (s, _) = app
        .post(
            &format!("/api/v1/devices/{}/fences", fx.device),
            &admin,
            &json!({"fence_id": fx.fence}),
        )
        .await;
    assert_eq!(s, 204);
    for (c, units, fences) in [
        (
            Caller::Officer,
            vec![fx.unit1],
            vec![fx.fence, j["id"].as_i64().unwrap()],
        ),
        (Caller::Officer2, vec![fx.unit2], vec![]),
        (Caller::Owner, vec![], vec![fx.fence]),
        (Caller::Owner2, vec![], vec![]),
    ] {
        let token = credential(app, fx, c).await.unwrap();
        let (s, v) = app.get("/api/v1/units", &token).await;
        assert_eq!(s, 200);
        let got: Vec<i64> = v["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        assert_eq!(got, units, "units as {c:?}: {v}");
        if c == Caller::Officer {
            assert_eq!(
                v["units"][0]["jurisdictions"]["features"][0]["id"], j["id"],
                "{v}"
            );
        }
        let (s, v) = app.get("/api/v1/fences", &token).await;
        assert_eq!(s, 200);
        let mut got: Vec<i64> = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        got.sort_unstable();
        let mut want = fences.clone();
        want.sort_unstable();
        assert_eq!(got, want, "fences as {c:?}: {v}");
    }
    // The owner leaves a phone number; those handling the alarm see it, the owner does not
    // get a contact block.
    let owner = credential(app, fx, Caller::Owner).await.unwrap();
    let r = app
        .client
        .put(app.url("/api/v1/users/me"))
        .bearer_auth(&owner)
        .json(&json!({"display_name": "Olga Owner", "phone": "+41 79 555 01 23"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["user"]["phone"], "+41 79 555 01 23");
    assert_eq!(me["user"]["display_name"], "Olga Owner");
    let r = app
        .client
        .put(app.url("/api/v1/users/me"))
        .bearer_auth(&owner)
        .json(&json!({"phone": "call me maybe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for c in [Caller::Officer, Caller::Dispatcher, Caller::Admin] {
        let token = credential(app, fx, c).await.unwrap();
        let (s, v) = app
            .get(&format!("/api/v1/alarms/{}", fx.alarm), &token)
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["owner"]["name"], "Olga Owner", "{c:?}: {v}");
        assert_eq!(v["owner"]["phone"], "+41 79 555 01 23", "{c:?}: {v}");
        assert_eq!(v["actions"][0]["action"], "opened", "{v}");
    }
    let (s, v) = app
        .get(&format!("/api/v1/alarms/{}", fx.alarm), &owner)
        .await;
    assert_eq!(s, 200);
    assert!(v.get("owner").is_none(), "{v}");
    assert_eq!(v["alarm"]["kind"], "vibration");
}

both_backends!(openapi_document_covers_the_route_table);

async fn openapi_document_covers_the_route_table(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let r = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for route in ROUTES {
        let op = &doc["paths"][route.full_path()][route.method.as_str().to_lowercase()];
        assert_eq!(
            op["operationId"], route.name,
            "{} missing from the document",
            route.name
        );
    }
    // The browsable page is served from compiled-in assets.
    let r = app
        .client
        .get(app.url("/api/v1/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    app.stop().await;
}
