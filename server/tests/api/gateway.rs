//! The generic gateway driven by the test line codec (real codecs: see their own tests once
//! merged): identification, acks after commit, batches, registration with a persisted auth
//! code, replacement, unknown devices, faults.

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{Backend, TestDb, spawn_app, spawn_app_with, test_settings};

both_backends!(
    login_positions_ack_after_commit,
    register_auth_and_replace,
    faulty_connections_do_not_disturb_others,
    unknown_devices_rejected_when_configured,
);

pub struct Dev {
    r: BufReader<TcpStream>,
}

impl Dev {
    pub async fn connect(addr: std::net::SocketAddr) -> Dev {
        Dev {
            r: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        }
    }
    pub async fn send(&mut self, line: &str) {
        self.r.get_mut().write_all(line.as_bytes()).await.unwrap();
        self.r.get_mut().write_all(b"\n").await.unwrap();
    }
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.r.get_mut().write_all(bytes).await
    }
    /// Next line, or `None` once the server closed the connection.
    pub async fn recv(&mut self) -> Option<String> {
        let mut s = String::new();
        match self.r.read_line(&mut s).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(s.trim_end().to_owned()),
        }
    }
    /// Reads until the server closes the connection.
    pub async fn closed(&mut self) {
        while self.recv().await.is_some() {}
    }
}

async fn device_by_uid(app: &crate::helpers::TestApp, uid: &str) -> i64 {
    app.db.device_by_unique_id(uid).await.unwrap().unwrap().id
}

async fn login_positions_ack_after_commit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let mut d = Dev::connect(app.line_addr).await;
    d.send("LOGIN 359710000000001").await;
    assert_eq!(d.recv().await.as_deref(), Some("OK LOGIN"));
    let id = device_by_uid(&app, "359710000000001").await;
    let (_, dev) = app.get(&format!("/api/v1/devices/{id}"), &token).await;
    assert_eq!(
        dev["claimed"], false,
        "auto-registered devices are unclaimed"
    );
    assert_eq!(dev["online"], true);
    // An administrator claims it by giving it an owner.
    let (s, owner) = app
        .post(
            "/api/v1/users",
            &token,
            &serde_json::json!({"email": "claimer@example.com", "password": "claimer password", "role": "owner"}),
        )
        .await;
    assert_eq!(s, 201, "{owner}");
    let (s, v) = app
        .put(
            &format!("/api/v1/devices/{id}/owner"),
            &token,
            &serde_json::json!({"owner_id": owner["user"]["id"]}),
        )
        .await;
    assert!(s < 300, "{v}");
    let (_, dev) = app.get(&format!("/api/v1/devices/{id}"), &token).await;
    assert_eq!(dev["claimed"], true, "{dev}");
    assert_eq!(dev["owner_id"], owner["user"]["id"]);

    for t in 0..20 {
        d.send(&format!("POS 359710000000001 {t}")).await;
        assert_eq!(d.recv().await, Some(format!("ACK {t}")));
        // Acknowledged means stored.
        let (s, latest) = app
            .get(&format!("/api/v1/devices/{id}/positions/latest"), &token)
            .await;
        assert_eq!(s, 200);
        let want = chrono::DateTime::from_timestamp(1_704_067_200 + t, 0).unwrap();
        assert_eq!(
            latest["fix_time"].as_str().unwrap(),
            want.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
    }
    // Pipelined: many frames in one write, acks in order.
    let burst: String = (100..150)
        .map(|t| format!("POS 359710000000001 {t}\n"))
        .collect();
    d.send_raw(burst.as_bytes()).await.unwrap();
    for t in 100..150 {
        assert_eq!(d.recv().await, Some(format!("ACK {t}")));
    }
    d.send("BATCH 359710000000001 200,201,202,203").await;
    assert_eq!(d.recv().await.as_deref(), Some("ACKB 4"));
    d.send("HB").await;
    assert_eq!(d.recv().await.as_deref(), Some("OK HB"));
    assert_eq!(app.db.count_positions(id).await.unwrap(), 20 + 50 + 4);

    // A retried frame is acknowledged again and stored once.
    d.send("POS 359710000000001 5").await;
    assert_eq!(d.recv().await.as_deref(), Some("ACK 5"));
    assert_eq!(app.db.count_positions(id).await.unwrap(), 74);

    drop(d);
    let (_, ev) = app
        .get(&format!("/api/v1/events?device_id={id}"), &token)
        .await;
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"unknown_device"), "{kinds:?}");
    assert!(kinds.contains(&"connect"), "{kinds:?}");

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vigil_positions_written_total"),
        "{metrics}"
    );
    assert!(metrics.contains("vigil_frames_total"), "{metrics}");
    app.stop().await;
}

