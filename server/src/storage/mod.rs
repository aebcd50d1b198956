//! Storage on SQLite or PostgreSQL, chosen by the URL scheme.
//!
//! Both dialects share one logical schema (`migrations/sqlite`, `migrations/postgres`) and, where
//! the SQL text is the same, one query: `on_pool!` compiles the body once per driver. Queries
//! are plain `sqlx::query` with binds (no build-time database).

pub mod access;
pub mod alarms;
pub mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Connection, QueryBuilder, Row, SqlSafeStr};

use crate::app::settings::Settings;
use crate::domain::{
    Device, Event, NewDevice, NewEvent, PositionRow, Role, StoredPosition, TrackPoint, User,
};

/// Runs `$body` with `$p` bound to the concrete pool (the body is compiled once per driver).
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite($p) => $body,
            $crate::storage::Db::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Reads the stored name of an enum (`column` holds `name`): a name `parse` does not know is a
/// decode error of that column, naming the value, not a silent default.
pub(crate) fn stored_name<T>(
    column: &str,
    name: String,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    parse(&name).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown {column} {name:?}").into(),
    })
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Driver or connection error.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique value already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database file's directory could not be created.
    #[error("cannot create database directory {path}: {source}")]
    Dir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The settings do not name a usable database.
    #[error("{0}")]
    Settings(#[from] crate::app::settings::SettingsError),
}

/// A connection pool to either engine.
#[derive(Debug, Clone)]
pub enum Db {
    /// Embedded SQLite (WAL).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

type TrackTuple = (DateTime<Utc>, f64, f64, f64, Option<f64>, Option<f64>, bool);

/// The point of one row of the track queries.
fn track_point(t: TrackTuple) -> TrackPoint {
    let (fix_time, lat, lon, speed_kmh, course, altitude_m, valid) = t;
    TrackPoint {
        altitude_m,
        course,
        lat,
        lon,
        speed_kmh,
        fix_time,
        valid,
    }
}

/// The exclusive lower bound of a page of positions from `from`: the keyset cursor `after`,
/// or just before `from` on the first page (so one `fix_time > $4` serves both).
fn page_after(from: DateTime<Utc>, after: Option<DateTime<Utc>>) -> DateTime<Utc> {
    after
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .max(from - chrono::Duration::microseconds(1))
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

/// The REAL track columns of the SQLite track query, with the power of two each is scaled by
/// (the largest that keeps `|value| × 2^k < 2^63` over the column's range).
const TRACK_REALS: [(&str, i32); 5] = [
    ("lat", 55),        // |lat| <= 90 < 2^7
    ("lon", 54),        // |lon| <= 180 < 2^8
    ("speed_kmh", 52),  // < 1024 km/h
    ("course", 53),     // < 512 degrees
    ("altitude_m", 48), // |altitude| < 16384 m
];

/// Further scalings by 2^11 for values too small for the first (a double's 53 bits fit in
/// 63 over 11 binades): prefixes `a` and `b`.
const TRACK_TIER_BITS: i32 = 11;

/// The SQLite track query: the page as ONE row of text (fields joined by U+001F, fixes by
/// U+001E), because sqlx-sqlite hands every row from its worker thread to the caller through
/// a channel with a copy of each value (~4 µs a row here); one row costs one hand-off.
///
/// A REAL `x` travels as the integer `x × 2^k` (or `× 2^(k+11)`, `× 2^(k+22)`, prefixed `a`,
/// `b`) when that product is an integer below 2^63: scaling a double by a power of two is
/// exact, so is SQLite's comparison of a REAL with an INTEGER, and the integer converts back
/// to the same double. That holds for every value of a usual track; NULL is `n`; anything
/// else is `~`, and the page is then read row by row ([`SQLITE_TRACK_ROWS_SQL`]). SQLite's
/// own float-to-text conversion is avoided: it costs more than the rest of the query, and
/// its text does not always parse back to the same double. `CAST(valid AS INTEGER)` is the
/// integer sqlx reads a bool from. The order is checked on decoding.
static SQLITE_TRACK_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let tier = 1u64 << TRACK_TIER_BITS;
    let mut fields = vec!["fix_time".to_string()];
    let mut scaled = String::new();
    for (i, (col, k)) in TRACK_REALS.iter().enumerate() {
        let s = format!("s{i}");
        let (s1, s2) = (format!("{s} * {tier}"), format!("{s} * {}", tier * tier));
        fields.push(format!(
            "CASE WHEN {s} = CAST({s} AS INTEGER) THEN CAST({s} AS INTEGER) \
             WHEN {s1} = CAST({s1} AS INTEGER) THEN 'a' || CAST({s1} AS INTEGER) \
             WHEN {s2} = CAST({s2} AS INTEGER) THEN 'b' || CAST({s2} AS INTEGER) \
             WHEN {col} IS NULL THEN 'n' ELSE '~' END"
        ));
        scaled.push_str(&format!(", {col} * {} AS {s}", 1u64 << k));
    }
    fields.push("CAST(valid AS INTEGER)".into());
    format!(
        "SELECT COUNT(*), group_concat({}, '\u{1e}') FROM (SELECT fix_time, lat, lon, speed_kmh, course, altitude_m, valid{scaled} \
         FROM positions INDEXED BY positions_track \
         WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5)",
        fields.join(" || '\u{1f}' || ")
    )
});

