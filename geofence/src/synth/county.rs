//! A synthetic county for the linkage engine: 15,950 cameras and 12 checkpoints, and tracks
//! of a vehicle wandering its streets.
//!
//! Shaped after the programme in issue #15: a county of about 50 × 44 km with a seat town
//! (radius 4 km, streets every 250 m) and 14 townships (radius 1.2 km, streets every 200 m),
//! 966 public HD cameras at intersections, 3,065 in institutions, 6,961 social (shops facing
//! the street) and 4,958 rural ones in about 500 villages. That puts about 120 cameras per km²
//! in the seat, 30 in townships and a few per village, the density the "Sharp Eyes" networks
//! reach; a track through the seat meets a camera every 100–200 m, the realistic worst case for
//! [`CameraIndex::passes`](crate::linkage::CameraIndex::passes).

use geo::Coord;

use crate::linkage::{Camera, Checkpoint, TrackFix};
use crate::segments::METRES_PER_DEGREE;

use super::{SynthRng, offset};

/// The county's extent `[min_lon, min_lat, max_lon, max_lat]` (about 50 × 44 km, in Henan).
pub const COUNTY: [f64; 4] = [113.95, 33.8, 114.5, 34.2];

/// Camera counts by kind in the programme: public HD, institution, social, rural.
pub const COUNTY_CAMERA_MIX: [(CameraKind, usize); 4] = [
    (CameraKind::Public, 966),
    (CameraKind::Institution, 3_065),
    (CameraKind::Social, 6_961),
    (CameraKind::Rural, 4_958),
];

/// Total cameras of [`County::generate`]: 15,950.
pub const COUNTY_CAMERAS: usize = 966 + 3_065 + 6_961 + 4_958;

/// Checkpoints of [`County::generate`].
pub const COUNTY_CHECKPOINTS: usize = 12;

/// Who runs a camera (the issue's `kind`, less `traffic`, which the programme does not count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraKind {
    /// Public-security HD camera at an intersection.
    Public,
    /// Camera of a school, hospital, bank, office.
    Institution,
    /// Shop or residential camera facing the street.
    Social,
    /// Village camera.
    Rural,
}

impl CameraKind {
    /// The API spelling: `public`, `institution`, `social`, `rural`.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraKind::Public => "public",
            CameraKind::Institution => "institution",
            CameraKind::Social => "social",
            CameraKind::Rural => "rural",
        }
    }
}

/// One generated camera and its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountyCamera {
    /// Position and view; ids run from 1.
    pub camera: Camera,
    /// Who runs it.
    pub kind: CameraKind,
}

/// A town with a square street grid centred on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Town {
    /// Centre latitude (an intersection).
    pub lat: f64,
    /// Centre longitude.
    pub lon: f64,
    /// Radius of the built-up area, metres.
    pub radius_m: f64,
    /// Street spacing, metres (streets run north–south and east–west through the centre).
    pub street_m: f64,
}

impl Town {
    /// Town-local metres (east, north) to WGS-84.
    pub fn at(&self, east_m: f64, north_m: f64) -> (f64, f64) {
        let c = offset(
            Coord {
                x: self.lon,
                y: self.lat,
            },
            east_m,
            north_m,
        );
        (c.y, c.x)
    }
}

/// The generated county.
#[derive(Debug, Clone, PartialEq)]
pub struct County {
    /// [`COUNTY`].
    pub bounds: [f64; 4],
    /// The seat first, then the townships.
    pub towns: Vec<Town>,
    /// Villages (lat, lon), each with a through road east–west.
    pub villages: Vec<(f64, f64)>,
    /// Cameras, ids `1..=n`.
    pub cameras: Vec<CountyCamera>,
    /// Checkpoints, ids `1..=12`: bearings 15°, 45°, …, 345° from the county centre, alternately
    /// at the county edge (roads leaving the county) and half way out (ring-road entrances).
    pub checkpoints: Vec<Checkpoint>,
}

/// A field of view: mostly 90° bullet cameras, some narrow zoom, some 360° domes.
fn fov(rng: &mut SynthRng) -> f64 {
    match rng.next_u64() % 20 {
        0 => 360.0,
        1..=3 => 60.0,
        4..=6 => 120.0,
        _ => 90.0,
    }
}

/// A street direction (0, 90, 180, 270) with a little aiming error.
fn along_street(rng: &mut SynthRng, spread: f64) -> f64 {
    ((rng.next_u64() % 4) as f64 * 90.0 + rng.range(-spread, spread)).rem_euclid(360.0)
}

