//! Trajectories: positions of a device in a time range as JSON, GeoJSON and GPX 1.1;
//! Douglas–Peucker simplification with a tolerance in metres; trips and stops; distance per
//! day. Pure functions over [`StoredPosition`]s (the API module fetches and pages).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use geo::{Coord, Distance, Haversine, LineString, Point, SimplifyIdx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{StoredPosition, TrackPoint};

/// Metres between two fixes (haversine).
pub fn distance_m(a: &StoredPosition, b: &StoredPosition) -> f64 {
    Haversine.distance(Point::new(a.lon, a.lat), Point::new(b.lon, b.lat))
}

/// A fix with a position on the map (what simplification needs).
pub trait Fix {
    /// Latitude, degrees.
    fn lat(&self) -> f64;
    /// Longitude, degrees.
    fn lon(&self) -> f64;
}

impl Fix for StoredPosition {
    fn lat(&self) -> f64 {
        self.lat
    }
    fn lon(&self) -> f64 {
        self.lon
    }
}

impl Fix for TrackPoint {
    fn lat(&self) -> f64 {
        self.lat
    }
    fn lon(&self) -> f64 {
        self.lon
    }
}

/// Indices of the fixes kept by Douglas–Peucker with `tolerance_m` metres (always the first
/// and the last). Coordinates are projected to a local equirectangular plane in metres around
/// the first fix, which is accurate to well under 1 % over a city-sized track.
pub fn simplify<P: Fix>(points: &[P], tolerance_m: f64) -> Vec<usize> {
    if points.len() < 3 || tolerance_m <= 0.0 {
        return (0..points.len()).collect();
    }
    let lat0 = points[0].lat();
    let lon0 = points[0].lon();
    // Metres per degree on the same sphere as the haversine distances.
    let ky = 6_371_008.8f64.to_radians();
    let kx = ky * lat0.to_radians().cos();
    let line: LineString<f64> = points
        .iter()
        .map(|p| Coord {
            x: (p.lon() - lon0) * kx,
            y: (p.lat() - lat0) * ky,
        })
        .collect();
    line.simplify_idx(tolerance_m)
}

/// Thresholds of the trip/stop split.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
pub struct TripParams {
    /// A fix at or below this speed is stationary, km/h.
    pub stop_speed_kmh: f64,
    /// Stationary (or silent) at least this long is a stop, seconds.
    pub min_stop_secs: i64,
    /// Trips shorter than this are dropped, metres.
    pub min_trip_m: f64,
}

impl Default for TripParams {
    fn default() -> Self {
        TripParams {
            stop_speed_kmh: 3.0,
            min_stop_secs: 300,
            min_trip_m: 100.0,
        }
    }
}

/// A stop: stationary, or silent, for at least `min_stop_secs`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stop {
    /// Start.
    pub start: DateTime<Utc>,
    /// End (the next movement, or the last fix).
    pub end: DateTime<Utc>,
    /// Seconds.
    pub duration_s: i64,
    /// Where (first fix of the stop).
    pub lat: f64,
    /// Where.
    pub lon: f64,
}

/// A trip between two stops.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Trip {
    /// Departure (last fix of the previous stop, or the first fix).
    pub start: DateTime<Utc>,
    /// Arrival (first fix of the next stop, or the last fix).
    pub end: DateTime<Utc>,
    /// Seconds.
    pub duration_s: i64,
    /// Metres along the fixes.
    pub distance_m: f64,
    /// Highest reported speed, km/h.
    pub max_speed_kmh: f64,
    /// Distance over duration, km/h.
    pub avg_speed_kmh: f64,
    /// Fixes in the trip.
    pub points: usize,
    /// Start position `[lat, lon]`.
    pub start_lat_lon: [f64; 2],
    /// End position `[lat, lon]`.
    pub end_lat_lon: [f64; 2],
}