async fn register_auth_and_replace(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let mut d = Dev::connect(app.line_addr).await;
    d.send("REG 13800138000").await;
    let reply = d.recv().await.unwrap();
    let code = reply.strip_prefix("AUTH ").unwrap().to_owned();
    assert_ne!(code, "?");
    drop(d);

    // The code is persisted: a new connection authenticates with it; a wrong one is refused.
    let mut bad = Dev::connect(app.line_addr).await;
    bad.send("AUTH 13800138000 wrong").await;
    bad.closed().await;

    let mut first = Dev::connect(app.line_addr).await;
    first.send(&format!("AUTH 13800138000 {code}")).await;
    assert_eq!(first.recv().await.as_deref(), Some("OK AUTH"));
    // Re-registering hands out the same code.
    let mut again = Dev::connect(app.line_addr).await;
    again.send("REG 13800138000").await;
    assert_eq!(again.recv().await, Some(format!("AUTH {code}")));
    // `again` replaced `first`, which is closed.
    first.closed().await;
    again.send("POS 13800138000 1").await;
    assert_eq!(again.recv().await.as_deref(), Some("ACK 1"));

    let id = device_by_uid(&app, "13800138000").await;
    let token = app.login().await;
    let (_, ev) = app
        .get(&format!("/api/v1/events?device_id={id}"), &token)
        .await;
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"auth_failed"), "{kinds:?}");
    app.stop().await;
}

async fn faulty_connections_do_not_disturb_others(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.frame_timeout_secs = 1;
    let app = spawn_app_with(settings).await;
    let mut good = Dev::connect(app.line_addr).await;
    good.send("LOGIN 111").await;
    assert_eq!(good.recv().await.as_deref(), Some("OK LOGIN"));

    // Garbage lines are skipped, the connection survives them…
    let mut noisy = Dev::connect(app.line_addr).await;
    noisy.send("\u{1}\u{2}garbage").await;
    noisy.send("LOGIN 222").await;
    assert_eq!(noisy.recv().await.as_deref(), Some("OK LOGIN"));
    // …but an oversized frame closes it.
    noisy.send_raw(&[b'x'; 4096]).await.ok();
    noisy.closed().await;

    // Slow drip: a partial frame that never completes is cut.
    let mut drip = Dev::connect(app.line_addr).await;
    drip.send_raw(b"POS 333").await.unwrap();
    drip.closed().await;

    // Position before identification: no ack, no crash.
    let mut anon = Dev::connect(app.line_addr).await;
    anon.send("HB").await;
    assert_eq!(anon.recv().await.as_deref(), Some("OK HB"));

    for t in 0..10 {
        good.send(&format!("POS 111 {t}")).await;
        assert_eq!(good.recv().await, Some(format!("ACK {t}")));
    }
    let id = device_by_uid(&app, "111").await;
    assert_eq!(app.db.count_positions(id).await.unwrap(), 10);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("vigil_decode_errors_total"), "{metrics}");
    app.stop().await;
}

async fn unknown_devices_rejected_when_configured(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.unknown_devices = vigil_server::app::settings::UnknownDevicePolicy::Reject;
    let app = spawn_app_with(settings).await;
    let mut d = Dev::connect(app.line_addr).await;
    d.send("LOGIN 999").await;
    d.closed().await;
    assert!(app.db.device_by_unique_id("999").await.unwrap().is_none());

    app.create_device("998").await;
    let mut ok = Dev::connect(app.line_addr).await;
    ok.send("LOGIN 998").await;
    assert_eq!(ok.recv().await.as_deref(), Some("OK LOGIN"));

    let token = app.login().await;
    let (_, ev) = app.get("/api/v1/events", &token).await;
    let rejected = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e: &Value| e["kind"] == "unknown_device" && e["unique_id"] == "999");
    assert!(rejected, "{ev}");
    app.stop().await;
}

both_backends!(commands_reach_the_session_and_idle_connections_close);

async fn commands_reach_the_session_and_idle_connections_close(backend: Backend) {
    use protocol::{Command, CommandProfile, Correlation, DeviceId};
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.idle_timeout_secs = 1;
    let app = spawn_app_with(settings).await;
    let id = DeviceId::parse("555").unwrap();
    let offline = app
        .sessions
        .send_command(&id, Command::Locate, CommandProfile::default())
        .await;
    assert!(offline.is_err());

    let mut d = Dev::connect(app.line_addr).await;
    d.send("LOGIN 555").await;
    assert_eq!(d.recv().await.as_deref(), Some("OK LOGIN"));
    let corr = app
        .sessions
        .send_command(&id, Command::Locate, CommandProfile::default())
        .await
        .unwrap();
    assert_eq!(corr, Correlation::None);
    assert_eq!(d.recv().await.as_deref(), Some("CMD locate"));
    // Silent for longer than the idle timeout: closed, and the session is gone.
    d.closed().await;
    while app.sessions.is_online(&id) {
        tokio::task::yield_now().await;
    }
    app.stop().await;
}

both_backends!(more_logins_than_the_login_gate_all_succeed);

/// More devices log in at once than the gateway lets handle logins concurrently: the rest
/// wait for the gate and are identified in turn; all of them disconnecting at once goes
/// through the same gate and ends every session.
async fn more_logins_than_the_login_gate_all_succeed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app_with(test_settings(&db.url)).await;
    let n =
        vigil_server::transport::gateway::GatewayConfig::default().max_concurrent_logins * 2 + 5;
    let mut devs = Vec::new();
    for i in 0..n {
        let mut d = Dev::connect(app.line_addr).await;
        d.send(&format!("LOGIN {}", 7000 + i)).await;
        devs.push(d);
    }
    for d in &mut devs {
        assert_eq!(d.recv().await.as_deref(), Some("OK LOGIN"));
    }
    assert_eq!(app.sessions.len(), n);
    drop(devs);
    while !app.sessions.is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.stop().await;
}
