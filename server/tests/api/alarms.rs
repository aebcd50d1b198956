//! Issue 5: alarms from emulated devices through the TCP gateway, observed through the API, a
//! WebSocket client and an MQTT subscriber (the observers of [`crate::rules::Rig`]).

use std::time::Duration;

use protocol::gt06;
use protocol::{Alarm, LatLon, Position};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb};
use crate::rules::{count_log, rig, wait_log};

both_backends!(
    gt06_vibration_flood_is_one_alarm,
    gt06_device_alarms_and_lifecycle,
    armed_theft_routed_to_jurisdiction_unit,
    geofence_exit_without_jitter_alarms,
    overspeed_held_against_device_limit,
);

pub(crate) const LAT0: f64 = 22.5;
pub(crate) const LON0: f64 = 114.0;
/// Metres per degree of latitude.
pub(crate) const M_PER_DEG: f64 = 111_195.0;

/// A GT06 device on a TCP connection whose acks are drained in the background.
pub(crate) struct Gt06Device {
    tx: tokio::net::tcp::OwnedWriteHalf,
    serial: u16,
    _drain: tokio::task::JoinHandle<()>,
}

impl Gt06Device {
    pub(crate) async fn connect(app: &TestApp, imei: &str) -> Gt06Device {
        let stream = TcpStream::connect(app.addrs["gt06"]).await.unwrap();
        let (mut rx, tx) = stream.into_split();
        let drain = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = rx.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
        let mut d = Gt06Device {
            tx,
            serial: 0,
            _drain: drain,
        };
        d.send(gt06::device::login(imei, 1).unwrap()).await;
        d
    }
    pub(crate) async fn send(&mut self, frame: Vec<u8>) {
        self.tx.write_all(&frame).await.unwrap();
    }
    pub(crate) fn next_serial(&mut self) -> u16 {
        self.serial = self.serial.wrapping_add(1).max(2);
        self.serial
    }
    pub(crate) async fn location(&mut self, p: &Position) {
        let s = self.next_serial();
        self.send(gt06::device::location(p, s)).await;
    }
    pub(crate) async fn alarm(&mut self, p: &Position) {
        let s = self.next_serial();
        self.send(gt06::device::alarm(p, s)).await;
    }
}

/// A fix `t` seconds past 2024-01-01 at `north_m` metres north of the start point.
pub(crate) fn fix(t: i64, north_m: f64) -> Position {
    let time = chrono::DateTime::from_timestamp(1_704_067_200 + t, 0).unwrap();
    let mut p = Position::new(
        time,
        LatLon::new(LAT0 + north_m / M_PER_DEG, LON0).unwrap(),
        true,
        0.0,
    );
    p.satellites = Some(9);
    p.status.battery_level = Some(80);
    p
}

pub(crate) fn with_alarm(mut p: Position, a: Alarm) -> Position {
    p.status.alarms.insert(a);
    p
}

