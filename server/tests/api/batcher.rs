//! PositionBatcher: exactly once, commit before notification, duplicates stored once.

use std::sync::Arc;

use chrono::Utc;
use vigil_server::db::PositionRow;

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