/// Snaps town-local metres to the nearest street line, returning the new point and the street
/// direction's normal (which way the street is from the original point is the camera's aim).
fn on_street(rng: &mut SynthRng, town: &Town, east: f64, north: f64) -> (f64, f64, f64) {
    let s = town.street_m;
    let setback = rng.range(5.0, 15.0);
    if rng.next_u64().is_multiple_of(2) {
        // Beside a north–south street: set back east or west, facing it.
        let street = (east / s).round() * s;
        let side = if rng.next_u64().is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        (
            street + side * setback,
            north,
            if side > 0.0 { 270.0 } else { 90.0 },
        )
    } else {
        let street = (north / s).round() * s;
        let side = if rng.next_u64().is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        (
            east,
            street + side * setback,
            if side > 0.0 { 180.0 } else { 0.0 },
        )
    }
}

/// A uniformly random point in a disc of `radius` metres.
fn in_disc(rng: &mut SynthRng, radius: f64) -> (f64, f64) {
    let r = radius * rng.range(0.0, 1.0).sqrt();
    let a = rng.range(0.0, std::f64::consts::TAU);
    (r * a.cos(), r * a.sin())
}

impl County {
    /// The programme's county: [`COUNTY_CAMERAS`] cameras in [`COUNTY_CAMERA_MIX`] and
    /// [`COUNTY_CHECKPOINTS`] checkpoints, deterministic for a seed.
    pub fn generate(seed: u64) -> County {
        County::with_cameras(seed, COUNTY_CAMERAS)
    }

    /// Like [`generate`](Self::generate) with `n` cameras in the same proportions (benchmarks).
    pub fn with_cameras(seed: u64, n: usize) -> County {
        let mut rng = SynthRng::new(seed);
        let [w, s, e, north] = COUNTY;
        let centre = ((s + north) / 2.0, (w + e) / 2.0);
        let mut towns = vec![Town {
            lat: centre.0,
            lon: centre.1,
            radius_m: 4_000.0,
            street_m: 250.0,
        }];
        while towns.len() < 15 {
            let lat = rng.range(s + 0.03, north - 0.03);
            let lon = rng.range(w + 0.03, e - 0.03);
            // Townships at least 6 km from every other town.
            let far = towns.iter().all(|t| {
                let dy = (t.lat - lat) * METRES_PER_DEGREE;
                let dx = (t.lon - lon) * METRES_PER_DEGREE * lat.to_radians().cos();
                dx.hypot(dy) > 6_000.0 + t.radius_m
            });
            if far {
                towns.push(Town {
                    lat,
                    lon,
                    radius_m: 1_200.0,
                    street_m: 200.0,
                });
            }
        }
        let villages: Vec<(f64, f64)> = (0..500)
            .map(|_| (rng.range(s, north), rng.range(w, e)))
            .collect();

        let mut cameras = Vec::with_capacity(n);
        let scale = n as f64 / COUNTY_CAMERAS as f64;
        let mut wanted: Vec<(CameraKind, usize)> = COUNTY_CAMERA_MIX
            .iter()
            .map(|&(k, c)| (k, (c as f64 * scale).round() as usize))
            .collect();
        // Rounding may miss `n` by a few: give the difference to social cameras.
        let total: usize = wanted.iter().map(|w| w.1).sum();
        wanted[2].1 = (wanted[2].1 + n).saturating_sub(total);
        for (kind, count) in wanted {
            for _ in 0..count {
                let id = cameras.len() as i64 + 1;
                let camera = place(&mut rng, kind, id, &towns, &villages);
                cameras.push(CountyCamera { camera, kind });
            }
        }

        let checkpoints = (0..COUNTY_CHECKPOINTS)
            .map(|k| {
                let bearing = (15.0 + 30.0 * k as f64).to_radians();
                let reach = if k % 2 == 0 { 0.9 } else { 0.5 };
                let half_ew = (e - w) / 2.0 * reach;
                let half_ns = (north - s) / 2.0 * reach;
                Checkpoint {
                    id: k as i64 + 1,
                    lat: centre.0 + half_ns * bearing.cos(),
                    lon: centre.1 + half_ew * bearing.sin(),
                }
            })
            .collect();
        County {
            bounds: COUNTY,
            towns,
            villages,
            cameras,
            checkpoints,
        }
    }

    /// The cameras without their kinds, for [`CameraIndex::new`](crate::linkage::CameraIndex::new).
    pub fn camera_list(&self) -> Vec<Camera> {
        self.cameras.iter().map(|c| c.camera).collect()
    }

