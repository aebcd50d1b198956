//! Databases created by releases before `sqlx::migrate!` open without a checksum or version
//! error: the migrations are applied the way those releases did, then `Db::connect` runs.

use std::str::FromStr;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use vigil_server::storage::Db;

use crate::both_backends;
use crate::helpers::{Backend, TestDb, test_settings};

both_backends!(databases_of_the_previous_release_open);

/// The migrations exactly as releases up to b45cb2d built them by hand (`db::migrator`,
/// `access::migration`, `access::profiles_migration`, `alarms::store::migration`): versions,
/// descriptions, SQL text and transaction mode. A copy on purpose: it must not follow the
/// server's code.
fn previous_release_migrator(backend: Backend) -> Migrator {
    let sqlite = backend == Backend::Sqlite;
    let pick = |lite: &'static str, pg: &'static str| if sqlite { lite } else { pg };
    let simple = |version: i64, desc: &'static str, sql: &'static str, no_tx: bool| {
        Migration::new(
            version,
            desc.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            no_tx,
        )
    };
    Migrator::with_migrations(vec![
        simple(
            1,
            "initial",
            pick(
                include_str!("../../../migrations/sqlite/0001_initial.sql"),
                include_str!("../../../migrations/postgres/0001_initial.sql"),
            ),
            false,
        ),
        simple(
            2,
            "alarms",
            pick(
                include_str!("../../../migrations/sqlite/0002_alarms.sql"),
                include_str!("../../../migrations/postgres/0002_alarms.sql"),
            ),
            false,
        ),
        simple(
            3,
            "access",
            pick(
                include_str!("../../../migrations/sqlite/0003_access.sql"),
                include_str!("../../../migrations/postgres/0003_access.sql"),
            ),
            sqlite,
        ),
        simple(
            4,
            "profiles",
            pick(
                include_str!("../../../migrations/sqlite/0004_profiles.sql"),
                include_str!("../../../migrations/postgres/0004_profiles.sql"),
            ),
            false,
        ),
        simple(
            5,
            "track index",
            pick(
                include_str!("../../../migrations/sqlite/0005_track_index.sql"),
                include_str!("../../../migrations/postgres/0005_track_index.sql"),
            ),
            false,
        ),
        simple(
            6,
            "alarm_state",
            pick(
                include_str!("../../../migrations/sqlite/0006_alarm_state.sql"),
                include_str!("../../../migrations/postgres/0006_alarm_state.sql"),
            ),
            false,
        ),
    ])
}

async fn databases_of_the_previous_release_open(backend: Backend) {
    let db = TestDb::new(backend).await;
    let old = previous_release_migrator(backend);
    match backend {
        Backend::Sqlite => {
            let opts = SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await
                .unwrap();
            old.run(&pool).await.expect("previous release migrates");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(&db.url)
                .await
                .unwrap();
            old.run(&pool).await.expect("previous release migrates");
            pool.close().await;
        }
    }

    let store = Db::connect(&test_settings(&db.url).db_config())
        .await
        .expect("the current build opens the previous release's database");
    // Nothing was applied again: the six versions once each, then only what came after them
    // (0007 linkage, 0008 PostgreSQL's partitioned and SQLite's clustered positions, 0010 push, …), all successful.
    let applied: Vec<(i64, bool)> = match &store {
        Db::Sqlite(p) => {
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(p)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(p)
                .await
        }
    }
    .unwrap();
    assert_eq!(
        applied[..6],
        (1..=6).map(|v| (v, true)).collect::<Vec<_>>(),
        "{backend:?}"
    );
    assert!(
        applied[6..].iter().all(|&(v, ok)| v > 6 && ok)
            && applied.windows(2).all(|w| w[0].0 < w[1].0),
        "{backend:?}: {applied:?}"
    );
    // And the schema works: a device goes in and comes out.
    let (dev, created) = store
        .register_device(&protocol::DeviceId::parse("old-release").unwrap(), "h02")
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        store
            .device(dev.id)
            .await
            .unwrap()
            .map(|d| d.unique_id.to_string()),
        Some("old-release".to_string())
    );
    store.close().await;
}

