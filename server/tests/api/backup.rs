//! `vigil backup` / `vigil restore` of the embedded SQLite database (issue #18): a backup
//! taken while positions stream in holds every position acknowledged before it started, a
//! restore brings it back, and a restore is refused while a server uses the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::Utc;
use vigil_server::domain::PositionRow;
use vigil_server::storage::Db;
use vigil_server::storage::sqlite::backup::{self, BackupError};

use crate::helpers::{Backend, TestDb, position, spawn_app, spawn_app_with, test_settings};

#[tokio::test]
async fn backup_under_load_restores_every_acknowledged_position() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(&db).await;
    let dev = app.create_device("backup-under-load").await;

    // One position at a time, each submitted only after the previous one's commit receipt (what
    // a device's ack waits for): the acknowledged positions are always t = 0..acked.
    let acked = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (batcher, acked, stop) = (app.batcher.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut t = 0;
            while !stop.load(Ordering::SeqCst) {
                let row = PositionRow::from_position(dev, &position(t), Utc::now());
                let receipt = batcher.submit(vec![row]).await.expect("writer running");
                receipt.await.expect("committed");
                t += 1;
                acked.store(t, Ordering::SeqCst);
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("vigil-backup.db");
    let acked_before = acked.load(Ordering::SeqCst);
    let report = backup::backup(&db.url, &file).await.expect("backup");
    let acked_after = acked.load(Ordering::SeqCst);
    assert!(report.bytes > 0);
    assert!(
        report.positions >= acked_before,
        "the backup holds {} positions, {acked_before} were acknowledged before it started",
        report.positions
    );
    // The writer kept going during the backup (the copy did not stop the server).
    while acked.load(Ordering::SeqCst) < acked_after + 100 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(matches!(
        backup::backup(&db.url, &file).await,
        Err(BackupError::Exists(_))
    ));

    // Restore into a server's database: refused while it runs, done once it stopped.
    let target = TestDb::new(Backend::Sqlite).await;
    let other = spawn_app(&target).await;
    match backup::restore(&file, &target.url).await {
        Err(BackupError::Serving(path)) => assert!(path.ends_with("vigil.db")),
        other => panic!("restore while serving: {other:?}"),
    }
    other.stop().await;
    let restored = backup::restore(&file, &target.url).await.expect("restore");
    assert_eq!(restored.positions, report.positions);

    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    app.stop().await;

    // The restored database serves: migrations are a no-op, every position acknowledged before
    // the backup began is there (they are the prefix t = 0..acked_before of the stream).
    let app = spawn_app_with(test_settings(&target.url)).await;
    let store = Db::connect(&test_settings(&target.url).db_config())
        .await
        .expect("open restored");
    let n = store.count_positions(dev).await.expect("count");
    assert!(
        n >= acked_before,
        "{n} restored, {acked_before} acknowledged"
    );
    assert_eq!(n, report.positions);
    store.close().await;
    app.stop().await;
}

#[tokio::test]
async fn restore_refuses_what_is_not_a_backup_and_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text").expect("write");
    let target = TestDb::new(Backend::Sqlite).await;
    match backup::restore(&junk, &target.url).await {
        Err(BackupError::NotABackup { path, .. }) => assert_eq!(path, junk),
        other => panic!("restore of junk: {other:?}"),
    }
    assert!(matches!(
        backup::backup(
            "postgres://postgres@127.0.0.1:5432/x",
            &dir.path().join("b.db")
        )
        .await,
        Err(BackupError::NotSqlite)
    ));
}

/// The `vigil backup` / `vigil restore` commands: settings from the environment, one line of
/// what was written, a refusal naming what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_commands() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(&db).await;
    let dev = app.create_device("cli-backup").await;
    let rows = (0..50)
        .map(|t| PositionRow::from_position(dev, &position(t), Utc::now()))
        .collect();
    app.batcher.store(rows).await.expect("stored");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("nightly.db");
    let vigil = |args: &[&std::ffi::OsStr], url: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .env("VIGIL_DATABASE_URL", url)
            .output()
    };

    let out = vigil(&["backup".as_ref(), file.as_os_str()], &db.url)
        .await
        .expect("run vigil backup");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("50 positions"), "{stdout}");

    // Restoring over the running server's database is refused, and says why.
    let out = vigil(&["restore".as_ref(), file.as_os_str()], &db.url)
        .await
        .expect("run vigil restore");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stop it before restoring"), "{stderr}");
    app.stop().await;

    let target = TestDb::new(Backend::Sqlite).await;
    let out = vigil(&["restore".as_ref(), file.as_os_str()], &target.url)
        .await
        .expect("run vigil restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Db::connect(&test_settings(&target.url).db_config())
        .await
        .expect("open restored");
    assert_eq!(store.count_positions(dev).await.expect("count"), 50);
    store.close().await;
}
