//! PostgreSQL's weekly `positions` partitions (routing of any fix time, partitions created
//! ahead, migration 0008 of a filled table) and retention on both databases (old rows gone,
//! each device's latest position and every alarm, alarm action and audit entry kept).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use protocol::DeviceId;
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use vigil_server::domain::PositionRow;
use vigil_server::services::retention::{RetentionConfig, run_once};
use vigil_server::storage::{Db, PgInsert};

use crate::both_backends;
use crate::helpers::{Backend, TestDb, spawn_app_with, test_settings};

both_backends!(
    retention_keeps_the_latest_position_and_every_alarm,
    the_upkeep_job_runs_at_start
);

fn row(device_id: i64, t: DateTime<Utc>) -> PositionRow {
    let p = protocol::Position::new(t, protocol::LatLon::new(22.5, 114.0).unwrap(), true, 30.0);
    PositionRow::from_position(device_id, &p, Utc::now())
}

async fn device(db: &Db, name: &str) -> i64 {
    db.register_device(&DeviceId::parse(name).unwrap(), "h02")
        .await
        .unwrap()
        .0
        .id
}

/// Runs `sql` on either engine; returns the rows affected.
async fn exec(db: &Db, sql: &str) -> u64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.unwrap().rows_affected(),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.unwrap().rows_affected(),
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// The partition holding the position of `device` at `t` (PostgreSQL).
async fn partition_of(db: &Db, device: i64, t: DateTime<Utc>) -> String {
    let Db::Postgres(p) = db else { unreachable!() };
    sqlx::query_scalar(
        "SELECT tableoid::regclass::text FROM positions WHERE device_id = $1 AND fix_time = $2",
    )
    .bind(device)
    .bind(t)
    .fetch_one(p)
    .await
    .unwrap()
}

async fn id_of(db: &Db, device: i64, t: DateTime<Utc>) -> i64 {
    let sql = "SELECT id FROM positions WHERE device_id = $1 AND fix_time = $2";
    match db {
        Db::Sqlite(p) => {
            sqlx::query_scalar(sql)
                .bind(device)
                .bind(t)
                .fetch_one(p)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar(sql)
                .bind(device)
                .bind(t)
                .fetch_one(p)
                .await
        }
    }
    .unwrap()
}

