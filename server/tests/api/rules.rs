//! Issue 5, rule by rule: emulated devices through the TCP gateway (and OsmAnd HTTP, MQTT),
//! each outcome observed through the API, a WebSocket client and an MQTT subscriber (rumqttc).
//! Waits are bounded by generous deadlines; nothing asserts on speed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use protocol::{Alarm, DeviceId, DeviceStatus, Position, gt06};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_server::Settings;

use crate::alarms::{
    Gt06Device, LAT0, LON0, M_PER_DEG, device_id, fix, square, wait_alarms, with_alarm,
};
use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, spawn_app_with, test_settings};

both_backends!(
    derived_battery_and_power_from_fixes_and_heartbeats,
    armed_ignition_theft_pursued_by_unit,
    armed_theft_by_vibration_movement_and_power_cut,
    offline_while_armed_once_per_silence,
    osmand_and_mqtt_positions_raise_alarms,
    rule_state_survives_restart,
);

/// Events as (type or topic, JSON).
pub(crate) type Log = Arc<Mutex<Vec<(String, Value)>>>;

const DEADLINE: Duration = Duration::from_secs(60);

/// Waits until an entry of `log` satisfies `pred`; returns it.
pub(crate) async fn wait_log(log: &Log, what: &str, pred: impl Fn(&str, &Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        {
            let l = log.lock().unwrap();
            if let Some((_, v)) = l.iter().find(|(k, v)| pred(k, v)) {
                return v.clone();
            }
            assert!(Instant::now() < deadline, "{what} never seen in {l:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn count_log(log: &Log, pred: impl Fn(&str, &Value) -> bool) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(k, v)| pred(k, v))
        .count()
}

/// A WebSocket client of `/api/v1/stream{query}` recording every event.
async fn ws_log(app: &TestApp, token: &str, query: &str) -> Log {
    let mut req = format!(
        "{}/api/v1/stream{query}",
        app.http.replace("http://", "ws://")
    )
    .into_client_request()
    .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    tokio::spawn(async move {
        while let Some(Ok(m)) = ws.next().await {
            if let Ok(t) = m.into_text()
                && let Ok(v) = serde_json::from_str::<Value>(&t)
            {
                let kind = v["type"].as_str().unwrap_or_default().to_owned();
                l.lock().unwrap().push((kind, v));
            }
        }
    });
    log
}

/// An MQTT subscriber of every unit's and device's alarm and pursuit topics: a user (the
/// administrator) logged in with a session token, as the broker requires of subscribers.
async fn mqtt_log(app: &TestApp, token: &str) -> Log {
    let addr = app.addrs["mqtt"];
    let login = crate::helpers::ADMIN_EMAIL;
    let mut o = MqttOptions::new(
        format!("{login}:watcher"),
        addr.ip().to_string(),
        addr.port(),
    );
    o.set_credentials(login, token);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut ev) = AsyncClient::new(o, 1000);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    for topic in [
        "vigil/units/+/alarms",
        "vigil/devices/+/alarms",
        "vigil/units/+/positions",
    ] {
        client.subscribe(topic, QoS::AtMostOnce).await.unwrap();
    }
    let mut acks = 0;
    while acks < 3 {
        if let Event::Incoming(Packet::SubAck(_)) = ev.poll().await.unwrap() {
            acks += 1;
        }
    }
    let log: Log = Arc::default();
    let l = log.clone();
    tokio::spawn(async move {
        let _client = client;
        while let Ok(e) = ev.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e
                && let Ok(v) = serde_json::from_slice::<Value>(&p.payload)
            {
                l.lock().unwrap().push((p.topic.clone(), v));
            }
        }
    });
    log
}

/// The server with MQTT on, an administrator token, and both observers.
pub(crate) struct Rig {
    pub(crate) app: TestApp,
    pub(crate) token: String,
    pub(crate) ws: Log,
    pub(crate) mqtt: Log,
}

pub(crate) async fn rig(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> Rig {
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    tweak(&mut settings);
    let app = spawn_app_with(settings).await;
    let token = app.login().await;
    let ws = ws_log(&app, &token, "").await;
    let mqtt = mqtt_log(&app, &token).await;
    Rig {
        app,
        token,
        ws,
        mqtt,
    }
}

impl Rig {
    /// Waits until the WebSocket and the MQTT device topic both delivered the opening of a
    /// `kind` alarm of the device; returns the WebSocket's alarm.
    pub(crate) async fn opened(&self, device_id: i64, unique_id: &str, kind: &str) -> Value {
        let ws = wait_log(&self.ws, &format!("ws {kind}"), |t, v| {
            t == "alarm"
                && v["action"] == "opened"
                && v["alarm"]["device_id"] == device_id
                && v["alarm"]["kind"] == kind
        })
        .await;
        let topic = format!("vigil/devices/{unique_id}/alarms");
        let mqtt = wait_log(&self.mqtt, &format!("mqtt {kind}"), |t, v| {
            t == topic && v["action"] == "opened" && v["alarm"]["kind"] == kind
        })
        .await;
        assert_eq!(mqtt["alarm"]["id"], ws["alarm"]["id"]);
        if let Some(unit) = ws["alarm"]["unit_id"].as_i64() {
            let topic = format!("vigil/units/{unit}/alarms");
            wait_log(&self.mqtt, &format!("mqtt unit {kind}"), |t, v| {
                t == topic && v["alarm"]["id"] == ws["alarm"]["id"]
            })
            .await;
        }
        ws["alarm"].clone()
    }

    /// How many `kind` alarms of the device the WebSocket saw opened.
    pub(crate) fn ws_opened(&self, device_id: i64, kind: &str) -> usize {
        count_log(&self.ws, |t, v| {
            t == "alarm"
                && v["action"] == "opened"
                && v["alarm"]["device_id"] == device_id
                && v["alarm"]["kind"] == kind
        })
    }

    pub(crate) async fn unit(&self, name: &str, default: bool) -> i64 {
        let (s, u) = self
            .app
            .post(
                "/api/v1/units",
                &self.token,
                &json!({"name": name, "default": default}),
            )
            .await;
        assert_eq!(s, 201, "{u}");
        u["id"].as_i64().unwrap()
    }

    pub(crate) async fn arm_here(&self, device_id: i64) {
        let (s, g) = self
            .app
            .post(
                &format!("/api/v1/devices/{device_id}/arm"),
                &self.token,
                &json!({"lat": LAT0, "lon": LON0}),
            )
            .await;
        assert_eq!((s, g["armed"].as_bool()), (200, Some(true)), "{g}");
    }

    pub(crate) async fn alarms(&self, query: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        wait_alarms(&self.app, &self.token, query, pred).await
    }
}

fn kinds(list: &[Value]) -> Vec<&str> {
    let mut k: Vec<&str> = list.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    k.sort_unstable();
    k
}

/// Low battery from the reported level (no alarm flag from the device) and external power
/// lost (charging true → false), from GT06 fixes (0x16 without an alarm code) and from GT06
/// heartbeats (0x13, no fix: placed at the last known position).
async fn derived_battery_and_power_from_fixes_and_heartbeats(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    r.unit("Default patrol", true).await;

    let imei = "359710040000201";
    let mut dev = Gt06Device::connect(&r.app, imei).await;
    let status_fix = |t: i64, charging: bool, level: u8| {
        let mut p = fix(t, 0.0);
        p.status.charging = Some(charging);
        p.status.battery_level = Some(level);
        p
    };
    dev.alarm(&status_fix(0, true, 80)).await;
    dev.alarm(&status_fix(10, true, 5)).await;
    let id = device_id(&r.app, imei).await;
    let low = r.opened(id, imei, "low_battery").await;
    assert_eq!(low["severity"], "low");
    dev.alarm(&status_fix(20, false, 5)).await;
    let cut = r.opened(id, imei, "power_cut").await;
    assert_eq!(cut["severity"], "high");
    // Still low and still unplugged: neither is raised again (edge-triggered).
    dev.alarm(&status_fix(30, false, 4)).await;
    dev.alarm(&with_alarm(fix(40, 0.0), Alarm::Sos)).await;
    let list = r
        .alarms(&format!("device_id={id}"), |l| {
            l.iter().any(|a| a["kind"] == "sos")
        })
        .await;
    assert_eq!(
        kinds(&list),
        ["low_battery", "power_cut", "sos"],
        "{list:?}"
    );
    assert!(list.iter().all(|a| a["count"] == 1), "{list:?}");

    // Heartbeats only (after one fix): the same rules, at the last fix.
    let imei2 = "359710040000202";
    let mut hb = Gt06Device::connect(&r.app, imei2).await;
    let north = 40.0;
    hb.location(&fix(0, north)).await;
    let beat = |charging: bool, level: u8| DeviceStatus {
        charging: Some(charging),
        battery_level: Some(level),
        ..DeviceStatus::default()
    };
    let s = hb.next_serial();
    hb.send(gt06::device::heartbeat(&beat(true, 90), s)).await;
    let s = hb.next_serial();
    hb.send(gt06::device::heartbeat(&beat(false, 10), s)).await;
    let id2 = device_id(&r.app, imei2).await;
    let cut = r.opened(id2, imei2, "power_cut").await;
    let low = r.opened(id2, imei2, "low_battery").await;
    for a in [&cut, &low] {
        let lat = a["lat"].as_f64().unwrap();
        assert!(
            (lat - (LAT0 + north / M_PER_DEG)).abs() < 1e-5,
            "placed at the last fix: {a}"
        );
    }
    r.app.stop().await;
}

/// Armed, the ignition (ACC) comes on: one `theft` alarm routed by jurisdiction; the vehicle
/// then moves 300 m: the same alarm aggregates `moved`. While it is open every position goes
/// to the unit (unit-filtered WebSocket, MQTT); once disarmed and resolved they stop carrying
/// the unit.
async fn armed_ignition_theft_pursued_by_unit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    let fallback = r.unit("Fallback", true).await;
    let district = r.unit("District 3", false).await;
    let (s, fence) = r
        .app
        .post(
            "/api/v1/fences",
            &r.token,
            &square(
                2000.0,
                json!({"kind": "jurisdiction", "name": "District 3", "unit_id": district}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{fence}");
    let pursuit = ws_log(&r.app, &r.token, &format!("?unit_id={district}")).await;

    let imei = "359710040000203";
    let mut dev = Gt06Device::connect(&r.app, imei).await;
    dev.location(&fix(0, 0.0)).await;
    let id = device_id(&r.app, imei).await;
    r.arm_here(id).await;
    let ignition = |t: i64, north: f64| {
        let mut p = fix(t, north);
        p.status.ignition = Some(true);
        p.speed_kmh = 12.0;
        p
    };
    dev.location(&ignition(10, 0.0)).await;
    let theft = r.opened(id, imei, "theft").await;
    assert_eq!(theft["severity"], "high");
    assert_eq!(theft["unit_id"], district, "routed by jurisdiction");
    assert_eq!(theft["evidence"], json!(["ignition_on"]));
    // Driven away 300 m over three minutes.
    for step in 1..=12 {
        dev.location(&ignition(10 + step * 15, 25.0 * step as f64))
            .await;
    }
    dev.alarm(&with_alarm(fix(200, 300.0), Alarm::Sos)).await;
    // New alarms are written at once, repeats after the drained queue: wait for both.
    let list = r
        .alarms(&format!("device_id={id}"), |l| {
            l.iter().any(|a| a["kind"] == "sos")
                && l.iter().any(|a| {
                    a["kind"] == "theft"
                        && a["evidence"]
                            .as_array()
                            .is_some_and(|e| e.contains(&json!("moved")))
                })
        })
        .await;
    let thefts: Vec<&Value> = list.iter().filter(|a| a["kind"] == "theft").collect();
    assert_eq!(thefts.len(), 1, "exactly one theft alarm: {list:?}");
    let theft = thefts[0];
    assert_eq!(theft["unit_id"], district);
    assert_ne!(theft["unit_id"], fallback);
    let evidence = theft["evidence"].as_array().unwrap();
    assert!(
        evidence.contains(&json!("ignition_on")) && evidence.contains(&json!("moved")),
        "aggregated evidence: {theft}"
    );
    assert!(theft["count"].as_i64().unwrap() >= 2, "{theft}");
    assert_eq!(r.ws_opened(id, "theft"), 1);

    // Live pursuit: the unit's WebSocket and MQTT topic receive the vehicle's positions.
    let last_time = fix(10 + 12 * 15, 0.0).time.to_rfc3339();
    let last_time = last_time.replace("+00:00", "Z");
    let seen = wait_log(&pursuit, "pursuit position", |t, v| {
        t == "position" && v["device_id"] == id && v["fix_time"] == last_time.as_str()
    })
    .await;
    assert_eq!(seen["unit_id"], district);
    assert!(
        count_log(&pursuit, |t, v| t == "position" && v["device_id"] == id) >= 12,
        "every position while the alarm is open"
    );
    assert!(
        count_log(&pursuit, |t, v| t == "position" && v["unit_id"] != district) == 0,
        "the unit filter lets only its pursuits through"
    );
    let topic = format!("vigil/units/{district}/positions");
    wait_log(&r.mqtt, "mqtt pursuit", |t, v| {
        t == topic && v["unique_id"] == imei
    })
    .await;

    // Recovered: disarmed, alarms resolved → positions no longer carry the unit.
    let (s, _) = r
        .app
        .post(
            &format!("/api/v1/devices/{id}/disarm"),
            &r.token,
            &json!({}),
        )
        .await;
    assert_eq!(s, 200);
    for a in &list {
        let (s, v) = r
            .app
            .post(
                &format!("/api/v1/alarms/{}/resolve", a["id"]),
                &r.token,
                &json!({"outcome": "recovered"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let own = ws_log(&r.app, &r.token, &format!("?device_id={id}")).await;
    let after = fix(400, 300.0);
    dev.location(&after).await;
    let after_time = after.time.to_rfc3339().replace("+00:00", "Z");
    let v = wait_log(&own, "position after recovery", |t, v| {
        t == "position" && v["fix_time"] == after_time.as_str()
    })
    .await;
    assert!(v["unit_id"].is_null(), "{v}");
    r.app.stop().await;
}

/// Armed: a vibration alarm, then the vehicle moves (≥ 10 km/h) within the window, still
/// inside the armed circle: `theft` with `vibration_then_movement`. Disarmed: none. Armed, a
/// power cut: `theft` with `power_cut`.
async fn armed_theft_by_vibration_movement_and_power_cut(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    r.unit("Default patrol", true).await;
    let rolling = |t: i64| {
        let mut p = fix(t, 10.0);
        p.speed_kmh = 15.0;
        p
    };

    let imei = "359710040000204";
    let mut dev = Gt06Device::connect(&r.app, imei).await;
    dev.location(&fix(0, 0.0)).await;
    let id = device_id(&r.app, imei).await;
    r.arm_here(id).await;
    dev.alarm(&with_alarm(fix(5, 0.0), Alarm::Vibration)).await;
    let vib = r.opened(id, imei, "vibration").await;
    assert_eq!(vib["severity"], "medium");
    dev.location(&rolling(40)).await;
    let theft = r.opened(id, imei, "theft").await;
    assert_eq!(theft["evidence"], json!(["vibration_then_movement"]));

    // The same sequence on a device that is not armed.
    let calm = "359710040000205";
    let mut other = Gt06Device::connect(&r.app, calm).await;
    other.location(&fix(0, 0.0)).await;
    other
        .alarm(&with_alarm(fix(5, 0.0), Alarm::Vibration))
        .await;
    other.location(&rolling(40)).await;
    other.alarm(&with_alarm(fix(60, 10.0), Alarm::Sos)).await;
    let calm_id = device_id(&r.app, calm).await;
    let list = r
        .alarms(&format!("device_id={calm_id}"), |l| {
            l.iter().any(|a| a["kind"] == "sos")
        })
        .await;
    assert_eq!(kinds(&list), ["sos", "vibration"], "disarmed: no theft");
    let list = r.alarms(&format!("device_id={id}"), |_| true).await;
    assert_eq!(kinds(&list), ["theft", "vibration"], "{list:?}");

    // Armed, the external power is cut (device-reported): `theft` with `power_cut` too.
    let cut_imei = "359710040000209";
    let mut cut = Gt06Device::connect(&r.app, cut_imei).await;
    cut.location(&fix(0, 0.0)).await;
    let cut_id = device_id(&r.app, cut_imei).await;
    r.arm_here(cut_id).await;
    cut.alarm(&with_alarm(fix(5, 0.0), Alarm::PowerCut)).await;
    let theft = r.opened(cut_id, cut_imei, "theft").await;
    assert_eq!(theft["evidence"], json!(["power_cut"]));
    r.opened(cut_id, cut_imei, "power_cut").await;
    r.app.stop().await;
}

/// An armed device that falls silent for longer than expected raises `offline` once per
/// silence (the sweep repeats, the alarm does not); a disarmed silent device raises nothing;
/// a new silence after contact counts on the open alarm.
async fn offline_while_armed_once_per_silence(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |s| {
        s.offline_expected_secs = 1;
        s.offline_grace_secs = 1;
        s.offline_sweep_ms = 100;
    })
    .await;
    r.unit("Default patrol", true).await;
    let imei = "359710040000206";
    let mut dev = Gt06Device::connect(&r.app, imei).await;
    dev.location(&fix(0, 30.0)).await;
    let id = device_id(&r.app, imei).await;
    r.arm_here(id).await;
    let quiet = "359710040000207";
    let mut other = Gt06Device::connect(&r.app, quiet).await;
    other.location(&fix(0, 0.0)).await;
    let quiet_id = device_id(&r.app, quiet).await;

    let offline = r.opened(id, imei, "offline").await;
    assert_eq!(offline["count"], 1);
    let lat = offline["lat"].as_f64().unwrap();
    assert!(
        (lat - (LAT0 + 30.0 / M_PER_DEG)).abs() < 1e-5,
        "at the last fix: {offline}"
    );
    // Many more sweeps (100 ms apart) over the same silence: nothing new.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let list = r.alarms(&format!("device_id={id}"), |_| true).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["count"], 1, "one alarm per silence: {list:?}");
    assert_eq!(r.ws_opened(id, "offline"), 1);
    let (_, v) = r
        .app
        .get(&format!("/api/v1/alarms?device_id={quiet_id}"), &r.token)
        .await;
    assert_eq!(v["alarms"], json!([]), "disarmed: no offline alarm");

    // Heard from again, then silent again: the open alarm counts the new silence.
    dev.location(&fix(100, 30.0)).await;
    let list = r
        .alarms(&format!("device_id={id}"), |l| {
            l.first().is_some_and(|a| a["count"] == 2)
        })
        .await;
    assert_eq!(list.len(), 1, "{list:?}");
    wait_log(&r.ws, "offline updated", |t, v| {
        t == "alarm" && v["action"] == "updated" && v["alarm"]["kind"] == "offline"
    })
    .await;
    drop(other);
    r.app.stop().await;
}

/// Positions from the OsmAnd HTTP listener and from MQTT go through the alarm stage like
/// the gateway's: device-reported SOS, low battery derived from the voltage.
async fn osmand_and_mqtt_positions_raise_alarms(backend: Backend) {
    let db = TestDb::new(backend).await;
    let r = rig(&db, |_| {}).await;
    r.unit("Default patrol", true).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", r.app.addrs["osmand"]);

    let phone = DeviceId::parse("777000111").unwrap();
    let sos = with_alarm(fix(0, 0.0), Alarm::Sos);
    let res = client
        .get(format!(
            "{base}{}",
            protocol::osmand::device::uri(&phone, &sos)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let phone_id = device_id(&r.app, "777000111").await;
    r.opened(phone_id, "777000111", "sos").await;
    let mut weak: Position = fix(10, 0.0);
    weak.status.battery_level = None;
    weak.status.battery_voltage = Some(3.3);
    let res = client
        .get(format!(
            "{base}{}",
            protocol::osmand::device::uri(&phone, &weak)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    r.opened(phone_id, "777000111", "low_battery").await;

    // MQTT ingest.
    let (s, dev) = r
        .app
        .post(
            "/api/v1/devices",
            &r.token,
            &json!({"unique_id": "mqtt-bike-1"}),
        )
        .await;
    assert_eq!(s, 201);
    let bike_id = dev["id"].as_i64().unwrap();
    let (_, creds) = r
        .app
        .post(
            &format!("/api/v1/devices/{bike_id}/mqtt-token"),
            &r.token,
            &json!({}),
        )
        .await;
    let addr = r.app.addrs["mqtt"];
    let mut o = MqttOptions::new("mqtt-bike-1", addr.ip().to_string(), addr.port());
    o.set_credentials("mqtt-bike-1", creds["password"].as_str().unwrap());
    let (bike, mut ev) = AsyncClient::new(o, 10);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    let body = protocol::osmand::device::json(
        &DeviceId::parse("mqtt-bike-1").unwrap(),
        &with_alarm(fix(0, 0.0), Alarm::Sos),
    );
    bike.publish("vigil/mqtt-bike-1/position", QoS::AtLeastOnce, false, body)
        .await
        .unwrap();
    while !matches!(ev.poll().await.unwrap(), Event::Incoming(Packet::PubAck(_))) {}
    tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    let sos = r.opened(bike_id, "mqtt-bike-1", "sos").await;
    assert_eq!(sos["severity"], "high");
    r.app.stop().await;
}

/// Rule state survives a restart: a vehicle that left a keep-in fence and entered a keep-out
/// fence, with a low battery (alarms resolved), is not reported again after the restart while
/// it stays so; unplugging after the restart is seen as power lost (the charging flag was kept);
/// a later real crossing is reported.
async fn rule_state_survives_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let settings = test_settings(&db.url);
    let app = spawn_app_with(settings.clone()).await;
    let token = app.login().await;
    let (s, home) = app
        .post(
            "/api/v1/fences",
            &token,
            &square(500.0, json!({"kind": "keep_in", "name": "Home"})),
        )
        .await;
    assert_eq!(s, 201, "{home}");
    // A keep-out square of ±200 m centred 1 km north.
    let d = 200.0 / M_PER_DEG;
    let c = LAT0 + 1000.0 / M_PER_DEG;
    let ring = json!([
        [LON0 - d, c - d],
        [LON0 + d, c - d],
        [LON0 + d, c + d],
        [LON0 - d, c + d],
        [LON0 - d, c - d]
    ]);
    let (s, yard) = app
        .post(
            "/api/v1/fences",
            &token,
            &json!({"type": "Feature", "properties": {"kind": "keep_out", "name": "Yard"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]}}),
        )
        .await;
    assert_eq!(s, 201, "{yard}");
    let imei = "359710040000208";
    let mut dev = Gt06Device::connect(&app, imei).await;
    let id = device_id(&app, imei).await;
    for f in [&home, &yard] {
        let (s, _) = app
            .post(
                &format!("/api/v1/devices/{id}/fences"),
                &token,
                &json!({"fence_id": f["id"]}),
            )
            .await;
        assert_eq!(s, 204);
    }
    for t in [0, 35, 70] {
        dev.location(&fix(t, 0.0)).await;
    }
    for t in [100, 130, 160, 190] {
        dev.location(&fix(t, 1000.0)).await;
    }
    let status_fix = |t: i64, charging: bool| {
        let mut p = fix(t, 1000.0);
        p.status.charging = Some(charging);
        p.status.battery_level = Some(5);
        p
    };
    dev.alarm(&status_fix(195, true)).await;
    let list = wait_alarms(&app, &token, &format!("device_id={id}"), |l| l.len() == 3).await;
    assert_eq!(
        kinds(&list),
        ["geofence_enter", "geofence_exit", "low_battery"]
    );
    for a in &list {
        let (s, _) = app
            .post(
                &format!("/api/v1/alarms/{}/resolve", a["id"]),
                &token,
                &json!({"outcome": "other"}),
            )
            .await;
        assert_eq!(s, 200);
    }
    drop(dev);
    app.stop().await;

    // Restarted on the same database: still in the yard, nothing is raised again.
    let app = spawn_app_with(settings).await;
    let token = app.login().await;
    let mut dev = Gt06Device::connect(&app, imei).await;
    for t in [300, 330, 360, 390] {
        dev.location(&fix(t, 1000.0)).await;
    }
    dev.alarm(&status_fix(395, false)).await;
    dev.alarm(&with_alarm(fix(400, 1000.0), Alarm::Sos)).await;
    let list = wait_alarms(&app, &token, &format!("device_id={id}"), |l| {
        l.iter().any(|a| a["kind"] == "sos")
    })
    .await;
    assert_eq!(
        kinds(&list),
        [
            "geofence_enter",
            "geofence_exit",
            "low_battery",
            "power_cut",
            "sos"
        ],
        "no enter/exit or low battery again after the restart, power lost seen: {list:?}"
    );
    // Home again, then back into the yard: a real new crossing is reported.
    for t in [500, 530, 560, 590] {
        dev.location(&fix(t, 0.0)).await;
    }
    for t in [700, 730, 760, 790] {
        dev.location(&fix(t, 1000.0)).await;
    }
    let list = wait_alarms(
        &app,
        &token,
        &format!("device_id={id}&type=geofence_enter&status=open"),
        |l| !l.is_empty(),
    )
    .await;
    assert_eq!(list.len(), 1);
    app.stop().await;
}