/// The same page row by row, for values [`SQLITE_TRACK_SQL`] cannot carry. `INDEXED BY`:
/// the planner cannot tell that the narrow index covers the query better than the unique one
/// without statistics.
const SQLITE_TRACK_ROWS_SQL: &str = "SELECT fix_time, lat, lon, speed_kmh, course, altitude_m, valid FROM positions INDEXED BY positions_track \
     WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5";

fn track_decode_error(what: &str, text: &str) -> DbError {
    DbError::Sqlx(sqlx::Error::Decode(
        format!("track: invalid {what}: {text:?}").into(),
    ))
}

/// Decodes the text of [`SQLITE_TRACK_SQL`] into the points sqlx would have decoded from
/// the rows one by one (same doubles, same times); `None` when a value was not carried.
fn track_from_text(n: usize, text: &str) -> Result<Option<Vec<TrackPoint>>, DbError> {
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(Some(out));
    }
    let mut day: Option<(&str, chrono::NaiveDate)> = None;
    for rec in text.split('\u{1e}') {
        let mut f = rec.split('\u{1f}');
        let mut next = || f.next().ok_or_else(|| track_decode_error("row", rec));
        let time = next()?;
        let fix_time =
            parse_fix_time(time, &mut day).ok_or_else(|| track_decode_error("fix time", time))?;
        let mut reals = [None; 5];
        for (slot, (_, k)) in reals.iter_mut().zip(TRACK_REALS) {
            match sql_real(next()?, k)? {
                Real::Value(v) => *slot = v,
                Real::NotCarried => return Ok(None),
            }
        }
        let [Some(lat), Some(lon), Some(speed_kmh), course, altitude_m] = reals else {
            return Err(track_decode_error("NULL in", rec));
        };
        let valid = next()?;
        let valid = valid
            .parse::<i64>()
            .map_err(|_| track_decode_error("valid", valid))?
            != 0;
        out.push(track_point((
            fix_time, lat, lon, speed_kmh, course, altitude_m, valid,
        )));
    }
    if out.len() != n {
        return Err(track_decode_error(
            "row count",
            &format!("{} of {n}", out.len()),
        ));
    }
    // Aggregates over an ordered subquery see its rows in order in every SQLite this crate
    // links; should one not, the page is still returned oldest first.
    if !out.is_sorted_by_key(|p| p.fix_time) {
        out.sort_by_key(|p| p.fix_time);
    }
    Ok(Some(out))
}

/// One REAL field of [`SQLITE_TRACK_SQL`].
enum Real {
    /// The value, or NULL.
    Value(Option<f64>),
    /// `~`: not carried as a scaled integer.
    NotCarried,
}

/// A REAL of [`SQLITE_TRACK_SQL`] scaled by `2^k` in the first tier: an integer below 2^63
/// with at most 53 significant bits, so `v as f64` and the division by a power of two are
/// both exact.
fn sql_real(s: &str, k: i32) -> Result<Real, DbError> {
    let (k, num) = match s.as_bytes().first() {
        Some(b'n') if s == "n" => return Ok(Real::Value(None)),
        Some(b'~') if s == "~" => return Ok(Real::NotCarried),
        Some(b'a') => (k + TRACK_TIER_BITS, &s[1..]),
        Some(b'b') => (k + 2 * TRACK_TIER_BITS, &s[1..]),
        _ => (k, s),
    };
    let (neg, digits) = match num.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, num),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(track_decode_error("number", s));
    }
    let mut v = 0u64;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            return Err(track_decode_error("number", s));
        }
        v = v * 10 + u64::from(c - b'0');
    }
    if v >= 1 << 63 {
        return Err(track_decode_error("number", s));
    }
    // 2^-k built from its bits (`powi` is a libm call on the hot path).
    let scale = f64::from_bits(((1023 - k) as u64) << 52);
    let x = v as f64 * scale;
    Ok(Real::Value(Some(if neg { -x } else { x })))
}

