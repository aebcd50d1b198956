//! Video patrol and checkpoints for a theft: which cameras saw a track, and which checkpoints a
//! moving vehicle can reach.
//!
//! * [`CameraIndex::passes`]: every camera whose view sector (range circle ∩ facing ± fov/2)
//!   the polyline through the fixes enters, with the time window to play back.
//! * [`checkpoints_ahead`]: checkpoints inside the heading cone reachable within a horizon,
//!   ranked by estimated arrival (straight line × detour factor; no road network).
//!
//! Times are `i64` milliseconds since the Unix epoch, coordinates WGS-84 degrees, distances
//! metres, bearings degrees clockwise from north.
//!
//! # The time window of a pass
//!
//! Between two fixes the true path and speed are unknown. `at_ms` and the raw in-view interval
//! come from linear interpolation (constant speed along the straight segment), so a camera half
//! way between fixes 30 s apart gets the fix time + 15 s, not a fix's time. The window
//! `[from_ms, to_ms]` then widens the entry time earlier and the exit time later by
//! [`WIDEN_FRACTION`] (½) of the duration of the segment where the entry (exit) happens, but
//! never past the fix before the entry or the fix after the exit: the vehicle was at those
//! fixes at those times, so whatever it did in between, this pass lies between them.
//!
//! Why ½: if the vehicle's speed along a segment varies by at most a factor ρ (fast/slow), the
//! fraction of the segment's time spent before a point at fraction `f` of its length differs
//! from `f` by at most `(√ρ − 1)/(√ρ + 1)` of the duration. A widening of ½ covers ρ = 9 (e.g.
//! 6 to 54 km/h: lights, turns, stop-and-go traffic) wherever the camera is; ¼ would cover only
//! ρ = 2.8. The clamp to the bracketing fixes makes any wider choice pointless: a camera in the
//! middle of a segment already gets the whole segment. The property test
//! `window_contains_true_time_when_speed_varies_ninefold` in `tests/linkage.rs` checks this.
//! A window spans at most the fixes around the pass (60 s for 30 s fixes); the caller may pad it
//! further for camera clock skew.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

mod ahead;
mod sector;

pub use ahead::{
    AHEAD_ANY_BEARING_M, AheadParams, Checkpoint, CheckpointAhead, Motion, checkpoints_ahead,
};

use sector::{Run, View};

/// Fraction of a segment's duration by which a pass window is widened on each side (see the
/// module doc for why ½).
pub const WIDEN_FRACTION: f64 = 0.5;

/// A camera point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// The caller's id, copied into [`CameraPass::camera_id`].
    pub id: i64,
    /// Latitude (WGS-84 degrees).
    pub lat: f64,
    /// Longitude (WGS-84 degrees).
    pub lon: f64,
    /// Direction the camera looks, degrees clockwise from north; `None` = unknown: any direction
    /// counts.
    pub facing_deg: Option<f64>,
    /// Full field-of-view angle in degrees, e.g. 90; 360 or more (or NaN) = all around.
    pub fov_deg: f64,
    /// How far the camera usefully sees, metres, e.g. 60.
    pub range_m: f64,
}

/// One position report of the tracked vehicle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackFix {
    /// Fix time, ms since the Unix epoch.
    pub time_ms: i64,
    /// Latitude (WGS-84 degrees).
    pub lat: f64,
    /// Longitude (WGS-84 degrees).
    pub lon: f64,
}

/// One stretch of track inside one camera's view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraPass {
    /// The camera's [`Camera::id`].
    pub camera_id: i64,
    /// Start of the window the vehicle was visible, widened by the fix gap (module doc).
    pub from_ms: i64,
    /// End of that window.
    pub to_ms: i64,
    /// Interpolated time of the closest approach inside the view.
    pub at_ms: i64,
    /// Closest distance to the camera inside the view, metres.
    pub distance_m: f64,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Immutable R-tree of cameras (rstar 0.12) answering "which cameras saw this track".
///
/// Each camera is indexed by the bounding box of its own range circle, so one long-range
/// camera does not widen every query (the alternative, points queried with the segment's box
/// grown by the largest range, would).
#[derive(Debug, Clone)]
pub struct CameraIndex {
    tree: RTree<Entry>,
    cameras: Vec<Camera>,
    views: Vec<View>,
}

/// A pass still being extended while walking the track.
#[derive(Debug, Clone, Copy)]
struct Open {
    camera: u32,
    /// Last segment that contributed, and whether its run reached the segment's end fix.
    segment: usize,
    reaches_end: bool,
    from: f64,
    to: f64,
    at: f64,
    distance_m: f64,
}

