//! The SQLite position INSERT.

use sqlx::types::Json;
use sqlx::{Connection, QueryBuilder};

use crate::domain::PositionRow;
use crate::storage::DbError;

/// Most rows per SQLite INSERT statement (20 binds each: below SQLite's 32766), a power of two.
const INSERT_CHUNK: usize = 1024;

/// SQLite: `rows` in one transaction, retried fixes skipped; returns how many were new.
///
/// A multi-row INSERT is one statement per row count, and preparing one with thousands of
/// placeholders costs more than running it; so the rows go in chunks whose sizes are powers
/// of two (at most one statement of each size per batch), which stay in the connection's
/// statement cache.
pub(crate) async fn insert_positions(
    conn: &mut sqlx::SqliteConnection,
    rows: &[PositionRow],
) -> Result<u64, DbError> {
    let mut chunks = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let n = if rest.len() >= INSERT_CHUNK {
            INSERT_CHUNK
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(n);
        chunks.push(chunk);
        rest = tail;
    }
    match chunks.as_slice() {
        [] => Ok(0),
        // One statement is atomic on its own: no BEGIN/COMMIT round trips.
        [one] => Ok(positions_insert(one)
            .build()
            .execute(&mut *conn)
            .await?
            .rows_affected()),
        _ => {
            let mut inserted = 0u64;
            let mut tx = conn.begin().await?;
            for chunk in chunks {
                inserted += positions_insert(chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(inserted)
        }
    }
}

/// SQLite: one multi-row INSERT of `rows` (at most [`INSERT_CHUNK`]), retried frames skipped.
fn positions_insert(rows: &[PositionRow]) -> QueryBuilder<sqlx::Sqlite> {
    let mut qb = QueryBuilder::new(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes) ",
    );
    qb.push_values(rows, |mut b, r| {
        b.push_bind(r.device_id)
            .push_bind(r.fix_time)
            .push_bind(r.server_time)
            .push_bind(r.lat)
            .push_bind(r.lon)
            .push_bind(r.valid)
            .push_bind(r.speed_kmh)
            .push_bind(r.course)
            .push_bind(r.altitude_m)
            .push_bind(r.satellites)
            .push_bind(r.accuracy_m)
            .push_bind(r.odometer_m)
            .push_bind(r.archived)
            .push_bind(r.ignition)
            .push_bind(r.armed)
            .push_bind(r.charging)
            .push_bind(r.battery_level)
            .push_bind(r.battery_voltage)
            .push_bind(r.alarms.clone())
            .push_bind(Json(r.attributes.clone()));
    });
    qb.push(" ON CONFLICT (device_id, fix_time) DO NOTHING");
    qb
}