/// Waits (bounded by the harness, no timing assertion) until `pred` holds for the alarm list.
pub(crate) async fn wait_alarms(
    app: &TestApp,
    token: &str,
    query: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v) = app.get(&format!("/api/v1/alarms?{query}"), token).await;
        assert_eq!(s, 200, "{v}");
        let list = v["alarms"].as_array().cloned().unwrap_or_default();
        if pred(&list) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alarms never matched: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn device_id(app: &TestApp, imei: &str) -> i64 {
    loop {
        if let Some(d) = app.db.device_by_unique_id(imei).await.unwrap() {
            return d.id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn gt06_vibration_flood_is_one_alarm(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    let app = &r.app;
    let token = r.token.clone();
    let imei = "359710040000101";
    let mut dev = Gt06Device::connect(app, imei).await;
    // 1,000 vibration packets spread over one minute of device time, sent as fast as possible.
    for i in 0..1000i64 {
        let p = with_alarm(fix(i * 60 / 1000, 0.0), Alarm::Vibration);
        dev.alarm(&p).await;
    }
    let id = device_id(app, imei).await;
    let list = wait_alarms(app, &token, &format!("device_id={id}"), |l| {
        l.first().is_some_and(|a| a["count"] == 1000)
    })
    .await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kind"], "vibration");
    assert_eq!(list[0]["status"], "open");
    // WebSocket and MQTT: one opening, then updates of the same alarm up to the full count.
    let first = r.opened(id, imei, "vibration").await;
    assert_eq!(first["id"], list[0]["id"]);
    wait_log(&r.ws, "ws count 1000", |t, v| {
        t == "alarm" && v["alarm"]["id"] == first["id"] && v["alarm"]["count"] == 1000
    })
    .await;
    let topic = format!("vigil/devices/{imei}/alarms");
    wait_log(&r.mqtt, "mqtt count 1000", |t, v| {
        t == topic && v["alarm"]["count"] == 1000
    })
    .await;
    assert_eq!(r.ws_opened(id, "vibration"), 1);
    assert_eq!(
        count_log(&r.mqtt, |t, v| t == topic && v["action"] == "opened"),
        1
    );
    r.app.stop().await;
}

async fn gt06_device_alarms_and_lifecycle(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    let app = &r.app;
    let token = r.token.clone();
    let (s, unit) = app
        .post(
            "/api/v1/units",
            &token,
            &json!({"name": "Default patrol", "default": true}),
        )
        .await;
    assert_eq!(s, 201, "{unit}");
    let unit_id = unit["id"].as_i64().unwrap();
    let (s, second) = app
        .post("/api/v1/units", &token, &json!({"name": "Night patrol"}))
        .await;
    assert_eq!(s, 201);
    let imei = "359710040000102";
    let mut dev = Gt06Device::connect(app, imei).await;
    dev.alarm(&with_alarm(fix(0, 0.0), Alarm::Sos)).await;
    dev.alarm(&with_alarm(fix(10, 0.0), Alarm::PowerCut)).await;
    let mut low = with_alarm(fix(20, 0.0), Alarm::LowBattery);
    low.status.battery_level = Some(5);
    dev.alarm(&low).await;
    dev.alarm(&with_alarm(fix(30, 0.0), Alarm::Vibration)).await;
    let id = device_id(app, imei).await;
    let list = wait_alarms(app, &token, &format!("device_id={id}"), |l| l.len() == 4).await;
    let kinds: Vec<&str> = list.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    for k in ["sos", "power_cut", "low_battery", "vibration"] {
        assert!(kinds.contains(&k), "{kinds:?}");
        let seen = r.opened(id, imei, k).await;
        assert_eq!(seen["unit_id"], unit_id, "{seen}");
    }
    // Routed to the default unit; SOS is high severity.
    assert!(list.iter().all(|a| a["unit_id"] == unit_id), "{list:?}");
    let sos = list.iter().find(|a| a["kind"] == "sos").unwrap();
    assert_eq!(sos["severity"], "high");
    // Filters.
    let (_, v) = app.get("/api/v1/alarms?type=sos&status=open", &token).await;
    assert_eq!(v["alarms"].as_array().unwrap().len(), 1);
    let (s, v) = app.get("/api/v1/alarms?status=bogus", &token).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = app.get("/api/v1/alarms?type=bogus", &token).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().starts_with("type "),
        "{v}"
    );
    // Lifecycle.
    let sos_id = sos["id"].as_i64().unwrap();
    let (s, a) = app
        .post(&format!("/api/v1/alarms/{sos_id}/ack"), &token, &json!({}))
        .await;
    assert_eq!((s, a["status"].as_str()), (200, Some("acknowledged")));
    let (s, a) = app
        .post(
            &format!("/api/v1/alarms/{sos_id}/assign"),
            &token,
            &json!({"unit_id": second["id"]}),
        )
        .await;
    assert_eq!((s, a["status"].as_str()), (200, Some("assigned")), "{a}");
    assert_eq!(a["unit_id"], second["id"]);
    let (s, _) = app
        .post(
            &format!("/api/v1/alarms/{sos_id}/resolve"),
            &token,
            &json!({"outcome": "maybe"}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, a) = app
        .post(
            &format!("/api/v1/alarms/{sos_id}/resolve"),
            &token,
            &json!({"outcome": "false_alarm"}),
        )
        .await;
    assert_eq!((s, a["status"].as_str()), (200, Some("resolved")));
    let (s, _) = app
        .post(&format!("/api/v1/alarms/{sos_id}/ack"), &token, &json!({}))
        .await;
    assert_eq!(s, 409);
    let (s, v) = app.get(&format!("/api/v1/alarms/{sos_id}"), &token).await;
    assert_eq!(s, 200);
    let steps: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["opened", "acknowledged", "assigned", "resolved"]);
    assert!(v["actions"][1]["user_id"].is_i64());
    assert_eq!(v["alarm"]["outcome"], "false_alarm");
    r.app.stop().await;
}

/// Square jurisdiction of about `half_m` metres around the start point.
pub(crate) fn square(half_m: f64, props: Value) -> Value {
    let d = half_m / M_PER_DEG;
    let ring = json!([
        [LON0 - d, LAT0 - d],
        [LON0 + d, LAT0 - d],
        [LON0 + d, LAT0 + d],
        [LON0 - d, LAT0 + d],
        [LON0 - d, LAT0 - d]
    ]);
    json!({"type": "Feature", "properties": props,
           "geometry": {"type": "Polygon", "coordinates": [ring]}})
}

/// Moves a device 300 m north over three minutes of device time (a fix every 15 s),
/// starting at device time `t0`.
pub(crate) async fn drive_300m(dev: &mut Gt06Device, t0: i64) {
    for step in 0..=12 {
        let mut p = fix(t0 + step * 15, 25.0 * step as f64);
        p.speed_kmh = 6.0;
        dev.location(&p).await;
    }
}

async fn armed_theft_routed_to_jurisdiction_unit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    let app = &r.app;
    let token = r.token.clone();
    let (_, fallback) = app
        .post(
            "/api/v1/units",
            &token,
            &json!({"name": "Fallback", "default": true}),
        )
        .await;
    let (_, district) = app
        .post("/api/v1/units", &token, &json!({"name": "District 3"}))
        .await;
    let (s, fence) = app
        .post(
            "/api/v1/fences",
            &token,
            &square(
                2000.0,
                json!({"kind": "jurisdiction", "name": "District 3", "unit_id": district["id"]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{fence}");
    let (s, all) = app.get("/api/v1/fences", &token).await;
    assert_eq!(s, 200);
    assert_eq!(all["features"][0]["properties"]["unit_id"], district["id"]);

    // Armed: parked, then pushed away 300 m.
    let armed_imei = "359710040000103";
    let mut armed = Gt06Device::connect(app, armed_imei).await;
    armed.location(&fix(0, 0.0)).await;
    let armed_id = device_id(app, armed_imei).await;
    // Arming at the latest stored position needs it to be committed first.
    while app.db.latest_position(armed_id).await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, g) = app
        .post(
            &format!("/api/v1/devices/{armed_id}/arm"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["armed"], true);
    // GPS jitter while parked (about 20 m): no alarm.
    for (i, j) in [12.0, -15.0, 20.0, -8.0].iter().enumerate() {
        armed.location(&fix(10 + i as i64 * 10, *j)).await;
    }
    drive_300m(&mut armed, 100).await;
    let list = wait_alarms(app, &token, &format!("device_id={armed_id}"), |l| {
        l.iter().any(|a| a["kind"] == "theft")
    })
    .await;
    // A marker alarm after more movement proves everything before it was evaluated.
    drive_300m(&mut armed, 400).await;
    armed.alarm(&with_alarm(fix(700, 300.0), Alarm::Sos)).await;
    let list2 = wait_alarms(app, &token, &format!("device_id={armed_id}"), |l| {
        l.iter().any(|a| a["kind"] == "sos")
    })
    .await;
    let thefts: Vec<&Value> = list2.iter().filter(|a| a["kind"] == "theft").collect();
    assert_eq!(thefts.len(), 1, "exactly one theft alarm: {list:?}");
    let theft = thefts[0];
    assert_eq!(theft["severity"], "high");
    assert_eq!(theft["unit_id"], district["id"], "routed by jurisdiction");
    assert!(
        theft["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "moved"),
        "{theft}"
    );
    assert_ne!(theft["unit_id"], fallback["id"]);
    let seen = r.opened(armed_id, armed_imei, "theft").await;
    assert_eq!(seen["unit_id"], district["id"]);
    assert_eq!(r.ws_opened(armed_id, "theft"), 1);

    // Armed then disarmed: the same movement raises nothing.
    let calm_imei = "359710040000104";
    let mut calm = Gt06Device::connect(app, calm_imei).await;
    calm.location(&fix(0, 0.0)).await;
    let calm_id = device_id(app, calm_imei).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/devices/{calm_id}/arm"),
            &token,
            &json!({"lat": LAT0, "lon": LON0}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, g) = app
        .post(
            &format!("/api/v1/devices/{calm_id}/disarm"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!((s, g["armed"].as_bool()), (200, Some(false)));
    drive_300m(&mut calm, 100).await;
    calm.alarm(&with_alarm(fix(400, 300.0), Alarm::Sos)).await;
    let list = wait_alarms(app, &token, &format!("device_id={calm_id}"), |l| {
        l.iter().any(|a| a["kind"] == "sos")
    })
    .await;
    assert!(
        list.iter().all(|a| a["kind"] != "theft"),
        "disarmed: no theft: {list:?}"
    );
    assert_eq!(r.ws_opened(calm_id, "theft"), 0);
    r.app.stop().await;
}

async fn geofence_exit_without_jitter_alarms(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    let app = &r.app;
    let token = r.token.clone();
    // A real (irregular) polygon: the northern edge is 500 m north of the start point.
    let d = 500.0 / M_PER_DEG;
    let ring = json!([
        [LON0 - 2.0 * d, LAT0 - d],
        [LON0 + 1.5 * d, LAT0 - 1.2 * d],
        [LON0 + 2.0 * d, LAT0 + d],
        [LON0 + 0.3 * d, LAT0 + d],
        [LON0 - 1.7 * d, LAT0 + d],
        [LON0 - 2.0 * d, LAT0 - d]
    ]);
    let (s, fence) = app
        .post(
            "/api/v1/fences",
            &token,
            &json!({"type": "Feature", "properties": {"kind": "keep_in", "name": "Home"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]}}),
        )
        .await;
    assert_eq!(s, 201, "{fence}");
    let (s, bad) = app
        .post(
            "/api/v1/fences",
            &token,
            &json!({"type": "Feature", "properties": {"kind": "keep_in"},
                    "geometry": {"type": "Polygon", "coordinates": [[[LON0, LAT0], [LON0 + d, LAT0]]]}}),
        )
        .await;
    assert_eq!(s, 400, "{bad}");
    let imei = "359710040000105";
    let mut dev = Gt06Device::connect(app, imei).await;
    dev.location(&fix(0, 0.0)).await;
    let id = device_id(app, imei).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/devices/{id}/fences"),
            &token,
            &json!({"fence_id": fence["id"]}),
        )
        .await;
    assert_eq!(s, 204);
    // Well inside for over a minute: the tracker confirms the vehicle is in.
    for t in [5, 35, 70] {
        dev.location(&fix(t, 0.0)).await;
    }
    // Parked 20 m inside the edge; jitter of up to 35 m crosses it now and then.
    for (i, j) in [0.0, 35.0, -10.0, 30.0, 5.0, 35.0, -20.0, 10.0]
        .iter()
        .enumerate()
    {
        dev.location(&fix(80 + 10 * i as i64, 480.0 + j)).await;
    }
    dev.alarm(&with_alarm(fix(170, 480.0), Alarm::Sos)).await;
    let list = wait_alarms(app, &token, &format!("device_id={id}"), |l| {
        l.iter().any(|a| a["kind"] == "sos")
    })
    .await;
    assert!(
        list.iter().all(|a| a["kind"] != "geofence_exit"),
        "jitter alarmed: {list:?}"
    );
    // A real departure: 200 m out, held for over a minute.
    for i in 0..6 {
        dev.location(&fix(300 + 15 * i, 700.0 + 10.0 * i as f64))
            .await;
    }
    let list = wait_alarms(
        app,
        &token,
        &format!("device_id={id}&type=geofence_exit"),
        |l| !l.is_empty(),
    )
    .await;
    assert_eq!(list.len(), 1);
    r.opened(id, imei, "geofence_exit").await;
    assert_eq!(r.ws_opened(id, "geofence_exit"), 1);
    r.app.stop().await;
}

async fn overspeed_held_against_device_limit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    let app = &r.app;
    let token = r.token.clone();
    let imei = "359710040000106";
    let mut dev = Gt06Device::connect(app, imei).await;
    dev.location(&fix(0, 0.0)).await;
    let id = device_id(app, imei).await;
    let client = &app.client;
    let res = client
        .put(app.url(&format!("/api/v1/devices/{id}/speed-limit")))
        .bearer_auth(&token)
        .json(&json!({"limit_kmh": 60.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let fast = |t: i64, kmh: f32| {
        let mut p = fix(t, t as f64 * 20.0);
        p.speed_kmh = kmh;
        p
    };
    // A 5-second burst over the limit (the hold is 10 s): no alarm.
    for t in 1..=5 {
        dev.location(&fast(t, 80.0)).await;
    }
    dev.location(&fast(6, 40.0)).await;
    dev.alarm(&with_alarm(fix(7, 0.0), Alarm::Sos)).await;
    let list = wait_alarms(app, &token, &format!("device_id={id}"), |l| {
        l.iter().any(|a| a["kind"] == "sos")
    })
    .await;
    assert!(list.iter().all(|a| a["kind"] != "overspeed"), "{list:?}");
    // Held for 20 s: one alarm.
    for t in 10..=30 {
        dev.location(&fast(t, 85.0)).await;
    }
    let list = wait_alarms(
        app,
        &token,
        &format!("device_id={id}&type=overspeed"),
        |l| !l.is_empty(),
    )
    .await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["count"], 1);
    r.opened(id, imei, "overspeed").await;
    assert_eq!(r.ws_opened(id, "overspeed"), 1);
    r.app.stop().await;
}
