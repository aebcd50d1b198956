//! Trajectories: positions of a device in a time range as JSON, GeoJSON and GPX 1.1;
//! Douglas–Peucker simplification with a tolerance in metres; trips and stops; distance per
//! day. Pure functions over [`StoredPosition`]s (the API module fetches and pages).

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use geo::{Coord, Distance, Haversine, LineString, Point, SimplifyIdx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::{StoredPosition, TrackPoint};

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