/// Splits a time-ordered track into stops and the trips between them.
pub fn trips_and_stops(points: &[StoredPosition], params: &TripParams) -> (Vec<Trip>, Vec<Stop>) {
    let n = points.len();
    // (first index, last index, start time, end time)
    let mut stops: Vec<(usize, usize, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let moving = |p: &StoredPosition| p.speed_kmh > params.stop_speed_kmh;
    let mut i = 0;
    while i < n {
        if !moving(&points[i]) {
            let mut j = i;
            while j + 1 < n && !moving(&points[j + 1]) {
                j += 1;
            }
            let end = points.get(j + 1).map_or(points[j].fix_time, |p| p.fix_time);
            if (end - points[i].fix_time).num_seconds() >= params.min_stop_secs {
                stops.push((i, j, points[i].fix_time, end));
            }
            i = j + 1;
        } else {
            // A moving fix followed by a long silence: parked with the tracker asleep.
            if let Some(next) = points.get(i + 1)
                && (next.fix_time - points[i].fix_time).num_seconds() >= params.min_stop_secs
            {
                stops.push((i, i, points[i].fix_time, next.fix_time));
            }
            i += 1;
        }
    }
    let mut trips = Vec::new();
    let mut from = 0usize;
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    for s in &stops {
        bounds.push((from, s.0));
        from = s.1;
    }
    bounds.push((from, n.saturating_sub(1)));
    for (a, b) in bounds {
        if b <= a || b >= n {
            continue;
        }
        let seg = &points[a..=b];
        let distance: f64 = seg.windows(2).map(|w| distance_m(&w[0], &w[1])).sum();
        if distance < params.min_trip_m {
            continue;
        }
        let duration = (seg[seg.len() - 1].fix_time - seg[0].fix_time).num_seconds();
        let max_speed = seg.iter().map(|p| p.speed_kmh).fold(0.0, f64::max);
        trips.push(Trip {
            start: seg[0].fix_time,
            end: seg[seg.len() - 1].fix_time,
            duration_s: duration,
            distance_m: distance,
            max_speed_kmh: max_speed,
            avg_speed_kmh: if duration > 0 {
                distance / duration as f64 * 3.6
            } else {
                0.0
            },
            points: seg.len(),
            start_lat_lon: [seg[0].lat, seg[0].lon],
            end_lat_lon: [seg[seg.len() - 1].lat, seg[seg.len() - 1].lon],
        });
    }
    let stops = stops
        .into_iter()
        .map(|(a, _, start, end)| Stop {
            start,
            end,
            duration_s: (end - start).num_seconds(),
            lat: points[a].lat,
            lon: points[a].lon,
        })
        .collect();
    (trips, stops)
}

/// Distance travelled on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DaySummary {
    /// The day (UTC).
    pub date: NaiveDate,
    /// Metres (a segment counts on the day of its end fix).
    pub distance_m: f64,
    /// Fixes that day.
    pub points: usize,
    /// Highest reported speed, km/h.
    pub max_speed_kmh: f64,
}

/// Distance per UTC day.
pub fn daily_summary(points: &[StoredPosition]) -> Vec<DaySummary> {
    let mut days: Vec<DaySummary> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let date = p.fix_time.date_naive();
        if days.last().is_none_or(|d| d.date != date) {
            days.push(DaySummary {
                date,
                distance_m: 0.0,
                points: 0,
                max_speed_kmh: 0.0,
            });
        }
        let Some(day) = days.last_mut() else { continue };
        day.points += 1;
        day.max_speed_kmh = day.max_speed_kmh.max(p.speed_kmh);
        if i > 0 {
            day.distance_m += distance_m(&points[i - 1], p);
        }
    }
    days
}

/// The JSON body of a trajectory page, `{count, device_id, next_after, points, source_count}`
/// with each point `{altitude_m, course, lat, lon, speed_kmh, time, valid}`: byte for byte
/// what serde_json writes for them (same number and time formats), written straight into one
/// buffer because a device-day is 2,880 points and this is the hot path of the API.
pub fn track_json(
    device_id: i64,
    points: &[TrackPoint],
    source_count: usize,
    next_after: Option<DateTime<Utc>>,
) -> Vec<u8> {
    // ~150 bytes a point; one allocation for a device-day.
    let mut b = Vec::with_capacity(128 + points.len() * 160);
    let mut int = itoa::Buffer::new();
    b.extend_from_slice(b"{\"count\":");
    b.extend_from_slice(int.format(points.len()).as_bytes());
    b.extend_from_slice(b",\"device_id\":");
    b.extend_from_slice(int.format(device_id).as_bytes());
    b.extend_from_slice(b",\"next_after\":");
    match &next_after {
        Some(t) => json_time(&mut b, t),
        None => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"points\":[");
    let mut float = zmij::Buffer::new();
    let mut num = |b: &mut Vec<u8>, v: f64| {
        // serde_json's rule: non-finite numbers are null.
        if v.is_finite() {
            b.extend_from_slice(float.format_finite(v).as_bytes());
        } else {
            b.extend_from_slice(b"null");
        }
    };
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"{\"altitude_m\":");
        match p.altitude_m {
            Some(v) => num(&mut b, v),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"course\":");
        match p.course {
            Some(v) => num(&mut b, v),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"lat\":");
        num(&mut b, p.lat);
        b.extend_from_slice(b",\"lon\":");
        num(&mut b, p.lon);
        b.extend_from_slice(b",\"speed_kmh\":");
        num(&mut b, p.speed_kmh);
        b.extend_from_slice(b",\"time\":");
        json_time(&mut b, &p.fix_time);
        b.extend_from_slice(if p.valid {
            b",\"valid\":true}"
        } else {
            b",\"valid\":false}"
        });
    }
    b.extend_from_slice(b"],\"source_count\":");
    b.extend_from_slice(int.format(source_count).as_bytes());
    b.push(b'}');
    b
}

