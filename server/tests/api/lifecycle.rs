//! Start, stop, restart: first administrator, port conflicts, flush on shutdown.

use chrono::Utc;
use serde_json::json;
use vigil_server::domain::PositionRow;
use vigil_server::storage::Db;
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
    let store = Db::connect(&settings.db_config()).await.unwrap();
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

both_backends!(sigterm_mid_stream_loses_no_acknowledged_position);

/// The real binary, a GT06 device streaming positions, SIGTERM after some acks: every
/// acknowledged position is in the database after the process exited.
async fn sigterm_mid_stream_loses_no_acknowledged_position(backend: Backend) {
    use bytes::BytesMut;
    use protocol::gt06::{self, Gt06Outbound};
    use std::collections::BTreeSet;
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio_util::codec::Decoder;

    let db = TestDb::new(backend).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("serve")
        .env("VIGIL_DATABASE_URL", &db.url)
        .env("VIGIL_HTTP_LISTEN", "127.0.0.1:0")
        .env("VIGIL_GT06_LISTEN", "127.0.0.1:0")
        .env("VIGIL_JT808_LISTEN", "off")
        .env("VIGIL_H02_LISTEN", "off")
        .env("VIGIL_OSMAND_LISTEN", "off")
        .env("VIGIL_MQTT_LISTEN", "off")
        .env("VIGIL_HTTP_WORKERS", "1")
        .env("VIGIL_BATCH_MAX_DELAY_MS", "20")
        // The fixes are of 2024: retention (365 days by default) must not remove them.
        .env("VIGIL_POSITIONS_RETENTION_DAYS", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("vigil binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let gt06_addr: std::net::SocketAddr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("vigil printed its listeners");
        if line.contains("listening:") && line.contains("gt06") {
            break line.split_whitespace().last().unwrap().parse().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let imei = "359710099000001";
    let stream = tokio::net::TcpStream::connect(gt06_addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(&gt06::device::login(imei, 1).unwrap())
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        for t in 0..20_000i64 {
            let frame = gt06::device::location(&position(t), (t + 2) as u16);
            if wr.write_all(&frame).await.is_err() {
                break;
            }
            if t % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut dec = gt06::device::DeviceDecoder::default();
    let mut buf = BytesMut::new();
    let mut acked = BTreeSet::new();
    let mut signalled = false;
    loop {
        while let Ok(Some(f)) = dec.decode(&mut buf) {
            if let Gt06Outbound::Ack {
                protocol: 0x22,
                serial,
            } = f
            {
                acked.insert(i64::from(serial) - 2);
            }
        }
        if !signalled && acked.len() >= 300 {
            let pid = child.id().unwrap().to_string();
            let ok = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(ok.success());
            signalled = true;
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(signalled, "the server closed before the signal");
    let status = child.wait().await.unwrap();
    assert!(status.success(), "vigil exited with {status}");
    writer.abort();

    let store = Db::connect(&test_settings(&db.url).db_config())
        .await
        .unwrap();
    let dev = store.device_by_unique_id(imei).await.unwrap().unwrap();
    let stored: BTreeSet<i64> = store
        .positions(
            dev.id,
            chrono::DateTime::from_timestamp(1_704_067_200, 0).unwrap(),
            chrono::DateTime::from_timestamp(1_704_067_200 + 20_000, 0).unwrap(),
            None,
            100_000,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.fix_time.timestamp() - 1_704_067_200)
        .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    store.close().await;
}

/// A background worker that dies is visible: `/health` turns degraded and names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_worker_degrades_health() {
    use crate::linecodec::LineCodec;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut app = Application::build(test_settings(&db.url)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    app.add_gateway("gateway:doomed", listener, || -> LineCodec {
        panic!("codec factory failure (test)")
    });
    let http = format!("http://{}", app.http_addr().unwrap());
    let token = app.shutdown_token();
    let handle = tokio::spawn(app.run());
    let _conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = reqwest::Client::new();
    let body = loop {
        let r = client.get(format!("{http}/health")).send().await.unwrap();
        if r.status() == 503 {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(body["status"], "degraded");
    assert!(
        body["reasons"]["worker:gateway:doomed"].is_string(),
        "{body}"
    );
    token.cancel();
    handle.await.unwrap().unwrap();
}
