//! Rights beyond the REST matrix: the WebSocket stream carries only what each caller may see
//! (owners their devices, officers their units' alarms and the pursued vehicles, API keys by
//! scope), and `cut_power` by an officer needs an open alarm of their unit on that vehicle.

use futures_util::StreamExt;
use protocol::{Alarm, DeviceId, LatLon, Position};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_server::domain::{PositionRow, Role, User};
use vigil_server::services::access::{self};
use vigil_server::storage::access as store;
use vigil_server::storage::alarms as alarm_store;
use vigil_server::storage::units as unit_store;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, spawn_app};

both_backends!(
    stream_is_filtered_per_caller,
    officer_cut_power_needs_an_open_alarm
);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn fix(t: i64) -> Position {
    let time = chrono::DateTime::from_timestamp(1_704_067_200 + t, 0).unwrap();
    let mut p = Position::new(time, LatLon::new(22.5, 114.0).unwrap(), true, 0.0);
    p.satellites = Some(9);
    p
}

fn fix_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(1_704_067_200 + t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn user(app: &TestApp, email: &str, role: Role) -> User {
    app.db
        .create_user(email, email, "not a password hash", role)
        .await
        .unwrap()
}

async fn session(app: &TestApp, u: &User) -> String {
    let token = vigil_server::services::auth::new_token().unwrap();
    app.db
        .create_session(
            u.id,
            &vigil_server::services::auth::token_hash(&token),
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    token
}

/// A WebSocket on the stream, authenticated by header or by `?token=`.
async fn connect(app: &TestApp, token: &str, in_query: bool) -> Ws {
    let base = format!("{}/api/v1/stream", app.http.replace("http://", "ws://"));
    let req = if in_query {
        format!("{base}?token={token}")
            .into_client_request()
            .unwrap()
    } else {
        let mut r = base.into_client_request().unwrap();
        r.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    };
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Reads events until one satisfies `stop`; returns all of them (the last one included).
async fn until(ws: &mut Ws, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let m = ws.next().await.expect("stream open").expect("frame");
        let Ok(text) = m.into_text() else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        assert_ne!(v["type"], "lagged", "test stream lagged");
        let done = stop(&v);
        seen.push(v);
        if done {
            return seen;
        }
    }
}

fn device_of(v: &Value) -> i64 {
    match v["type"].as_str() {
        Some("position") => v["device_id"].as_i64().unwrap(),
        Some("alarm") => v["alarm"]["device_id"].as_i64().unwrap(),
        Some("command") => v["command"]["device_id"].as_i64().unwrap(),
        _ => -1,
    }
}

fn is_position(v: &Value, device: i64, t: i64) -> bool {
    v["type"] == "position" && v["device_id"] == device && v["fix_time"] == fix_time(t)
}

fn is_alarm(v: &Value, device: i64, action: &str) -> bool {
    v["type"] == "alarm" && v["alarm"]["device_id"] == device && v["action"] == action
}

async fn stream_is_filtered_per_caller(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let (_, u1) = app
        .post(
            "/api/v1/units",
            &admin,
            &json!({"name": "North", "default": true}),
        )
        .await;
    let (_, u2) = app
        .post("/api/v1/units", &admin, &json!({"name": "South"}))
        .await;
    let (u1, u2) = (u1["id"].as_i64().unwrap(), u2["id"].as_i64().unwrap());
    let owner_a = user(&app, "a@example.com", Role::Owner).await;
    let owner_b = user(&app, "b@example.com", Role::Owner).await;
    let officer1 = user(&app, "o1@example.com", Role::Officer).await;
    let officer2 = user(&app, "o2@example.com", Role::Officer).await;
    store::set_units(&app.db, officer1.id, &[u1]).await.unwrap();
    store::set_units(&app.db, officer2.id, &[u2]).await.unwrap();
    let (ida, idb) = (
        DeviceId::parse("4210051401").unwrap(),
        DeviceId::parse("4210051402").unwrap(),
    );
    let da = app.create_device(ida.as_str()).await;
    let db_ = app.create_device(idb.as_str()).await;
    store::set_owner(&app.db, da, Some(owner_a.id))
        .await
        .unwrap();
    store::set_owner(&app.db, db_, Some(owner_b.id))
        .await
        .unwrap();
    // Owner A's integration key may read alarms but not positions.
    let (key, hash, prefix) = access::new_api_key().unwrap();
    store::create_key(
        &app.db,
        owner_a.id,
        "alarms only",
        &prefix,
        &hash,
        &[vigil_server::services::access::Scope::AlarmsRead],
    )
    .await
    .unwrap();

    let mut ws_admin = connect(&app, &admin, false).await;
    let mut ws_a = connect(&app, &session(&app, &owner_a).await, true).await;
    let mut ws_b = connect(&app, &session(&app, &owner_b).await, false).await;
    let mut ws_o1 = connect(&app, &session(&app, &officer1).await, true).await;
    let mut ws_o2 = connect(&app, &session(&app, &officer2).await, false).await;
    let mut ws_key = connect(&app, &key, true).await;
    // A bad token is refused before the upgrade.
    let bad = format!(
        "{}/api/v1/stream?token=nope",
        app.http.replace("http://", "ws://")
    );
    assert!(tokio_tungstenite::connect_async(bad).await.is_err());

    let mut dev_a = TcpStream::connect(app.addrs["h02"]).await.unwrap();
    let mut dev_b = TcpStream::connect(app.addrs["h02"]).await.unwrap();
    let sos = |t| {
        let mut p = fix(t);
        p.status.alarms.insert(Alarm::Sos);
        p
    };
    // Each step waits until the administrator's stream shows it: the bus has one order, so
    // every other stream then has it queued before the next step's events.
    // S1: A reports.
    dev_a
        .write_all(&protocol::h02::device::location(&ida, &fix(0)))
        .await
        .unwrap();
    until(&mut ws_admin, |v| is_position(v, da, 0)).await;
    // S2: B presses SOS: alarm routed to the default unit (North).
    dev_b
        .write_all(&protocol::h02::device::alarm(&idb, &sos(0)))
        .await
        .unwrap();
    let seen = until(&mut ws_admin, |v| is_alarm(v, db_, "opened")).await;
    let alarm_b = seen.last().unwrap()["alarm"].clone();
    assert_eq!(alarm_b["unit_id"], u1);
    // S3: B moves on (pursued by North).
    dev_b
        .write_all(&protocol::h02::device::location(&idb, &fix(10)))
        .await
        .unwrap();
    until(&mut ws_admin, |v| is_position(v, db_, 10)).await;
    // S4: the dispatcher hands the alarm to South.
    let (s, v) = app
        .post(
            &format!("/api/v1/alarms/{}/assign", alarm_b["id"]),
            &admin,
            &json!({"unit_id": u2}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    until(&mut ws_admin, |v| is_alarm(v, db_, "assigned")).await;
    // S5: B moves on (now pursued by South).
    dev_b
        .write_all(&protocol::h02::device::location(&idb, &fix(20)))
        .await
        .unwrap();
    until(&mut ws_admin, |v| is_position(v, db_, 20)).await;
    // S6: A presses SOS (routed to North).
    dev_a
        .write_all(&protocol::h02::device::alarm(&ida, &sos(30)))
        .await
        .unwrap();
    until(&mut ws_admin, |v| is_alarm(v, da, "opened")).await;
    // S7: B moves on.
    dev_b
        .write_all(&protocol::h02::device::location(&idb, &fix(40)))
        .await
        .unwrap();
    until(&mut ws_admin, |v| is_position(v, db_, 40)).await;

    // Owner A: only device A, its positions and its alarm.
    let got = until(&mut ws_a, |v| is_alarm(v, da, "opened")).await;
    assert!(
        got.iter().all(|v| device_of(v) == da),
        "owner A got {got:?}"
    );
    assert!(is_position(&got[0], da, 0), "{got:?}");
    // Owner A's key without positions:read: the alarm and nothing else.
    let got = until(&mut ws_key, |v| is_alarm(v, da, "opened")).await;
    assert_eq!(got.len(), 1, "alarms-only key got {got:?}");
    // Owner B: only device B, all of its events.
    let got = until(&mut ws_b, |v| is_position(v, db_, 40)).await;
    assert!(
        got.iter().all(|v| device_of(v) == db_),
        "owner B got {got:?}"
    );
    for want in [0, 10, 20] {
        assert!(
            got.iter()
                .any(|v| v["type"] == "position" && v["fix_time"] == fix_time(want))
        );
    }
    // Officer of North: B's alarm and pursuit until it was handed over (they see the
    // handover), then A's alarm; never A's ordinary position, nor B's after the handover.
    let got = until(&mut ws_o1, |v| is_alarm(v, da, "opened")).await;
    assert!(got.iter().any(|v| is_alarm(v, db_, "opened")), "{got:?}");
    assert!(got.iter().any(|v| is_position(v, db_, 10)), "{got:?}");
    assert!(got.iter().any(|v| is_alarm(v, db_, "assigned")), "{got:?}");
    assert!(!got.iter().any(|v| is_position(v, db_, 20)), "{got:?}");
    assert!(!got.iter().any(|v| is_position(v, da, 0)), "{got:?}");
    // Officer of South: nothing until the handover, then B's alarm and positions.
    let got = until(&mut ws_o2, |v| is_position(v, db_, 40)).await;
    assert!(is_alarm(&got[0], db_, "assigned"), "officer 2 got {got:?}");
    assert!(
        got.iter().all(|v| device_of(v) == db_),
        "officer 2 got {got:?}"
    );
    assert!(got.iter().any(|v| is_position(v, db_, 20)), "{got:?}");
    app.stop().await;
}

async fn officer_cut_power_needs_an_open_alarm(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let u1 = unit_store::create_unit(&app.db, "North", false)
        .await
        .unwrap()
        .id;
    let u2 = unit_store::create_unit(&app.db, "South", false)
        .await
        .unwrap()
        .id;
    let owner = user(&app, "owner@example.com", Role::Owner).await;
    let officer1 = user(&app, "o1@example.com", Role::Officer).await;
    let officer2 = user(&app, "o2@example.com", Role::Officer).await;
    store::set_units(&app.db, officer1.id, &[u1]).await.unwrap();
    store::set_units(&app.db, officer2.id, &[u2]).await.unwrap();
    let dev = app.create_device("4210051403").await;
    store::set_owner(&app.db, dev, Some(owner.id))
        .await
        .unwrap();
    // A parked vehicle (the speed interlock does not interfere).
    let row = PositionRow::from_position(dev, &fix(0), chrono::Utc::now());
    app.db.insert_positions(&[row]).await.unwrap();
    let (t1, t2, town) = (
        session(&app, &officer1).await,
        session(&app, &officer2).await,
        session(&app, &owner).await,
    );
    let mut ws_owner = connect(&app, &town, true).await;
    let cut = json!({"type": "cut_power", "confirm": true});
    let path = format!("/api/v1/devices/{dev}/commands");

    // No open alarm: the vehicle is not the officer's business.
    assert_eq!(app.post(&path, &t1, &cut).await.0, 404);
    assert_eq!(
        app.get(&format!("/api/v1/devices/{dev}/positions/latest"), &t1)
            .await
            .0,
        404
    );

    // An alarm routed to North: North's officer may follow and stop the vehicle.
    let alarm = alarm_store::insert_alarm(
        &app.db,
        &alarm_store::NewAlarm {
            device_id: dev,
            kind: alarm_store::AlarmKind::Theft,
            severity: vigil_server::storage::alarms::Severity::High,
            unit_id: Some(u1),
            time: chrono::Utc::now(),
            lat: Some(22.5),
            lon: Some(114.0),
            evidence: vec!["moved".into()],
        },
    )
    .await
    .unwrap();
    let (s, v) = app
        .get(&format!("/api/v1/devices/{dev}/positions/latest"), &t1)
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.post(&path, &t1, &cut).await;
    assert_eq!(s, 201, "{v}");
    let command_id = v["command"]["id"].as_i64().unwrap();
    assert_eq!(v["command"]["requested_by"], officer1.id);
    // South's officer: still nothing to see.
    assert_eq!(app.post(&path, &t2, &cut).await.0, 404);
    // Not even restore or locate for an officer of another unit; raw never for officers.
    assert_eq!(
        app.post(&path, &t2, &json!({"type": "locate"})).await.0,
        404
    );
    assert_eq!(
        app.post(&path, &t1, &json!({"type": "custom", "text": "RELAY,1#"}))
            .await
            .0,
        403
    );

    // The owner's stream shows the command being queued.
    let got = until(&mut ws_owner, |v| {
        v["type"] == "command" && v["command"]["id"] == command_id
    })
    .await;
    let last = got.last().unwrap();
    assert_eq!(last["command"]["status"], "queued");
    assert_eq!(last["command"]["kind"], "cut_power");
    // The refused custom command is published too (id null, status refused).
    let got = until(&mut ws_owner, |v| {
        v["type"] == "command" && v["command"]["status"] == "refused"
    })
    .await;
    assert_eq!(got.last().unwrap()["command"]["device_id"], dev);

    // Resolved: the officer's rights on the vehicle end with it.
    let (s, v) = app
        .post(
            &format!("/api/v1/alarms/{}/resolve", alarm.id),
            &t1,
            &json!({"outcome": "recovered"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(app.post(&path, &t1, &cut).await.0, 404);

    // Every attempt is in the audit log, with who and the outcome.
    let (s, audit) = app
        .get(&format!("/api/v1/devices/{dev}/audit"), &admin)
        .await;
    assert_eq!(s, 200);
    let entries = audit["entries"]
        .as_array()
        .or_else(|| audit["audit"].as_array())
        .unwrap_or_else(|| panic!("audit shape: {audit}"));
    assert!(
        entries
            .iter()
            .any(|e| e["user_id"] == officer1.id && e["outcome"] == "accepted"),
        "{audit}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["user_id"] == officer1.id && e["outcome"] == "refused"),
        "{audit}"
    );
    app.stop().await;
}

both_backends!(mqtt_topics_follow_the_same_rights);

/// Connects, subscribes to `filter` and waits for the SubAck; `Err` when the broker refuses
/// the login or closes the connection instead.
async fn mqtt_subscribe(
    addr: std::net::SocketAddr,
    client_id: &str,
    user: &str,
    pass: &str,
    filter: &str,
) -> Result<(rumqttc::AsyncClient, rumqttc::EventLoop), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut o = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    o.set_credentials(user, pass);
    o.set_keep_alive(std::time::Duration::from_secs(30));
    let (client, mut ev) = AsyncClient::new(o, 10);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    client
        .subscribe(filter, QoS::AtMostOnce)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match ev.poll().await {
            Err(e) => return Err(e.to_string()),
            Ok(Event::Incoming(Packet::ConnAck(a)))
                if a.code != rumqttc::ConnectReturnCode::Success =>
            {
                return Err(format!("{:?}", a.code));
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => return Ok((client, ev)),
            Ok(_) => {}
        }
    }
}

/// Forwards the (topic, JSON payload) of every publish received.
fn forward(mut ev: rumqttc::EventLoop) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = ev.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = e {
                let v = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                let _ = tx.send((p.topic.clone(), v));
            }
        }
    });
    rx
}

async fn mqtt_topics_follow_the_same_rights(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = crate::helpers::test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    let app = crate::helpers::spawn_app_with(settings).await;
    let addr = app.addrs["mqtt"];
    let admin = app.login().await;
    let (_, u1) = app
        .post(
            "/api/v1/units",
            &admin,
            &json!({"name": "North", "default": true}),
        )
        .await;
    let u1 = u1["id"].as_i64().unwrap();
    let u2 = unit_store::create_unit(&app.db, "South", false)
        .await
        .unwrap()
        .id;
    let owner_a = user(&app, "a@example.com", Role::Owner).await;
    let owner_b = user(&app, "b@example.com", Role::Owner).await;
    let officer1 = user(&app, "o1@example.com", Role::Officer).await;
    let officer2 = user(&app, "o2@example.com", Role::Officer).await;
    store::set_units(&app.db, officer1.id, &[u1]).await.unwrap();
    store::set_units(&app.db, officer2.id, &[u2]).await.unwrap();
    let ida = DeviceId::parse("4210051501").unwrap();
    let da = app.create_device(ida.as_str()).await;
    let db_ = app.create_device("4210051502").await;
    store::set_owner(&app.db, da, Some(owner_a.id))
        .await
        .unwrap();
    store::set_owner(&app.db, db_, Some(owner_b.id))
        .await
        .unwrap();
    let (ta, t1, t2) = (
        session(&app, &owner_a).await,
        session(&app, &officer1).await,
        session(&app, &officer2).await,
    );

    // Allowed subscriptions.
    let (_ca, ev) = mqtt_subscribe(
        addr,
        "a@example.com:car",
        "a@example.com",
        &ta,
        "vigil/devices/4210051501/#",
    )
    .await
    .expect("owner A on their device");
    let mut rx_a = forward(ev);
    let (_c1, ev) = mqtt_subscribe(
        addr,
        "o1@example.com",
        "o1@example.com",
        &t1,
        &format!("vigil/units/{u1}/#"),
    )
    .await
    .expect("officer on their unit");
    let mut rx_o1 = forward(ev);
    let (_ca2, ev) = mqtt_subscribe(
        addr,
        "admin@example.com:x",
        crate::helpers::ADMIN_EMAIL,
        &admin,
        "vigil/units/+/alarms",
    )
    .await
    .expect("administrator on every unit");
    let mut rx_admin = forward(ev);

    // Refused: other tenants' topics, wildcards beyond one's rights, wrong credentials,
    // someone else's login, a client id that is not one's own.
    for (client, login, pass, filter) in [
        (
            "a@example.com:2",
            "a@example.com",
            ta.as_str(),
            "vigil/devices/4210051502/alarms".to_owned(),
        ),
        (
            "a@example.com:3",
            "a@example.com",
            ta.as_str(),
            "vigil/devices/+/alarms".to_owned(),
        ),
        (
            "a@example.com:4",
            "a@example.com",
            ta.as_str(),
            "#".to_owned(),
        ),
        (
            "o2@example.com",
            "o2@example.com",
            t2.as_str(),
            format!("vigil/units/{u1}/alarms"),
        ),
        (
            "o1@example.com:2",
            "o1@example.com",
            t1.as_str(),
            "vigil/units/+/alarms".to_owned(),
        ),
        (
            "o1@example.com:3",
            "o1@example.com",
            "wrong",
            format!("vigil/units/{u1}/alarms"),
        ),
        (
            "b@example.com",
            "b@example.com",
            ta.as_str(),
            "vigil/devices/4210051501/alarms".to_owned(),
        ),
        (
            "4210051501",
            "a@example.com",
            ta.as_str(),
            "vigil/devices/4210051501/alarms".to_owned(),
        ),
    ] {
        assert!(
            mqtt_subscribe(addr, client, login, pass, &filter)
                .await
                .is_err(),
            "{login} as {client} subscribed to {filter}"
        );
    }
    // A key without positions:read may not follow the vehicle.
    let (key, hash, prefix) = access::new_api_key().unwrap();
    store::create_key(
        &app.db,
        owner_a.id,
        "k",
        &prefix,
        &hash,
        &[vigil_server::services::access::Scope::AlarmsRead],
    )
    .await
    .unwrap();
    assert!(
        mqtt_subscribe(
            addr,
            "a@example.com:k",
            "a@example.com",
            &key,
            "vigil/devices/4210051501/live"
        )
        .await
        .is_err()
    );
    assert!(
        mqtt_subscribe(
            addr,
            "a@example.com:k",
            "a@example.com",
            &key,
            "vigil/devices/4210051501/alarms"
        )
        .await
        .is_ok()
    );

    // A device may publish only its own position topic: forging B's closes the connection.
    let (s, creds) = app
        .post(
            &format!("/api/v1/devices/{da}/mqtt-token"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{creds}");
    let mut o = rumqttc::MqttOptions::new("4210051501", addr.ip().to_string(), addr.port());
    o.set_credentials("4210051501", creds["password"].as_str().unwrap());
    let (dev, mut ev) = rumqttc::AsyncClient::new(o, 10);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    let body = protocol::osmand::device::json(&DeviceId::parse("4210051502").unwrap(), &fix(5));
    dev.publish(
        "vigil/4210051502/position",
        rumqttc::QoS::AtLeastOnce,
        false,
        body,
    )
    .await
    .unwrap();
    loop {
        match ev.poll().await {
            Err(_) => break,
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                panic!("a forged publish was accepted")
            }
            Ok(_) => {}
        }
    }
    assert!(app.db.latest_position(db_).await.unwrap().is_none());

    // An alarm of A reaches A's device topic and North's unit topic.
    let mut dev_a = TcpStream::connect(app.addrs["h02"]).await.unwrap();
    let mut p = fix(30);
    p.status.alarms.insert(Alarm::Sos);
    dev_a
        .write_all(&protocol::h02::device::alarm(&ida, &p))
        .await
        .unwrap();
    let (topic, v) = rx_a.recv().await.unwrap();
    assert_eq!(topic, "vigil/devices/4210051501/alarms");
    assert_eq!(v["alarm"]["kind"], "sos");
    let (topic, v) = rx_o1.recv().await.unwrap();
    assert_eq!(topic, format!("vigil/units/{u1}/alarms"));
    assert_eq!(v["alarm"]["device_id"], da);
    let (topic, _) = rx_admin.recv().await.unwrap();
    assert_eq!(topic, format!("vigil/units/{u1}/alarms"));
    app.stop().await;
}

both_backends!(units_and_webhooks_are_edited_and_deleted);

async fn units_and_webhooks_are_edited_and_deleted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let put = |path: String, body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let r = app
                .client
                .put(app.url(&path))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let delete = |path: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.client
                .delete(app.url(&path))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (_, a) = app
        .post("/api/v1/units", &admin, &json!({"name": "A"}))
        .await;
    let (_, b) = app
        .post(
            "/api/v1/units",
            &admin,
            &json!({"name": "B", "default": true}),
        )
        .await;
    let (a, b) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    // Names stay unique; a new default replaces the old one.
    let (s, v) = put(format!("/api/v1/units/{a}"), json!({"name": "B"})).await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = put(
        format!("/api/v1/units/{a}"),
        json!({"default": true, "name": "Alpha"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "Alpha");
    let (_, v) = app.get("/api/v1/units", &admin).await;
    let units = v["units"].as_array().unwrap();
    assert_eq!(
        units.iter().filter(|u| u["is_default"] == true).count(),
        1,
        "{v}"
    );
    assert!(
        units
            .iter()
            .any(|u| u["id"] == a && u["is_default"] == true),
        "{v}"
    );

    // A unit with an officer, a jurisdiction and an alarm is deleted: they stay, unit-less.
    let officer = user(&app, "o@example.com", Role::Officer).await;
    store::set_units(&app.db, officer.id, &[a, b])
        .await
        .unwrap();
    let (s, j) = app
        .post(
            "/api/v1/fences",
            &admin,
            &json!({"type": "Feature", "properties": {"kind": "jurisdiction", "unit_id": a},
                "geometry": {"type": "Polygon", "coordinates": [[[114.0, 22.5], [114.01, 22.5],
                [114.01, 22.51], [114.0, 22.51], [114.0, 22.5]]]}}),
        )
        .await;
    assert_eq!(s, 201, "{j}");
    let dev = app.create_device("4210051601").await;
    let alarm = alarm_store::insert_alarm(
        &app.db,
        &alarm_store::NewAlarm {
            device_id: dev,
            kind: alarm_store::AlarmKind::Sos,
            severity: vigil_server::storage::alarms::Severity::High,
            unit_id: Some(a),
            time: chrono::Utc::now(),
            lat: Some(22.505),
            lon: Some(114.005),
            evidence: Vec::new(),
        },
    )
    .await
    .unwrap();
    assert_eq!(delete(format!("/api/v1/units/{a}")).await, 204);
    assert_eq!(delete(format!("/api/v1/units/{a}")).await, 404);
    assert_eq!(
        put(format!("/api/v1/units/{a}"), json!({"name": "x"}))
            .await
            .0,
        404
    );
    let (_, v) = app
        .get(&format!("/api/v1/alarms/{}", alarm.id), &admin)
        .await;
    assert!(v["alarm"]["unit_id"].is_null(), "{v}");
    let (_, v) = app
        .get("/api/v1/users/me", &session(&app, &officer).await)
        .await;
    assert_eq!(v["unit_ids"], json!([b]), "{v}");
    let (_, v) = app.get("/api/v1/fences", &admin).await;
    let f = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == j["id"])
        .unwrap_or_else(|| panic!("jurisdiction kept: {v}"));
    assert!(f["properties"].get("unit_id").is_none(), "{f}");

    // A deleted webhook is gone with its log.
    let (s, h) = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({"url": "http://127.0.0.1:9/x", "secret": "0123456789abcdef"}),
        )
        .await;
    assert_eq!(s, 201, "{h}");
    let hook = h["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{hook}/deliveries"), &admin)
            .await
            .0,
        200
    );
    assert_eq!(delete(format!("/api/v1/webhooks/{hook}")).await, 204);
    assert_eq!(delete(format!("/api/v1/webhooks/{hook}")).await, 404);
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{hook}/deliveries"), &admin)
            .await
            .0,
        404
    );
    let (_, v) = app.get("/api/v1/webhooks", &admin).await;
    assert_eq!(v["webhooks"], json!([]));
    app.stop().await;
}

both_backends!(logout_ends_the_stream);

/// The stream re-checks its credential (every `stream::REFRESH`): after logout it closes with
/// 1008 (policy). Waits without a time bound of its own.
async fn logout_ends_the_stream(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let owner = user(&app, "owner@example.com", Role::Owner).await;
    let token = session(&app, &owner).await;
    let mut ws = connect(&app, &token, true).await;
    let r = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let close = loop {
        match ws.next().await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(c))) => break c,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("stream failed instead of closing: {e}"),
            None => panic!("stream ended without a close frame"),
        }
    };
    let close = close.expect("close frame with a code");
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
    app.stop().await;
}