/// A time as chrono serialises it (RFC 3339, `Z`, fraction of 0, 3, 6 or 9 digits), quoted.
fn json_time(b: &mut Vec<u8>, t: &DateTime<Utc>) {
    let d = t.date_naive();
    let year = d.year();
    if !(0..=9999).contains(&year) {
        // Signed years: chrono's own writer.
        let _ = serde_json::to_writer(&mut *b, t);
        return;
    }
    let two = |b: &mut Vec<u8>, v: u32| {
        b.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8])
    };
    let year = year as u32;
    b.push(b'"');
    two(b, year / 100);
    two(b, year % 100);
    b.push(b'-');
    two(b, d.month());
    b.push(b'-');
    two(b, d.day());
    b.push(b'T');
    let time = t.time();
    let mut nano = time.nanosecond();
    let mut sec = time.second();
    // A leap second is carried in the fraction; chrono writes it as second 60.
    if nano >= 1_000_000_000 {
        sec += 1;
        nano -= 1_000_000_000;
    }
    two(b, time.hour());
    b.push(b':');
    two(b, time.minute());
    b.push(b':');
    two(b, sec);
    let (frac, digits) = if nano == 0 {
        (0, 0)
    } else if nano.is_multiple_of(1_000_000) {
        (nano / 1_000_000, 3)
    } else if nano.is_multiple_of(1_000) {
        (nano / 1_000, 6)
    } else {
        (nano, 9)
    };
    if digits > 0 {
        b.push(b'.');
        let mut buf = [b'0'; 9];
        let mut v = frac;
        for i in (0..digits).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        b.extend_from_slice(&buf[..digits]);
    }
    b.extend_from_slice(b"Z\"");
}