/// Every column of every position, as SQLite text (NULLs and types visible), in key order.
async fn sqlite_position_rows(pool: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT quote(id) || ',' || quote(device_id) || ',' || quote(fix_time) || ',' || quote(server_time) || ',' || \
         quote(lat) || ',' || quote(lon) || ',' || quote(valid) || ',' || quote(speed_kmh) || ',' || quote(course) || ',' || \
         quote(altitude_m) || ',' || quote(satellites) || ',' || quote(accuracy_m) || ',' || quote(odometer_m) || ',' || \
         quote(archived) || ',' || quote(ignition) || ',' || quote(armed) || ',' || quote(charging) || ',' || \
         quote(battery_level) || ',' || quote(battery_voltage) || ',' || quote(alarms) || ',' || quote(attributes) \
         FROM positions ORDER BY device_id, fix_time",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Migration 8 (SQLite positions clustered by device and fix time) moves a filled table over:
/// every row with every value and its id, then new fixes get new ids, a retry of a moved fix
/// is stored once, and the reads see both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_layout_migration_keeps_every_position() {
    let db = TestDb::new(Backend::Sqlite).await;
    let opts = SqliteConnectOptions::from_str(&db.url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    previous_release_migrator(Backend::Sqlite)
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO devices (id, unique_id, created_at) VALUES (1, 'a', '2026-01-01T00:00:00+00:00'), \
         (2, 'b', '2026-01-01T00:00:00+00:00'), (3, 'c', '2026-01-01T00:00:00+00:00')",
    )
    .execute(&pool)
    .await
    .unwrap();
    // 3 devices × 4,000 fixes 30 s apart, interleaved in arrival order as the server writes
    // them, with NULLs, alarms and attributes here and there.
    sqlx::query(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, \
         accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes) \
         WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 11999) \
         SELECT n % 3 + 1, strftime('%Y-%m-%dT%H:%M:%S+00:00', 1790000000 + (n / 3) * 30, 'unixepoch'), \
         strftime('%Y-%m-%dT%H:%M:%S.123+00:00', 1790000001 + (n / 3) * 30, 'unixepoch'), \
         22.5 + n / 1e5, 114.0 - n / 3e5, n % 7 <> 0, n % 90, CASE WHEN n % 5 = 0 THEN NULL ELSE n % 360 END, \
         CASE WHEN n % 4 = 0 THEN NULL ELSE 12.5 END, n % 13, NULL, n * 10, n % 11 = 0, n % 2, NULL, 1, n % 100, 3.7, \
         CASE WHEN n % 500 = 0 THEN 'sos,vibration' ELSE '' END, \
         CASE WHEN n % 3 = 0 THEN '{\"cell\":' || n || '}' ELSE '{}' END FROM g",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = sqlite_position_rows(&pool).await;
    assert_eq!(before.len(), 12_000);
    pool.close().await;

    let store = Db::connect(&test_settings(&db.url).db_config())
        .await
        .expect("migration 8 on a filled table");
    let Db::Sqlite(p) = &store else {
        unreachable!()
    };
    assert_eq!(
        sqlite_position_rows(p).await,
        before,
        "every row, every value"
    );
    let without_rowid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'positions' AND sql LIKE '%WITHOUT ROWID%'",
    )
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!(without_rowid, 1);

    // Reads over the moved rows.
    assert_eq!(store.count_positions(2).await.unwrap(), 4000);
    let latest = store.latest_position(3).await.unwrap().unwrap();
    assert_eq!(latest.id, 12_000);
    let t0 = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let day = store
        .track(1, t0, t0 + chrono::Duration::days(1), None, 5000)
        .await
        .unwrap();
    assert_eq!(day.len(), 2880);
    assert!(day.windows(2).all(|w| w[0].fix_time < w[1].fix_time));

    // A retry of a moved fix is stored once; a new fix gets an id after every old one.
    let old = store
        .positions(1, t0, t0 + chrono::Duration::seconds(1), None, 1)
        .await
        .unwrap();
    let retry = vigil_server::domain::PositionRow {
        device_id: 1,
        fix_time: old[0].fix_time,
        server_time: chrono::Utc::now(),
        lat: 1.0,
        lon: 1.0,
        valid: true,
        speed_kmh: 0.0,
        course: None,
        altitude_m: None,
        satellites: None,
        accuracy_m: None,
        odometer_m: None,
        archived: false,
        ignition: None,
        armed: None,
        charging: None,
        battery_level: None,
        battery_voltage: None,
        alarms: String::new(),
        attributes: serde_json::json!({}),
    };
    let mut new = retry.clone();
    new.fix_time = latest.fix_time + chrono::Duration::seconds(30);
    new.device_id = 3;
    assert_eq!(
        store.insert_positions(&[retry, new.clone()]).await.unwrap(),
        1
    );
    assert_eq!(store.count_positions(1).await.unwrap(), 4000);
    let newest = store.latest_position(3).await.unwrap().unwrap();
    assert!(newest.id > 12_000, "{}", newest.id);
    assert_eq!(newest.fix_time, new.fix_time);
    // Deleting a device still takes its positions (the foreign key moved over).
    sqlx::query("DELETE FROM devices WHERE id = 2")
        .execute(p)
        .await
        .unwrap();
    assert_eq!(store.count_positions(2).await.unwrap(), 0);
    store.close().await;
}
