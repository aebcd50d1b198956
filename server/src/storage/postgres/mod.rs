//! What only PostgreSQL speaks: the track page as one row of arrays, and the position INSERT
//! of one statement whatever the batch size (UNNEST of arrays); the COPY insert in [`copy`],
//! the weekly partitions of `positions` in [`partitions`].

pub(in crate::storage) mod copy;
pub(in crate::storage) mod partitions;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;

use crate::domain::{PositionRow, TrackPoint};
use crate::storage::DbError;
use crate::storage::positions::{track_decode_error, track_point};

/// The track columns of a page of positions of `device_id` (see [`crate::storage::Db::track`]).
pub(in crate::storage) async fn track(
    p: &PgPool,
    device_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TrackPoint>, DbError> {
    let cols: PgTrackColumns = sqlx::query_as(PG_TRACK_SQL)
        .bind(device_id)
        .bind(from)
        .bind(to)
        .bind(after)
        .bind(limit)
        .fetch_one(p)
        .await?;
    track_from_columns(cols)
}

/// The PostgreSQL track query: the page as ONE row of seven arrays (binary, so the values
/// are the stored ones), because sqlx spends more on each of 2,880 rows (a message, a row
/// object, seven typed look-ups) than the database does; read from the covering index
/// (migration 5) by an index-only scan. NULL arrays when the page is empty. The order is
/// checked on decoding.
const PG_TRACK_SQL: &str = "SELECT array_agg(fix_time), array_agg(lat), array_agg(lon), array_agg(speed_kmh), \
     array_agg(course), array_agg(altitude_m), array_agg(valid) FROM (SELECT fix_time, lat, lon, speed_kmh, course, altitude_m, valid \
     FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5) page";

/// The row of [`PG_TRACK_SQL`].
type PgTrackColumns = (
    Option<Vec<DateTime<Utc>>>,
    Option<Vec<f64>>,
    Option<Vec<f64>>,
    Option<Vec<f64>>,
    Option<Vec<Option<f64>>>,
    Option<Vec<Option<f64>>>,
    Option<Vec<bool>>,
);

/// The points of [`PG_TRACK_SQL`]'s arrays, oldest first.
fn track_from_columns(cols: PgTrackColumns) -> Result<Vec<TrackPoint>, DbError> {
    let (Some(time), Some(lat), Some(lon), Some(speed), Some(course), Some(alt), Some(valid)) =
        cols
    else {
        return Ok(Vec::new());
    };
    let n = time.len();
    if [
        lat.len(),
        lon.len(),
        speed.len(),
        course.len(),
        alt.len(),
        valid.len(),
    ]
    .iter()
    .any(|&l| l != n)
    {
        return Err(track_decode_error("arrays", "of different lengths"));
    }
    let mut out: Vec<TrackPoint> = (0..n)
        .map(|i| {
            track_point((
                time[i], lat[i], lon[i], speed[i], course[i], alt[i], valid[i],
            ))
        })
        .collect();
    // An aggregate over an ordered subquery sees its rows in order; should a plan not keep
    // it, the page is still returned oldest first.
    if !out.is_sorted_by_key(|p| p.fix_time) {
        out.sort_by_key(|p| p.fix_time);
    }
    Ok(out)
}

/// PostgreSQL: one prepared statement whatever the batch size, the rows bound as 20 arrays.
pub(in crate::storage) async fn insert_positions(
    pool: &PgPool,
    rows: &[PositionRow],
) -> Result<u64, DbError> {
    let n = rows.len();
    let mut device_id = Vec::with_capacity(n);
    let mut fix_time = Vec::with_capacity(n);
    let mut server_time = Vec::with_capacity(n);
    let mut lat = Vec::with_capacity(n);
    let mut lon = Vec::with_capacity(n);
    let mut valid = Vec::with_capacity(n);
    let mut speed = Vec::with_capacity(n);
    let mut course = Vec::with_capacity(n);
    let mut altitude = Vec::with_capacity(n);
    let mut satellites = Vec::with_capacity(n);
    let mut accuracy = Vec::with_capacity(n);
    let mut odometer = Vec::with_capacity(n);
    let mut archived = Vec::with_capacity(n);
    let mut ignition = Vec::with_capacity(n);
    let mut armed = Vec::with_capacity(n);
    let mut charging = Vec::with_capacity(n);
    let mut battery_level = Vec::with_capacity(n);
    let mut battery_voltage = Vec::with_capacity(n);
    let mut alarms = Vec::with_capacity(n);
    let mut attributes = Vec::with_capacity(n);
    for r in rows {
        device_id.push(r.device_id);
        fix_time.push(r.fix_time);
        server_time.push(r.server_time);
        lat.push(r.lat);
        lon.push(r.lon);
        valid.push(r.valid);
        speed.push(r.speed_kmh);
        course.push(r.course);
        altitude.push(r.altitude_m);
        satellites.push(r.satellites);
        accuracy.push(r.accuracy_m);
        odometer.push(r.odometer_m);
        archived.push(r.archived);
        ignition.push(r.ignition);
        armed.push(r.armed);
        charging.push(r.charging);
        battery_level.push(r.battery_level);
        battery_voltage.push(r.battery_voltage);
        alarms.push(r.alarms.as_str());
        attributes.push(Json(&r.attributes));
    }
    // One statement, atomic on its own: no BEGIN/COMMIT round trips.
    let done = sqlx::query(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes) \
         SELECT * FROM UNNEST($1::int8[], $2::timestamptz[], $3::timestamptz[], $4::float8[], $5::float8[], $6::bool[], $7::float8[], $8::float8[], $9::float8[], $10::int8[], $11::float8[], $12::int8[], $13::bool[], $14::bool[], $15::bool[], $16::bool[], $17::int8[], $18::float8[], $19::text[], $20::jsonb[]) \
         ON CONFLICT (device_id, fix_time) DO NOTHING",
    )
    .bind(device_id)
    .bind(fix_time)
    .bind(server_time)
    .bind(lat)
    .bind(lon)
    .bind(valid)
    .bind(speed)
    .bind(course)
    .bind(altitude)
    .bind(satellites)
    .bind(accuracy)
    .bind(odometer)
    .bind(archived)
    .bind(ignition)
    .bind(armed)
    .bind(charging)
    .bind(battery_level)
    .bind(battery_voltage)
    .bind(alarms)
    .bind(attributes)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
