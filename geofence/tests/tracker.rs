//! Tracker behaviour: jitter immunity, real departures, ordering and validity rules.

use geofence::geo::{Coord, LineString, Point, Polygon, coord};
use geofence::synth::{SynthRng, offset};
use geofence::{
    DeviceTrackers, Fence, FenceEvent, FenceId, FenceIndex, FenceKind, FenceShape, FenceTracker,
    Fix, TrackerConfig, Transition,
};

const FIX_INTERVAL_MS: i64 = 30_000;
const DAY_FIXES: i64 = 24 * 3600 * 1000 / FIX_INTERVAL_MS;

/// A 2 km square keep-in fence whose east edge is at lon 116.0, lat 40.0..40.018.
fn square_fence() -> (Fence, Coord<f64>) {
    let sw = coord! { x: 115.9765, y: 40.0 };
    let ne = offset(sw, 2000.0, 2000.0);
    let ring = vec![
        sw,
        coord! { x: ne.x, y: sw.y },
        ne,
        coord! { x: sw.x, y: ne.y },
        sw,
    ];
    let shape = FenceShape::polygon(&Polygon::new(LineString::new(ring), vec![])).expect("valid");
    // A point on the east edge, halfway up.
    let on_edge = coord! { x: ne.x, y: (sw.y + ne.y) / 2.0 };
    (Fence::new(FenceId(1), FenceKind::KeepIn, shape), on_edge)
}

fn circle_fence() -> (Fence, Coord<f64>) {
    let centre = coord! { x: 116.3, y: 39.9 };
    let shape = FenceShape::circle(Point(centre), 500.0).expect("valid");
    (
        Fence::new(FenceId(2), FenceKind::KeepOut, shape),
        offset(centre, 500.0, 0.0),
    )
}

fn corridor_fence() -> (Fence, Coord<f64>) {
    let a = coord! { x: 116.5, y: 39.8 };
    let b = offset(a, 5000.0, 0.0);
    let shape = FenceShape::corridor(&LineString::new(vec![a, b]), 150.0).expect("valid");
    (
        Fence::new(FenceId(3), FenceKind::Watch, shape),
        offset(a, 2500.0, 150.0),
    )
}

/// Fixes of a parked vehicle: a random walk bounded to ±40 m in each axis around `spot`, plus
/// an isolated multipath outlier (60–150 m off in a random direction) about every 100 fixes.
fn parked_fixes(spot: Coord<f64>, seed: u64) -> Vec<Fix> {
    let mut rng = SynthRng::new(seed);
    let (mut e, mut n) = (0.0f64, 0.0f64);
    (0..DAY_FIXES)
        .map(|i| {
            e = (e + rng.range(-15.0, 15.0)).clamp(-40.0, 40.0);
            n = (n + rng.range(-15.0, 15.0)).clamp(-40.0, 40.0);
            let (mut de, mut dn) = (e, n);
            if rng.next_u64().is_multiple_of(100) {
                let angle = rng.range(0.0, std::f64::consts::TAU);
                let dist = rng.range(60.0, 150.0);
                de = dist * angle.cos();
                dn = dist * angle.sin();
            }
            let p = offset(spot, de, dn);
            Fix::new(i * FIX_INTERVAL_MS, p.y, p.x)
        })
        .collect()
}

#[test]
fn parked_vehicle_jittering_on_the_edge_never_transitions() {
    let config = TrackerConfig::default();
    for (fence, spot) in [square_fence(), circle_fence(), corridor_fence()] {
        for seed in 0..4 {
            let fixes = parked_fixes(spot, seed);
            for start in [FenceTracker::new(), FenceTracker::new_inside()] {
                let mut tracker = start;
                let events: Vec<FenceEvent> = fixes
                    .iter()
                    .filter_map(|f| tracker.step(&fence, f, &config))
                    .collect();
                assert!(
                    events.is_empty(),
                    "fence {} seed {seed}: {} transitions: {:?}",
                    fence.id,
                    events.len(),
                    events.first()
                );
            }
        }
    }
}

#[test]
fn the_same_jitter_flips_a_naive_tracker_constantly() {
    // Control: without margin and hold the same data produces an alarm storm, so the test above
    // really exercises the hysteresis.
    let naive = TrackerConfig {
        margin_m: 0.0,
        hold_fixes: 1,
        hold_secs: 0,
    };
    let (fence, spot) = square_fence();
    let mut tracker = FenceTracker::new();
    let flips = parked_fixes(spot, 0)
        .iter()
        .filter_map(|f| tracker.step(&fence, f, &naive))
        .count();
    assert!(flips > 100, "only {flips} flips");
}

