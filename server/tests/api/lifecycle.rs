//! Start, stop, restart: first administrator, port conflicts, flush on shutdown.

use chrono::Utc;
use serde_json::json;
use vigil_server::db::{Db, PositionRow};
use vigil_server::{Application, Settings, StartError};

use crate::both_backends;
use crate::helpers::{Backend, TestDb, position, spawn_app_with, test_settings};

both_backends!(
    shutdown_flushes_pending_batches_and_restart_continues,
    generated_admin_password
);

async fn shutdown_flushes_pending_batches_and_restart_continues(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    // Batches would wait a minute to fill: only the shutdown flush writes them.
    settings.batch_max_delay_ms = 60_000;
    settings.batch_max_size = 5000;
    settings.shutdown_grace_secs = 60;
    let app = spawn_app_with(settings.clone()).await;
    let dev = app.create_device("flush-me").await;
    let mut receipts = Vec::new();
    for t in 0..100 {
        let row = PositionRow::from_position(dev, &position(t), Utc::now());
        receipts.push(app.batcher.submit(vec![row]).await.unwrap());
    }
    app.stop().await;
    for r in receipts {
        r.await.expect("flushed before exit");
    }
    let store = Db::connect(&settings).await.unwrap();
    assert_eq!(store.count_positions(dev).await.unwrap(), 100);
    store.close().await;

    // Restart on the same database: migrations are a no-op, the admin is kept, ingest goes on.
    settings.batch_max_delay_ms = 5;
    let app = spawn_app_with(settings).await;
    let token = app.login().await;
    let (s, _) = app.get(&format!("/api/v1/devices/{dev}"), &token).await;
    assert_eq!(s, 200);
    let rows = (100..150)
        .map(|t| PositionRow::from_position(dev, &position(t), Utc::now()))
        .collect();
    app.batcher.store(rows).await.unwrap();
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 150);
    app.stop().await;
}

async fn generated_admin_password(backend: Backend) {
    let db = TestDb::new(backend).await;
    let settings = Settings::for_tests(&db.url);
    let app = Application::build(settings.clone()).await.unwrap();
    let admin = app
        .first_admin()
        .expect("first start creates the admin")
        .clone();
    assert_eq!(admin.user.email, "admin");
    let password = admin.generated_password.expect("generated password");
    let token = app.shutdown_token();
    let http = format!("http://{}", app.http_addr().unwrap());
    let handle = tokio::spawn(app.run());
    let r = reqwest::Client::new()
        .post(format!("{http}/api/v1/session"))
        .json(&json!({"email": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    token.cancel();
    handle.await.unwrap().unwrap();

    // Second start: nothing created, nothing printed.
    let app = Application::build(settings).await.unwrap();
    assert!(app.first_admin().is_none());
}

#[tokio::test]
async fn port_in_use_names_the_setting() {
    let db = TestDb::new(Backend::Sqlite).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = test_settings(&db.url);
    settings.http_listen = taken.local_addr().unwrap().to_string();
    let err = Application::build(settings).await.unwrap_err();
    assert!(matches!(err, StartError::PortInUse { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("VIGIL_HTTP_LISTEN"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    let mut settings = Settings::for_tests("mysql://nope");
    let err = Application::build(settings.clone()).await.unwrap_err();
    assert!(err.to_string().contains("VIGIL_DATABASE_URL"), "{err}");
    settings.database_url = "sqlite::memory:".into();
    settings.batch_max_size = 0;
    let err = Application::build(settings).await.unwrap_err();
    assert!(err.to_string().contains("VIGIL_BATCH_MAX_SIZE"), "{err}");
}