/// Now, to the microsecond (what both databases keep).
fn now_us() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_route_every_fix_time_and_are_created_ahead() {
    let tdb = TestDb::new(Backend::Postgres).await;
    let db = Db::connect(&test_settings(&tdb.url).db_config())
        .await
        .unwrap();
    let dev = device(&db, "part-1").await;
    let now = now_us();
    let week = vigil_server::storage::retention::week_start(now);

    // Before any partition: everything goes to the default partition.
    let early = now + chrono::Duration::weeks(2);
    assert_eq!(db.insert_positions(&[row(dev, early)]).await.unwrap(), 1);
    let early_id = id_of(&db, dev, early).await;
    assert_eq!(partition_of(&db, dev, early).await, "positions_default");

    // The week of `now` and four more, once; the early fix moved into its week, same id.
    let created = db.ensure_position_partitions(now, 4).await.unwrap();
    assert_eq!(created.len(), 5, "{created:?}");
    assert!(
        db.ensure_position_partitions(now, 4)
            .await
            .unwrap()
            .is_empty()
    );
    let weeks: Vec<DateTime<Utc>> = db
        .position_partitions()
        .await
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        weeks,
        (0..5)
            .map(|k| week + chrono::Duration::weeks(k))
            .collect::<Vec<_>>()
    );
    let early_part = partition_of(&db, dev, early).await;
    assert!(early_part.starts_with("positions_w"), "{early_part}");
    assert_eq!(id_of(&db, dev, early).await, early_id);

    // Far-off fix times all land somewhere defined.
    let far_future = now + chrono::Duration::weeks(10);
    let cases = [
        (utc(1990, 1, 1), "positions_default".to_owned()),
        (utc(2100, 1, 1), "positions_default".to_owned()),
        (far_future, "positions_default".to_owned()),
        (now, format!("positions_w{}", week.format("%Y%m%d"))),
        (
            now + chrono::Duration::weeks(4),
            format!(
                "positions_w{}",
                (week + chrono::Duration::weeks(4)).format("%Y%m%d")
            ),
        ),
    ];
    let rows: Vec<PositionRow> = cases.iter().map(|(t, _)| row(dev, *t)).collect();
    assert_eq!(db.insert_positions(&rows).await.unwrap(), 5);
    for (t, want) in &cases {
        assert_eq!(&partition_of(&db, dev, *t).await, want, "fix at {t}");
    }
    // The unique key holds in every partition, the default one included, on both insert paths.
    assert_eq!(db.insert_positions(&rows).await.unwrap(), 0);
    for how in [PgInsert::Copy, PgInsert::Unnest] {
        assert_eq!(db.insert_positions_by(how, &rows).await.unwrap(), 0);
    }
    let more = [
        row(dev, now + chrono::Duration::seconds(30)),
        row(dev, utc(1991, 1, 1)),
    ];
    assert_eq!(
        db.insert_positions_by(PgInsert::Unnest, &more[..1])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.insert_positions_by(PgInsert::Copy, &more).await.unwrap(),
        1
    );
    assert_eq!(db.count_positions(dev).await.unwrap(), 8);
    let latest = db.latest_position(dev).await.unwrap().unwrap();
    assert_eq!(latest.fix_time, utc(2100, 1, 1));
    // What the UNNEST path stored reads back as given.
    let copied = db
        .positions(
            dev,
            now + chrono::Duration::seconds(1),
            now + chrono::Duration::seconds(31),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(copied.len(), 1);
    assert_eq!(
        (copied[0].lat, copied[0].lon, copied[0].speed_kmh),
        (22.5, 114.0, 30.0)
    );

    // And what the COPY path stored (binary format written by hand) reads back the same.
    let via_copy = db
        .positions(dev, utc(1991, 1, 1), utc(1991, 1, 2), None, 10)
        .await
        .unwrap();
    assert_eq!(via_copy.len(), 1);
    let (a, b) = (&copied[0], &via_copy[0]);
    assert_eq!(
        (
            b.lat,
            b.lon,
            b.speed_kmh,
            b.valid,
            b.course,
            &b.alarms,
            &b.attributes,
            b.server_time.timestamp()
        ),
        (
            a.lat,
            a.lon,
            a.speed_kmh,
            a.valid,
            a.course,
            &a.alarms,
            &a.attributes,
            a.server_time.timestamp()
        )
    );

    // Creating the far-future week later moves its fix out of the default partition.
    let far_id = id_of(&db, dev, far_future).await;
    let created = db.ensure_position_partitions(far_future, 0).await.unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(partition_of(&db, dev, far_future).await, created[0]);
    assert_eq!(id_of(&db, dev, far_future).await, far_id);
    assert_eq!(db.count_positions(dev).await.unwrap(), 8);
    db.close().await;
}

