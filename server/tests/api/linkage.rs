//! Issue 15: video patrol, ground patrol and checkpoints act together. A synthetic county of
//! 15,950 cameras (the programme's 966 public, 3,065 institution, 6,961 social and 4,958
//! rural) and 12 checkpoints, imported through the API; a vehicle driving east at 60 km/h
//! with fixes 30 s (500 m) apart. Its alarm's linkage lists exactly the cameras it passed, in
//! order, each window holding the true pass time; the eastern checkpoints ranked by arrival;
//! an intercept request reaches the checkpoint's unit once (WebSocket, MQTT, webhook). Imports
//! (GeoJSON, CSV, GCJ-02, BD-09, a bad row, all or nothing) and the planning figures
//! (compared with counts made here by hand) have their own tests.

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_server::domain::PositionRow;
use vigil_server::storage::alarms as alarm_store;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, spawn_app, spawn_app_with, test_settings};

both_backends!(
    synthetic_county_linkage_and_intercept,
    imports_convert_and_refuse_whole,
    stats_match_hand_counts
);

/// The road: latitude 30.0, driven east from longitude 120.0.
const ROAD_LAT: f64 = 30.0;
const ROAD_LON0: f64 = 120.0;
/// Metres per degree of latitude (and of longitude at the equator).
const M_PER_DEG: f64 = 111_320.0;
/// Fixes 30 s apart at 60 km/h: 500 m.
const STEP_M: f64 = 500.0;
const FIXES: usize = 20;

fn dlon_per_m() -> f64 {
    1.0 / (M_PER_DEG * ROAD_LAT.to_radians().cos())
}

/// A deterministic pseudo-random sequence in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn camera_feature(
    code: &str,
    kind: &str,
    lat: f64,
    lon: f64,
    facing: Option<f64>,
    range: f64,
) -> Value {
    let mut props = json!({"code": code, "name": format!("摄像机 {code}"), "kind": kind,
        "range_m": range, "video_device_id": "34020000001320000001", "video_channel_id": code});
    if let Some(f) = facing {
        props["facing"] = f.into();
    }
    json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props})
}

/// The known cameras by the road: (code, lat, lon, facing, listed?).
fn known_cameras() -> Vec<(&'static str, f64, f64, Option<f64>, bool)> {
    vec![
        // 33 m north of the road, looking south at it.
        ("K1-SOUTH", ROAD_LAT + 0.0003, 120.0123, Some(180.0), true),
        // Same distance, looking north, away from the road: not listed.
        ("K2-AWAY", ROAD_LAT + 0.0003, 120.0301, Some(0.0), false),
        // 33 m south, direction unknown: any direction counts.
        ("K3-UNKNOWN", ROAD_LAT - 0.0003, 120.0452, None, true),
        // 89 m north, looking south, range 60 m: out of range.
        ("K4-FAR", ROAD_LAT + 0.0008, 120.0600, Some(180.0), false),
        // 22 m north, looking south-south-west.
        ("K5-SSW", ROAD_LAT + 0.0002, 120.0705, Some(200.0), true),
    ]
}

/// 15,950 cameras: the known ones (public) and synthetic ones over a 60 km square, none
/// within 330 m of the road (so only the known ones can be passed).
fn county() -> Value {
    let mut features: Vec<Value> = known_cameras()
        .into_iter()
        .map(|(code, lat, lon, facing, _)| camera_feature(code, "public", lat, lon, facing, 60.0))
        .collect();
    let mut rng = Lcg(15_950);
    let kinds = [
        ("public", 966 - features.len()),
        ("institution", 3065),
        ("social", 6961),
        ("rural", 4958),
    ];
    let mut n = 0;
    for (kind, count) in kinds {
        for _ in 0..count {
            let (lat, lon) = loop {
                let lat = ROAD_LAT - 0.3 + rng.next() * 0.6;
                let lon = ROAD_LON0 - 0.3 + rng.next() * 0.6;
                if (lat - ROAD_LAT).abs() > 0.003 || !(119.99..=120.11).contains(&lon) {
                    break (lat, lon);
                }
            };
            let facing = (rng.next() > 0.2).then(|| (rng.next() * 360.0).floor());
            let range = 30.0 + (rng.next() * 70.0).floor();
            n += 1;
            features.push(camera_feature(
                &format!("3302000000132{n:07}"),
                kind,
                lat,
                lon,
                facing,
                range,
            ));
        }
    }
    assert_eq!(features.len(), 15_950);
    json!({"type": "FeatureCollection", "features": features})
}