impl CameraIndex {
    /// Indexes `cameras`. Cameras that cannot be placed (NaN or infinite values, lat outside
    /// ±90, lon outside ±180, negative range) are left out; [`len`](Self::len) counts the rest.
    pub fn new(cameras: Vec<Camera>) -> Self {
        let (cameras, views): (Vec<Camera>, Vec<View>) = cameras
            .into_iter()
            .filter_map(|c| View::new(&c).map(|v| (c, v)))
            .unzip();
        let entries: Vec<Entry> = views
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let b = v.bbox();
                GeomWithData::new(
                    Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]),
                    i as u32,
                )
            })
            .collect();
        CameraIndex {
            tree: RTree::bulk_load(entries),
            cameras,
            views,
        }
    }

    /// Number of indexed cameras.
    pub fn len(&self) -> usize {
        self.cameras.len()
    }

    /// Whether no camera is indexed.
    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
    }

    /// The indexed cameras, in the order given (unplaceable ones left out).
    pub fn cameras(&self) -> &[Camera] {
        &self.cameras
    }

    /// Every camera whose view sector (range_m, facing ± fov/2) the polyline through `fixes`
    /// (sorted by time) enters, ordered by `from_ms`; a camera entered twice appears twice.
    ///
    /// Consecutive segments inside the same view make one pass. A track of a single fix lists
    /// the cameras that see that point (window = the fix time). Fixes with NaN or infinite
    /// coordinates, or outside lat ±90 / lon ±180, are skipped; fixes out of time order are
    /// sorted first (stable, so equal times keep their order).
    pub fn passes(&self, fixes: &[TrackFix]) -> Vec<CameraPass> {
        let mut fixes: Vec<TrackFix> = fixes.iter().copied().filter(placeable).collect();
        if !fixes.is_sorted_by_key(|f| f.time_ms) {
            fixes.sort_by_key(|f| f.time_ms);
        }
        let mut done: Vec<CameraPass> = Vec::new();
        match fixes.len() {
            0 => return done,
            1 => {
                let f = fixes[0];
                let env = AABB::from_point([f.lon, f.lat]);
                for e in self.tree.locate_in_envelope_intersecting(&env) {
                    let view = &self.views[e.data as usize];
                    let p = view.local(f.lat, f.lon);
                    if view.contains(p) {
                        done.push(CameraPass {
                            camera_id: self.cameras[e.data as usize].id,
                            from_ms: f.time_ms,
                            to_ms: f.time_ms,
                            at_ms: f.time_ms,
                            distance_m: p.0.hypot(p.1),
                        });
                    }
                }
            }
            _ => self.walk(&fixes, &mut done),
        }
        done.sort_by(|a, b| {
            (a.from_ms, a.at_ms, a.camera_id).cmp(&(b.from_ms, b.at_ms, b.camera_id))
        });
        done
    }

    /// Walks the segments of a placeable, time-sorted track of at least two fixes.
    fn walk(&self, fixes: &[TrackFix], done: &mut Vec<CameraPass>) {
        // Passes that may continue into the next segment: only cameras seeing the current fix,
        // so this stays a handful long and a linear search beats a map.
        let mut open: Vec<Open> = Vec::new();
        for (i, w) in fixes.windows(2).enumerate() {
            let (a, b) = (w[0], w[1]);
            let (t0, t1) = (a.time_ms as f64, b.time_ms as f64);
            let dur = t1 - t0;
            let env = AABB::from_corners(
                [a.lon.min(b.lon), a.lat.min(b.lat)],
                [a.lon.max(b.lon), a.lat.max(b.lat)],
            );
            for e in self.tree.locate_in_envelope_intersecting(&env) {
                let camera = e.data;
                let view = &self.views[camera as usize];
                let (la, lb) = (view.local(a.lat, a.lon), view.local(b.lat, b.lon));
                view.runs(la, lb, |run: Run| {
                    let time = |s: f64| t0 + s * dur;
                    let from = (time(run.s0) - WIDEN_FRACTION * dur).max(t0);
                    let to = (time(run.s1) + WIDEN_FRACTION * dur).min(t1);
                    let at = time(run.s_closest);
                    let reaches_end = run.s1 == 1.0;
                    let slot = open.iter().position(|o| o.camera == camera);
                    if let Some(k) = slot {
                        let o = &mut open[k];
                        if o.segment + 1 == i && o.reaches_end && run.s0 == 0.0 {
                            o.segment = i;
                            o.reaches_end = reaches_end;
                            o.to = to;
                            if run.distance_m < o.distance_m {
                                o.distance_m = run.distance_m;
                                o.at = at;
                            }
                            return;
                        }
                        done.push(self.finish(open.swap_remove(k)));
                    }
                    open.push(Open {
                        camera,
                        segment: i,
                        reaches_end,
                        from,
                        to,
                        at,
                        distance_m: run.distance_m,
                    });
                });
            }
            // Whatever did not reach this segment's end fix cannot continue.
            let mut k = 0;
            while k < open.len() {
                if open[k].segment == i && open[k].reaches_end {
                    k += 1;
                } else {
                    done.push(self.finish(open.swap_remove(k)));
                }
            }
        }
        done.extend(open.into_iter().map(|o| self.finish(o)));
    }

    fn finish(&self, o: Open) -> CameraPass {
        CameraPass {
            camera_id: self.cameras[o.camera as usize].id,
            // `as` saturates; times are within i64 because they are interpolated between two.
            from_ms: o.from.round() as i64,
            to_ms: o.to.round() as i64,
            at_ms: o.at.round() as i64,
            distance_m: o.distance_m,
        }
    }
}

fn placeable(f: &TrackFix) -> bool {
    f.lat.is_finite() && f.lon.is_finite() && f.lat.abs() <= 90.0 && f.lon.abs() <= 180.0
}
