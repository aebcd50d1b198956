//! The position INSERT by binary `COPY`: the batch is streamed into a temporary staging table
//! in PostgreSQL's binary COPY format, then moved into `positions` by one
//! `INSERT .. SELECT .. ON CONFLICT DO NOTHING` (COPY itself cannot skip a retried fix).
//! Measured against the UNNEST INSERT by `examples/pg_write.rs` (figures in
//! `server/README.md`).

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};

use crate::domain::PositionRow;
use crate::storage::DbError;

/// The staging table: `positions` without id, private to the connection, emptied at commit.
const STAGING_SQL: &str = "SET LOCAL client_min_messages = warning; CREATE TEMP TABLE IF NOT EXISTS positions_staging (device_id int8, fix_time timestamptz, server_time timestamptz, \
     lat float8, lon float8, valid bool, speed_kmh float8, course float8, altitude_m float8, satellites int8, accuracy_m float8, \
     odometer_m int8, archived bool, ignition bool, armed bool, charging bool, battery_level int8, battery_voltage float8, \
     alarms text, attributes jsonb) ON COMMIT DELETE ROWS";

const COLS: &str = "device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00 UTC).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// `rows` in one transaction through COPY; returns how many were new.
pub(in crate::storage) async fn insert_positions(
    conn: &mut PgConnection,
    rows: &[PositionRow],
) -> Result<u64, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let data = encode(rows)?;
    let mut tx = conn.begin().await?;
    // One round trip; the NOTICE "already exists, skipping" of every batch after the first
    // is not sent.
    sqlx::raw_sql(STAGING_SQL).execute(&mut *tx).await?;
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY positions_staging ({COLS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    if let Err(e) = copy.send(data).await {
        let _ = copy.abort("send failed").await;
        return Err(e.into());
    }
    copy.finish().await?;
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO positions ({COLS}) SELECT {COLS} FROM positions_staging ON CONFLICT (device_id, fix_time) DO NOTHING"
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// `rows` in the binary COPY format (header, one tuple per row, trailer).
fn encode(rows: &[PositionRow]) -> Result<Vec<u8>, DbError> {
    let mut b = Vec::with_capacity(32 + rows.len() * 220);
    b.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    b.extend_from_slice(&0i32.to_be_bytes()); // flags
    b.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for r in rows {
        b.extend_from_slice(&20i16.to_be_bytes());
        int8(&mut b, Some(r.device_id));
        time(&mut b, r.fix_time);
        time(&mut b, r.server_time);
        float8(&mut b, Some(r.lat));
        float8(&mut b, Some(r.lon));
        boolean(&mut b, Some(r.valid));
        float8(&mut b, Some(r.speed_kmh));
        float8(&mut b, r.course);
        float8(&mut b, r.altitude_m);
        int8(&mut b, r.satellites);
        float8(&mut b, r.accuracy_m);
        int8(&mut b, r.odometer_m);
        boolean(&mut b, Some(r.archived));
        boolean(&mut b, r.ignition);
        boolean(&mut b, r.armed);
        boolean(&mut b, r.charging);
        int8(&mut b, r.battery_level);
        float8(&mut b, r.battery_voltage);
        field(&mut b, r.alarms.as_bytes())?;
        // jsonb's binary form: version 1, then the JSON text.
        let mut json = vec![1u8];
        serde_json::to_writer(&mut json, &r.attributes)
            .map_err(|e| DbError::Sqlx(sqlx::Error::Encode(Box::new(e))))?;
        field(&mut b, &json)?;
    }
    b.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(b)
}

fn null(b: &mut Vec<u8>) {
    b.extend_from_slice(&(-1i32).to_be_bytes());
}

fn field(b: &mut Vec<u8>, v: &[u8]) -> Result<(), DbError> {
    let len = i32::try_from(v.len())
        .map_err(|_| DbError::Sqlx(sqlx::Error::Encode("COPY field longer than 2 GiB".into())))?;
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(v);
    Ok(())
}

fn int8(b: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            b.extend_from_slice(&8i32.to_be_bytes());
            b.extend_from_slice(&v.to_be_bytes());
        }
        None => null(b),
    }
}

fn float8(b: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => {
            b.extend_from_slice(&8i32.to_be_bytes());
            b.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        None => null(b),
    }
}

fn boolean(b: &mut Vec<u8>, v: Option<bool>) {
    match v {
        Some(v) => {
            b.extend_from_slice(&1i32.to_be_bytes());
            b.push(u8::from(v));
        }
        None => null(b),
    }
}

/// timestamptz: microseconds since 2000-01-01 00:00 UTC (PostgreSQL refuses what is out of its
/// range with SQLSTATE 22008, as for the UNNEST insert).
fn time(b: &mut Vec<u8>, t: DateTime<Utc>) {
    let micros = t.timestamp_micros().saturating_sub(PG_EPOCH_UNIX_MICROS);
    int8(b, Some(micros));
}
