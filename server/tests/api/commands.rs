//! Remote commands end to end over TCP with emulated GT06, JT808 and H02 devices: queued for an
//! offline device and sent on reconnect as the right bytes, acknowledged by the device's reply,
//! the cut-off interlock (confirmation, speed) refused and audited, expiry, fast reporting
//! with its automatic revert.

use std::time::Duration;

use bytes::BytesMut;
use protocol::DeviceId;
use protocol::gt06::{self, Gt06Outbound};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use vigil_server::domain::Role;
use vigil_server::storage::access as store;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, position, spawn_app};

both_backends!(gt06_cut_off_end_to_end, jt808_cut_off_and_fast_reporting);

struct Wire<D: Decoder> {
    stream: TcpStream,
    buf: BytesMut,
    decoder: D,
}

impl<D: Decoder> Wire<D>
where
    D::Error: std::fmt::Debug,
{
    async fn connect(addr: std::net::SocketAddr, decoder: D) -> Self {
        Wire {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
            decoder,
        }
    }
    async fn send(&mut self, frame: &[u8]) {
        self.stream.write_all(frame).await.unwrap();
    }
    async fn recv(&mut self) -> D::Item {
        loop {
            if let Some(item) = self.decoder.decode(&mut self.buf).unwrap() {
                return item;
            }
            let n = self.stream.read_buf(&mut self.buf).await.unwrap();
            assert!(n > 0, "server closed the connection");
        }
    }
}

