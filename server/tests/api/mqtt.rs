//! MQTT: a real client (rumqttc) authenticates with the device's token and publishes JSON
//! positions to `vigil/<id>/position`; they become visible through the API.

use std::time::{Duration, Instant};

use protocol::DeviceId;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use vigil_server::services::access::{Client, LoginThrottle};
use vigil_server::storage::Db;
use vigil_server::transport::mqtt::acl::Acls;

use crate::both_backends;
use crate::helpers::{Backend, TestDb, position, spawn_app_with, test_settings};

both_backends!(mqtt_publish_with_device_token);

/// A storage failure while a user's token is checked refuses the connection but is not a
/// wrong password: the login throttle does not count it against the client.
#[tokio::test]
async fn mqtt_login_on_a_failing_database_is_not_a_wrong_password() {
    let test_db = TestDb::new(Backend::Sqlite).await;
    let db = Db::connect(&test_settings(&test_db.url).db_config())
        .await
        .unwrap();
    // The device lookup still answers; the token lookup fails on the storage.
    let Db::Sqlite(pool) = &db else {
        unreachable!("a SQLite test database")
    };
    sqlx::query("DROP TABLE api_sessions")
        .execute(pool)
        .await
        .unwrap();
    let throttle = LoginThrottle::default();
    let acls = Acls::default();
    for _ in 0..10 {
        let ok = acls
            .authenticate(
                &db,
                &throttle,
                "alice".into(),
                "alice".into(),
                "a-token".into(),
            )
            .await;
        assert!(!ok, "no rights without the storage");
    }
    // Ten counted failures would be past the free attempts of one client on one account.
    assert!(
        throttle
            .begin("alice", Client::MqttClient("alice".into()), Instant::now())
            .is_ok(),
        "storage failures were counted as wrong passwords"
    );
}

fn options(addr: std::net::SocketAddr, user: &str, pass: &str) -> MqttOptions {
    let mut o = MqttOptions::new(user, addr.ip().to_string(), addr.port());
    o.set_credentials(user, pass);
    o.set_keep_alive(Duration::from_secs(30));
    o
}

