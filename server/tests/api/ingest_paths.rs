//! The three ingest paths — GT06 over TCP, OsmAnd over HTTP, JSON over MQTT — run the one
//! ingest sequence (`services::ingest::Ingest`): the same reports sent through each, to three
//! devices, leave the same device touch, the same events and the same alarm input.
//!
//! The reports: a valid fix, a fix dated 2099 (acknowledged, not stored, kept as a
//! `fix_time_rejected` event) and a fix carrying an SOS alarm (stored, an `sos` alarm raised).

use std::collections::BTreeSet;
use std::time::Duration;

use protocol::gt06::{self, Gt06Outbound};
use protocol::{Alarm, DeviceId, Position};
use serde_json::{Value, json};

use crate::alarms::{fix, wait_alarms, with_alarm};
use crate::both_backends;
use crate::helpers::{
    Backend, TestApp, TestDb, mqtt_publish_positions, spawn_app_with, test_settings,
};
use crate::real_codecs::Wire;

both_backends!(the_same_reports_through_every_path);

/// The reports every path sends, in order.
fn reports() -> [Position; 3] {
    let mut future = fix(60, 0.0);
    future.time = "2099-01-01T00:00:00Z".parse().unwrap();
    [fix(0, 0.0), future, with_alarm(fix(120, 100.0), Alarm::Sos)]
}

/// Creates a device through the API (MQTT needs one, with its token: the same for the
/// others, so that no path registers its device and the events compare).
async fn create(app: &TestApp, token: &str, unique_id: &str) -> i64 {
    let (s, dev) = app
        .post("/api/v1/devices", token, &json!({ "unique_id": unique_id }))
        .await;
    assert_eq!(s, 201, "{dev}");
    dev["id"].as_i64().unwrap()
}

async fn via_gt06(app: &TestApp, imei: &str) {
    let mut w = Wire::connect(app.addrs["gt06"], gt06::device::DeviceDecoder::default()).await;
    w.send(&gt06::device::login(imei, 1).unwrap()).await;
    let _login_ack = w.recv().await;
    let [good, future, sos] = reports();
    w.send(&gt06::device::location(&good, 2)).await;
    w.send(&gt06::device::location(&future, 3)).await;
    w.send(&gt06::device::alarm(&sos, 4)).await;
    // Every one acknowledged, the screened one too (after the commit of those before it).
    for (serial, protocol) in [(2, 0x22), (3, 0x22), (4, 0x16)] {
        assert_eq!(w.recv().await, Gt06Outbound::Ack { protocol, serial });
    }
}

async fn via_osmand(app: &TestApp, phone: &str) {
    let base = format!("http://{}", app.addrs["osmand"]);
    let id = DeviceId::parse(phone).unwrap();
    for p in reports() {
        let r = app
            .client
            .get(format!("{base}{}", protocol::osmand::device::uri(&id, &p)))
            .send()
            .await
            .unwrap();
        // The screened one too: an app that got an error would resend it forever.
        assert_eq!(r.status(), 200, "{:?}", p.time);
    }
}

async fn via_mqtt(app: &TestApp, token: &str, device: i64, unique_id: &str) {
    let (s, creds) = app
        .post(
            &format!("/api/v1/devices/{device}/mqtt-token"),
            token,
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{creds}");
    let password = creds["password"].as_str().unwrap();
    mqtt_publish_positions(app, unique_id, password, &reports()).await;
}

/// What one path left of its device.
#[derive(Debug, PartialEq)]
struct Trace {
    /// `last_seen_at` was set.
    touched: bool,
    /// Kinds of the device's events (without `connect`/`disconnect`: only a connection has a
    /// session to open and close).
    events: BTreeSet<String>,
    /// `fix_time_rejected` details: fix time and reason.
    rejected: Vec<(String, String)>,
    /// Stored positions: fix time, rounded coordinates, validity, alarms.
    positions: Vec<(String, String, bool, Vec<String>)>,
    /// Kinds of the device's alarms and their severity.
    alarms: BTreeSet<(String, String)>,
}

async fn trace(app: &TestApp, token: &str, device: i64, unique_id: &str) -> Trace {
    // Both valid fixes stored (MQTT stores after the broker's ack: wait for them).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app.db.count_positions(device).await.unwrap() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unique_id}: positions never stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alarms = wait_alarms(app, token, &format!("device_id={device}"), |l| {
        l.iter().any(|a| a["kind"] == "sos")
    })
    .await;
    let row = app
        .db
        .device_by_unique_id(unique_id)
        .await
        .unwrap()
        .unwrap();
    let (s, v) = app
        .get(&format!("/api/v1/events?device_id={device}"), token)
        .await;
    assert_eq!(s, 200, "{v}");
    let events: Vec<Value> = v["events"].as_array().unwrap().clone();
    let stored = app
        .db
        .positions(
            device,
            "2023-12-31T00:00:00Z".parse().unwrap(),
            "2024-01-02T00:00:00Z".parse().unwrap(),
            None,
            100,
        )
        .await
        .unwrap();
    let mut positions: Vec<_> = stored
        .iter()
        .map(|p| {
            (
                p.fix_time.to_rfc3339(),
                format!("{:.4} {:.4}", p.lat, p.lon),
                p.valid,
                p.alarms.clone(),
            )
        })
        .collect();
    positions.sort();
    Trace {
        touched: row.last_seen_at.is_some(),
        events: events
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .filter(|k| k != "connect" && k != "disconnect")
            .collect(),
        rejected: events
            .iter()
            .filter(|e| e["kind"] == "fix_time_rejected")
            .map(|e| {
                (
                    e["detail"]["fix_time"].as_str().unwrap().to_owned(),
                    e["detail"]["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        positions,
        alarms: alarms
            .iter()
            .map(|a| {
                (
                    a["kind"].as_str().unwrap().to_owned(),
                    a["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
    }
}

async fn the_same_reports_through_every_path(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    let app = spawn_app_with(settings).await;
    let token = app.login().await;
    let paths = [
        ("gt06", "359710040000301"),
        ("osmand", "phone-301"),
        ("mqtt", "mqtt-dev-301"),
    ];
    let mut ids = Vec::new();
    for (_, uid) in paths {
        ids.push(create(&app, &token, uid).await);
    }
    via_gt06(&app, paths[0].1).await;
    via_osmand(&app, paths[1].1).await;
    via_mqtt(&app, &token, ids[2], paths[2].1).await;

    let mut traces = Vec::new();
    for ((path, uid), id) in paths.iter().zip(&ids) {
        let t = trace(&app, &token, *id, uid).await;
        let row = app.db.device_by_unique_id(uid).await.unwrap().unwrap();
        assert_eq!(row.protocol.as_deref(), Some(*path), "touched by {path}");
        traces.push((*path, t));
    }
    let (_, first) = &traces[0];
    assert!(first.touched, "{first:?}");
    assert_eq!(
        first.events,
        BTreeSet::from(["fix_time_rejected".to_owned()]),
        "{first:?}"
    );
    assert_eq!(
        first.rejected,
        [("2099-01-01T00:00:00Z".to_owned(), "future".to_owned())]
    );
    assert_eq!(first.positions.len(), 2, "{first:?}");
    assert_eq!(first.positions[1].3, ["sos"], "{first:?}");
    assert!(
        first
            .alarms
            .contains(&("sos".to_owned(), "high".to_owned())),
        "{first:?}"
    );
    for (path, t) in &traces[1..] {
        assert_eq!(t, first, "{path} against gt06");
    }
    app.stop().await;
}