/// A user with a session token.
async fn user(app: &TestApp, email: &str, role: Role) -> (i64, String) {
    let u = app
        .db
        .create_user(email, email, "unused-hash", role)
        .await
        .unwrap();
    let token = vigil_server::services::auth::new_token().unwrap();
    app.db
        .create_session(
            u.id,
            &vigil_server::services::auth::token_hash(&token),
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    (u.id, token)
}

/// Polls a command until it reaches `want` (bounded by the test harness, not asserted).
async fn wait_status(app: &TestApp, token: &str, id: i64, want: &str) -> Value {
    loop {
        let (s, v) = app.get(&format!("/api/v1/commands/{id}"), token).await;
        assert_eq!(s, 200, "{v}");
        if v["command"]["status"] == want {
            return v["command"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit(app: &TestApp, token: &str, device: i64) -> Vec<Value> {
    let (s, v) = app
        .get(&format!("/api/v1/devices/{device}/audit"), token)
        .await;
    assert_eq!(s, 200, "{v}");
    v["entries"].as_array().unwrap().clone()
}

async fn gt06_cut_off_end_to_end(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let imei = "359710040000077";
    let device = app.create_device(imei).await;
    let (owner, owner_token) = user(&app, "owner@example.com", Role::Owner).await;
    let (_, other_token) = user(&app, "owner2@example.com", Role::Owner).await;
    let (_, dispatcher_token) = user(&app, "dispatcher@example.com", Role::Dispatcher).await;
    store::set_owner(&app.db, device, Some(owner))
        .await
        .unwrap();
    let path = format!("/api/v1/devices/{device}/commands");
    // The owner follows the command on the stream (browser style: token in the query).
    let ws_url = format!(
        "{}/api/v1/stream?token={owner_token}",
        app.http.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();

    // Without the explicit confirmation: refused.
    let (s, v) = app
        .post(&path, &owner_token, &json!({"type": "cut_power"}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "confirmation_required");
    // Another owner cannot even see it; a dispatcher sees it but may not cut it.
    let body = json!({"type": "cut_power", "confirm": true});
    assert_eq!(app.post(&path, &other_token, &body).await.0, 404);
    let (s, v) = app.post(&path, &dispatcher_token, &body).await;
    assert_eq!(s, 403, "{v}");

    // Offline: queued, delivered when the device connects.
    let (s, v) = app.post(&path, &owner_token, &body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["command"]["status"], "queued");
    let id = v["command"]["id"].as_i64().unwrap();

    let mut w = Wire::connect(app.addrs["gt06"], gt06::device::DeviceDecoder::default()).await;
    w.send(&gt06::device::login(imei, 1).unwrap()).await;
    let (flag, text) = loop {
        match w.recv().await {
            Gt06Outbound::Command {
                server_flag, text, ..
            } => break (server_flag, text),
            Gt06Outbound::Ack { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(text, gt06::DEFAULT_CUT_POWER);
    let sent = wait_status(&app, &owner_token, id, "sent").await;
    assert_eq!(
        sent["correlation"],
        json!({"kind": "server_flag", "value": flag})
    );
    // The device's reply acknowledges it.
    w.send(&gt06::device::command_reply(flag, "Relay ok!", 2))
        .await;
    let done = wait_status(&app, &owner_token, id, "acknowledged").await;
    assert_eq!(done["reply"]["result"], "success", "{done}");
    assert!(done["finished_at"].is_string());
    // Every status change was published: refused (no confirmation), queued, sent, acknowledged.
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("acknowledged") {
        use futures_util::StreamExt;
        let m = ws.next().await.unwrap().unwrap();
        let v: Value = serde_json::from_str(&m.into_text().unwrap()).unwrap();
        if v["type"] == "command" {
            assert_eq!(v["command"]["device_id"], device, "{v}");
            if v["command"]["id"] == id || v["command"]["id"].is_null() {
                statuses.push(v["command"]["status"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(
        statuses,
        ["refused", "refused", "queued", "sent", "acknowledged"],
        "(the dispatcher's attempt is refused too)"
    );

    // Moving at 36.5 km/h (above 20): refused and audited.
    w.send(&gt06::device::location(&position(0), 3)).await;
    loop {
        match w.recv().await {
            Gt06Outbound::Ack { serial: 3, .. } => break,
            // The reply's own ack.
            Gt06Outbound::Ack { serial: 2, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let (s, v) = app.post(&path, &owner_token, &body).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "vehicle_moving");
    // Locate is not interlocked.
    let (s, v) = app
        .post(&path, &owner_token, &json!({"type": "locate"}))
        .await;
    assert_eq!(s, 201, "{v}");
    // Raw text is for administrators.
    let (s, _) = app
        .post(
            &path,
            &owner_token,
            &json!({"type": "custom", "text": "STATUS#"}),
        )
        .await;
    assert_eq!(s, 403);

    // The stranger's attempt is on the administrators' log, without naming the device to it.
    let admin = app.login().await;
    let (s, all) = app.get("/api/v1/audit", &admin).await;
    assert_eq!(s, 200);
    assert!(
        all["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "not_found" && e["detail"]["requested_device_id"] == device),
        "{all}"
    );
    let entries = audit(&app, &owner_token, device).await;
    let has = |outcome: &str, reason: &str| {
        entries
            .iter()
            .any(|e| e["outcome"] == outcome && e["reason"] == reason)
    };
    assert!(has("refused", "confirmation_required"), "{entries:?}");
    assert!(has("refused", "forbidden"), "{entries:?}");
    assert!(has("refused", "vehicle_moving"), "{entries:?}");
    assert!(has("accepted", ""), "{entries:?}");
    assert!(has("sent", ""), "{entries:?}");
    assert!(has("acknowledged", ""), "{entries:?}");
    let who = entries
        .iter()
        .find(|e| e["reason"] == "vehicle_moving")
        .unwrap();
    assert_eq!(who["user_id"], owner);
    assert_eq!(who["kind"], "cut_power");
    // The audit log cannot be rewritten.
    let tamper = match &app.db {
        vigil_server::storage::Db::Sqlite(p) => sqlx::query("DELETE FROM command_audit")
            .execute(p)
            .await
            .is_err(),
        vigil_server::storage::Db::Postgres(p) => sqlx::query("DELETE FROM command_audit")
            .execute(p)
            .await
            .is_err(),
    };
    assert!(tamper, "command_audit must be append-only");

    // Expiry: a command for a device that never connects.
    let silent = app.create_device("359710040000078").await;
    store::set_owner(&app.db, silent, Some(owner))
        .await
        .unwrap();
    let (s, v) = app
        .post(
            &format!("/api/v1/devices/{silent}/commands"),
            &owner_token,
            &json!({"type": "locate", "expires_in_secs": 1}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["command"]["id"].as_i64().unwrap();
    let c = wait_status(&app, &owner_token, id, "expired").await;
    assert_eq!(c["failure"], "not_delivered");
    app.stop().await;
}

/// A JT/T 808 terminal that registered and authenticated over the gateway: its emulator, its
/// connection, its auth code and its device row id.
async fn jt808_online(
    app: &TestApp,
    phone: &str,
    terminal_id: &str,
    plate: &str,
) -> (
    protocol::jt808::device::Device,
    Wire<protocol::jt808::device::ServerFrameDecoder>,
    String,
    i64,
) {
    use protocol::jt808::device::{Device, ServerFrameDecoder, ServerMessage as S};
    let id = DeviceId::parse(phone).unwrap();
    let mut dev = Device::new(&id);
    let mut w = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;
    w.send(&dev.register(&protocol::Registration {
        province: 44,
        city: 300,
        manufacturer: "VIGIL".into(),
        model: "EMU-1".into(),
        terminal_id: terminal_id.into(),
        plate_color: 1,
        plate: plate.into(),
    }))
    .await;
    let code = match w.recv().await.message {
        S::RegisterResponse { auth_code, .. } => auth_code,
        other => panic!("unexpected {other:?}"),
    };
    w.send(&dev.auth(&code)).await;
    let _ = w.recv().await;
    let device = app.db.device_by_unique_id(phone).await.unwrap().unwrap().id;
    (dev, w, code, device)
}

async fn jt808_cut_off_and_fast_reporting(backend: Backend) {
    use protocol::jt808::device::ServerMessage as S;
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let (mut dev, mut w, _code, device) =
        jt808_online(&app, "13912345699", "T000009", "TEST09").await;
    let path = format!("/api/v1/devices/{device}/commands");

    // Online: sent at once as 0x8105 terminal control, word 0xF0.
    let (s, v) = app
        .post(
            &path,
            &admin,
            &json!({"type": "cut_power", "confirm": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let cmd = v["command"]["id"].as_i64().unwrap();
    let frame = w.recv().await;
    match &frame.message {
        S::TerminalControl { command: 0xF0, .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    let sent = wait_status(&app, &admin, cmd, "sent").await;
    assert_eq!(
        sent["correlation"],
        json!({"kind": "serial", "value": frame.header.serial})
    );
    w.send(&dev.general_reply(frame.header.serial, 0x8105, 0))
        .await;
    wait_status(&app, &admin, cmd, "acknowledged").await;

    // Fast reporting for 10 minutes: 0x8103 now, the revert queued for later.
    let (s, v) = app
        .post(
            &path,
            &admin,
            &json!({"type": "set_interval", "seconds": 10, "duration_secs": 600, "revert_to_seconds": 60}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let frame = w.recv().await;
    match &frame.message {
        S::SetParameters { .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    let (_, list) = app.get(&path, &admin).await;
    let revert = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["params"]["revert_of"] == v["command"]["id"])
        .cloned()
        .expect("revert command");
    assert_eq!(revert["status"], "queued");
    assert_eq!(revert["params"]["seconds"], 60);
    assert!(revert["not_before"].is_string());

    // A device refusal marks the command failed.
    let (s, v) = app.post(&path, &admin, &json!({"type": "locate"})).await;
    assert_eq!(s, 201);
    let frame = w.recv().await;
    w.send(&dev.general_reply(frame.header.serial, 0x8201, 1))
        .await;
    let c = wait_status(&app, &admin, v["command"]["id"].as_i64().unwrap(), "failed").await;
    assert_eq!(c["failure"], "device_refused");
    app.stop().await;
}

both_backends!(gt06_cut_off_held_until_slow);

/// With `cut_power_when_moving = "hold"`, a cut-off at speed waits (status `held`) and is sent
/// once a fix shows the vehicle slow.
async fn gt06_cut_off_held_until_slow(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = crate::helpers::test_settings(&db.url);
    settings.cut_power_when_moving = vigil_server::app::settings::CutPowerPolicy::Hold;
    let app = crate::helpers::spawn_app_with(settings).await;
    let admin = app.login().await;
    let imei = "359710040000055";
    let mut w = Wire::connect(app.addrs["gt06"], gt06::device::DeviceDecoder::default()).await;
    w.send(&gt06::device::login(imei, 1).unwrap()).await;
    let _ = w.recv().await;
    // 36.5 km/h.
    w.send(&gt06::device::location(&position(0), 2)).await;
    let _ = w.recv().await;
    let device = app.db.device_by_unique_id(imei).await.unwrap().unwrap().id;
    let (s, v) = app
        .post(
            &format!("/api/v1/devices/{device}/commands"),
            &admin,
            &json!({"type": "cut_power", "confirm": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["command"]["status"], "held");
    let id = v["command"]["id"].as_i64().unwrap();
    // Stopped: the held command goes out.
    let mut slow = position(60);
    slow.speed_kmh = 0.0;
    w.send(&gt06::device::location(&slow, 3)).await;
    let text = loop {
        match w.recv().await {
            Gt06Outbound::Command { text, .. } => break text,
            Gt06Outbound::Ack { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(text, gt06::DEFAULT_CUT_POWER);
    wait_status(&app, &admin, id, "sent").await;
    let entries = audit(&app, &admin, device).await;
    assert!(
        entries.iter().any(|e| e["outcome"] == "held"),
        "{entries:?}"
    );
    app.stop().await;
}

both_backends!(h02_cut_off_end_to_end);

/// A fix `ago` seconds before now (whole seconds: H02 and JT808 carry no fractions).
fn h02_fix(ago: i64, speed_kmh: f32) -> protocol::Position {
    let now = chrono::Utc::now().timestamp();
    let time = chrono::DateTime::from_timestamp(now - ago, 0).unwrap();
    protocol::Position::new(
        time,
        protocol::LatLon::new(52.2297, 21.0122).unwrap(),
        true,
        speed_kmh,
    )
}

/// H02: a cut-off queued for an offline tracker goes out as `S20,1,1` when it connects, the
/// `V4` confirmation (command stamp echoed) acknowledges it; at speed it is refused and
/// audited; a command for a tracker that went away expires.
async fn h02_cut_off_end_to_end(backend: Backend) {
    use protocol::h02::device::{self as h02, H02DeviceCodec, ServerMessage};
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let imei = "4210051499";
    let id = DeviceId::parse(imei).unwrap();
    let device = app.create_device(imei).await;
    let (owner, owner_token) = user(&app, "owner@example.com", Role::Owner).await;
    store::set_owner(&app.db, device, Some(owner))
        .await
        .unwrap();
    let path = format!("/api/v1/devices/{device}/commands");
    let body = json!({"type": "cut_power", "confirm": true});

    // Offline: queued.
    let (s, v) = app.post(&path, &owner_token, &body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["command"]["status"], "queued");
    let cmd = v["command"]["id"].as_i64().unwrap();

    // The tracker connects (a heartbeat identifies it) and receives the command.
    let mut w = Wire::connect(app.addrs["h02"], H02DeviceCodec::default()).await;
    w.send(&h02::login(&id)).await;
    let (name, stamp, params) = loop {
        let m = w.recv().await;
        if let ServerMessage::Command {
            device: to,
            name,
            stamp,
            params,
            ..
        } = &m
        {
            assert_eq!(to, &id);
            assert_eq!(m.command(), Some(protocol::Command::CutPower));
            break (name.clone(), stamp.expect("command stamp"), params.clone());
        }
    };
    assert_eq!(
        (name.as_str(), params),
        ("S20", vec!["1".to_owned(), "1".to_owned()])
    );
    let sent = wait_status(&app, &owner_token, cmd, "sent").await;
    assert_eq!(sent["correlation"]["value"], stamp, "{sent}");

    // A confirmation for another stamp matches nothing; the right one acknowledges.
    w.send(&h02::command_reply(
        &id,
        "S20",
        Some("DONE"),
        (stamp + 1) % 86_400,
        &h02_fix(120, 0.0),
    ))
    .await;
    w.send(&h02::command_reply(
        &id,
        "S20",
        Some("DONE"),
        stamp,
        &h02_fix(60, 0.0),
    ))
    .await;
    let done = wait_status(&app, &owner_token, cmd, "acknowledged").await;
    assert_eq!(done["reply"]["result"], "success", "{done}");
    assert_eq!(done["reply"]["correlation"]["value"], stamp, "{done}");

    // Moving at 60 km/h: refused (409) and audited.
    w.send(&h02::location(&id, &h02_fix(5, 60.0))).await;
    loop {
        let (s, v) = app
            .get(
                &format!("/api/v1/devices/{device}/positions/latest"),
                &owner_token,
            )
            .await;
        if s == 200 && v["speed_kmh"].as_f64().unwrap_or(0.0) > 50.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, v) = app.post(&path, &owner_token, &body).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "vehicle_moving");
    let entries = audit(&app, &owner_token, device).await;
    let has = |outcome: &str, reason: &str| {
        entries
            .iter()
            .any(|e| e["outcome"] == outcome && e["reason"] == reason && e["kind"] == "cut_power")
    };
    assert!(has("refused", "vehicle_moving"), "{entries:?}");
    assert!(has("accepted", ""), "{entries:?}");
    assert!(has("sent", ""), "{entries:?}");
    assert!(has("acknowledged", ""), "{entries:?}");

    // The tracker goes away: a short-lived command expires undelivered.
    drop(w);
    loop {
        let (_, v) = app
            .get(&format!("/api/v1/devices/{device}"), &owner_token)
            .await;
        if v["online"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, v) = app
        .post(
            &path,
            &owner_token,
            &json!({"type": "locate", "expires_in_secs": 1}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["command"]["status"], "queued");
    let c = wait_status(
        &app,
        &owner_token,
        v["command"]["id"].as_i64().unwrap(),
        "expired",
    )
    .await;
    assert_eq!(c["failure"], "not_delivered");
    app.stop().await;
}

both_backends!(jt808_cut_off_waits_for_reconnect_and_speed);

/// JT808: a cut-off for a terminal that went offline is sent as 0x8105 (word 0xF0) when it
/// re-authenticates and is acknowledged by its 0x0001 reply; once it reports 60 km/h a
/// cut-off is refused and audited.
async fn jt808_cut_off_waits_for_reconnect_and_speed(backend: Backend) {
    use protocol::jt808::device::{ServerFrameDecoder, ServerMessage as S};
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let (mut dev, w, code, device) = jt808_online(&app, "13912345688", "T000008", "TEST08").await;
    let path = format!("/api/v1/devices/{device}/commands");
    drop(w);
    loop {
        let (_, v) = app.get(&format!("/api/v1/devices/{device}"), &admin).await;
        if v["online"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Offline: queued; sent after the terminal authenticates again.
    let body = json!({"type": "cut_power", "confirm": true});
    let (s, v) = app.post(&path, &admin, &body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["command"]["status"], "queued");
    let cmd = v["command"]["id"].as_i64().unwrap();
    let mut w = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;
    w.send(&dev.auth(&code)).await;
    let frame = loop {
        let f = w.recv().await;
        if let S::TerminalControl { command, .. } = &f.message {
            assert_eq!(*command, 0xF0);
            break f;
        }
    };
    let sent = wait_status(&app, &admin, cmd, "sent").await;
    assert_eq!(
        sent["correlation"],
        json!({"kind": "serial", "value": frame.header.serial})
    );
    w.send(&dev.general_reply(frame.header.serial, 0x8105, 0))
        .await;
    wait_status(&app, &admin, cmd, "acknowledged").await;

    // 60 km/h: refused, on the audit log.
    w.send(&dev.location(&h02_fix(5, 60.0))).await;
    loop {
        let (s, v) = app
            .get(
                &format!("/api/v1/devices/{device}/positions/latest"),
                &admin,
            )
            .await;
        if s == 200 && v["speed_kmh"].as_f64().unwrap_or(0.0) > 50.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, v) = app.post(&path, &admin, &body).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "vehicle_moving");
    let entries = audit(&app, &admin, device).await;
    assert!(
        entries
            .iter()
            .any(|e| e["outcome"] == "refused" && e["reason"] == "vehicle_moving"),
        "{entries:?}"
    );
    app.stop().await;
}