#[test]
fn jitter_through_device_trackers_never_transitions() {
    let config = TrackerConfig::default();
    let fences = [square_fence(), circle_fence(), corridor_fence()];
    let index = FenceIndex::from_fences(fences.iter().map(|(f, _)| f.clone())).expect("unique ids");
    for (_, spot) in &fences {
        let mut device = DeviceTrackers::new();
        let mut events = Vec::new();
        for fix in parked_fixes(*spot, 11) {
            device.step(&index, &fix, &config, |_| true, &mut events);
        }
        assert!(events.is_empty(), "{events:?}");
    }
}

/// Parked 300 m inside for an hour, then drives east at 10 m/s for 10 minutes, with jitter.
fn departure_fixes(inside_spot: Coord<f64>, seed: u64) -> (Vec<Fix>, Vec<f64>) {
    let mut rng = SynthRng::new(seed);
    let mut fixes = Vec::new();
    let mut east_of_start = Vec::new();
    for i in 0..(120 + 20) {
        let t = i * FIX_INTERVAL_MS;
        let driven = if i < 120 {
            0.0
        } else {
            (i - 120) as f64 * 30.0 * 10.0
        };
        let p = offset(
            inside_spot,
            driven + rng.range(-40.0, 40.0),
            rng.range(-40.0, 40.0),
        );
        fixes.push(Fix::new(t, p.y, p.x));
        east_of_start.push(driven);
    }
    (fixes, east_of_start)
}

#[test]
fn real_departure_gives_exactly_one_exit_within_the_hold_time() {
    let config = TrackerConfig::default();
    let (fence, edge) = square_fence();
    let inside_spot = offset(edge, -300.0, 0.0);
    for seed in 0..8 {
        let (fixes, _) = departure_fixes(inside_spot, seed);
        let mut tracker = FenceTracker::new_inside();
        let events: Vec<FenceEvent> = fixes
            .iter()
            .filter_map(|f| tracker.step(&fence, f, &config))
            .collect();
        assert_eq!(events.len(), 1, "seed {seed}: {events:?}");
        let exit = events[0];
        assert_eq!(exit.transition, Transition::Exit);
        assert!(exit.alarm, "leaving a keep-in fence is an alarm");
        assert_eq!(exit.fence, fence.id);
        // The run starts with the first fix > margin outside; the hold then takes 60 s.
        assert!(
            exit.fix.time_ms - exit.started_ms <= i64::from(config.hold_secs) * 1000,
            "{exit:?}"
        );
        // Driving starts at fix 120 (t = 3600 s); 300 m + 50 m margin + 40 m jitter is passed
        // by fix 122 at the latest; the exit must come within the hold after that.
        let latest_start = 122 * FIX_INTERVAL_MS;
        assert!(
            exit.started_ms >= 120 * FIX_INTERVAL_MS && exit.started_ms <= latest_start,
            "{exit:?}"
        );
        assert!(!tracker.is_inside());
    }
}

#[test]
fn out_of_order_and_invalid_fixes_never_flip_state() {
    let config = TrackerConfig::default();
    let (fence, edge) = square_fence();
    let outside = offset(edge, 500.0, 0.0);
    let mut tracker = FenceTracker::new_inside();
    // A fresh fix inside at t = 1000 s.
    let inside = offset(edge, -500.0, 0.0);
    assert!(
        tracker
            .step(&fence, &Fix::new(1_000_000, inside.y, inside.x), &config)
            .is_none()
    );
    // Many old fixes far outside: all ignored.
    for t in 0..100 {
        let f = Fix::new(t * 1000, outside.y, outside.x);
        assert!(tracker.step(&fence, &f, &config).is_none());
    }
    assert!(tracker.is_inside() && !tracker.is_pending());
    // Many newer but invalid fixes outside: ignored, and they do not interrupt a run either.
    for t in 0..100 {
        let mut f = Fix::new(2_000_000 + t * 1000, outside.y, outside.x);
        f.valid = false;
        assert!(tracker.step(&fence, &f, &config).is_none());
    }
    assert!(tracker.is_inside() && !tracker.is_pending());
    // Non-finite positions are ignored too.
    assert!(
        tracker
            .step(&fence, &Fix::new(3_000_000, f64::NAN, 1.0), &config)
            .is_none()
    );
    // A duplicate timestamp is ignored.
    let t = 3_100_000;
    assert!(
        tracker
            .step(&fence, &Fix::new(t, outside.y, outside.x), &config)
            .is_none()
    );
    assert!(
        tracker
            .step(&fence, &Fix::new(t, outside.y, outside.x), &config)
            .is_none()
    );
    assert!(tracker.is_pending());
}