async fn mqtt_publish_with_device_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    let app = spawn_app_with(settings).await;
    let addr = app.addrs["mqtt"];
    let token = app.login().await;
    let (s, dev) = app
        .post(
            "/api/v1/devices",
            &token,
            &json!({"unique_id": "mqtt-dev-1"}),
        )
        .await;
    assert_eq!(s, 201);
    let id = dev["id"].as_i64().unwrap();
    let (s, creds) = app
        .post(
            &format!("/api/v1/devices/{id}/mqtt-token"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{creds}");
    assert_eq!(creds["topic"], "vigil/mqtt-dev-1/position");
    let password = creds["password"].as_str().unwrap().to_owned();

    // A wrong password is refused.
    let (_c, mut ev) = AsyncClient::new(options(addr, "mqtt-dev-1", "wrong"), 10);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    loop {
        match ev.poll().await {
            Err(_) => break,
            Ok(Event::Incoming(Packet::ConnAck(a))) => {
                assert_ne!(a.code, rumqttc::ConnectReturnCode::Success);
                break;
            }
            Ok(_) => {}
        }
    }

    let (client, mut ev) = AsyncClient::new(options(addr, "mqtt-dev-1", &password), 10);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    let device = DeviceId::parse("mqtt-dev-1").unwrap();
    let body = protocol::osmand::device::json(&device, &position(42));
    client
        .publish("vigil/mqtt-dev-1/position", QoS::AtLeastOnce, false, body)
        .await
        .unwrap();
    while !matches!(
        ev.poll().await.expect("connected with the device token"),
        Event::Incoming(Packet::PubAck(_))
    ) {}
    tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    // Stored asynchronously after the broker's ack: wait until visible.
    loop {
        let (s, p) = app
            .get(&format!("/api/v1/devices/{id}/positions/latest"), &token)
            .await;
        if s == 200 {
            assert_eq!(p["fix_time"], "2024-01-01T00:00:42Z");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

both_backends!(
    mqtt_rights_go_with_their_connections,
    mqtt_second_connect_closes
);

/// One MQTT 3.1.1 connection driven packet by packet (rumqttc's codec over a plain socket).
struct Raw {
    stream: tokio::net::TcpStream,
    buf: bytes::BytesMut,
}

impl Raw {
    /// Connects with a clean session and returns after a successful CONNACK.
    async fn connect(addr: std::net::SocketAddr, client_id: &str, user: &str, pass: &str) -> Raw {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut raw = Raw {
            stream,
            buf: bytes::BytesMut::new(),
        };
        let mut connect = rumqttc::Connect::new(client_id);
        connect.keep_alive = 30;
        connect.set_login(user, pass);
        raw.send(Packet::Connect(connect)).await.unwrap();
        match raw.recv().await {
            Some(Packet::ConnAck(a)) => {
                assert_eq!(a.code, rumqttc::ConnectReturnCode::Success, "{client_id}")
            }
            other => panic!("{client_id}: no CONNACK but {other:?}"),
        }
        raw
    }

    async fn send(&mut self, p: Packet) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut b = bytes::BytesMut::new();
        p.write(&mut b, 1 << 20).unwrap();
        self.stream.write_all(&b).await
    }

    /// The next packet, `None` once the broker closed the connection.
    async fn recv(&mut self) -> Option<Packet> {
        use tokio::io::AsyncReadExt;
        loop {
            match Packet::read(&mut self.buf, 1 << 20) {
                Ok(p) => return Some(p),
                Err(rumqttc::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Subscribes; whether the broker granted it (it closes the connection otherwise).
    async fn subscribe(&mut self, filter: &str) -> bool {
        let mut s = rumqttc::Subscribe::new(filter, QoS::AtMostOnce);
        s.pkid = 1;
        // The broker may have closed the connection already (then the write may fail).
        let _ = self.send(Packet::Subscribe(s)).await;
        matches!(self.recv().await, Some(Packet::SubAck(a))
            if a.return_codes.iter().all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_))))
    }

    /// DISCONNECT, then waits until the broker closed the connection.
    async fn disconnect(mut self) {
        self.send(Packet::Disconnect).await.unwrap();
        while self.recv().await.is_some() {}
    }
}

/// Waits until `done` holds; panics after 30 s (a generous bound on the broker's own clean-up
/// after the client saw the connection close, not a timing assertion).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A device with an MQTT token: (unique id, password).
async fn mqtt_device(app: &crate::helpers::TestApp, token: &str, uid: &str) -> (String, String) {
    let (s, dev) = app
        .post("/api/v1/devices", token, &json!({"unique_id": uid}))
        .await;
    assert_eq!(s, 201, "{dev}");
    let id = dev["id"].as_i64().unwrap();
    let (s, creds) = app
        .post(
            &format!("/api/v1/devices/{id}/mqtt-token"),
            token,
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{creds}");
    (
        uid.to_owned(),
        creds["password"].as_str().unwrap().to_owned(),
    )
}

/// The broker keeps a connection's rights while it is open and forgets them when it closes,
/// also for clients that take a fresh client id per connection; a reconnect that takes over a
/// client id keeps its rights when the old connection goes.
async fn mqtt_rights_go_with_their_connections(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    let app = spawn_app_with(settings).await;
    let addr = app.addrs["mqtt"];
    let acls = app.mqtt_acls.clone().expect("the broker is on");
    let token = app.login().await;
    let (uid, dev_pass) = mqtt_device(&app, &token, "mqtt-churn-1").await;
    let filter = format!("vigil/devices/{uid}/alarms");
    let admin = crate::helpers::ADMIN_EMAIL;

    // Users with a fresh client id per connection, closing with DISCONNECT or by dropping the
    // socket; the device with its fixed client id, publishing.
    for n in 0..20 {
        let mut c = Raw::connect(addr, &format!("{admin}:{n}"), admin, &token).await;
        assert!(c.subscribe(&filter).await, "cycle {n}");
        if n % 2 == 0 {
            c.disconnect().await;
        } else {
            drop(c);
        }
        let mut d = Raw::connect(addr, &uid, &uid, &dev_pass).await;
        let body =
            protocol::osmand::device::json(&DeviceId::parse(&uid).unwrap(), &position(1000 + n));
        let mut p = rumqttc::Publish::new(format!("vigil/{uid}/position"), QoS::AtLeastOnce, body);
        p.pkid = 1;
        d.send(Packet::Publish(p)).await.unwrap();
        assert!(
            matches!(d.recv().await, Some(Packet::PubAck(_))),
            "cycle {n}"
        );
        drop(d);
    }
    eventually(
        &format!(
            "rights of closed connections are dropped ({} left)",
            acls.len()
        ),
        || acls.is_empty(),
    )
    .await;

    // Takeover: a second connection with the same client id makes rumqttd close the first;
    // the first one's end must not take the second one's rights with it.
    let id = format!("{admin}:phone");
    let mut first = Raw::connect(addr, &id, admin, &token).await;
    let mut second = Raw::connect(addr, &id, admin, &token).await;
    assert!(first.recv().await.is_none(), "the old connection is closed");
    eventually("the old connection's codec is gone", || {
        acls.connections() == 1
    })
    .await;
    assert_eq!(acls.len(), 1);
    assert!(
        second.subscribe(&filter).await,
        "the new connection keeps its rights"
    );
    second.disconnect().await;
    eventually("rights dropped after the takeover", || acls.is_empty()).await;
    app.stop().await;
}

/// A second CONNECT on an open connection closes it: it must not switch the connection to
/// another client's rights (here an administrator's, connected at the same time).
async fn mqtt_second_connect_closes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    let app = spawn_app_with(settings).await;
    let addr = app.addrs["mqtt"];
    let token = app.login().await;
    let (uid, dev_pass) = mqtt_device(&app, &token, "mqtt-twice-1").await;
    let admin = crate::helpers::ADMIN_EMAIL;
    let mut admin_conn = Raw::connect(addr, admin, admin, &token).await;
    assert!(admin_conn.subscribe("vigil/#").await);

    let mut d = Raw::connect(addr, &uid, &uid, &dev_pass).await;
    let mut again = rumqttc::Connect::new(admin);
    again.keep_alive = 30;
    again.set_login(admin, "not the password");
    d.send(Packet::Connect(again)).await.unwrap();
    assert!(
        !d.subscribe("vigil/#").await,
        "a second CONNECT must not lend the device the administrator's rights"
    );
    assert!(d.recv().await.is_none(), "closed");
    admin_conn.disconnect().await;
    app.stop().await;
}