/// A GeoJSON FeatureCollection: one LineString of the track, then one Point per fix.
pub fn geojson(device_id: i64, points: &[StoredPosition]) -> Value {
    let coords: Vec<Value> = points.iter().map(|p| json!([p.lon, p.lat])).collect();
    let mut features = Vec::with_capacity(points.len() + 1);
    if points.len() >= 2 {
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {
                "device_id": device_id,
                "start": points[0].fix_time,
                "end": points[points.len() - 1].fix_time,
                "points": points.len(),
            },
        }));
    }
    for p in points {
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
            "properties": {
                "time": p.fix_time,
                "speed_kmh": p.speed_kmh,
                "course": p.course,
                "altitude_m": p.altitude_m,
                "valid": p.valid,
            },
        }));
    }
    json!({"type": "FeatureCollection", "features": features})
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A GPX 1.1 document with one track and one segment.
pub fn gpx(name: &str, points: &[StoredPosition]) -> String {
    let mut out = String::with_capacity(200 + points.len() * 120);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<gpx version=\"1.1\" creator=\"Vigil\" xmlns=\"http://www.topografix.com/GPX/1/1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd\">\n");
    let name = xml_escape(name);
    let _ = writeln!(out, "<metadata><name>{name}</name></metadata>");
    let _ = writeln!(out, "<trk><name>{name}</name><trkseg>");
    for p in points {
        let _ = write!(out, "<trkpt lat=\"{:.7}\" lon=\"{:.7}\">", p.lat, p.lon);
        if let Some(e) = p.altitude_m {
            let _ = write!(out, "<ele>{e:.1}</ele>");
        }
        let _ = write!(
            out,
            "<time>{}</time>",
            p.fix_time
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
        if let Some(s) = p.satellites {
            let _ = write!(out, "<sat>{s}</sat>");
        }
        out.push_str("</trkpt>\n");
    }
    out.push_str("</trkseg></trk>\n</gpx>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDateTime, TimeZone};

    /// serde_json's body for the same page (the API's answer before `track_json`).
    #[derive(Serialize)]
    struct Body<'a> {
        count: usize,
        device_id: i64,
        next_after: Option<DateTime<Utc>>,
        points: &'a [TrackPoint],
        source_count: usize,
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn float(&mut self) -> f64 {
            const SPECIAL: [f64; 12] = [
                0.0,
                -0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                f64::MIN_POSITIVE,
                5e-324,
                f64::MAX,
                1e21,
                1e-7,
                0.1 + 0.2,
                35.0,
            ];
            match self.next() % 4 {
                0 => SPECIAL[(self.next() % SPECIAL.len() as u64) as usize],
                1 => f64::from_bits(self.next()),
                2 => (self.next() % 2_000_000) as f64 / 1e5 - 10.0,
                _ => 22.5 + (self.next() % 1_000_000) as f64 / 1_800_000.0 / 60.0,
            }
        }
        fn time(&mut self) -> DateTime<Utc> {
            let secs = match self.next() % 8 {
                // Years before 0 and after 9999 (chrono writes them signed).
                0 => -70_000_000_000 + (self.next() % 400_000_000_000) as i64,
                _ => (self.next() % 4_000_000_000) as i64,
            };
            let nanos = match self.next() % 5 {
                0 => 0,
                1 => (self.next() % 1000) as u32 * 1_000_000,
                2 => (self.next() % 1_000_000) as u32 * 1000,
                3 => (self.next() % 1_000_000_000) as u32,
                _ => 7,
            };
            DateTime::from_timestamp(secs, nanos).unwrap_or_default()
        }
    }

    fn serde_body(
        id: i64,
        points: &[TrackPoint],
        source: usize,
        next: Option<DateTime<Utc>>,
    ) -> String {
        serde_json::to_string(&Body {
            count: points.len(),
            device_id: id,
            next_after: next,
            points,
            source_count: source,
        })
        .unwrap()
    }

    #[test]
    fn track_json_is_what_serde_json_writes() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            let n = (rng.next() % 60) as usize;
            let points: Vec<TrackPoint> = (0..n)
                .map(|_| TrackPoint {
                    altitude_m: (!rng.next().is_multiple_of(3)).then(|| rng.float()),
                    course: (!rng.next().is_multiple_of(3)).then(|| rng.float()),
                    lat: rng.float(),
                    lon: rng.float(),
                    speed_kmh: rng.float(),
                    fix_time: rng.time(),
                    valid: rng.next().is_multiple_of(2),
                })
                .collect();
            let next = (round % 2 == 0).then(|| rng.time());
            let id = rng.next() as i64;
            let source = (rng.next() % 100_000) as usize;
            let ours = track_json(id, &points, source, next);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_body(id, &points, source, next)
            );
        }
    }

    #[test]
    fn track_json_times_like_chrono() {
        // A leap second, the edges of the four-digit years, every fraction length.
        let leap = NaiveDateTime::parse_from_str("2016-12-31 23:59:59", "%F %T")
            .unwrap()
            .with_nanosecond(1_250_000_000)
            .unwrap();
        let times = [
            Utc.from_utc_datetime(&leap),
            "0000-01-01T00:00:00Z".parse().unwrap(),
            "9999-12-31T23:59:59.999999999Z".parse().unwrap(),
            "2026-01-01T00:00:00.5Z".parse().unwrap(),
            "2026-01-01T00:00:00.000001Z".parse().unwrap(),
            "2026-01-01T00:00:00.000000001Z".parse().unwrap(),
        ];
        let p = TrackPoint {
            altitude_m: None,
            course: None,
            lat: 1.0,
            lon: 2.0,
            speed_kmh: 3.0,
            fix_time: times[0],
            valid: true,
        };
        let points: Vec<TrackPoint> = times
            .iter()
            .map(|t| TrackPoint { fix_time: *t, ..p })
            .collect();
        let ours = track_json(1, &points, 6, Some(times[1]));
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_body(1, &points, 6, Some(times[1]))
        );
    }
}