#[test]
fn poor_accuracy_widens_the_margin() {
    let config = TrackerConfig::default();
    let (fence, edge) = square_fence();
    let out_100m = offset(edge, 100.0, 0.0);
    let mut tracker = FenceTracker::new_inside();
    for i in 0..20 {
        let mut f = Fix::new(i * FIX_INTERVAL_MS, out_100m.y, out_100m.x);
        f.accuracy_m = Some(150.0);
        assert!(
            tracker.step(&fence, &f, &config).is_none(),
            "150 m accuracy cannot prove 100 m"
        );
    }
    let mut events = Vec::new();
    for i in 20..24 {
        let mut f = Fix::new(i * FIX_INTERVAL_MS, out_100m.y, out_100m.x);
        f.accuracy_m = Some(10.0);
        events.extend(tracker.step(&fence, &f, &config));
    }
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].started_ms, 20 * FIX_INTERVAL_MS);
}

#[test]
fn hold_needs_both_fix_count_and_time() {
    let config = TrackerConfig::default();
    let (fence, edge) = square_fence();
    let out = offset(edge, 500.0, 0.0);
    let mut tracker = FenceTracker::new_inside();
    // 1 fix per second: three fixes are not enough, 60 s are.
    let events: Vec<_> = (0..=60)
        .filter_map(|s| tracker.step(&fence, &Fix::new(s * 1000, out.y, out.x), &config))
        .map(|e| e.fix.time_ms)
        .collect();
    assert_eq!(events, vec![60_000]);
    // Interrupting the run with a fix inside restarts it.
    let mut tracker = FenceTracker::new_inside();
    let inside = offset(edge, -500.0, 0.0);
    let mut count = 0;
    for i in 0..10 {
        let p = if i % 2 == 0 { out } else { inside };
        count += tracker
            .step(&fence, &Fix::new(i * FIX_INTERVAL_MS, p.y, p.x), &config)
            .into_iter()
            .count();
    }
    assert_eq!(count, 0);
}

#[test]
fn tracker_state_is_small_and_serialisable() {
    assert!(std::mem::size_of::<FenceTracker>() <= 24);
    let (fence, edge) = square_fence();
    let mut tracker = FenceTracker::new_inside();
    let out = offset(edge, 500.0, 0.0);
    tracker.step(
        &fence,
        &Fix::new(0, out.y, out.x),
        &TrackerConfig::default(),
    );
    let json = serde_json::to_string(&tracker).expect("serialise");
    let back: FenceTracker = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, tracker);

    let index = FenceIndex::from_fences([fence]).expect("ok");
    let mut device = DeviceTrackers::new();
    let inside = offset(edge, -500.0, 0.0);
    device.step(
        &index,
        &Fix::new(0, inside.y, inside.x),
        &TrackerConfig::default(),
        |_| true,
        &mut Vec::new(),
    );
    let json = serde_json::to_string(&device).expect("serialise");
    let back: DeviceTrackers = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, device);
}

#[test]
fn device_trackers_drop_fences_that_vanish_or_are_unassigned() {
    let config = TrackerConfig::default();
    let (fence, edge) = square_fence();
    let index = FenceIndex::from_fences([fence.clone()]).expect("ok");
    let inside = offset(edge, -500.0, 0.0);
    let mut device = DeviceTrackers::new();
    let mut events = Vec::new();
    for i in 0..3 {
        device.step(
            &index,
            &Fix::new(i * FIX_INTERVAL_MS, inside.y, inside.x),
            &config,
            |_| true,
            &mut events,
        );
    }
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].transition, Transition::Enter);
    assert!(!events[0].alarm, "entering a keep-in fence is no alarm");
    assert!(device.is_inside(fence.id));
    // Far away, but the fence is no longer assigned: the entry goes, silently.
    let far = offset(edge, 50_000.0, 0.0);
    events.clear();
    device.step(
        &index,
        &Fix::new(10 * FIX_INTERVAL_MS, far.y, far.x),
        &config,
        |_| false,
        &mut events,
    );
    assert!(events.is_empty() && device.entries().is_empty());
}