/// A stored fix time as sqlx-sqlite decodes it. The server writes
/// `YYYY-MM-DDTHH:MM:SS[.f]+00:00`, read here without a general parser (the date of the
/// previous fix, `day`, is reused); anything else goes the way sqlx reads it.
fn parse_fix_time<'a>(
    s: &'a str,
    day: &mut Option<(&'a str, chrono::NaiveDate)>,
) -> Option<DateTime<Utc>> {
    fast_fix_time(s, day).or_else(|| sqlx_fix_time(s))
}

fn fast_fix_time<'a>(
    s: &'a str,
    day: &mut Option<(&'a str, chrono::NaiveDate)>,
) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let rest = s
        .strip_suffix("+00:00")
        .or_else(|| s.strip_suffix('Z'))?
        .as_bytes();
    if rest.len() < 19 || !rest[..19].is_ascii() {
        return None;
    }
    if b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let date = match *day {
        Some((d, date)) if d == &s[..10] => date,
        _ => {
            if b[4] != b'-' || b[7] != b'-' {
                return None;
            }
            let date = chrono::NaiveDate::from_ymd_opt(
                i32::try_from(num(0..4)?).ok()?,
                num(5..7)?,
                num(8..10)?,
            )?;
            *day = Some((&s[..10], date));
            date
        }
    };
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Leap seconds (60) and other rarities: the general parser.
    if sec > 59 {
        return None;
    }
    let nano = match rest.len() {
        19 => 0,
        21..=29 if rest[19] == b'.' => {
            let digits = rest.len() - 20;
            num(20..rest.len())? * 10u32.pow(9 - digits as u32)
        }
        _ => return None,
    };
    Some(date.and_hms_nano_opt(h, m, sec, nano)?.and_utc())
}

/// sqlx-sqlite's text decoding of a `DateTime<Utc>` (RFC 3339, then the SQLite formats in
/// the same order).
fn sqlx_fix_time(s: &str) -> Option<DateTime<Utc>> {
    use chrono::{NaiveDateTime, TimeZone};
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    for f in FORMATS {
        if let Ok(dt) = DateTime::parse_from_str(s, f) {
            return Some(dt.with_timezone(&Utc));
        }
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&dt));
        }
    }
    None
}

#[cfg(test)]
mod track_text_tests {
    use super::*;

    fn parse(s: &str) -> Option<DateTime<Utc>> {
        parse_fix_time(s, &mut None)
    }

