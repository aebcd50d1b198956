//! Property tests: the index agrees with brute force, GeoJSON round-trips, the sparse
//! per-device tracker set agrees with one tracker per fence.

use geofence::Side;
use geofence::geo::{Coord, Intersects, LineString, Polygon, coord};
use geofence::synth::{SynthRng, random_fences, star_ring};
use geofence::{
    DeviceTrackers, Fence, FenceId, FenceIndex, FenceShape, FenceTracker, Fix, ShapeView,
    TrackerConfig, fences_from_geojson, fences_to_geojson,
};
use proptest::prelude::*;

/// A small dense area so fences overlap and many points hit several.
const AREA: [f64; 4] = [116.0, 40.0, 116.08, 40.06];

fn sorted_ids<'a>(fences: impl IntoIterator<Item = &'a Fence>) -> Vec<u64> {
    let mut ids: Vec<u64> = fences.into_iter().map(|f| f.id.0).collect();
    ids.sort_unstable();
    ids
}

/// Probe points: random ones plus vertices and edge midpoints of the fences (boundary cases).
fn probes(fences: &[Fence], rng: &mut SynthRng, random: usize) -> Vec<Coord<f64>> {
    let mut out: Vec<Coord<f64>> = (0..random)
        .map(|_| coord! { x: rng.range(AREA[0] - 0.01, AREA[2] + 0.01), y: rng.range(AREA[1] - 0.01, AREA[3] + 0.01) })
        .collect();
    for f in fences.iter().take(20) {
        match f.shape.view() {
            ShapeView::Area { polygons, .. } => {
                let ring = polygons[0][0];
                out.push(ring[0]);
                out.push(
                    coord! { x: (ring[0].x + ring[1].x) / 2.0, y: (ring[0].y + ring[1].y) / 2.0 },
                );
            }
            ShapeView::Circle { center, .. } => out.push(center),
            ShapeView::Corridor { line, .. } => out.push(line[0]),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_brute_force(seed in any::<u64>(), n in 1usize..300) {
        let fences = random_fences(seed, n, AREA);
        let index = FenceIndex::from_fences(fences.clone()).expect("unique ids");
        let mut rng = SynthRng::new(seed ^ 0x55);
        for p in probes(&fences, &mut rng, 200) {
            let brute = sorted_ids(fences.iter().filter(|f| f.contains(p.x, p.y)));
            prop_assert_eq!(sorted_ids(index.query(p.x, p.y)), brute.clone());
            prop_assert_eq!(sorted_ids(index.query_linear(p.x, p.y)), brute.clone());
            // Filtered by a set S (even ids) both ways.
            let even: Vec<u64> = brute.iter().copied().filter(|id| id % 2 == 0).collect();
            prop_assert_eq!(sorted_ids(index.query_where(p.x, p.y, |f| f.id.0 % 2 == 0)), even.clone());
            let s: Vec<FenceId> = (0..n as u64).filter(|id| id % 2 == 0).map(FenceId).collect();
            prop_assert_eq!(sorted_ids(index.query_among(p.x, p.y, &s)), even);
        }
    }

    #[test]
    fn index_with_edits_matches_brute_force(seed in any::<u64>(), n in 1usize..200, edits in 1usize..60) {
        let fences = random_fences(seed, n, AREA);
        let extra = random_fences(seed ^ 1, edits, AREA);
        let mut index = FenceIndex::from_fences(fences.clone()).expect("unique ids");
        let mut live: std::collections::BTreeMap<u64, Fence> = fences.into_iter().map(|f| (f.id.0, f)).collect();
        let mut rng = SynthRng::new(seed ^ 0xAA);
        for (i, mut fence) in extra.into_iter().enumerate() {
            let old = index.clone();
            let target = rng.next_u64() % (n as u64 + 20);
            if i % 3 == 0 {
                index = index.with_removal(FenceId(target));
                live.remove(&target);
            } else {
                fence.id = FenceId(target);
                live.insert(target, fence.clone());
                index = index.with_upsert(fence);
            }
            // The old snapshot is untouched by the edit.
            prop_assert!(old.len() + 1 >= index.len() && index.len() + 1 >= old.len());
        }
        prop_assert_eq!(index.len(), live.len());
        for p in probes(&live.values().cloned().collect::<Vec<_>>(), &mut rng, 200) {
            let brute = sorted_ids(live.values().filter(|f| f.contains(p.x, p.y)));
            prop_assert_eq!(sorted_ids(index.query(p.x, p.y)), brute);
        }
        for (id, f) in &live {
            prop_assert_eq!(index.get(FenceId(*id)), Some(f));
        }
    }

    #[test]
    fn polygon_contains_agrees_with_geo(seed in any::<u64>(), vertices in 8usize..400) {
        let mut rng = SynthRng::new(seed);
        let centre = coord! { x: 116.0, y: 40.0 };
        let hole = LineString::new(star_ring(&mut rng, centre, 150.0, 7));
        let poly = Polygon::new(LineString::new(star_ring(&mut rng, centre, 2_000.0, vertices)), vec![hole]);
        let shape = FenceShape::polygon(&poly).expect("star polygons are valid");
        let mut points: Vec<Coord<f64>> = (0..300)
            .map(|_| coord! { x: rng.range(115.97, 116.03), y: rng.range(39.98, 40.02) })
            .collect();
        points.extend(poly.exterior().0.iter().take(10).copied());
        for p in points {
            prop_assert_eq!(shape.contains(p), poly.intersects(&p), "at {:?}", p);
        }
    }

    #[test]
    fn classify_agrees_with_brute_force_signed_distance(seed in any::<u64>(), n in 1usize..60, margin in 0.0f64..300.0) {
        let fences = random_fences(seed, n, AREA);
        let mut rng = SynthRng::new(seed ^ 0x99);
        for p in probes(&fences, &mut rng, 100) {
            for f in &fences {
                let d = f.shape.signed_distance_m(p);
                let eps = 1e-6;
                match f.shape.classify(p, margin) {
                    Side::Inside => prop_assert!(d <= -margin + eps || (margin == 0.0 && d <= eps), "fence {} d {} m {}", f.id, d, margin),
                    Side::Outside => prop_assert!(d >= margin - eps, "fence {} d {} m {}", f.id, d, margin),
                    Side::Near => prop_assert!(d.abs() <= margin + eps, "fence {} d {} m {}", f.id, d, margin),
                }
            }
        }
    }

    #[test]
    fn geojson_round_trips(seed in any::<u64>(), n in 1usize..40) {
        let mut fences = random_fences(seed, n, AREA);
        for (i, f) in fences.iter_mut().enumerate() {
            if i % 2 == 0 {
                f.name = Some(format!("fence \"{i}\" ü"));
            }
        }
        let text = fences_to_geojson(&fences);
        let back = fences_from_geojson(&text).expect("own output parses");
        prop_assert_eq!(&back, &fences);
        prop_assert_eq!(fences_to_geojson(&back), text);
    }

    #[test]
    fn device_trackers_match_one_tracker_per_fence(seed in any::<u64>(), n in 1usize..60) {
        let fences = random_fences(seed, n, AREA);
        let index = FenceIndex::from_fences(fences.clone()).expect("unique ids");
        let config = TrackerConfig { margin_m: 30.0, hold_fixes: 2, hold_secs: 20 };
        let mut rng = SynthRng::new(seed ^ 0x77);
        let mut device = DeviceTrackers::new();
        let mut single: Vec<FenceTracker> = vec![FenceTracker::new(); fences.len()];
        // A wandering vehicle with some invalid, inaccurate and out-of-order fixes.
        let mut at = coord! { x: rng.range(AREA[0], AREA[2]), y: rng.range(AREA[1], AREA[3]) };
        let mut t = 0i64;
        for _ in 0..400 {
            t += 10_000;
            at = geofence::synth::offset(at, rng.range(-300.0, 300.0), rng.range(-300.0, 300.0));
            at.x = at.x.clamp(AREA[0], AREA[2]);
            at.y = at.y.clamp(AREA[1], AREA[3]);
            let mut fix = Fix::new(t, at.y, at.x);
            match rng.next_u64() % 10 {
                0 => fix.valid = false,
                1 => fix.time_ms -= 25_000,
                2 => fix.accuracy_m = Some(rng.range(0.0, 200.0) as f32),
                _ => {}
            }
            let mut got = Vec::new();
            device.step(&index, &fix, &config, |_| true, &mut got);
            let mut want = Vec::new();
            for (tracker, fence) in single.iter_mut().zip(&fences) {
                want.extend(tracker.step(fence, &fix, &config));
            }
            got.sort_by_key(|e| e.fence);
            want.sort_by_key(|e| e.fence);
            prop_assert_eq!(got, want);
            for (tracker, fence) in single.iter().zip(&fences) {
                prop_assert_eq!(device.is_inside(fence.id), tracker.is_inside());
            }
        }
    }
}