/// Where the track ends.
fn track_end() -> (f64, f64) {
    (
        ROAD_LAT,
        ROAD_LON0 + (FIXES - 1) as f64 * STEP_M * dlon_per_m(),
    )
}

/// A point `d` metres from the track's end on bearing `b` degrees.
fn from_end(d: f64, b: f64) -> (f64, f64) {
    let (lat, lon) = track_end();
    let b = b.to_radians();
    (
        lat + d * b.cos() / M_PER_DEG,
        lon + d * b.sin() * dlon_per_m(),
    )
}

/// 12 checkpoints: six east of the track's end (1.5–10 km, bearings 75°–105°) staffed by
/// `east`, six west (behind the vehicle) staffed by `west`. Returns the import and the east
/// codes by distance.
fn checkpoints(east: i64, west: i64) -> (Value, Vec<String>) {
    let mut features = Vec::new();
    let mut east_codes = Vec::new();
    for (i, (d, b)) in [
        (1500.0, 90.0),
        (3000.0, 80.0),
        (4500.0, 100.0),
        (6000.0, 75.0),
        (8000.0, 105.0),
        (10_000.0, 92.0),
    ]
    .into_iter()
    .enumerate()
    {
        let (lat, lon) = from_end(d, b);
        let code = format!("KK-E{i}");
        east_codes.push(code.clone());
        features.push(json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"code": code, "name": format!("东{i}号检查站"), "unit_id": east, "staffed_hours": "00:00-24:00"}}));
    }
    for (i, (d, b)) in [
        (2000.0, 270.0),
        (3500.0, 260.0),
        (5000.0, 280.0),
        (6500.0, 255.0),
        (8000.0, 285.0),
        (9500.0, 270.0),
    ]
    .into_iter()
    .enumerate()
    {
        let (lat, lon) = from_end(d, b);
        features.push(json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"code": format!("KK-W{i}"), "name": format!("西{i}号检查站"), "unit_id": west}}));
    }
    (
        json!({"type": "FeatureCollection", "features": features}),
        east_codes,
    )
}

async fn import(app: &TestApp, token: &str, what: &str, query: &str, body: &Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/{what}/import{query}")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn import_csv(
    app: &TestApp,
    token: &str,
    what: &str,
    query: &str,
    body: &str,
) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/{what}/import{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A user of `role` in `units`, logged in: their session token.
async fn user(app: &TestApp, admin: &str, email: &str, role: &str, units: &[i64]) -> String {
    let (s, v) = app
        .post("/api/v1/users", admin, &json!({"email": email, "password": "linkage password", "role": role, "unit_ids": units}))
        .await;
    assert_eq!(s, 201, "{v}");
    let r = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": email, "password": "linkage password"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// An HTTP receiver answering 200 to everything; forwards each body.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let k = s.read(&mut chunk).await.unwrap_or(0);
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        let _ = tx.send(
                            serde_json::from_slice(&buf[i + 4..i + 4 + len]).unwrap_or(Value::Null),
                        );
                        break;
                    }
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    (url, rx)
}

