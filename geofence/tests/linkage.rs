//! Cameras passed and checkpoints ahead: hand-built cases with analytically known answers,
//! property tests against an independent dense-sampling oracle (haversine distance and bearing,
//! no local projection), and the synthetic county.

use geofence::linkage::{
    AheadParams, Camera, CameraIndex, CameraPass, Checkpoint, Motion, TrackFix, checkpoints_ahead,
};
use geofence::synth::{COUNTY_CAMERAS, COUNTY_CHECKPOINTS, County, SynthRng};
use proptest::prelude::*;

/// Metres per degree of latitude on the mean-radius sphere (6,371,008.8 m).
const M: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;
const LAT0: f64 = 30.0;
const LON0: f64 = 114.0;
const T0: i64 = 1_796_000_000_000;

/// Local metres (east, north) around (LAT0, LON0) to (lat, lon).
fn ll(east: f64, north: f64) -> (f64, f64) {
    (
        LAT0 + north / M,
        LON0 + east / (M * LAT0.to_radians().cos()),
    )
}

fn camera(id: i64, east: f64, north: f64, facing: Option<f64>, fov: f64, range: f64) -> Camera {
    let (lat, lon) = ll(east, north);
    Camera {
        id,
        lat,
        lon,
        facing_deg: facing,
        fov_deg: fov,
        range_m: range,
    }
}

fn fix(t_s: f64, east: f64, north: f64) -> TrackFix {
    let (lat, lon) = ll(east, north);
    TrackFix {
        time_ms: T0 + (t_s * 1000.0).round() as i64,
        lat,
        lon,
    }
}

/// Straight east along north = 0 at 60 km/h (500 m per 30 s fix) from east = -1000 m.
fn eastward(n: usize) -> Vec<TrackFix> {
    (0..n)
        .map(|i| fix(i as f64 * 30.0, -1000.0 + i as f64 * 500.0, 0.0))
        .collect()
}

fn ids(passes: &[CameraPass]) -> Vec<i64> {
    passes.iter().map(|p| p.camera_id).collect()
}

/// Time (ms) the eastward track is at `east` metres.
fn eastward_time(east: f64) -> f64 {
    (T0 as f64) + (east + 1000.0) / (500.0 / 30.0) * 1000.0
}

#[test]
fn camera_facing_the_road_lists_the_interpolated_pass() {
    // 20 m south of the road at east = 130 m (between fixes at 0 and 500 m), facing north.
    let index = CameraIndex::new(vec![camera(7, 130.0, -20.0, Some(0.0), 90.0, 60.0)]);
    let passes = index.passes(&eastward(5));
    assert_eq!(ids(&passes), vec![7], "{passes:?}");
    let p = passes[0];
    let truth = eastward_time(130.0);
    assert!(
        (p.at_ms as f64 - truth).abs() <= 2.0,
        "at {} vs true {truth}",
        p.at_ms
    );
    assert!(
        p.from_ms as f64 <= truth && truth <= p.to_ms as f64,
        "{p:?}"
    );
    // In view from east 110 to 150 m (the 45° edges), widened by 15 s, clamped to the fixes
    // at 0 m (t = 60 s) and 500 m (t = 90 s).
    assert_eq!(p.from_ms, T0 + 60_000);
    assert!(
        (p.to_ms as f64 - (eastward_time(150.0) + 15_000.0)).abs() <= 2.0,
        "{p:?}"
    );
    assert!((p.distance_m - 20.0).abs() < 0.01, "{p:?}");
    // Not a fix's time: the fixes are at 60 s and 90 s, the pass at ~67.8 s.
    assert!(p.at_ms != T0 + 60_000 && p.at_ms != T0 + 90_000);
}

