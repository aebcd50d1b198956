//! PositionBatcher: exactly once, commit before notification, duplicates stored once.

use std::sync::Arc;

use chrono::Utc;
use vigil_server::domain::PositionRow;

use crate::both_backends;
use crate::helpers::{Backend, TestDb, position, spawn_app};

both_backends!(concurrent_submissions_land_exactly_once);

async fn concurrent_submissions_land_exactly_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let dev = app.create_device("batch-device").await;
    let tasks = 16i64;
    let per_task = 40i64;
    let store = Arc::new(app.db.clone());
    let mut handles = Vec::new();
    for k in 0..tasks {
        let batcher = app.batcher.clone();
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let t = k * 10_000 + i;
                let p = position(t);
                let row = PositionRow::from_position(dev, &p, Utc::now());
                let receipt = batcher.submit(vec![row]).await.unwrap();
                receipt.await.unwrap();
                // The notification fires only after the commit: the row is visible now.
                let found = store
                    .positions(dev, p.time, p.time + chrono::Duration::seconds(1), None, 1)
                    .await
                    .unwrap();
                assert_eq!(found.len(), 1, "position {t} not visible after its commit");
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(app.db.count_positions(dev).await.unwrap(), tasks * per_task);

    // A retried frame (same device, same fix time) is stored once.
    let again: Vec<_> = (0..per_task)
        .map(|i| PositionRow::from_position(dev, &position(i), Utc::now()))
        .collect();
    app.batcher.store(again).await.unwrap();
    assert_eq!(app.db.count_positions(dev).await.unwrap(), tasks * per_task);
    app.stop().await;
}

/// Under steady load the SQLite WAL must start over instead of growing without end. A
/// passive checkpoint that runs while commits go on never copies every frame, so no commit
/// finds the log fully copied and rewinds it (here a reader's snapshot holds the checkpoint
/// back the same way, deterministically). Once the checkpointer has seen a large WAL, the
/// writer checkpoints on its own connection between two batches, and the next commit starts
/// the log over.
#[tokio::test]
async fn sqlite_wal_starts_over_under_steady_writes() {
    use sqlx::Connection;
    use vigil_server::storage::writer::{PositionSink, WAL_RESTART_FRAMES, WalWatch};
    let tdb = TestDb::new(Backend::Sqlite).await;
    // The database alone: no application, so no background checkpointer either.
    let db =
        vigil_server::storage::Db::connect(&crate::helpers::test_settings(&tdb.url).db_config())
            .await
            .unwrap();
    let (dev, _) = db
        .register_device(&protocol::DeviceId::parse("wal-device").unwrap(), "gt06")
        .await
        .unwrap();
    let dev = dev.id;
    let wal = Arc::new(WalWatch::default());
    let mut sink = PositionSink::new(&db, wal.clone());
    let row = |t: i64| PositionRow::from_position(dev, &position(t), Utc::now());
    for t in 0..60 {
        assert_eq!(sink.insert(&[row(t)]).await.unwrap(), 1);
    }
    // A reader's snapshot, a commit after it, a checkpoint that cannot copy that commit.
    let vigil_server::storage::Db::Sqlite(pool) = &db else {
        unreachable!()
    };
    let mut reader = pool.acquire().await.unwrap();
    let mut snapshot = reader.begin().await.unwrap();
    sqlx::query("SELECT count(*) FROM positions")
        .fetch_one(&mut *snapshot)
        .await
        .unwrap();
    sink.insert(&[row(100)]).await.unwrap();
    let grown = db.checkpoint().await.unwrap().unwrap();
    assert!(grown >= 60, "each commit appends frames: {grown}");
    snapshot.rollback().await.unwrap();
    drop(reader);
    // The checkpointer reports a large WAL: the writer checkpoints after its next commit, and
    // the commit after that starts the log over.
    wal.observed(WAL_RESTART_FRAMES);
    sink.insert(&[row(101)]).await.unwrap();
    sink.insert(&[row(102)]).await.unwrap();
    let after = db.checkpoint().await.unwrap().unwrap();
    assert!(
        after < grown / 4,
        "the WAL did not start over: {after} frames after, {grown} before"
    );
    assert_eq!(db.count_positions(dev).await.unwrap(), 63);
    sink.close().await;
    db.close().await;
}