async fn synthetic_county_linkage_and_intercept(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    settings.video_playback_url =
        "http://wvp.example/api/playback/start/{device}/{channel}?startTime={from}&endTime={to}"
            .into();
    let app = spawn_app_with(settings).await;
    let admin = app.login().await;
    let (_, west) = app
        .post(
            "/api/v1/units",
            &admin,
            &json!({"name": "西区巡逻队", "default": true}),
        )
        .await;
    let (_, east) = app
        .post("/api/v1/units", &admin, &json!({"name": "东区检查站"}))
        .await;
    let (west, east) = (west["id"].as_i64().unwrap(), east["id"].as_i64().unwrap());

    let (s, r) = import(&app, &admin, "cameras", "", &county()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["total"].as_u64(), r["created"].as_u64()),
        (Some(15_950), Some(15_950)),
        "{r}"
    );
    let (cps, east_codes) = checkpoints(east, west);
    let (s, r) = import(&app, &admin, "checkpoints", "", &cps).await;
    assert_eq!((s, r["created"].as_u64()), (200, Some(12)), "{r}");

    // The vehicle: 20 fixes, 30 s apart, driving east at 60 km/h, ending a minute ago.
    let device = app.create_device("864000000015001").await;
    let t0 = Utc::now() - chrono::Duration::seconds(60 + 30 * (FIXES as i64 - 1));
    let t0 = DateTime::from_timestamp(t0.timestamp(), 0).unwrap();
    let rows: Vec<PositionRow> = (0..FIXES)
        .map(|i| {
            let lon = ROAD_LON0 + i as f64 * STEP_M * dlon_per_m();
            let mut p = protocol::Position::new(
                t0 + chrono::Duration::seconds(30 * i as i64),
                protocol::LatLon::new(ROAD_LAT, lon).unwrap(),
                true,
                60.0,
            );
            p.course = Some(90.0);
            PositionRow::from_position(device, &p, Utc::now())
        })
        .collect();
    app.db.insert_positions(&rows).await.unwrap();
    let alarm = alarm_store::insert_alarm(
        &app.db,
        &alarm_store::NewAlarm {
            device_id: device,
            kind: alarm_store::AlarmKind::Theft,
            severity: alarm_store::Severity::High,
            unit_id: Some(west),
            time: t0 + chrono::Duration::seconds(120),
            lat: Some(ROAD_LAT),
            lon: Some(ROAD_LON0),
            evidence: vec!["moved".into()],
        },
    )
    .await
    .unwrap();

    let (s, link) = app
        .get(&format!("/api/v1/alarms/{}/linkage", alarm.id), &admin)
        .await;
    assert_eq!(s, 200, "{link}");
    let passed = link["cameras_passed"].as_array().unwrap();
    let codes: Vec<&str> = passed.iter().map(|c| c["code"].as_str().unwrap()).collect();
    let want: Vec<&str> = known_cameras()
        .into_iter()
        .filter(|k| k.4)
        .map(|k| k.0)
        .collect();
    assert_eq!(codes, want, "exactly the cameras passed, in order: {link}");
    for c in passed {
        let code = c["code"].as_str().unwrap();
        let (_, _, lon, _, _) = known_cameras().into_iter().find(|k| k.0 == code).unwrap();
        // The true pass time: when the vehicle was abeam of the camera.
        let true_t = t0
            + chrono::Duration::milliseconds(
                ((lon - ROAD_LON0) / dlon_per_m() / STEP_M * 30_000.0) as i64,
            );
        let from: DateTime<Utc> = c["from"].as_str().unwrap().parse().unwrap();
        let to: DateTime<Utc> = c["to"].as_str().unwrap().parse().unwrap();
        assert!(
            from <= true_t && true_t <= to,
            "{code}: {from} .. {to} misses {true_t}"
        );
        assert!(
            to - from <= chrono::Duration::seconds(60),
            "{code}: window wider than the fix gaps: {c}"
        );
        let url = c["playback_url"].as_str().unwrap();
        assert!(
            url.starts_with("http://wvp.example/api/playback/start/34020000001320000001/"),
            "{url}"
        );
        assert!(
            url.contains(&format!("startTime={}", from.format("%Y-%m-%dT%H:%M:%SZ"))),
            "{url}"
        );
        assert!(c["distance_m"].as_f64().unwrap() <= 60.0, "{c}");
    }
    let ahead: Vec<&str> = link["checkpoints_ahead"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        ahead, east_codes,
        "eastern checkpoints by arrival, no western: {link}"
    );
    let etas: Vec<f64> = link["checkpoints_ahead"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["eta_secs"].as_f64().unwrap())
        .collect();
    assert!(etas.windows(2).all(|w| w[0] <= w[1]), "{etas:?}");
    // 1.5 km × 1.3 at 60 km/h ≈ 117 s.
    assert!(
        (etas[0] - 1500.0 * 1.3 / (60.0 / 3.6)).abs() < 10.0,
        "{etas:?}"
    );
    assert!(
        link["checkpoints_ahead"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["unit_id"] == east)
    );

    // Any stretch of track: the same cameras.
    let q = format!(
        "/api/v1/devices/{device}/cameras-passed?from={}&to={}",
        (t0 - chrono::Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (s, v) = app.get(&q, &admin).await;
    assert_eq!(s, 200, "{v}");
    let again: Vec<&str> = v["cameras_passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(again, want);

    // Intercept: the west unit's officer (handling the alarm) asks the nearest eastern
    // checkpoint; the east unit's officer hears it on the WebSocket, MQTT and the webhook.
    let officer_w = user(&app, &admin, "west@example.com", "officer", &[west]).await;
    let officer_e = user(&app, &admin, "east@example.com", "officer", &[east]).await;
    let (hook_url, mut hooks) = receiver().await;
    let (s, h) = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({"url": hook_url, "secret": "0123456789abcdef-linkage"}),
        )
        .await;
    assert_eq!(s, 201, "{h}");
    let ws_url = format!(
        "{}/api/v1/stream?types=alarm",
        app.http.replace("http://", "ws://")
    );
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {officer_e}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let addr = app.addrs["mqtt"];
    let mut o = MqttOptions::new("east@example.com:test", addr.ip().to_string(), addr.port());
    o.set_credentials("east@example.com", officer_e.as_str());
    let (client, mut ev) = AsyncClient::new(o, 100);
    ev.network_options.set_connection_timeout(30);
    client
        .subscribe(format!("vigil/units/{east}/intercepts"), QoS::AtMostOnce)
        .await
        .unwrap();
    while !matches!(ev.poll().await.unwrap(), Event::Incoming(Packet::SubAck(_))) {}
    let (mqtt_tx, mut mqtt_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = ev.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e {
                let _ = mqtt_tx.send((p.topic.clone(), p.payload.to_vec()));
            }
        }
    });
    // The WebSocket is subscribed once its upgrade answered; give the server a moment to
    // register the bus subscription.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let first = link["checkpoints_ahead"][0]["checkpoint_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/alarms/{}/intercepts", alarm.id);
    // The east officer does not handle this alarm: no intercept from them (and no linkage).
    let (s, _) = app
        .post(&path, &officer_e, &json!({"checkpoint_id": first}))
        .await;
    assert_eq!(s, 404);
    let (s, v) = app
        .post(&path, &officer_w, &json!({"checkpoint_id": first}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["created"].as_bool(), v["intercept"]["unit_id"].as_i64()),
        (Some(true), Some(east)),
        "{v}"
    );
    assert!(
        (v["intercept"]["eta_secs"].as_f64().unwrap() - etas[0]).abs() < 5.0,
        "{v}"
    );
    let (s, v2) = app
        .post(&path, &admin, &json!({"checkpoint_id": first}))
        .await;
    assert_eq!(s, 200, "{v2}");
    assert_eq!(v2["created"], false);
    assert_eq!(v2["intercept"]["id"], v["intercept"]["id"]);
    let (s, e) = app
        .post(&path, &admin, &json!({"checkpoint_id": 999_999}))
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("checkpoint_id")),
        "{e}"
    );

    // Exactly one notification on each channel.
    let next_json = |m: tokio_tungstenite::tungstenite::Message| -> Value {
        m.into_text()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    };
    let got = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let got = next_json(got);
    assert_eq!(
        (got["type"].as_str(), got["action"].as_str()),
        (Some("alarm"), Some("intercept_requested")),
        "{got}"
    );
    assert_eq!(got["intercept"]["checkpoint_id"], first);
    assert_eq!(got["alarm"]["id"], alarm.id);
    let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), mqtt_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(topic, format!("vigil/units/{east}/intercepts"));
    let m: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        (
            m["action"].as_str(),
            m["intercept"]["checkpoint_id"].as_i64()
        ),
        (Some("intercept_requested"), Some(first))
    );
    let hook = loop {
        let h = tokio::time::timeout(Duration::from_secs(10), hooks.recv())
            .await
            .unwrap()
            .unwrap();
        if h["event"] == "alarm.intercept_requested" {
            break h;
        }
    };
    assert_eq!(hook["intercept"]["checkpoint_id"], first);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ws.next())
            .await
            .is_err(),
        "a second WebSocket notification"
    );
    assert!(mqtt_rx.try_recv().is_err(), "a second MQTT notification");
    while let Ok(h) = hooks.try_recv() {
        assert_ne!(
            h["event"], "alarm.intercept_requested",
            "a second webhook: {h}"
        );
    }

    // In the lifecycle, with the checkpoint's unit; and in the linkage.
    let (_, detail) = app
        .get(&format!("/api/v1/alarms/{}", alarm.id), &admin)
        .await;
    let steps: Vec<&Value> = detail["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "intercept_requested")
        .collect();
    assert_eq!(steps.len(), 1, "{detail}");
    assert_eq!(steps[0]["unit_id"], east);
    let (_, link) = app
        .get(&format!("/api/v1/alarms/{}/linkage", alarm.id), &officer_w)
        .await;
    assert_eq!(
        link["intercepts"][0]["checkpoint_code"],
        east_codes[0].as_str(),
        "{link}"
    );
    // Officers see the checkpoints of their unit only.
    let (_, mine) = app.get("/api/v1/checkpoints?limit=100", &officer_e).await;
    let listed: Vec<&str> = mine["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(listed, east_codes);
    // The owner-side never: an owner's linkage request is a 404.
    let owner = user(&app, &admin, "owner@example.com", "owner", &[]).await;
    assert_eq!(
        app.get(&format!("/api/v1/alarms/{}/linkage", alarm.id), &owner)
            .await
            .0,
        404
    );
    assert_eq!(app.get("/api/v1/cameras", &owner).await.0, 404);
    app.stop().await;
}

async fn imports_convert_and_refuse_whole(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let count = |v: &Value| v["cameras"].as_array().map_or(0, Vec::len);

    // GCJ-02 and BD-09: the published pair of wandergis/coordtransform, WGS-84 (39.915,
    // 116.404) ↔ GCJ-02 (39.91640428150164, 116.41024449916938); GCJ-02 (39.915, 116.404) ↔
    // BD-09 (39.92133699351021, 116.41036949371029), and GCJ-02 (39.915, 116.404) → WGS-84
    // (39.91359571849836, 116.39775550083061).
    let csv = "code,name,lat,lon,kind,facing\r\nGCJ-1,天安门,39.91640428150164,116.41024449916938,public,S\r\n";
    let (s, r) = import_csv(&app, &admin, "cameras", "?crs=gcj02", csv).await;
    assert_eq!((s, r["created"].as_u64()), (200, Some(1)), "{r}");
    let geo = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
        "geometry": {"type": "Point", "coordinates": [116.41036949371029, 39.92133699351021]},
        "properties": {"code": "BD-1", "kind": "traffic", "direction_type": 6}}]});
    let (s, r) = import(&app, &admin, "cameras", "?crs=bd09", &geo).await;
    assert_eq!(s, 200, "{r}");
    let (_, v) = app.get("/api/v1/cameras", &admin).await;
    let cams = v["cameras"].as_array().unwrap();
    let gcj = cams.iter().find(|c| c["code"] == "GCJ-1").unwrap();
    assert!(
        (gcj["lat"].as_f64().unwrap() - 39.915).abs() < 1e-5
            && (gcj["lon"].as_f64().unwrap() - 116.404).abs() < 1e-5,
        "{gcj}"
    );
    assert_eq!(gcj["facing_deg"], 180.0);
    let bd = cams.iter().find(|c| c["code"] == "BD-1").unwrap();
    assert!(
        (bd["lat"].as_f64().unwrap() - 39.91359571849836).abs() < 2e-5
            && (bd["lon"].as_f64().unwrap() - 116.39775550083061).abs() < 2e-5,
        "{bd}"
    );
    assert_eq!(
        (
            bd["facing_deg"].as_f64(),
            bd["fov_deg"].as_f64(),
            bd["range_m"].as_f64()
        ),
        (Some(45.0), Some(90.0), Some(60.0))
    );

    // Upsert by code: the same code again updates, a new one is created.
    let csv = "code,lat,lon,kind,range_m\nGCJ-1,22.5,114.0,social,80\nNEW-1,22.6,114.1,rural,\n";
    let (s, r) = import_csv(&app, &admin, "cameras", "", csv).await;
    assert_eq!(
        (s, r["created"].as_u64(), r["updated"].as_u64()),
        (200, Some(1), Some(1)),
        "{r}"
    );
    let (_, v) = app.get("/api/v1/cameras", &admin).await;
    assert_eq!(count(&v), 3);
    let updated = v["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "GCJ-1")
        .unwrap()
        .clone();
    assert_eq!(
        (
            updated["kind"].as_str(),
            updated["range_m"].as_f64(),
            updated["lat"].as_f64()
        ),
        (Some("social"), Some(80.0), Some(22.5))
    );

    // A bad row names its line and field, and nothing of the file is stored.
    let csv = "code,lat,lon,kind\nOK-1,22.5,114.0,public\nOK-2,22.5,114.0,public\nBAD-3,22.5,east,public\n";
    let (s, e) = import_csv(&app, &admin, "cameras", "", csv).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(
        (
            e["error"]["code"].as_str(),
            e["error"]["line"].as_u64(),
            e["error"]["field"].as_str()
        ),
        (Some("invalid_row"), Some(4), Some("lon")),
        "{e}"
    );
    let (s, e) = import_csv(
        &app,
        &admin,
        "cameras",
        "",
        "code,lat,lon,kind\nX,1,1,moon\n",
    )
    .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("kind")),
        "{e}"
    );
    // A GeoJSON feature names its index; a GB/T 28181-looking code must be one.
    let geo = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.0, 22.5]}, "properties": {"code": "OK-9", "kind": "public"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.0, 22.5]}, "properties": {"code": "34020000005000000001", "kind": "public"}}]});
    let (s, e) = import(&app, &admin, "cameras", "", &geo).await;
    assert_eq!(
        (
            s,
            e["error"]["feature"].as_u64(),
            e["error"]["field"].as_str()
        ),
        (400, Some(1), Some("code")),
        "{e}"
    );
    // An unknown unit is a bad row too, not a database error after half the rows.
    let (s, e) = import_csv(
        &app,
        &admin,
        "cameras",
        "",
        "code,lat,lon,kind,unit_id\nU-1,1,1,public,\nU-2,1,1,public,4242\n",
    )
    .await;
    assert_eq!(
        (s, e["error"]["line"].as_u64(), e["error"]["field"].as_str()),
        (400, Some(3), Some("unit_id")),
        "{e}"
    );
    // Duplicate codes in one file.
    let (s, e) = import_csv(
        &app,
        &admin,
        "cameras",
        "",
        "code,lat,lon,kind\nD,1,1,public\nD,2,2,public\n",
    )
    .await;
    assert_eq!((s, e["error"]["line"].as_u64()), (400, Some(3)), "{e}");
    let (_, v) = app.get("/api/v1/cameras", &admin).await;
    assert_eq!(count(&v), 3, "nothing half-imported: {v}");

    // Checkpoints: CSV with staffed hours; a bad one names its line.
    let csv = "code,name,lat,lon,staffed_hours\nKK-1,北站,22.5,114.0,08:00-20:00\nKK-2,南站,22.4,114.0,\n";
    let (s, r) = import_csv(&app, &admin, "checkpoints", "", csv).await;
    assert_eq!((s, r["created"].as_u64()), (200, Some(2)), "{r}");
    let (s, e) = import_csv(
        &app,
        &admin,
        "checkpoints",
        "",
        "code,lat,lon,staffed_hours\nKK-3,1,1,always\n",
    )
    .await;
    assert_eq!(
        (s, e["error"]["line"].as_u64(), e["error"]["field"].as_str()),
        (400, Some(2), Some("staffed_hours")),
        "{e}"
    );
    // Create, duplicate code, update, bbox filter, delete.
    let (s, c) = app
        .post(
            "/api/v1/cameras",
            &admin,
            &json!({"code": "C-9", "lat": 10.0, "lon": 10.0, "kind": "traffic"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, _) = app
        .post(
            "/api/v1/cameras",
            &admin,
            &json!({"code": "C-9", "lat": 10.0, "lon": 10.0, "kind": "traffic"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, e) = app
        .post(
            "/api/v1/cameras",
            &admin,
            &json!({"code": "C-10", "lat": 100.0, "lon": 10.0, "kind": "traffic"}),
        )
        .await;
    assert_eq!((s, e["error"]["field"].as_str()), (400, Some("lat")), "{e}");
    let (s, u) = app
        .put(
            &format!("/api/v1/cameras/{}", c["id"]),
            &admin,
            &json!({"code": "C-9", "lat": 10.5, "lon": 10.0, "kind": "traffic", "facing": "W"}),
        )
        .await;
    assert_eq!((s, u["facing_deg"].as_f64()), (200, Some(270.0)), "{u}");
    let (_, v) = app.get("/api/v1/cameras?bbox=9,9,11,11", &admin).await;
    assert_eq!(count(&v), 1, "{v}");
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/cameras/{}", c["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.get(&format!("/api/v1/cameras/{}", c["id"]), &admin)
            .await
            .0,
        404
    );
    app.stop().await;
}

async fn stats_match_hand_counts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let (_, a) = app
        .post("/api/v1/units", &admin, &json!({"name": "A"}))
        .await;
    let (_, b) = app
        .post("/api/v1/units", &admin, &json!({"name": "B"}))
        .await;
    let (ua, ub) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let device = app.create_device("864000000015002").await;
    // 40 alarms over a week from Monday 2026-11-02, three kinds, two units and none,
    // scattered over a few kilometres.
    let monday = DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut rng = Lcg(42);
    let mut made = Vec::new();
    for i in 0..40 {
        let t = monday + chrono::Duration::minutes((rng.next() * 7.0 * 24.0 * 60.0) as i64);
        let (lat, lon) = (30.0 + rng.next() * 0.05, 120.0 + rng.next() * 0.05);
        let kind = [
            alarm_store::AlarmKind::Theft,
            alarm_store::AlarmKind::Sos,
            alarm_store::AlarmKind::Vibration,
        ][i % 3];
        let unit = [Some(ua), Some(ub), None][i % 5 % 3];
        let a = alarm_store::insert_alarm(
            &app.db,
            &alarm_store::NewAlarm {
                device_id: device,
                kind,
                severity: kind.severity(),
                unit_id: unit,
                time: t,
                lat: Some(lat),
                lon: Some(lon),
                evidence: vec![],
            },
        )
        .await
        .unwrap();
        made.push((a.id, t, lat, lon, kind, unit));
    }
    // One outside the period.
    alarm_store::insert_alarm(
        &app.db,
        &alarm_store::NewAlarm {
            device_id: device,
            kind: alarm_store::AlarmKind::Theft,
            severity: alarm_store::Severity::High,
            unit_id: Some(ua),
            time: monday - chrono::Duration::days(1),
            lat: Some(30.0),
            lon: Some(120.0),
            evidence: vec![],
        },
    )
    .await
    .unwrap();

    let (from, to) = ("2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z");
    let (s, v) = app
        .get(
            &format!(
                "/api/v1/stats/alarms?kind=theft&from={from}&to={to}&cell_m=1000&tz_offset_min=480"
            ),
            &admin,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let theft: Vec<_> = made
        .iter()
        .filter(|m| m.4 == alarm_store::AlarmKind::Theft)
        .collect();
    assert_eq!(v["total"].as_u64(), Some(theft.len() as u64));
    // By hand: cells, hours of the week (local time UTC+8), units.
    let mut cells = std::collections::BTreeMap::new();
    let mut hours = vec![0u64; 168];
    let mut units = std::collections::BTreeMap::new();
    for m in &theft {
        let c = vigil_server::domain::engine::grid_cells::cell_of(m.2, m.3, 1000.0);
        *cells.entry((c.row, c.col)).or_insert(0u64) += 1;
        let local = m.1 + chrono::Duration::hours(8);
        hours[local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize] += 1;
        *units.entry(m.5).or_insert(0u64) += 1;
    }
    let got_cells: std::collections::BTreeMap<(i64, i64), u64> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                (
                    f["properties"]["row"].as_i64().unwrap(),
                    f["properties"]["col"].as_i64().unwrap(),
                ),
                f["properties"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got_cells, cells);
    assert_eq!(
        v["hour_of_week"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_u64().unwrap())
            .collect::<Vec<_>>(),
        hours
    );
    let got_units: std::collections::BTreeMap<Option<i64>, u64> = v["by_unit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["unit_id"].as_i64(), u["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got_units, units);
    assert_eq!(v["features"][0]["geometry"]["type"], "Polygon");
    assert_eq!(
        v["features"][0]["geometry"]["coordinates"][0]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // Unit performance: unit A's alarms acknowledged after 1, 2, 3, … minutes (the opening
    // moved back in time), half resolved as recovered, one as a false alarm.
    let a_alarms: Vec<i64> = made
        .iter()
        .filter(|m| m.5 == Some(ua))
        .map(|m| m.0)
        .collect();
    let mut ack_mins = Vec::new();
    for (k, id) in a_alarms.iter().enumerate() {
        let mins = (k + 1) as i64;
        ack_mins.push(mins as f64 * 60.0);
        let opened = Utc::now() - chrono::Duration::minutes(mins);
        match &app.db {
            vigil_server::storage::Db::Sqlite(p) => {
                sqlx::query("UPDATE alarms SET created_at = $1 WHERE id = $2")
                    .bind(opened)
                    .bind(id)
                    .execute(p)
                    .await
                    .unwrap();
            }
            vigil_server::storage::Db::Postgres(p) => {
                sqlx::query("UPDATE alarms SET created_at = $1 WHERE id = $2")
                    .bind(opened)
                    .bind(id)
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
        let (s, _) = app
            .post(&format!("/api/v1/alarms/{id}/ack"), &admin, &json!({}))
            .await;
        assert_eq!(s, 200);
    }
    let resolved: Vec<i64> = a_alarms.iter().step_by(2).copied().collect();
    for (k, id) in resolved.iter().enumerate() {
        let outcome = if k == 0 { "false_alarm" } else { "recovered" };
        let (s, _) = app
            .post(
                &format!("/api/v1/alarms/{id}/resolve"),
                &admin,
                &json!({"outcome": outcome}),
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, v) = app
        .get(&format!("/api/v1/stats/units?from={from}&to={to}"), &admin)
        .await;
    assert_eq!(s, 200, "{v}");
    let a = v["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit_id"] == ua)
        .unwrap();
    assert_eq!(
        (
            a["alarms"].as_u64(),
            a["acknowledged"].as_u64(),
            a["resolved"].as_u64()
        ),
        (
            Some(a_alarms.len() as u64),
            Some(a_alarms.len() as u64),
            Some(resolved.len() as u64)
        ),
        "{a}"
    );
    let mut sorted = ack_mins.clone();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).max(1) - 1];
    assert!(
        (a["ack_median_secs"].as_f64().unwrap() - rank(0.5)).abs() < 30.0,
        "{a} vs {}",
        rank(0.5)
    );
    assert!(
        (a["ack_p90_secs"].as_f64().unwrap() - rank(0.9)).abs() < 30.0,
        "{a} vs {}",
        rank(0.9)
    );
    assert_eq!(
        a["outcomes"],
        json!({"false_alarm": 1, "recovered": resolved.len() - 1})
    );
    let b = v["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit_id"] == ub)
        .unwrap();
    assert_eq!(
        (
            b["alarms"].as_u64(),
            b["acknowledged"].as_u64(),
            b["ack_median_secs"].as_f64()
        ),
        (
            Some(made.iter().filter(|m| m.5 == Some(ub)).count() as u64),
            Some(0),
            None
        )
    );
    // Planning figures are for administrators and dispatchers only.
    let officer = user(&app, &admin, "o@example.com", "officer", &[ua]).await;
    assert_eq!(app.get("/api/v1/stats/units", &officer).await.0, 404);
    let (s, e) = app.get("/api/v1/stats/alarms?cell_m=5", &admin).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_cell"))
    );
    app.stop().await;
}