#[test]
fn facing_away_not_listed_unknown_direction_counts_out_of_range_not_listed() {
    let index = CameraIndex::new(vec![
        camera(1, 130.0, -20.0, Some(180.0), 90.0, 60.0), // faces away from the road
        camera(2, 130.0, -20.0, None, 90.0, 60.0),        // direction unknown
        camera(3, 130.0, -80.0, Some(0.0), 90.0, 60.0),   // faces the road, 80 m > 60 m range
        camera(4, 130.0, -20.0, Some(90.0), 90.0, 60.0),  // faces east, along the road ahead
        camera(5, 130.0, -20.0, Some(0.0), 20.0, 60.0),   // narrow: sees 130 ± 3.5 m
    ]);
    let passes = index.passes(&eastward(5));
    let mut got = ids(&passes);
    got.sort_unstable();
    assert_eq!(got, vec![2, 4, 5], "{passes:?}");
    let unknown = passes.iter().find(|p| p.camera_id == 2).expect("listed");
    // The whole chord of the 60 m circle: east 130 ± sqrt(60² − 20²).
    let half = (3600.0f64 - 400.0).sqrt();
    assert!(unknown.from_ms as f64 <= eastward_time(130.0 - half));
    assert!(unknown.to_ms as f64 >= eastward_time(130.0 + half));
}

#[test]
fn ordered_by_time_and_merged_across_segments() {
    let index = CameraIndex::new(vec![
        camera(30, 700.0, 10.0, None, 90.0, 50.0),
        camera(10, -600.0, 10.0, None, 90.0, 50.0),
        // 400 m range: in view from -300 to 500 m, across fixes at 0 and 500 m: one pass.
        camera(20, 100.0, 0.0, None, 360.0, 400.0),
    ]);
    let passes = index.passes(&eastward(5));
    assert_eq!(ids(&passes), vec![10, 20, 30], "{passes:?}");
    let big = passes[1];
    assert!(big.from_ms as f64 <= eastward_time(-300.0));
    assert!(big.to_ms as f64 >= eastward_time(500.0));
    assert!((big.at_ms as f64 - eastward_time(100.0)).abs() <= 2.0);
    assert!(big.distance_m < 1e-6);
    // Fixes every 5 s through a 60 m view: many segments, still one pass.
    let slow: Vec<TrackFix> = (0..40)
        .map(|i| fix(i as f64 * 5.0, -200.0 + i as f64 * 10.0, 5.0))
        .collect();
    let index = CameraIndex::new(vec![camera(1, 0.0, 0.0, Some(0.0), 120.0, 60.0)]);
    let passes = index.passes(&slow);
    assert_eq!(passes.len(), 1, "{passes:?}");
}

#[test]
fn entered_twice_appears_twice() {
    // East from -500 to 500 m, then back west along the same road.
    let mut track: Vec<TrackFix> = (0..5)
        .map(|i| fix(i as f64 * 30.0, -500.0 + i as f64 * 250.0, 0.0))
        .collect();
    track.extend((1..5).map(|i| fix(120.0 + i as f64 * 30.0, 500.0 - i as f64 * 250.0, 0.0)));
    let index = CameraIndex::new(vec![camera(9, 100.0, -15.0, None, 90.0, 40.0)]);
    let passes = index.passes(&track);
    assert_eq!(ids(&passes), vec![9, 9], "{passes:?}");
    assert!(passes[0].to_ms <= passes[1].from_ms);
}

#[test]
fn single_fix_nan_fixes_and_unsorted_input() {
    let index = CameraIndex::new(vec![camera(1, 10.0, 10.0, None, 90.0, 30.0)]);
    let at = fix(0.0, 0.0, 0.0);
    assert_eq!(
        index.passes(&[at]),
        vec![CameraPass {
            camera_id: 1,
            from_ms: at.time_ms,
            to_ms: at.time_ms,
            at_ms: at.time_ms,
            distance_m: index.passes(&[at])[0].distance_m,
        }]
    );
    assert!(index.passes(&[fix(0.0, 100.0, 100.0)]).is_empty());
    assert!(index.passes(&[]).is_empty());

    let clean = eastward(5);
    let index = CameraIndex::new(vec![camera(7, 130.0, -20.0, Some(0.0), 90.0, 60.0)]);
    let mut dirty = clean.clone();
    dirty.insert(
        2,
        TrackFix {
            time_ms: T0 + 65_000,
            lat: f64::NAN,
            lon: LON0,
        },
    );
    dirty.insert(
        4,
        TrackFix {
            time_ms: T0 + 75_000,
            lat: LAT0,
            lon: f64::INFINITY,
        },
    );
    dirty.insert(
        0,
        TrackFix {
            time_ms: T0,
            lat: 95.0,
            lon: LON0,
        },
    );
    assert_eq!(index.passes(&dirty), index.passes(&clean));
    let mut shuffled = clean.clone();
    shuffled.reverse();
    assert_eq!(index.passes(&shuffled), index.passes(&clean));
}

