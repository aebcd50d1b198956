//! `spawn_app()` and throw-away databases.

use std::net::SocketAddr;
use std::time::Duration;

use protocol::DeviceId;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;
use vigil_server::domain::NewDevice;
use vigil_server::storage::Db;
use vigil_server::{Application, Settings};

use crate::linecodec::LineCodec;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod $name { sqlite(), postgres() }` calling `$name(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

/// A fresh database: a temp SQLite file, or a `vigil_test_<random>` PostgreSQL database
/// dropped when this value is dropped (also when the test failed).
pub struct TestDb {
    pub url: String,

    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("vigil.db").display());
                TestDb {
                    url,

                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "vigil_test_{}",
                    vigil_server::services::auth::random_hex(6).expect("random")
                );
                let mut conn = sqlx::PgConnection::connect(PG_ADMIN_URL)
                    .await
                    .expect("PostgreSQL at 127.0.0.1:5432 (user postgres) is required");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                TestDb {
                    url: format!("postgres://postgres@127.0.0.1:5432/{name}"),

                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// The same database reached through another host:port (a proxy).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        self.url.replace("127.0.0.1:5432", &addr.to_string())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside async context guarantees: use a private runtime on a thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(PG_ADMIN_URL).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running server.
pub struct TestApp {
    pub http: String,
    pub line_addr: SocketAddr,
    pub addrs: std::collections::BTreeMap<&'static str, SocketAddr>,
    pub client: reqwest::Client,
    pub db: Db,
    pub batcher: vigil_server::services::batcher::PositionBatcher,
    pub sessions: vigil_server::services::device_sessions::DeviceSessions,
    /// The MQTT broker's rights table, when the broker is on.
    pub mqtt_acls: Option<vigil_server::transport::mqtt::acl::Acls>,
    pub shutdown: CancellationToken,
    pub handle: Option<tokio::task::JoinHandle<()>>,
}

/// Test settings for a database URL.
pub fn test_settings(url: &str) -> Settings {
    Settings {
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(ADMIN_PASSWORD.into()),
        batch_max_delay_ms: 5,
        ..Settings::for_tests(url)
    }
}

/// Starts the whole server on port-0 listeners, plus the line-protocol test gateway.
pub async fn spawn_app(db: &TestDb) -> TestApp {
    spawn_app_with(test_settings(&db.url)).await
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        vigil_server::app::telemetry::init_tracing();
    }
    let mut app = Application::build(settings).await.expect("app builds");
    let line = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let line_addr = line.local_addr().unwrap();
    app.add_gateway("gateway:line", line, LineCodec::default);
    let http = format!("http://{}", app.http_addr().expect("http listener"));
    let addrs = app.addrs().clone();
    let db = app.db().clone();
    let batcher = app.batcher().clone();
    let sessions = app.sessions().clone();
    let mqtt_acls = app.mqtt_acls();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(async move {
        app.run().await.expect("app runs");
    });
    TestApp {
        http,
        line_addr,
        addrs,
        client: reqwest::Client::new(),
        db,
        batcher,
        sessions,
        mqtt_acls,
        shutdown,
        handle: Some(handle),
    }
}

impl TestApp {
    /// Graceful stop, waiting for the flush.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.expect("app task");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.http, path)
    }

    /// Logs in as the administrator and returns the bearer token.
    pub async fn login(&self) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/session"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        v["token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create_device(&self, unique_id: &str) -> i64 {
        self.db
            .create_device(&NewDevice {
                unique_id: DeviceId::parse(unique_id).unwrap(),
                name: unique_id.into(),
                protocol: None,
                claimed: true,
            })
            .await
            .unwrap()
            .id
    }

    /// Polls `/health` until its status is `want` (no time assertion: the test harness's
    /// own timeout bounds it).
    pub async fn wait_health(&self, want: &str) -> Value {
        loop {
            if let Ok(r) = self.client.get(self.url("/health")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["status"] == want
            {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A position at `t` seconds past 2024-01-01.
pub fn position(t: i64) -> protocol::Position {
    let time = chrono::DateTime::from_timestamp(1_704_067_200 + t, 0).unwrap();
    let mut p = protocol::Position::new(
        time,
        protocol::LatLon::new(22.5 + t as f64 * 1e-5, 114.0).unwrap(),
        true,
        36.5,
    );
    p.satellites = Some(9);
    p.status.battery_level = Some(80);
    p.status.alarms.insert(protocol::Alarm::Vibration);
    p
}

/// Publishes `positions` as device `unique_id` (MQTT password `password`) on its position
/// topic, one OsmAnd JSON each, and returns once the broker acknowledged every one (QoS 1).
pub async fn mqtt_publish_positions(
    app: &TestApp,
    unique_id: &str,
    password: &str,
    positions: &[protocol::Position],
) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let addr = app.addrs["mqtt"];
    let mut o = MqttOptions::new(unique_id, addr.ip().to_string(), addr.port());
    o.set_credentials(unique_id, password);
    let (client, mut ev) = AsyncClient::new(o, 10);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    let id = DeviceId::parse(unique_id).unwrap();
    for p in positions {
        client
            .publish(
                format!("vigil/{unique_id}/position"),
                QoS::AtLeastOnce,
                false,
                protocol::osmand::device::json(&id, p),
            )
            .await
            .unwrap();
    }
    let mut acks = 0;
    while acks < positions.len() {
        if let Event::Incoming(Packet::PubAck(_)) = ev.poll().await.expect("connected") {
            acks += 1;
        }
    }
    tokio::spawn(async move { while ev.poll().await.is_ok() {} });
}
