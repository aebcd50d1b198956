//! The SQLite track query and the codec of its one row of text.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::domain::TrackPoint;
use crate::storage::DbError;
use crate::storage::positions::{TrackTuple, track_decode_error, track_point};

/// The track columns of a page of positions of `device_id` (see [`crate::storage::Db::track`]):
/// one row of text, or row by row when the text cannot carry a value.
pub(in crate::storage) async fn track(
    p: &SqlitePool,
    device_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TrackPoint>, DbError> {
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
         FROM positions \
         WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5)",
        fields.join(" || '\u{1f}' || ")
    )
});

/// The same page row by row, for values [`SQLITE_TRACK_SQL`] cannot carry. Both read a range
/// of the table itself: it is clustered by `(device_id, fix_time)` (migration 8).
const SQLITE_TRACK_ROWS_SQL: &str = "SELECT fix_time, lat, lon, speed_kmh, course, altitude_m, valid FROM positions \
     WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5";

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
    use sqlx::sqlite::SqlitePoolOptions;

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
             lon REAL NOT NULL, speed_kmh REAL NOT NULL, course REAL, altitude_m REAL, valid INTEGER NOT NULL, \
             PRIMARY KEY (device_id, fix_time)) WITHOUT ROWID;",
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