#[test]
fn bad_cameras_are_left_out() {
    let index = CameraIndex::new(vec![
        camera(1, 0.0, 0.0, None, 90.0, 60.0),
        Camera {
            id: 2,
            lat: f64::NAN,
            lon: LON0,
            facing_deg: None,
            fov_deg: 90.0,
            range_m: 60.0,
        },
        Camera {
            id: 3,
            lat: LAT0,
            lon: 200.0,
            facing_deg: None,
            fov_deg: 90.0,
            range_m: 60.0,
        },
        Camera {
            id: 4,
            lat: LAT0,
            lon: LON0,
            facing_deg: None,
            fov_deg: 90.0,
            range_m: -1.0,
        },
    ]);
    assert_eq!(index.len(), 1);
    assert_eq!(index.cameras()[0].id, 1);
    assert!(!index.is_empty());
    assert!(CameraIndex::new(vec![]).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Oracle: dense sampling with haversine distance and great-circle bearing.

fn haversine_bearing(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> (f64, f64) {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let h = ((p2 - p1) / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    let d = 2.0 * 6_371_008.8 * h.sqrt().asin();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    (d, y.atan2(x).to_degrees().rem_euclid(360.0))
}

/// (distance, angle off the facing) of a point from a camera.
fn seen_from(c: &Camera, lat: f64, lon: f64) -> (f64, f64) {
    let (d, b) = haversine_bearing(c.lat, c.lon, lat, lon);
    let off = match c.facing_deg {
        None => 0.0,
        Some(f) => {
            let a = (b - f).rem_euclid(360.0);
            a.min(360.0 - a)
        }
    };
    (d, off)
}

/// Samples every ~0.25 m along the polyline: (time ms as f64, lat, lon).
fn samples(track: &[TrackFix]) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    for w in track.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (len, _) = haversine_bearing(a.lat, a.lon, b.lat, b.lon);
        let n = (len / 0.25).ceil().max(1.0) as usize;
        for k in 0..=n {
            let s = k as f64 / n as f64;
            out.push((
                a.time_ms as f64 + s * (b.time_ms - a.time_ms) as f64,
                a.lat + s * (b.lat - a.lat),
                a.lon + s * (b.lon - a.lon),
            ));
        }
    }
    out
}

fn random_setup(seed: u64) -> (Vec<Camera>, Vec<TrackFix>) {
    let mut rng = SynthRng::new(seed);
    let cameras: Vec<Camera> = (0..40)
        .map(|id| {
            let facing = (!rng.next_u64().is_multiple_of(4)).then(|| rng.range(0.0, 360.0));
            let fov = [30.0, 60.0, 90.0, 120.0, 200.0, 300.0, 360.0][(rng.next_u64() % 7) as usize];
            camera(
                id,
                rng.range(-400.0, 400.0),
                rng.range(-400.0, 400.0),
                facing,
                fov,
                rng.range(10.0, 120.0),
            )
        })
        .collect();
    let mut t = 0.0;
    let (mut e, mut n) = (rng.range(-400.0, 400.0), rng.range(-400.0, 400.0));
    let track = (0..12)
        .map(|_| {
            let f = fix(t, e, n);
            t += rng.range(5.0, 40.0);
            e = (e + rng.range(-250.0, 250.0)).clamp(-450.0, 450.0);
            n = (n + rng.range(-250.0, 250.0)).clamp(-450.0, 450.0);
            f
        })
        .collect();
    (cameras, track)
}

/// Every sample clearly inside a view is covered by a pass of that camera whose window
/// contains the sample's time; every listed camera has a sample (nearly) inside its view.
fn check_against_oracle(
    cameras: &[Camera],
    track: &[TrackFix],
    passes: &[CameraPass],
) -> Result<(), String> {
    if !passes.windows(2).all(|w| w[0].from_ms <= w[1].from_ms) {
        return Err(format!("not ordered: {passes:?}"));
    }
    let pts = samples(track);
    for c in cameras {
        let mine: Vec<&CameraPass> = passes.iter().filter(|p| p.camera_id == c.id).collect();
        let half = c.fov_deg / 2.0;
        let mut near = false;
        for &(t, lat, lon) in &pts {
            // Cheap reject first: the county check has ~10⁸ (sample, camera) pairs.
            if (lat - c.lat).abs() * M > c.range_m + 1.0 {
                continue;
            }
            let (d, off) = seen_from(c, lat, lon);
            if d <= c.range_m - 0.5
                && (off <= half - 0.5 || half >= 180.0)
                && !mine
                    .iter()
                    .any(|p| p.from_ms as f64 - 1.0 <= t && t <= p.to_ms as f64 + 1.0)
            {
                return Err(format!(
                    "camera {} sees t={t} ({d:.2} m, {off:.2}°) but passes {mine:?}",
                    c.id
                ));
            }
            if d <= c.range_m + 0.5 && (d < 15.0 || off <= half + 0.5) {
                near = true;
            }
        }
        if !(mine.is_empty() || near) {
            return Err(format!(
                "camera {} listed but never in view: {mine:?}",
                c.id
            ));
        }
        for p in &mine {
            if !(p.from_ms <= p.at_ms && p.at_ms <= p.to_ms && p.distance_m <= c.range_m + 1e-6) {
                return Err(format!("bad pass {p:?} for {c:?}"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The index agrees with the dense-sampling oracle on random cameras and tracks.
    #[test]
    fn agrees_with_dense_sampling(seed in any::<u64>()) {
        let (cameras, track) = random_setup(seed);
        let passes = CameraIndex::new(cameras.clone()).passes(&track);
        let checked = check_against_oracle(&cameras, &track, &passes);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }

    /// Between fixes 30 s apart the vehicle's speed varies within a factor of 9; the window
    /// still contains the true entry, closest-approach and exit times.
    #[test]
    fn window_contains_true_time_when_speed_varies_ninefold(
        seed in any::<u64>(), cam_east in 50.0f64..1500.0, setback in 5.0f64..40.0,
    ) {
        let mut rng = SynthRng::new(seed);
        // True motion at 1 s resolution: east(t) along north = 0. Each 30 s segment is
        // stop-and-go: slow, then up to 9× faster (or the reverse) from a random second on,
        // the worst case for interpolation.
        let mut east = vec![0.0f64];
        for _ in 0..20 {
            let slow = rng.range(2.0, 5.0);
            let fast = slow * if rng.next_u64().is_multiple_of(2) { 9.0 } else { rng.range(1.0, 9.0) };
            let switch = rng.next_u64() % 31;
            let slow_first = rng.next_u64().is_multiple_of(2);
            for sec in 0..30 {
                let v = if (sec < switch) == slow_first { slow } else { fast };
                east.push(east.last().copied().unwrap_or(0.0) + v);
            }
        }
        let track: Vec<TrackFix> = (0..=20).map(|k| fix(k as f64 * 30.0, east[k * 30], 0.0)).collect();
        // Facing north, 90°: in view for |east − cam_east| <= setback.
        let index = CameraIndex::new(vec![camera(1, cam_east, -setback, Some(0.0), 90.0, setback * 2.0)]);
        let passes = index.passes(&track);
        let reach = |x: f64| -> f64 {
            let k = east.iter().position(|&e| e >= x).unwrap_or(east.len() - 1).max(1);
            let f = (x - east[k - 1]) / (east[k] - east[k - 1]);
            (T0 as f64) + ((k - 1) as f64 + f) * 1000.0
        };
        prop_assume!(east[600] > cam_east + setback + 1.0);
        prop_assert_eq!(passes.len(), 1, "{:?}", passes);
        let p = passes[0];
        for (what, x) in [("entry", cam_east - setback), ("closest", cam_east), ("exit", cam_east + setback)] {
            let t = reach(x);
            prop_assert!(p.from_ms as f64 - 1.0 <= t && t <= p.to_ms as f64 + 1.0, "{what} at {t}: {p:?}");
        }
    }

    /// No panic and sane output on any input, including NaN, infinities and huge values.
    #[test]
    fn never_panics(
        cams in prop::collection::vec((any::<f64>(), any::<f64>(), prop::option::of(any::<f64>()), any::<f64>(), any::<f64>()), 0..8),
        fixes in prop::collection::vec((any::<i64>(), any::<f64>(), any::<f64>()), 0..8),
        near in prop::collection::vec((-1.0f64..1.0, -1.0f64..1.0, any::<i64>()), 0..8),
    ) {
        let mut cameras: Vec<Camera> = cams.iter().enumerate().map(|(i, &(lat, lon, facing, fov, range))| Camera {
            id: i as i64, lat, lon, facing_deg: facing, fov_deg: fov, range_m: range,
        }).collect();
        cameras.push(camera(99, 0.0, 0.0, Some(45.0), 90.0, 1e6));
        let index = CameraIndex::new(cameras);
        let mut track: Vec<TrackFix> = fixes.iter().map(|&(time_ms, lat, lon)| TrackFix { time_ms, lat, lon }).collect();
        track.extend(near.iter().map(|&(dlat, dlon, t)| TrackFix { time_ms: t, lat: LAT0 + dlat, lon: LON0 + dlon }));
        for p in index.passes(&track) {
            prop_assert!(p.from_ms <= p.to_ms && !p.distance_m.is_nan(), "{p:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints ahead.

fn checkpoint(id: i64, east: f64, north: f64) -> Checkpoint {
    let (lat, lon) = ll(east, north);
    Checkpoint { id, lat, lon }
}

fn moving(speed_kmh: f64, course: Option<f64>) -> Motion {
    Motion {
        lat: LAT0,
        lon: LON0,
        speed_kmh,
        course_deg: course,
    }
}

fn ahead_ids(cps: &[Checkpoint], m: &Motion, p: &AheadParams) -> Vec<i64> {
    checkpoints_ahead(cps, m, p)
        .iter()
        .map(|c| c.checkpoint_id)
        .collect()
}

#[test]
fn heading_east_lists_eastern_checkpoints_ranked_by_eta() {
    let cps = vec![
        checkpoint(1, 3000.0, 0.0),    // east 3 km
        checkpoint(2, -1000.0, 0.0),   // west
        checkpoint(3, 1414.0, 1414.0), // north-east 2 km, 45° off course
        checkpoint(4, 1000.0, 0.0),    // east 1 km
        checkpoint(5, 0.0, 1000.0),    // north: 90° off course
        checkpoint(6, 30_000.0, 0.0),  // east but 30 km: 2,340 s at 60 km/h
        checkpoint(7, -30.0, 0.0),     // 30 m behind: at the checkpoint, counts
    ];
    let p = AheadParams::default();
    let got = checkpoints_ahead(&cps, &moving(60.0, Some(90.0)), &p);
    assert_eq!(
        got.iter().map(|c| c.checkpoint_id).collect::<Vec<_>>(),
        vec![7, 4, 3, 1]
    );
    let east1 = got[1];
    assert!((east1.distance_m - 1000.0).abs() < 1.0, "{east1:?}");
    assert!(
        (east1.eta_secs - 1000.0 * 1.3 / (60.0 / 3.6)).abs() < 0.1,
        "{east1:?}"
    );
    // Heading west: the western one (and the one just behind, now ahead) instead.
    assert_eq!(ahead_ids(&cps, &moving(60.0, Some(270.0)), &p), vec![7, 2]);
}

#[test]
fn horizon_min_speed_and_unknown_course() {
    let p = AheadParams::default();
    // At 20 km/h (the minimum) the horizon of 900 s reaches 900 × 5.556 / 1.3 = 3,846 m.
    let cps = vec![
        checkpoint(1, 3800.0, 0.0),
        checkpoint(2, 3900.0, 0.0),
        checkpoint(3, -2000.0, 500.0),
    ];
    assert_eq!(ahead_ids(&cps, &moving(0.0, Some(90.0)), &p), vec![1]);
    assert_eq!(ahead_ids(&cps, &moving(f64::NAN, Some(90.0)), &p), vec![1]);
    assert_eq!(ahead_ids(&cps, &moving(10.0, Some(90.0)), &p), vec![1]);
    // Faster reaches further.
    assert_eq!(ahead_ids(&cps, &moving(25.0, Some(90.0)), &p), vec![1, 2]);
    // Course unknown: every direction within the horizon, by eta.
    assert_eq!(ahead_ids(&cps, &moving(0.0, None), &p), vec![3, 1]);
    // Shorter horizon, narrower cone.
    let tight = AheadParams {
        horizon_secs: 600.0,
        cone_half_deg: 10.0,
        ..p
    };
    assert_eq!(ahead_ids(&cps, &moving(0.0, None), &tight), vec![3]);
    assert_eq!(
        ahead_ids(&cps, &moving(0.0, Some(110.0)), &tight),
        Vec::<i64>::new()
    );
    // Junk does not panic.
    let junk = Motion {
        lat: f64::NAN,
        lon: 1.0,
        speed_kmh: f64::INFINITY,
        course_deg: Some(f64::NAN),
    };
    assert!(checkpoints_ahead(&cps, &junk, &p).is_empty());
    let zero = AheadParams {
        min_speed_kmh: 0.0,
        ..p
    };
    assert!(checkpoints_ahead(&cps, &moving(0.0, None), &zero).is_empty());
}

// ---------------------------------------------------------------------------------------------
// The synthetic county.

#[test]
fn synthetic_county_has_the_programme_numbers_and_works_end_to_end() {
    let county = County::generate(15);
    assert_eq!(county.cameras.len(), COUNTY_CAMERAS);
    assert_eq!(COUNTY_CAMERAS, 15_950);
    assert_eq!(county.checkpoints.len(), COUNTY_CHECKPOINTS);
    assert_eq!(County::generate(15), county, "deterministic");
    let b = county.bounds;
    assert!(county.cameras.iter().all(|c| {
        let c = c.camera;
        c.id >= 1
            && c.lon > b[0] - 0.01
            && c.lon < b[2] + 0.01
            && c.lat > b[1] - 0.01
            && c.lat < b[3] + 0.01
    }));
    let index = CameraIndex::new(county.camera_list());
    assert_eq!(index.len(), COUNTY_CAMERAS);

    // Half an hour of driving in the seat passes many cameras, and exactly those the oracle
    // sees (checked on the cameras within 500 m of a fix: segments are at most ~500 m long).
    let track = county.drive(3, 0, 60, 30_000, T0, false);
    let passes = index.passes(&track);
    assert!(passes.len() > 20, "only {} passes", passes.len());
    let nearby: Vec<Camera> = county
        .camera_list()
        .into_iter()
        .filter(|c| {
            track.iter().any(|f| {
                let (d, _) = haversine_bearing(c.lat, c.lon, f.lat, f.lon);
                d < 500.0 + c.range_m
            })
        })
        .collect();
    let far_listed = passes
        .iter()
        .filter(|p| !nearby.iter().any(|c| c.id == p.camera_id))
        .count();
    assert_eq!(far_listed, 0);
    if let Err(e) = check_against_oracle(&nearby, &track, &passes) {
        panic!("{e}");
    }

    // From the county centre heading east at 100 km/h: the eastern checkpoints half way out
    // (bearings 45° and 105°), not the western ones, nearest first.
    let centre = county.towns[0];
    let m = Motion {
        lat: centre.lat,
        lon: centre.lon,
        speed_kmh: 100.0,
        course_deg: Some(90.0),
    };
    let got = checkpoints_ahead(&county.checkpoints, &m, &AheadParams::default());
    let mut got_ids: Vec<i64> = got.iter().map(|c| c.checkpoint_id).collect();
    assert!(got.windows(2).all(|w| w[0].eta_secs <= w[1].eta_secs));
    got_ids.sort_unstable();
    assert_eq!(got_ids, vec![2, 4], "{got:?}");
    // With an hour's horizon all four eastern ones (45°, 75°, 105°, 135°).
    let long = AheadParams {
        horizon_secs: 3600.0,
        ..AheadParams::default()
    };
    let mut all: Vec<i64> = checkpoints_ahead(&county.checkpoints, &m, &long)
        .iter()
        .map(|c| c.checkpoint_id)
        .collect();
    all.sort_unstable();
    assert_eq!(all, vec![2, 3, 4, 5]);
}