async fn retention_keeps_the_latest_position_and_every_alarm(backend: Backend) {
    let tdb = TestDb::new(backend).await;
    let db = Db::connect(&test_settings(&tdb.url).db_config())
        .await
        .unwrap();
    let now = now_us();
    let old = now - chrono::Duration::days(400);
    if backend == Backend::Postgres {
        // Weeks from 400 days ago to now: old fixes sit in weekly partitions to be dropped.
        db.ensure_position_partitions(old, 60).await.unwrap();
    }
    let active = device(&db, "ret-active").await;
    let quiet = device(&db, "ret-quiet").await;
    let ancient = device(&db, "ret-ancient").await;
    let mut rows = Vec::new();
    for i in 0..20 {
        rows.push(row(active, old + chrono::Duration::hours(i * 17)));
    }
    for i in 0..5 {
        rows.push(row(active, now - chrono::Duration::hours(i + 1)));
    }
    rows.push(row(active, utc(1990, 6, 1)));
    for i in 0..3 {
        rows.push(row(quiet, old + chrono::Duration::hours(i)));
    }
    rows.push(row(ancient, utc(1990, 1, 1)));
    assert_eq!(db.insert_positions(&rows).await.unwrap(), 30);
    let quiet_latest = old + chrono::Duration::hours(2);
    let quiet_id = id_of(&db, quiet, quiet_latest).await;
    let ancient_id = id_of(&db, ancient, utc(1990, 1, 1)).await;

    // Old and young device events; an old alarm, its action and an audit entry.
    for days in [100, 95, 91, 1, 0] {
        let t = (now - chrono::Duration::days(days)).to_rfc3339();
        exec(
            &db,
            &format!(
                "INSERT INTO events (time, kind, device_id) VALUES ('{t}', 'connected', {active})"
            ),
        )
        .await;
    }
    let t2020 = utc(2020, 1, 1).to_rfc3339();
    exec(&db, &format!(
        "INSERT INTO alarms (device_id, kind, severity, status, count, first_time, last_time, evidence, created_at, updated_at) \
         VALUES ({quiet}, 'theft', 'critical', 'resolved', 1, '{t2020}', '{t2020}', '[]', '{t2020}', '{t2020}')")).await;
    exec(&db, &format!(
        "INSERT INTO alarm_actions (alarm_id, action, time) SELECT id, 'resolved', '{t2020}' FROM alarms")).await;
    exec(&db, &format!(
        "INSERT INTO command_audit (time, device_id, kind, outcome) VALUES ('{t2020}', {quiet}, 'cut_power', 'refused')")).await;

    let config = RetentionConfig {
        positions: Some(chrono::Duration::days(365)),
        events: Some(chrono::Duration::days(90)),
        batch_rows: 3,
        pause: Duration::ZERO,
        ..RetentionConfig::default()
    };
    let report = run_once(&db, &config, now, &CancellationToken::new())
        .await
        .unwrap();

    // Only the active device's recent fixes, and each quiet device's latest, are left.
    assert_eq!(db.count_positions(active).await.unwrap(), 5);
    let left: Vec<DateTime<Utc>> = db
        .positions(active, utc(1980, 1, 1), now, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.fix_time)
        .collect();
    assert!(
        left.iter().all(|t| *t > now - chrono::Duration::days(1)),
        "{left:?}"
    );
    assert_eq!(db.count_positions(quiet).await.unwrap(), 1);
    let q = db.latest_position(quiet).await.unwrap().unwrap();
    assert_eq!((q.fix_time, q.id), (quiet_latest, quiet_id));
    let a = db.latest_position(ancient).await.unwrap().unwrap();
    assert_eq!((a.fix_time, a.id), (utc(1990, 1, 1), ancient_id));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM events").await, 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM alarms").await, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM alarm_actions").await, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM command_audit").await, 1);
    assert_eq!(report.events_deleted, 3);

    if backend == Backend::Postgres {
        // Old weeks were dropped whole (their rows not counted as deleted one by one); the
        // quiet device's latest fix now lives in the default partition.
        assert!(!report.partitions_dropped.is_empty());
        let cutoff = now - chrono::Duration::days(365);
        for (start, name) in db.position_partitions().await.unwrap() {
            assert!(start + chrono::Duration::weeks(1) > cutoff, "{name} kept");
        }
        assert_eq!(
            partition_of(&db, quiet, quiet_latest).await,
            "positions_default"
        );
        // The 1990 fix of the active device was in the default partition: deleted in a batch.
        assert_eq!(report.positions_deleted, 1);
    } else {
        assert_eq!(report.positions_deleted, 20 + 1 + 2);
    }

    // A second run finds nothing more.
    let again = run_once(&db, &config, now, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (
            again.positions_deleted,
            again.events_deleted,
            again.partitions_dropped.len()
        ),
        (0, 0, 0)
    );
    assert_eq!(db.count_positions(quiet).await.unwrap(), 1);
    db.close().await;
}

