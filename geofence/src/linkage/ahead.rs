//! Checkpoints a moving vehicle can reach soon, in the direction it is heading.
//!
//! No road network in this version: the route length is the straight (great-circle) distance
//! times a detour factor (1.3 by default, a common road-to-crow-flies ratio for county roads),
//! and the speed is the vehicle's current speed, but at least `min_speed_kmh` (a vehicle stopped
//! at a light, or reporting 0 km/h while parked, can still drive off at once).

use crate::segments::METRES_PER_DEGREE;

/// A checkpoint within this distance (metres) counts whatever the bearing: the vehicle is at it,
/// and at that range a GPS error of 10–20 m can swing the bearing by anything.
pub const AHEAD_ANY_BEARING_M: f64 = 50.0;

/// A police checkpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Checkpoint {
    /// The caller's id, copied into [`CheckpointAhead::checkpoint_id`].
    pub id: i64,
    /// Latitude (WGS-84 degrees).
    pub lat: f64,
    /// Longitude (WGS-84 degrees).
    pub lon: f64,
}

/// Where the vehicle is and how it moves (from its latest fix).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    /// Latitude (WGS-84 degrees).
    pub lat: f64,
    /// Longitude (WGS-84 degrees).
    pub lon: f64,
    /// Ground speed, km/h.
    pub speed_kmh: f64,
    /// Course over ground, degrees clockwise from north; `None` = unknown: every direction.
    pub course_deg: Option<f64>,
}

/// Settings of [`checkpoints_ahead`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AheadParams {
    /// How far ahead in time to look, seconds (default 900 = 15 min).
    pub horizon_secs: f64,
    /// Half-angle of the heading cone, degrees (default 60: ±60° around the course).
    pub cone_half_deg: f64,
    /// Route length over straight distance (default 1.3).
    pub detour_factor: f64,
    /// Speed assumed when the vehicle is slower, km/h (default 20).
    pub min_speed_kmh: f64,
}

impl Default for AheadParams {
    fn default() -> Self {
        AheadParams {
            horizon_secs: 900.0,
            cone_half_deg: 60.0,
            detour_factor: 1.3,
            min_speed_kmh: 20.0,
        }
    }
}

/// One reachable checkpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckpointAhead {
    /// The [`Checkpoint::id`].
    pub checkpoint_id: i64,
    /// Straight (great-circle) distance from the vehicle, metres.
    pub distance_m: f64,
    /// Estimated arrival: distance × detour factor / max(speed, min speed), seconds.
    pub eta_secs: f64,
}

/// Checkpoints inside the heading cone (course None: every direction) reachable within the
/// horizon at max(speed, min_speed) over straight distance × detour factor, sorted by eta.
///
/// The cone test uses the initial great-circle bearing from the vehicle to the checkpoint;
/// checkpoints within [`AHEAD_ANY_BEARING_M`] count whatever the bearing. A non-finite vehicle
/// position gives an empty list; checkpoints with non-finite positions are skipped; a NaN speed
/// counts as 0; equal etas are ordered by id.
pub fn checkpoints_ahead(
    checkpoints: &[Checkpoint],
    from: &Motion,
    p: &AheadParams,
) -> Vec<CheckpointAhead> {
    if !(from.lat.is_finite() && from.lon.is_finite()) {
        return Vec::new();
    }
    let speed_kmh = if from.speed_kmh.is_nan() {
        0.0
    } else {
        from.speed_kmh
    };
    let speed_ms = speed_kmh.max(p.min_speed_kmh) / 3.6;
    let course = from.course_deg.filter(|c| c.is_finite());
    let mut out: Vec<CheckpointAhead> = checkpoints
        .iter()
        .filter(|c| c.lat.is_finite() && c.lon.is_finite())
        .filter_map(|c| {
            let (distance_m, bearing) = distance_bearing(from.lat, from.lon, c.lat, c.lon);
            let ahead = match course {
                None => true,
                Some(course) => {
                    distance_m <= AHEAD_ANY_BEARING_M
                        || angle_between(bearing, course) <= p.cone_half_deg
                }
            };
            let eta_secs = distance_m * p.detour_factor / speed_ms;
            // `<=` is false for NaN (e.g. 0/0), which drops the checkpoint rather than panic.
            (ahead && eta_secs <= p.horizon_secs).then_some(CheckpointAhead {
                checkpoint_id: c.id,
                distance_m,
                eta_secs,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.eta_secs
            .total_cmp(&b.eta_secs)
            .then(a.checkpoint_id.cmp(&b.checkpoint_id))
    });
    out
}

/// Haversine distance (metres, geo's mean radius) and initial bearing (degrees in [0, 360)).
fn distance_bearing(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> (f64, f64) {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    let radius = METRES_PER_DEGREE * 180.0 / std::f64::consts::PI;
    let distance = 2.0 * radius * h.sqrt().min(1.0).asin();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    let bearing = y.atan2(x).to_degrees().rem_euclid(360.0);
    (distance, bearing)
}

/// Unsigned angle between two bearings, degrees in [0, 180].
fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearings_and_distances() {
        let (d, b) = distance_bearing(30.0, 114.0, 30.0, 114.01);
        assert!((b - 90.0).abs() < 0.01, "{b}");
        assert!((d - 963.2).abs() < 1.0, "{d}");
        let (_, b) = distance_bearing(30.0, 114.0, 29.99, 114.0);
        assert!((b - 180.0).abs() < 1e-9, "{b}");
        assert_eq!(angle_between(350.0, 10.0), 20.0);
        assert_eq!(angle_between(10.0, 350.0), 20.0);
        assert_eq!(angle_between(0.0, 180.0), 180.0);
    }
}