    #[test]
    fn fix_times_read_as_sqlx_reads_them() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut times = Vec::new();
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 300_000_000_000) as i64 - 62_000_000_000;
            let nanos = match i % 4 {
                0 => 0,
                1 => (x >> 40) as u32 % 1000 * 1_000_000,
                2 => (x >> 34) as u32 % 1_000_000 * 1000,
                _ => (x >> 32) as u32 % 1_000_000_000,
            };
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            // Runs of fixes on the same day, as in a track (the day is cached).
            for k in 0..3 {
                times.push(t + chrono::Duration::seconds(k * 30));
            }
        }
        let texts: Vec<String> = times
            .iter()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
            .collect();
        let mut day = None;
        for (t, text) in times.iter().zip(&texts) {
            let t = *t;
            // What sqlx writes, and the `Z` spelling.
            assert_eq!(parse_fix_time(text, &mut day), Some(t), "{text}");
            assert_eq!(sqlx_fix_time(text), Some(t), "{text}");
            let z = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            assert_eq!(parse(&z), Some(t), "{z}");
        }
        // The other spellings sqlx accepts, and what it refuses.
        for s in [
            "2026-03-04T05:06:07+02:00",
            "2026-03-04T05:06:07-00:00",
            "2026-03-04t05:06:07z",
            "2026-03-04 05:06:07",
            "2026-03-04 05:06:07.25",
            "2026-03-04 05:06",
            "2026-03-04T05:06Z",
            "2026-03-04T05:06:07.1234567891+00:00",
            "2016-12-31T23:59:60+00:00",
            "2026-02-30T05:06:07+00:00",
            "2026-03-04T05:06:07.+00:00",
            "2026-03-04T25:06:07+00:00",
            "2026-03-04T05:06:07",
            "2026-0é-04T05:06:07+00:00",
            "not a time",
            "",
        ] {
            assert_eq!(parse(s), sqlx_fix_time(s), "{s}");
        }
        assert_eq!(
            parse("2026-03-04T05:06:07.5+00:00"),
            "2026-03-04T05:06:07.500Z".parse().ok()
        );
    }

    #[test]
    fn track_text_decodes_every_field() {
        let text = "2026-01-01T00:00:30+00:00\u{1f}810647932926689280\u{1f}2053641430080946176\u{1f}0\u{1f}n\u{1f}n\u{1f}0\u{1e}\
                    2026-01-01T00:00:00.25+00:00\u{1f}b151115727451828640\u{1f}a-4707609087610677248\u{1f}15762598695796736\u{1f}-812899732740374528\u{1f}-7\u{1f}2";
        let p = track_from_text(2, text).unwrap().unwrap();
        // Oldest first whatever the text's order.
        assert_eq!(
            p[0].fix_time,
            "2026-01-01T00:00:00.25Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!((p[0].lat, p[0].lon, p[0].speed_kmh), (1e-6, -0.1276, 3.5));
        assert_eq!(
            (p[0].course, p[0].altitude_m, p[0].valid),
            (Some(-90.25), Some(-7.0 / 281_474_976_710_656.0), true)
        );
        assert_eq!((p[1].lat, p[1].lon, p[1].speed_kmh), (22.5, 114.0, 0.0));
        assert_eq!(
            (p[1].course, p[1].altitude_m, p[1].valid),
            (None, None, false)
        );
        assert!(track_from_text(0, "").unwrap().unwrap().is_empty());
        assert!(track_from_text(3, text).is_err());
        let row = |lat: &str| {
            format!("2026-01-01T00:00:30+00:00\u{1f}{lat}\u{1f}0\u{1f}0\u{1f}n\u{1f}n\u{1f}1")
        };
        // Not carried: the caller reads the rows one by one.
        assert!(track_from_text(1, &row("~")).unwrap().is_none());
        for bad in [
            "'x'",
            "1.5",
            "",
            "-",
            "a",
            "12345678901234567890",
            "9223372036854775808",
            "n",
        ] {
            assert!(track_from_text(1, &row(bad)).is_err(), "{bad}");
        }
        assert!(track_from_text(1, "2026-01-01T00:00:30+00:00\u{1f}0").is_err());
    }

    /// The one-row text and the row-by-row read give the same points (bit for bit) for every
    /// kind of value a track holds, and values the text cannot carry are reported.
    #[tokio::test]
    async fn text_track_is_the_rows_track() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE positions (device_id INTEGER NOT NULL, fix_time TEXT NOT NULL, lat REAL NOT NULL, \
             lon REAL NOT NULL, speed_kmh REAL NOT NULL, course REAL, altitude_m REAL, valid INTEGER NOT NULL); \
             CREATE INDEX positions_track ON positions (device_id, fix_time, lat, lon, speed_kmh, course, altitude_m, valid);",
        )
        .execute(&pool)
        .await
        .unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // A double of full precision in [0, 1).
        let mut unit = move || (rnd() >> 11) as f64 / (1u64 << 53) as f64;
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut tx = pool.begin().await.unwrap();
        for i in 0..3000i64 {
            let u = unit();
            // Down to 1e-7 (1 cm) of the equator and the prime meridian: the second and
            // third scalings (a double's bits go below 2^-77 only closer to zero).
            let (lat, lon) = match i % 7 {
                0 => (-(1e-6 + u * 0.05), 1e-7 + u * 1e-5),
                1 => (0.0, -0.0),
                2 => (1e-7 + u * 2e-4, -(1e-7 + u * 3e-6)),
                _ => (u * 180.0 - 90.0, (unit() - 0.5) * 360.0),
            };
            let speed = if i % 5 == 0 {
                0.0
            } else {
                f64::from((u * 300.0) as f32)
            };
            let course = (i % 4 != 0).then(|| f64::from((unit() * 360.0) as f32));
            let altitude = (i % 3 != 0).then(|| f64::from((unit() * 9400.0 - 400.0) as f32));
            let time = t0 + chrono::Duration::microseconds(i * 30_000_000 + (i % 13) * 123_457);
            sqlx::query("INSERT INTO positions VALUES (1, $1, $2, $3, $4, $5, $6, $7)")
                .bind(time)
                .bind(lat)
                .bind(lon)
                .bind(speed)
                .bind(course)
                .bind(altitude)
                .bind(i % 2 == 0)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        // Device 2 holds a latitude no scaling carries exactly.
        sqlx::query("INSERT INTO positions VALUES (2, $1, 1e-300, 1.0, 1.0, NULL, NULL, 1)")
            .bind(t0)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let to = t0 + chrono::Duration::days(2);
        let after = t0 - chrono::Duration::microseconds(1);
        for (device, limit) in [(1i64, 5000i64), (1, 1000), (2, 10), (3, 10)] {
            let (n, text): (i64, Option<String>) = sqlx::query_as(SQLITE_TRACK_SQL.as_str())
                .bind(device)
                .bind(t0)
                .bind(to)
                .bind(after)
                .bind(limit)
                .fetch_one(&pool)
                .await
                .unwrap();
            let text = track_from_text(n as usize, text.as_deref().unwrap_or("")).unwrap();
            let rows: Vec<TrackPoint> = sqlx::query_as::<_, TrackTuple>(SQLITE_TRACK_ROWS_SQL)
                .bind(device)
                .bind(t0)
                .bind(to)
                .bind(after)
                .bind(limit)
                .fetch_all(&pool)
                .await
                .unwrap()
                .into_iter()
                .map(track_point)
                .collect();
            if device == 2 {
                assert!(text.is_none());
                continue;
            }
            let text = text.unwrap();
            assert_eq!(text.len(), rows.len());
            assert_eq!(
                rows.len(),
                match (device, limit) {
                    (1, 5000) => 3000,
                    (1, _) => 1000,
                    _ => 0,
                }
            );
            let bits = |p: &TrackPoint| {
                (
                    p.fix_time,
                    p.lat.to_bits(),
                    p.lon.to_bits(),
                    p.speed_kmh.to_bits(),
                    p.course.map(f64::to_bits),
                    p.altitude_m.map(f64::to_bits),
                    p.valid,
                )
            };
            for (a, b) in text.iter().zip(&rows) {
                assert_eq!(bits(a), bits(b), "{a:?} vs {b:?}");
            }
        }
    }
}

