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
    // (PostgreSQL's 0008 partitions positions, 0007 linkage, 0010 push, …), all successful.
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