async fn the_upkeep_job_runs_at_start(backend: Backend) {
    let tdb = TestDb::new(backend).await;
    let now = now_us();
    let dev;
    {
        let db = Db::connect(&test_settings(&tdb.url).db_config())
            .await
            .unwrap();
        dev = device(&db, "upkeep-1").await;
        let rows: Vec<PositionRow> = (0..10)
            .map(|i| {
                row(
                    dev,
                    now - chrono::Duration::days(500) + chrono::Duration::minutes(i),
                )
            })
            .chain([row(dev, now)])
            .collect();
        assert_eq!(db.insert_positions(&rows).await.unwrap(), 11);
        db.close().await;
    }
    let mut settings = test_settings(&tdb.url);
    settings.positions_retention_days = 365;
    settings.events_retention_days = 30;
    let app = spawn_app_with(settings).await;
    let mut left = -1;
    for _ in 0..200 {
        left = app.db.count_positions(dev).await.unwrap();
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 1, "old positions removed by the job at start");
    if backend == Backend::Postgres {
        let mut weeks = 0;
        for _ in 0..200 {
            weeks = app.db.position_partitions().await.unwrap().len();
            if weeks >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(weeks, 5, "this week and four ahead");
    }
    app.stop().await;
}

/// Migration 0008 on a database holding months of positions: every row is still there with
/// its id, the id sequence continues, the unique key is still enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0008_moves_a_filled_table() {
    static PG: Migrator = sqlx::migrate!("../migrations/postgres");
    let tdb = TestDb::new(Backend::Postgres).await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&tdb.url)
        .await
        .unwrap();
    let before_0008 =
        Migrator::with_migrations(PG.iter().filter(|m| m.version < 8).cloned().collect());
    before_0008.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO devices (unique_id, created_at) SELECT 'filled-' || g, now() FROM generate_series(1, 20) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    // 20 devices, a fix every 20 minutes for 150 days, plus fixes far off either way.
    let filled = sqlx::query(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, attributes) \
         SELECT d.id, TIMESTAMPTZ '2026-05-01 00:00:00+00' + s * INTERVAL '20 minutes', now(), 22.5 + s * 1e-6, 114.0, \
                s % 7 <> 0, s % 90, NULLIF(s % 360, 0), jsonb_build_object('n', s) \
         FROM devices d CROSS JOIN generate_series(0, 150 * 72 - 1) s",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(filled, 20 * 150 * 72);
    sqlx::query(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh) \
         SELECT id, TIMESTAMPTZ '1990-01-01 00:00:00+00', now(), 1, 2, true, 0 FROM devices WHERE unique_id = 'filled-1' \
         UNION ALL SELECT id, TIMESTAMPTZ '2100-01-01 00:00:00+00', now(), 1, 2, true, 0 FROM devices WHERE unique_id = 'filled-2'",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Ids 1..N with a hole: the sequence must continue after the highest id ever given.
    sqlx::query("DELETE FROM positions WHERE id = (SELECT MAX(id) FROM positions)")
        .execute(&pool)
        .await
        .unwrap();
    let digest = "SELECT COUNT(*)::int8, md5(string_agg(concat_ws(',', id, device_id, fix_time, server_time, lat, lon, valid, \
                  speed_kmh, course, altitude_m, attributes::text), ';' ORDER BY id)) FROM positions";
    let (n_before, md5_before): (i64, String) =
        sqlx::query_as(digest).fetch_one(&pool).await.unwrap();
    let max_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM positions")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;

    let db = Db::connect(&test_settings(&tdb.url).db_config())
        .await
        .expect("0008 applies to a filled table");
    let Db::Postgres(p) = &db else { unreachable!() };
    let (n_after, md5_after): (i64, String) = sqlx::query_as(digest).fetch_one(p).await.unwrap();
    assert_eq!((n_after, md5_after), (n_before, md5_before));
    assert_eq!(n_after, 20 * 150 * 72 + 1);

    // One partition per week holding data (May to September 2026: 22 weeks), the rest in the
    // default partition.
    let weeks = db.position_partitions().await.unwrap();
    assert!((21..=23).contains(&weeks.len()), "{weeks:?}");
    let in_default: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM positions_default")
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(
        in_default, 1,
        "the 1990 fix (the 2100 one had the highest id)"
    );
    let partitioned: bool =
        sqlx::query_scalar("SELECT relkind = 'p' FROM pg_class WHERE oid = 'positions'::regclass")
            .fetch_one(p)
            .await
            .unwrap();
    assert!(partitioned);

    // New ids continue after the highest the old table gave (the deleted one's included).
    let dev: i64 = sqlx::query_scalar("SELECT id FROM devices WHERE unique_id = 'filled-3'")
        .fetch_one(p)
        .await
        .unwrap();
    let fresh = now_us();
    assert_eq!(db.insert_positions(&[row(dev, fresh)]).await.unwrap(), 1);
    assert_eq!(id_of(&db, dev, fresh).await, max_id + 2);

    // Uniqueness is enforced: a plain INSERT of an existing (device, fix time) fails, and the
    // server's insert skips it.
    let t = utc(2026, 6, 10);
    let dup = sqlx::query(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh) VALUES ($1, $2, now(), 0, 0, true, 0)",
    )
    .bind(dev)
    .bind(t)
    .execute(p)
    .await
    .unwrap_err();
    assert!(
        matches!(&dup, sqlx::Error::Database(d) if d.is_unique_violation()),
        "{dup}"
    );
    assert_eq!(db.insert_positions(&[row(dev, t)]).await.unwrap(), 0);
    let ok: Vec<bool> = sqlx::query("SELECT success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(p)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(ok.iter().all(|s| *s) && ok.len() >= 7);
    db.close().await;
}