const DEVICE_COLS: &str = "id, unique_id, protocol, name, claimed, owner_id, mqtt_token, auth_code, command_profile, created_at, last_seen_at";
const POSITION_COLS: &str = "id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes";
/// Most rows per SQLite INSERT statement (20 binds each: below SQLite's 32766), a power of two.
const INSERT_CHUNK: usize = 1024;

/// A `devices` row as read ([`DEVICE_COLS`]).
#[derive(sqlx::FromRow)]
struct DeviceRecord {
    id: i64,
    unique_id: String,
    protocol: Option<String>,
    name: String,
    claimed: bool,
    owner_id: Option<i64>,
    mqtt_token: Option<String>,
    auth_code: Option<String>,
    command_profile: Json<Value>,
    created_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
}

impl From<DeviceRecord> for Device {
    fn from(r: DeviceRecord) -> Device {
        Device {
            id: r.id,
            unique_id: r.unique_id,
            protocol: r.protocol,
            name: r.name,
            claimed: r.claimed,
            owner_id: r.owner_id,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            auth_code: r.auth_code,
            mqtt_token: r.mqtt_token,
            command_profile: r.command_profile.0,
        }
    }
}

/// A `positions` row as read ([`POSITION_COLS`]).
#[derive(sqlx::FromRow)]
struct PositionRecord {
    id: i64,
    device_id: i64,
    fix_time: DateTime<Utc>,
    server_time: DateTime<Utc>,
    lat: f64,
    lon: f64,
    valid: bool,
    speed_kmh: f64,
    course: Option<f64>,
    altitude_m: Option<f64>,
    satellites: Option<i64>,
    accuracy_m: Option<f64>,
    odometer_m: Option<i64>,
    archived: bool,
    ignition: Option<bool>,
    armed: Option<bool>,
    charging: Option<bool>,
    battery_level: Option<i64>,
    battery_voltage: Option<f64>,
    /// Comma-separated alarm names.
    alarms: String,
    attributes: Json<Value>,
}

impl From<PositionRecord> for StoredPosition {
    fn from(r: PositionRecord) -> StoredPosition {
        StoredPosition {
            id: r.id,
            device_id: r.device_id,
            fix_time: r.fix_time,
            server_time: r.server_time,
            lat: r.lat,
            lon: r.lon,
            valid: r.valid,
            speed_kmh: r.speed_kmh,
            course: r.course,
            altitude_m: r.altitude_m,
            satellites: r.satellites,
            accuracy_m: r.accuracy_m,
            odometer_m: r.odometer_m,
            archived: r.archived,
            ignition: r.ignition,
            armed: r.armed,
            charging: r.charging,
            battery_level: r.battery_level,
            battery_voltage: r.battery_voltage,
            alarms: r
                .alarms
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            attributes: r.attributes.0,
        }
    }
}

/// An `events` row as read.
#[derive(sqlx::FromRow)]
struct EventRecord {
    id: i64,
    time: DateTime<Utc>,
    kind: String,
    device_id: Option<i64>,
    unique_id: Option<String>,
    protocol: Option<String>,
    peer: Option<String>,
    detail: Json<Value>,
}