    /// A vehicle wandering the street grid of `town` (0 = the seat): `fixes` fixes `gap_ms` apart
    /// from `start_ms`, 20–60 km/h per block, turning at intersections, with 3 m of GPS jitter.
    /// With `parking`, it stops now and then for 5–60 minutes, as a car does over a day.
    pub fn drive(
        &self,
        seed: u64,
        town: usize,
        fixes: usize,
        gap_ms: i64,
        start_ms: i64,
        parking: bool,
    ) -> Vec<TrackFix> {
        let town = self.towns[town.min(self.towns.len() - 1)];
        let mut rng = SynthRng::new(seed);
        let s = town.street_m;
        let limit = (town.radius_m / s).floor() as i64;
        // Grid position (intersection) and heading as a unit step.
        let (mut gx, mut gy) = (0i64, 0i64);
        let mut dir = (1i64, 0i64);
        let mut along = 0.0; // metres past (gx, gy) towards the next intersection
        let mut speed = rng.range(20.0, 60.0) / 3.6;
        let mut parked_steps = 0usize;
        let gap_s = gap_ms as f64 / 1000.0;
        let mut out = Vec::with_capacity(fixes);
        for i in 0..fixes {
            let (east, north) = (
                gx as f64 * s + dir.0 as f64 * along,
                gy as f64 * s + dir.1 as f64 * along,
            );
            let (lat, lon) = town.at(east + rng.range(-3.0, 3.0), north + rng.range(-3.0, 3.0));
            out.push(TrackFix {
                time_ms: start_ms + i as i64 * gap_ms,
                lat,
                lon,
            });
            if parked_steps > 0 {
                parked_steps -= 1;
                continue;
            }
            if parking && rng.next_u64().is_multiple_of(50) {
                parked_steps = (rng.range(5.0, 60.0) * 60.0 / gap_s) as usize;
                continue;
            }
            let mut left = speed * gap_s;
            while left > 0.0 {
                let to_next = s - along;
                if left < to_next {
                    along += left;
                    break;
                }
                left -= to_next;
                gx += dir.0;
                gy += dir.1;
                along = 0.0;
                speed = rng.range(20.0, 60.0) / 3.6;
                dir = match rng.next_u64() % 10 {
                    0 | 1 => (-dir.1, dir.0),
                    2 | 3 => (dir.1, -dir.0),
                    _ => dir,
                };
                // Stay in town: turn back at its edge.
                if (gx + dir.0).abs() > limit || (gy + dir.1).abs() > limit {
                    dir = (-dir.0, -dir.1);
                }
            }
        }
        out
    }
}

/// One camera of `kind` with id `id`.
fn place(
    rng: &mut SynthRng,
    kind: CameraKind,
    id: i64,
    towns: &[Town],
    villages: &[(f64, f64)],
) -> Camera {
    // Seat share per kind; the rest spreads over the townships.
    let pick_town = |rng: &mut SynthRng, seat_share: f64| {
        if rng.range(0.0, 1.0) < seat_share {
            towns[0]
        } else {
            towns[1 + (rng.next_u64() % (towns.len() as u64 - 1)) as usize]
        }
    };
    let unknown =
        |rng: &mut SynthRng, p: f64, facing: f64| (rng.range(0.0, 1.0) >= p).then_some(facing);
    match kind {
        CameraKind::Public => {
            let t = pick_town(rng, 0.6);
            let (e, n) = in_disc(rng, t.radius_m);
            let (e, n) = (
                (e / t.street_m).round() * t.street_m,
                (n / t.street_m).round() * t.street_m,
            );
            let (lat, lon) = t.at(e + rng.range(-8.0, 8.0), n + rng.range(-8.0, 8.0));
            let facing = along_street(rng, 10.0);
            Camera {
                id,
                lat,
                lon,
                facing_deg: unknown(rng, 0.05, facing),
                fov_deg: fov(rng),
                range_m: rng.range(80.0, 150.0),
            }
        }
        CameraKind::Institution => {
            let t = pick_town(rng, 0.55);
            let (e, n) = in_disc(rng, t.radius_m);
            let (lat, lon) = t.at(e, n);
            let facing = rng.range(0.0, 360.0);
            Camera {
                id,
                lat,
                lon,
                facing_deg: unknown(rng, 0.2, facing),
                fov_deg: fov(rng),
                range_m: rng.range(40.0, 80.0),
            }
        }
        CameraKind::Social => {
            let t = pick_town(rng, 0.55);
            let (e, n) = in_disc(rng, t.radius_m);
            let (e, n, towards) = on_street(rng, &t, e, n);
            let (lat, lon) = t.at(e, n);
            let facing = (towards + rng.range(-30.0, 30.0)).rem_euclid(360.0);
            Camera {
                id,
                lat,
                lon,
                facing_deg: unknown(rng, 0.25, facing),
                fov_deg: fov(rng),
                range_m: rng.range(30.0, 60.0),
            }
        }
        CameraKind::Rural => {
            let (vlat, vlon) = villages[(rng.next_u64() % villages.len() as u64) as usize];
            // Along the village's east–west through road, within 300 m of its centre.
            let c = offset(
                Coord { x: vlon, y: vlat },
                rng.range(-300.0, 300.0),
                rng.range(-10.0, 10.0),
            );
            let facing = (if rng.next_u64().is_multiple_of(2) {
                90.0
            } else {
                270.0
            } + rng.range(-20.0, 20.0))
            .rem_euclid(360.0);
            Camera {
                id,
                lat: c.y,
                lon: c.x,
                facing_deg: unknown(rng, 0.35, facing),
                fov_deg: fov(rng),
                range_m: rng.range(40.0, 80.0),
            }
        }
    }
}
