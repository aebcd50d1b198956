//! The Traccar-compatible API under `/api`: its ways to log in (Basic, the session cookie,
//! tokens), Traccar's shapes and units (knots, attribute and alarm names, WKT latitude first,
//! events), its rights (an owner sees only their vehicles), commands with the interlock, and
//! the socket. The real client (`pytraccar`) is driven in `traccar_client.rs`.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vigil_server::domain::{NewDeviceEvent, PositionRow, Role};
use vigil_server::storage::access as store;
use vigil_server::storage::alarms as alarm_store;

use crate::alarms::{Gt06Device, fix};
use crate::both_backends;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, TestDb, position, spawn_app};

both_backends!(
    traccar_logins,
    traccar_shapes_and_rights,
    traccar_commands_keep_the_interlock,
    traccar_socket
);

const OWNER_PASSWORD: &str = "owner password 1";

/// `Authorization: Basic` for a login and password.
fn basic(login: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{login}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

async fn get(app: &TestApp, path: &str, auth: Option<(&str, String)>) -> (u16, Value) {
    let mut rb = app.client.get(app.url(path));
    if let Some((h, v)) = auth {
        rb = rb.header(h, v);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// The `JSESSIONID=…` pair of a response's `Set-Cookie`.
fn session_cookie(r: &reqwest::Response) -> String {
    let c = r
        .headers()
        .get(SET_COOKIE)
        .expect("Set-Cookie")
        .to_str()
        .unwrap();
    c.split(';').next().unwrap().to_owned()
}

/// An owner with a password, owning one device with a fix; a second owner with another device.
struct World {
    owner: i64,
    device: i64,
    other: i64,
}

async fn world(app: &TestApp) -> World {
    let hash = vigil_server::services::auth::hash_password(OWNER_PASSWORD.into())
        .await
        .unwrap();
    let owner = app
        .db
        .create_user("owner@example.com", "Owner", &hash, Role::Owner)
        .await
        .unwrap()
        .id;
    let owner2 = app
        .db
        .create_user("owner2@example.com", "Owner 2", &hash, Role::Owner)
        .await
        .unwrap()
        .id;
    let device = app.create_device("352312094630101").await;
    store::set_owner(&app.db, device, Some(owner))
        .await
        .unwrap();
    let other = app.create_device("352312094630102").await;
    store::set_owner(&app.db, other, Some(owner2))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    app.db
        .insert_positions(&[
            PositionRow::from_position(device, &position(60), now),
            PositionRow::from_position(other, &position(60), now),
        ])
        .await
        .unwrap();
    World {
        owner,
        device,
        other,
    }
}

async fn traccar_logins(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let w = world(&app).await;

    // Nothing without credentials.
    for path in ["/api/devices", "/api/server", "/api/session", "/api/socket"] {
        let (s, _) = get(&app, path, None).await;
        assert_eq!(s, 401, "{path}");
    }
    // HTTP Basic: login name and password on every request.
    let (s, v) = get(
        &app,
        "/api/devices",
        Some((
            AUTHORIZATION.as_str(),
            basic("owner@example.com", OWNER_PASSWORD),
        )),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], w.device);
    let (s, _) = get(
        &app,
        "/api/devices",
        Some((AUTHORIZATION.as_str(), basic("owner@example.com", "wrong"))),
    )
    .await;
    assert_eq!(s, 401);

    // The session cookie of a form login.
    let r = app
        .client
        .post(app.url("/api/session"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r);
    assert!(cookie.starts_with("JSESSIONID="), "{cookie}");
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["login"], ADMIN_EMAIL);
    assert_eq!(user["administrator"], true);
    let (s, v) = get(
        &app,
        "/api/session",
        Some((COOKIE.as_str(), cookie.clone())),
    )
    .await;
    assert_eq!((s, &v["email"]), (200, &json!(ADMIN_EMAIL)));
    let (s, v) = get(
        &app,
        "/api/devices",
        Some((COOKIE.as_str(), cookie.clone())),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        v.as_array().unwrap().len(),
        2,
        "the administrator sees both"
    );

    // A token for scripts: Bearer, or `?token=` which also sets the cookie.
    let r = app
        .client
        .post(app.url("/api/session/token"))
        .header(COOKIE, &cookie)
        .form(&[("expiration", "2099-01-01T00:00:00Z")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "more than a year ahead");
    let expiration = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let r = app
        .client
        .post(app.url("/api/session/token"))
        .header(COOKIE, &cookie)
        .form(&[("expiration", expiration.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.text().await.unwrap();
    let (s, _) = get(
        &app,
        "/api/positions",
        Some((AUTHORIZATION.as_str(), format!("Bearer {token}"))),
    )
    .await;
    assert_eq!(s, 200);
    let r = app
        .client
        .get(app.url(&format!("/api/session?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(session_cookie(&r), format!("JSESSIONID={token}"));
    // API keys cannot mint tokens.
    let (key, hash, prefix) = vigil_server::services::access::new_api_key().unwrap();
    store::create_key(&app.db, w.owner, "k", &prefix, &hash, &[])
        .await
        .unwrap();
    let r = app
        .client
        .post(app.url("/api/session/token"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Logout ends the cookie's session.
    let r = app
        .client
        .delete(app.url("/api/session"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = get(&app, "/api/devices", Some((COOKIE.as_str(), cookie))).await;
    assert_eq!(s, 401);

    // Basic passwords are throttled exactly as the API's login: five wrong guesses (one
    // above), then the client waits — on either surface, for that login.
    for _ in 0..4 {
        let (s, _) = get(
            &app,
            "/api/server",
            Some((AUTHORIZATION.as_str(), basic("owner@example.com", "guess"))),
        )
        .await;
        assert_eq!(s, 401);
    }
    let r = app
        .client
        .get(app.url("/api/server"))
        .header(AUTHORIZATION, basic("owner@example.com", OWNER_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let r = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "owner@example.com", "password": OWNER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    app.stop().await;
}

async fn traccar_shapes_and_rights(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let w = world(&app).await;
    let admin = app.login().await;
    let owner = (
        AUTHORIZATION.as_str(),
        basic("owner@example.com", OWNER_PASSWORD),
    );
    let owner2 = (
        AUTHORIZATION.as_str(),
        basic("owner2@example.com", OWNER_PASSWORD),
    );

    // Fences: a circle and a square around the fix, assigned to the owner's device.
    let circle = json!({"type": "Feature", "properties": {"kind": "watch", "name": "Home", "radius": 300.0},
        "geometry": {"type": "Point", "coordinates": [114.0, 22.5]}});
    let square = json!({"type": "Feature", "properties": {"kind": "keep_in", "name": "Yard"},
        "geometry": {"type": "Polygon", "coordinates": [[[113.99, 22.49], [114.01, 22.49], [114.01, 22.51], [113.99, 22.51], [113.99, 22.49]]]}});
    let mut fence_ids = Vec::new();
    for f in [&circle, &square] {
        let (s, v) = app.post("/api/v1/fences", &admin, f).await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_i64().unwrap();
        let (s, v) = app
            .post(
                &format!("/api/v1/devices/{}/fences", w.device),
                &admin,
                &json!({"fence_id": id}),
            )
            .await;
        assert_eq!(s, 204, "{v}");
        fence_ids.push(id);
    }

    // Devices: Traccar's fields; the owner sees only theirs.
    let (s, v) = get(&app, "/api/devices", Some(owner.clone())).await;
    assert_eq!(s, 200);
    let d = &v[0];
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(d["uniqueId"], "352312094630101");
    assert_eq!(d["status"], "unknown", "never connected");
    assert!(d["positionId"].as_i64().unwrap() > 0);
    assert_eq!(d["disabled"], false);
    let (s, v) = get(
        &app,
        "/api/devices?uniqueId=352312094630102",
        Some(owner.clone()),
    )
    .await;
    assert_eq!(
        (s, v),
        (200, json!([])),
        "another owner's device is left out"
    );

    // Positions: knots, Traccar's attribute names, the fences it is inside.
    let (s, v) = get(&app, "/api/positions", Some(owner.clone())).await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    let p = &v[0];
    assert_eq!(p["deviceId"], w.device);
    assert_eq!(p["id"], d["positionId"]);
    assert!(
        (p["speed"].as_f64().unwrap() - 36.5 / 1.852).abs() < 1e-9,
        "{p}"
    );
    assert_eq!(p["attributes"]["batteryLevel"], 80);
    assert_eq!(p["attributes"]["sat"], 9);
    assert_eq!(p["attributes"]["alarm"], "vibration");
    assert_eq!(p["attributes"]["motion"], true);
    assert_eq!(p["valid"], true);
    assert!(
        p["fixTime"].as_str().unwrap().ends_with(".000+00:00"),
        "{p}"
    );
    let mut inside: Vec<i64> = p["geofenceIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    inside.sort_unstable();
    assert_eq!(inside, fence_ids);
    // History of a device, and the rights on it.
    let range = "from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z";
    let (s, v) = get(
        &app,
        &format!("/api/positions?deviceId={}&{range}", w.device),
        Some(owner.clone()),
    )
    .await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 1));
    let (s, _) = get(
        &app,
        &format!("/api/positions?deviceId={}&{range}", w.other),
        Some(owner.clone()),
    )
    .await;
    assert_eq!(s, 404, "another owner's device is not found");
    let (s, v) = get(
        &app,
        &format!("/api/positions?id={}", p["id"]),
        Some(owner2.clone()),
    )
    .await;
    assert_eq!(
        (s, v),
        (200, json!([])),
        "another owner's position is left out"
    );
    let (s, v) = get(&app, "/api/positions?deviceId=x", Some(owner.clone())).await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("deviceId"));

    // Geofences: WKT, latitude first; the other owner sees none of them.
    let (s, v) = get(&app, "/api/geofences", Some(owner.clone())).await;
    assert_eq!(s, 200);
    let areas: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["area"].as_str().unwrap())
        .collect();
    assert_eq!(
        areas,
        [
            "CIRCLE (22.5 114, 300)",
            "POLYGON ((22.49 113.99, 22.49 114.01, 22.51 114.01, 22.51 113.99, 22.49 113.99))"
        ]
    );
    assert_eq!(v[0]["name"], "Home");
    let (s, v) = get(&app, "/api/geofences", Some(owner2.clone())).await;
    assert_eq!((s, v), (200, json!([])));

    // Events: alarms with Traccar's names and types, connection events.
    let now = chrono::Utc::now();
    for kind in [
        alarm_store::AlarmKind::Sos,
        alarm_store::AlarmKind::PowerCut,
        alarm_store::AlarmKind::GeofenceExit,
        alarm_store::AlarmKind::Offline,
    ] {
        alarm_store::insert_alarm(
            &app.db,
            &alarm_store::NewAlarm {
                device_id: w.device,
                kind,
                severity: kind.severity(),
                unit_id: None,
                time: now,
                lat: Some(22.5),
                lon: Some(114.0),
                evidence: Vec::new(),
            },
        )
        .await
        .unwrap();
    }
    app.db
        .insert_event(&NewDeviceEvent {
            kind: "connect",
            device_id: Some(w.device),
            ..NewDeviceEvent::default()
        })
        .await
        .unwrap();
    let from =
        (now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!(
        "/api/reports/events?deviceId={}&from={from}&to={to}",
        w.device
    );
    let (s, v) = get(&app, &path, Some(owner.clone())).await;
    assert_eq!(s, 200, "{v}");
    let got: Vec<(String, Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["attributes"]["alarm"].clone(),
            )
        })
        .collect();
    for want in [
        ("alarm".to_owned(), json!("sos")),
        ("alarm".to_owned(), json!("powerCut")),
        ("geofenceExit".to_owned(), Value::Null),
        ("deviceInactive".to_owned(), Value::Null),
        ("deviceOnline".to_owned(), Value::Null),
    ] {
        assert!(got.contains(&want), "{want:?} missing from {got:?}");
    }
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|e| e["deviceId"] == w.device)
    );
    let (s, v) = get(
        &app,
        &format!("{path}&type=geofenceExit"),
        Some(owner.clone()),
    )
    .await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 1));
    assert_eq!(v[0]["type"], "geofenceExit");
    let (s, _) = get(&app, &path, Some(owner2.clone())).await;
    assert_eq!(s, 404, "another owner's device is not found");
    let (s, v) = get(
        &app,
        &format!("/api/reports/events?from={from}&to={to}"),
        Some(owner2),
    )
    .await;
    assert_eq!(
        (s, v),
        (200, json!([])),
        "no events of another owner's device"
    );
    app.stop().await;
}

async fn traccar_commands_keep_the_interlock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let w = world(&app).await;
    let owner = basic("owner@example.com", OWNER_PASSWORD);
    let send = |body: Value| {
        app.client
            .post(app.url("/api/commands/send"))
            .header(AUTHORIZATION, owner.clone())
            .json(&body)
    };
    // The last fix shows 36.5 km/h, above the 20 km/h limit; and engineStop must be confirmed.
    let r = send(json!({"deviceId": w.device, "type": "engineStop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "confirmation_required");
    let r =
        send(json!({"deviceId": w.device, "type": "engineStop", "attributes": {"confirm": true}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "vehicle_moving");
    let r = send(json!({"deviceId": w.device, "type": "rebootDevice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Offline: queued (202).
    let r = send(json!({"deviceId": w.device, "type": "engineResume"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert!(v["id"].as_i64().unwrap() > 0);
    assert_eq!(v["type"], "engineResume");
    // Online and standing still: sent (200), as `cut_power`.
    let mut dev = Gt06Device::connect(&app, "352312094630101").await;
    let stopped = fix(3600, 0.0);
    dev.location(&stopped).await;
    while !app
        .sessions
        .is_online(&protocol::DeviceId::parse("352312094630101").unwrap())
        || app
            .db
            .latest_position(w.device)
            .await
            .unwrap()
            .is_none_or(|p| p.speed_kmh > 0.0)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r =
        send(json!({"deviceId": w.device, "type": "engineStop", "attributes": {"confirm": true}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let admin = app.login().await;
    let (s, c) = app
        .get(&format!("/api/v1/commands/{}", v["id"]), &admin)
        .await;
    assert_eq!(s, 200);
    assert_eq!(c["command"]["kind"], "cut_power");
    // Another owner's device: not found, as on /api/v1.
    let r = send(json!({"deviceId": w.other, "type": "engineResume"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (s, v) = get(
        &app,
        &format!("/api/commands/types?deviceId={}", w.device),
        Some((AUTHORIZATION.as_str(), owner.clone())),
    )
    .await;
    assert_eq!(s, 200);
    let types: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "engineStop",
            "engineResume",
            "positionSingle",
            "positionPeriodic"
        ]
    );
    app.stop().await;
}

async fn traccar_socket(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let w = world(&app).await;
    let r = app
        .client
        .post(app.url("/api/session"))
        .form(&[("email", "owner@example.com"), ("password", OWNER_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r);
    let ws_url = app.url("/api/socket").replacen("http", "ws", 1);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        ws_url.as_str(),
    )
    .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let next = |m: Option<Result<Message, _>>| -> Value {
        match m {
            Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    };
    // The current positions on connect: only the owner's device.
    let first = next(ws.next().await);
    let positions = first["positions"].as_array().unwrap();
    assert_eq!(positions.len(), 1, "{first}");
    assert_eq!(positions[0]["deviceId"], w.device);
    // A new fix of another owner's device is not sent; one of the owner's is, in knots.
    let mut other = Gt06Device::connect(&app, "352312094630102").await;
    other.location(&fix(100, 0.0)).await;
    let mut mine = Gt06Device::connect(&app, "352312094630101").await;
    let mut p = fix(120, 10.0);
    p.speed_kmh = 37.0;
    mine.location(&p).await;
    let live = next(ws.next().await);
    let lp = &live["positions"][0];
    assert_eq!(lp["deviceId"], w.device, "{live}");
    assert!(
        (lp["speed"].as_f64().unwrap() - 37.0 / 1.852).abs() < 1e-9,
        "{lp}"
    );
    assert_eq!(lp["attributes"]["sat"], 9);
    // The device came online since the socket opened: its new status comes with the fix.
    assert_eq!(live["devices"][0]["id"], w.device, "{live}");
    assert_eq!(live["devices"][0]["status"], "online");
    // A new alarm: an event with Traccar's alarm name.
    mine.alarm(&crate::alarms::with_alarm(
        fix(130, 10.0),
        protocol::Alarm::Sos,
    ))
    .await;
    loop {
        let m = next(ws.next().await);
        if let Some(e) = m.get("events") {
            assert_eq!(e[0]["type"], "alarm", "{m}");
            assert_eq!(e[0]["attributes"]["alarm"], "sos");
            assert_eq!(e[0]["deviceId"], w.device);
            break;
        }
        assert!(m["positions"][0]["deviceId"] == w.device, "{m}");
    }
    ws.close(None).await.unwrap();
    app.stop().await;
}