impl From<EventRecord> for Event {
    fn from(r: EventRecord) -> Event {
        Event {
            id: r.id,
            time: r.time,
            kind: r.kind,
            device_id: r.device_id,
            unique_id: r.unique_id,
            protocol: r.protocol,
            peer: r.peer,
            detail: r.detail.0,
        }
    }
}

/// A `users` row as read (`id, email, name, role`), without the password hash.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRecord {
    id: i64,
    email: String,
    name: String,
    role: String,
}

impl From<UserRecord> for User {
    fn from(r: UserRecord) -> User {
        User {
            id: r.id,
            email: r.email,
            name: r.name,
            role: Role::parse(&r.role),
        }
    }
}

/// A user and their password hash (`id, email, name, role, password_hash`).
#[derive(sqlx::FromRow)]
struct CredentialsRecord {
    #[sqlx(flatten)]
    user: UserRecord,
    password_hash: String,
}

fn migrator(kind: DatabaseKind) -> Migrator {
    let (desc, sql) = match kind {
        DatabaseKind::Sqlite => (
            "initial",
            include_str!("../../../migrations/sqlite/0001_initial.sql"),
        ),
        DatabaseKind::Postgres => (
            "initial",
            include_str!("../../../migrations/postgres/0001_initial.sql"),
        ),
    };
    let alarms = match kind {
        DatabaseKind::Sqlite => include_str!("../../../migrations/sqlite/0002_alarms.sql"),
        DatabaseKind::Postgres => include_str!("../../../migrations/postgres/0002_alarms.sql"),
    };
    let track = match kind {
        DatabaseKind::Sqlite => include_str!("../../../migrations/sqlite/0005_track_index.sql"),
        DatabaseKind::Postgres => include_str!("../../../migrations/postgres/0005_track_index.sql"),
    };
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            desc.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "alarms".into(),
            MigrationType::Simple,
            alarms.into_sql_str(),
            false,
        ),
        crate::services::access::migration(kind),
        crate::services::access::profiles_migration(kind),
        Migration::new(
            5,
            "track index".into(),
            MigrationType::Simple,
            track.into_sql_str(),
            false,
        ),
        crate::storage::alarms::migration(kind),
    ])
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Opens the database named by the settings (creating a SQLite file and its directory on
    /// first run, WAL mode) and applies pending migrations.
    pub async fn connect(settings: &Settings) -> Result<Db, DbError> {
        let url = settings.database_url.as_str();
        let db = match settings.database_kind()? {
            DatabaseKind::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // Checkpoints (the only step that fsyncs in WAL + NORMAL) run in the
                    // background ([`Db::checkpoint`], driven by the position writer), not
                    // inside whichever commit crosses the WAL size threshold.
                    .pragma("wal_autocheckpoint", "0")
                    // 512 KiB of page cache per pooled connection (SQLite's default is 2 MB):
                    // the pool serves the API and logins, whose pages the OS caches anyway;
                    // eight 2 MB caches were ~900 B of every idle device session's share of
                    // RSS at 19,000 sessions. The position writer sets its own, larger one.
                    .pragma("cache_size", "-512")
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let file = opts.get_filename();
                if let Some(dir) = file.parent()
                    && !dir.as_os_str().is_empty()
                    && file != Path::new(":memory:")
                {
                    std::fs::create_dir_all(dir).map_err(|source| DbError::Dir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.database_max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            crate::storage::writer::install_busy_handler(conn)
                                .await
                                .map_err(|e| sqlx::Error::Protocol(e.to_string()))
                        })
                    })
                    .connect_with(opts)
                    .await?;
                Db::Sqlite(pool)
            }
            DatabaseKind::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(settings.database_max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await?;
                Db::Postgres(pool)
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Which engine this is.
    pub fn kind(&self) -> DatabaseKind {
        match self {
            Db::Sqlite(_) => DatabaseKind::Sqlite,
            Db::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// Applies pending migrations of this engine's dialect.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let m = migrator(self.kind());
        on_pool!(self, p => m.run(p).await?);
        Ok(())
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// One round trip (health checks).
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    // ---- users and sessions ----

    /// Number of administrators.
    pub async fn count_admins(&self) -> Result<i64, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'")
            .fetch_one(p).await?.try_get("n")?);
        Ok(n)
    }

    /// Creates a user; [`DbError::Conflict`] if the email is taken.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, DbError> {
        let res = on_pool!(self, p => sqlx::query(
            "INSERT INTO users (email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(email).bind(name).bind(password_hash).bind(role.as_str()).bind(Utc::now())
            .fetch_one(p).await.map(|r| r.try_get::<i64, _>("id")));
        match res {
            Ok(id) => Ok(User {
                id: id?,
                email: email.into(),
                name: name.into(),
                role,
            }),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict("user")),
            Err(e) => Err(e.into()),
        }
    }

    /// A user and their password hash, by login email.
    pub async fn user_credentials(&self, email: &str) -> Result<Option<(User, String)>, DbError> {
        let row: Option<CredentialsRecord> = on_pool!(self, p => sqlx::query_as("SELECT id, email, name, role, password_hash FROM users WHERE email = $1")
            .bind(email).fetch_optional(p).await?);
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    /// Stores an API session under the hash of its token.
    pub async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("INSERT INTO api_sessions (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id).bind(token_hash).bind(Utc::now()).bind(expires_at).execute(p).await?; });
        Ok(())
    }

    /// The user owning an unexpired session.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, DbError> {
        let row: Option<UserRecord> = on_pool!(self, p => sqlx::query_as("SELECT u.id, u.email, u.name, u.role FROM api_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2")
            .bind(token_hash).bind(now).fetch_optional(p).await?);
        Ok(row.map(User::from))
    }

    /// Deletes a session; true if it existed.
    pub async fn delete_session(&self, token_hash: &str) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1")
            .bind(token_hash).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    // ---- devices ----

    /// Creates a device; [`DbError::Conflict`] if the unique id is taken.
    pub async fn create_device(&self, d: &NewDevice) -> Result<Device, DbError> {
        let sql = format!(
            "INSERT INTO devices (unique_id, name, protocol, claimed, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {DEVICE_COLS}"
        );
        let res: Result<DeviceRecord, sqlx::Error> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&d.unique_id).bind(&d.name).bind(&d.protocol).bind(d.claimed).bind(Utc::now())
            .fetch_one(p).await);
        match res {
            Ok(d) => Ok(d.into()),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict("device")),
            Err(e) => Err(e.into()),
        }
    }

    /// Returns the device, creating it as unclaimed if it does not exist (auto-registration).
    /// The bool is true when it was created now.
    pub async fn register_device(
        &self,
        unique_id: &str,
        protocol: &str,
    ) -> Result<(Device, bool), DbError> {
        let n = on_pool!(self, p => sqlx::query("INSERT INTO devices (unique_id, name, protocol, claimed, created_at) VALUES ($1, $1, $2, FALSE, $3) ON CONFLICT (unique_id) DO NOTHING")
            .bind(unique_id).bind(protocol).bind(Utc::now()).execute(p).await?.rows_affected());
        let dev = self
            .device_by_unique_id(unique_id)
            .await?
            .ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))?;
        Ok((dev, n > 0))
    }

    /// A device by the identifier it reports.
    pub async fn device_by_unique_id(&self, unique_id: &str) -> Result<Option<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE unique_id = $1");
        let row: Option<DeviceRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(unique_id).fetch_optional(p).await?);
        Ok(row.map(Device::from))
    }

    /// A device by row id.
    pub async fn device(&self, id: i64) -> Result<Option<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1");
        let row: Option<DeviceRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(Device::from))
    }

    /// Devices ordered by id, after `after_id`, at most `limit`.
    pub async fn list_devices(&self, after_id: i64, limit: i64) -> Result<Vec<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id > $1 ORDER BY id LIMIT $2");
        let rows: Vec<DeviceRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after_id).bind(limit).fetch_all(p).await?);
        Ok(rows.into_iter().map(Device::from).collect())
    }

    /// Stores the JT808 authentication code issued to a device.
    pub async fn set_auth_code(&self, device_id: i64, code: &str) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET auth_code = $1 WHERE id = $2")
            .bind(code).bind(device_id).execute(p).await?; });
        Ok(())
    }

    /// Sets (or with `None` clears) a device's MQTT password.
    pub async fn set_mqtt_token(&self, device_id: i64, token: Option<&str>) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET mqtt_token = $1 WHERE id = $2")
            .bind(token).bind(device_id).execute(p).await?; });
        Ok(())
    }

    /// Records that a device spoke now, in `protocol`.
    pub async fn touch_device(
        &self,
        device_id: i64,
        protocol: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET last_seen_at = $1, protocol = $2 WHERE id = $3")
            .bind(now).bind(protocol).bind(device_id).execute(p).await?; });
        Ok(())
    }

    // ---- positions ----

    /// Inserts positions in one transaction; a row whose `(device, fix_time)` is already
    /// stored is skipped (a retried frame). Returns the rows actually inserted.
    pub async fn insert_positions(&self, rows: &[PositionRow]) -> Result<u64, DbError> {
        match self {
            Db::Postgres(p) => insert_positions_unnest(p, rows).await,
            Db::Sqlite(p) => insert_positions_sqlite(&mut *p.acquire().await?, rows).await,
        }
    }

    /// Copies committed WAL frames into the SQLite database file without blocking writers
    /// (`PRAGMA wal_checkpoint(PASSIVE)`) and returns the WAL's size in frames; nothing (and
    /// `None`) on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<Option<i64>, DbError> {
        if let Db::Sqlite(p) = self {
            let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(p)
                .await?;
            return Ok(Some(row.try_get::<i64, _>(1)?));
        }
        Ok(None)
    }

    /// The position with the latest fix time of a device.
    pub async fn latest_position(&self, device_id: i64) -> Result<Option<StoredPosition>, DbError> {
        let sql = format!(
            "SELECT {POSITION_COLS} FROM positions WHERE device_id = $1 ORDER BY fix_time DESC LIMIT 1"
        );
        let row: Option<PositionRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id).fetch_optional(p).await?);
        Ok(row.map(StoredPosition::from))
    }

    /// Positions of a device with `from <= fix_time < to` and `fix_time > after` (keyset
    /// paging), oldest first, at most `limit`.
    pub async fn positions(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<StoredPosition>, DbError> {
        let sql = format!(
            "SELECT {POSITION_COLS} FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5"
        );
        let after = page_after(from, after);
        let rows: Vec<PositionRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id).bind(from).bind(to).bind(after).bind(limit).fetch_all(p).await?);
        Ok(rows.into_iter().map(StoredPosition::from).collect())
    }

    /// The track columns of [`Db::positions`]' rows (same range, paging and order), read
    /// from the covering index alone (migration 4) and decoded without the rest of the row.
    pub async fn track(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<TrackPoint>, DbError> {
        let after = page_after(from, after);
        match self {
            Db::Sqlite(p) => {
                let (n, text): (i64, Option<String>) = sqlx::query_as(SQLITE_TRACK_SQL.as_str())
                    .bind(device_id)
                    .bind(from)
                    .bind(to)
                    .bind(after)
                    .bind(limit)
                    .fetch_one(p)
                    .await?;
                let n = usize::try_from(n).unwrap_or(0);
                if let Some(points) = track_from_text(n, text.as_deref().unwrap_or(""))? {
                    return Ok(points);
                }
                let rows = sqlx::query_as::<_, TrackTuple>(SQLITE_TRACK_ROWS_SQL)
                    .bind(device_id)
                    .bind(from)
                    .bind(to)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(p)
                    .await?;
                Ok(rows.into_iter().map(track_point).collect())
            }
            Db::Postgres(p) => {
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
        }
    }

    /// Number of stored positions of a device.
    pub async fn count_positions(&self, device_id: i64) -> Result<i64, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query("SELECT COUNT(*) AS n FROM positions WHERE device_id = $1")
            .bind(device_id).fetch_one(p).await?.try_get("n")?);
        Ok(n)
    }

    // ---- events ----

    /// Records a server event.
    pub async fn insert_event(&self, e: &NewEvent) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("INSERT INTO events (time, kind, device_id, unique_id, protocol, peer, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(Utc::now()).bind(e.kind).bind(e.device_id).bind(&e.unique_id).bind(e.protocol).bind(&e.peer).bind(Json(&e.detail))
            .execute(p).await?; });
        Ok(())
    }

    /// Events newest first, optionally of one device, with `id < before_id`, at most `limit`.
    pub async fn events(
        &self,
        device_id: Option<i64>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Event>, DbError> {
        let before = before_id.unwrap_or(i64::MAX);
        let rows: Vec<EventRecord> = on_pool!(self, p => match device_id {
            Some(d) => sqlx::query_as("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE device_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
                .bind(d).bind(before).bind(limit).fetch_all(p).await?,
            None => sqlx::query_as("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE id < $1 ORDER BY id DESC LIMIT $2")
                .bind(before).bind(limit).fetch_all(p).await?,
        });
        Ok(rows.into_iter().map(Event::from).collect())
    }
}

/// SQLite: `rows` in one transaction, retried fixes skipped; returns how many were new.
///
/// A multi-row INSERT is one statement per row count, and preparing one with thousands of
/// placeholders costs more than running it; so the rows go in chunks whose sizes are powers
/// of two (at most one statement of each size per batch), which stay in the connection's
/// statement cache.
pub(crate) async fn insert_positions_sqlite(
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

/// PostgreSQL: one prepared statement whatever the batch size, the rows bound as 20 arrays.
async fn insert_positions_unnest(pool: &PgPool, rows: &[PositionRow]) -> Result<u64, DbError> {
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

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}
