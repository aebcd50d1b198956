//! PostgreSQL outage: a TCP proxy in front of the database is cut and restored; the server
//! keeps running, reports degraded health, and writes resume without losing anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use vigil_server::domain::PositionRow;

use crate::helpers::{Backend, TestDb, position, spawn_app_with, test_settings};
use crate::real_codecs::{Wire, registration};

/// Forwards to PostgreSQL while up; `cut()` drops every connection and refuses new ones.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let gen_tx = generation.clone();
        let up2 = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            up,
            generation,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_survived() {
    let db = TestDb::new(Backend::Postgres).await;
    let proxy = Proxy::start().await;
    let settings = test_settings(&db.url_via(proxy.addr));
    let app = spawn_app_with(settings).await;
    let dev = app.create_device("outage").await;
    let rows = |r: std::ops::Range<i64>| -> Vec<PositionRow> {
        r.map(|t| PositionRow::from_position(dev, &position(t), Utc::now()))
            .collect()
    };
    app.batcher.store(rows(0..50)).await.unwrap();

    proxy.cut();
    // Submitted during the outage: accepted into the queue, not acknowledged yet.
    let mut receipts = Vec::new();
    for t in 50..100 {
        receipts.push(app.batcher.submit(rows(t..t + 1)).await.unwrap());
    }
    let health = app.wait_health("degraded").await;
    assert!(
        !health["reasons"].as_object().unwrap().is_empty(),
        "{health}"
    );

    proxy.restore();
    for r in receipts {
        r.await.expect("committed after the outage");
    }
    app.wait_health("ok").await;
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 100);
    app.stop().await;
}

/// With the database down and the queue full, `submit` waits (backpressure) instead of
/// buffering without bound; everything completes once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_blocks_submitters_while_the_database_is_down() {
    let db = TestDb::new(Backend::Postgres).await;
    let proxy = Proxy::start().await;
    let mut settings = test_settings(&db.url_via(proxy.addr));
    settings.batch_queue_capacity = 4;
    settings.batch_max_size = 1;
    let app = spawn_app_with(settings).await;
    let dev = app.create_device("backpressure").await;
    proxy.cut();
    let batcher = app.batcher.clone();
    let submitter = tokio::spawn(async move {
        let mut receipts = Vec::new();
        for t in 0..20 {
            let row = PositionRow::from_position(dev, &position(t), Utc::now());
            receipts.push(batcher.submit(vec![row]).await.unwrap());
        }
        receipts
    });
    // The writer holds one batch (retrying) and the queue fills up to its capacity…
    while app.batcher.queue_depth() < 4 + 1 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // …and the 20 submissions cannot all have been accepted while the database is down.
    assert!(!submitter.is_finished());
    assert!(app.batcher.queue_depth() <= 4 + 2);
    proxy.restore();
    for r in submitter.await.unwrap() {
        r.await.unwrap();
    }
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 20);
    app.stop().await;
}

/// JT808 0x8001 for a position means "stored": while the database is down it must not be sent,
/// and once the database is back the held fix is committed and acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_position_ack_waits_for_the_database() {
    use protocol::DeviceId;
    use protocol::jt808::AckResult;
    use protocol::jt808::device::{Device, ServerFrameDecoder, ServerMessage as S};

    let db = TestDb::new(Backend::Postgres).await;
    let proxy = Proxy::start().await;
    let app = spawn_app_with(test_settings(&db.url_via(proxy.addr))).await;
    let id = DeviceId::parse("13900000001").unwrap();
    let mut dev = Device::new(&id);
    let mut w = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;
    w.send(&dev.register(&registration())).await;
    let S::RegisterResponse { auth_code, .. } = w.recv().await.message else {
        panic!("expected a register response");
    };
    w.send(&dev.auth(&auth_code)).await;
    let _auth_ack = w.recv().await;

    proxy.cut();
    w.send(&dev.location(&position(10))).await;
    app.wait_health("degraded").await;
    let early = tokio::time::timeout(std::time::Duration::from_secs(2), w.recv()).await;
    assert!(
        early.is_err(),
        "0x8001 sent while the position could not be committed: {:?}",
        early.map(|f| f.message)
    );

    proxy.restore();
    match w.recv().await.message {
        S::GeneralResponse {
            reply_id: 0x0200,
            result: AckResult::Success,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    let stored = app
        .db
        .device_by_unique_id("13900000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.db.count_positions(stored.id).await.unwrap(), 1);
    app.stop().await;
}
