//! Drift-proof enter/exit detection: one small state machine per (device, fence).

use serde::{Deserialize, Serialize};

use crate::fence::{Fence, FenceId, FenceKind};
use crate::index::FenceIndex;
use crate::shape::Side;

/// One position report from a device.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Fix time, milliseconds since the Unix epoch (device time).
    pub time_ms: i64,
    /// Latitude in degrees (WGS84).
    pub lat: f64,
    /// Longitude in degrees (WGS84).
    pub lon: f64,
    /// Reported horizontal accuracy in metres, when the protocol carries it.
    pub accuracy_m: Option<f32>,
    /// The device's own validity flag (GPS fixed); invalid fixes are ignored.
    pub valid: bool,
}

impl Fix {
    /// A valid fix without accuracy information.
    pub fn new(time_ms: i64, lat: f64, lon: f64) -> Self {
        Fix {
            time_ms,
            lat,
            lon,
            accuracy_m: None,
            valid: true,
        }
    }

    /// Whether the fix may be used: flagged valid and a real WGS84 position.
    pub fn is_usable(&self) -> bool {
        self.valid
            && self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

/// Tracker tuning, shared by all trackers.
///
/// Defaults are sized for the jitter of a standing vehicle: consumer GPS wanders 10–50 m, and
/// the acceptance test uses ±40 m plus occasional multipath outliers.
/// * `margin_m = 50`: a fix counts as proof only when it is more than 50 m beyond the boundary
///   (10 m more than the ±40 m wander), or more than its reported accuracy if that is larger.
/// * `hold_fixes = 3` and `hold_secs = 60`: the new side must then hold for 3 consecutive
///   proving fixes spanning at least 60 s (with the common 30 s reporting interval both are met
///   by the same fix). A single multipath outlier, or two in a row from a fast-reporting
///   device, cannot flip the state; a real departure is reported about a minute after the
///   vehicle is 50 m out. Both conditions must hold; set one to 0 to use only the other.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackerConfig {
    /// Minimum distance beyond the boundary (metres) for a fix to count toward a transition.
    pub margin_m: f64,
    /// Consecutive proving fixes required.
    pub hold_fixes: u32,
    /// Minimum time (seconds) from the first to the latest proving fix.
    pub hold_secs: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            margin_m: 50.0,
            hold_fixes: 3,
            hold_secs: 60,
        }
    }
}

impl TrackerConfig {
    /// The margin applied to `fix`: the configured one, or its reported accuracy if larger.
    pub fn margin_for(&self, fix: &Fix) -> f64 {
        match fix.accuracy_m {
            Some(acc) if acc.is_finite() && f64::from(acc) > self.margin_m => f64::from(acc),
            _ => self.margin_m.max(0.0),
        }
    }
}

/// Direction of a confirmed boundary crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// The device is now inside.
    Enter,
    /// The device is now outside.
    Exit,
}

/// A confirmed crossing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FenceEvent {
    /// The fence crossed.
    pub fence: FenceId,
    /// Its kind (decides `alarm`).
    pub kind: FenceKind,
    /// Enter or exit.
    pub transition: Transition,
    /// The fix that completed the proof.
    pub fix: Fix,
    /// Time (ms) of the first fix of the proving run: when the crossing began to show.
    pub started_ms: i64,
    /// Whether this crossing is an alarm for this kind of fence.
    pub alarm: bool,
}

/// State of one device with respect to one fence: 24 bytes, `Copy`, serde-serialisable.
///
/// Starts outside. A fix moves it only if it lies beyond the boundary by the margin on the
/// other side; then the other side must hold without interruption (a fix back on the current
/// side, or within the margin, restarts the count) for `hold_fixes` fixes and `hold_secs`
/// seconds. Invalid fixes are ignored (they neither count nor interrupt); a fix not newer
/// than the last one seen is ignored, so out-of-order delivery never flips state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceTracker {
    inside: bool,
    /// Consecutive proving fixes for the other side.
    run: u32,
    /// Time of the first proving fix in the run.
    run_start_ms: i64,
    /// Time of the newest fix accepted.
    last_fix_ms: i64,
}

impl Default for FenceTracker {
    fn default() -> Self {
        FenceTracker {
            inside: false,
            run: 0,
            run_start_ms: 0,
            last_fix_ms: i64::MIN,
        }
    }
}

impl FenceTracker {
    /// A tracker that believes the device is outside (the default).
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker that believes the device is inside (e.g. restored from a known state).
    pub fn new_inside() -> Self {
        FenceTracker {
            inside: true,
            ..Self::default()
        }
    }

    /// Whether the device is currently considered inside.
    pub fn is_inside(&self) -> bool {
        self.inside
    }

    /// Whether a crossing is in progress but not yet confirmed.
    pub fn is_pending(&self) -> bool {
        self.run > 0
    }

    /// Feeds one fix; returns an event when it confirms a crossing.
    pub fn step(&mut self, fence: &Fence, fix: &Fix, config: &TrackerConfig) -> Option<FenceEvent> {
        if !fix.is_usable() || fix.time_ms <= self.last_fix_ms {
            return None;
        }
        let side = fence.classify(fix.lon, fix.lat, config.margin_for(fix));
        self.observe(fence.id, fence.kind, side, fix, config)
    }

    /// Applies an already computed side (the fix has passed the validity and order checks).
    pub(crate) fn observe(
        &mut self,
        fence: FenceId,
        kind: FenceKind,
        side: Side,
        fix: &Fix,
        config: &TrackerConfig,
    ) -> Option<FenceEvent> {
        self.last_fix_ms = fix.time_ms;
        let proves_other_side = match side {
            Side::Near => false,
            Side::Inside => !self.inside,
            Side::Outside => self.inside,
        };
        if !proves_other_side {
            self.run = 0;
            return None;
        }
        if self.run == 0 {
            self.run_start_ms = fix.time_ms;
        }
        self.run = self.run.saturating_add(1);
        let held_ms = fix.time_ms.saturating_sub(self.run_start_ms);
        if self.run < config.hold_fixes || held_ms < i64::from(config.hold_secs) * 1000 {
            return None;
        }
        self.inside = !self.inside;
        self.run = 0;
        let entering = self.inside;
        Some(FenceEvent {
            fence,
            kind,
            transition: if entering {
                Transition::Enter
            } else {
                Transition::Exit
            },
            fix: *fix,
            started_ms: self.run_start_ms,
            alarm: kind.alarms_on(entering),
        })
    }

    /// Outside with nothing pending: the state a missing entry stands for.
    fn is_idle_outside(&self) -> bool {
        !self.inside && self.run == 0
    }
}

/// One entry of [`DeviceTrackers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedFence {
    /// The fence.
    pub fence: FenceId,
    /// The device's state for it.
    pub tracker: FenceTracker,
    /// Scratch flag for one step; not persisted.
    #[serde(skip)]
    seen: bool,
}

/// All fence trackers of one device, stored sparsely: fences the device is idle-outside of
/// have no entry, so the state is a few entries even with 100k fences around.
///
/// One [`DeviceTrackers::step`] per fix asks the index for fences within the margin of the
/// fix, steps their trackers, and steps the remaining entries (fences now farther away than
/// the margin) as "outside". Entries of fences that vanished from the index or from the
/// device's assignment are dropped silently.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTrackers {
    last_fix_ms: Option<i64>,
    /// Sorted by fence id.
    entries: Vec<TrackedFence>,
}

impl DeviceTrackers {
    /// No fix seen yet, outside everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Non-idle fence states, sorted by fence id.
    pub fn entries(&self) -> &[TrackedFence] {
        &self.entries
    }

    /// Whether the device is considered inside `fence`.
    pub fn is_inside(&self, fence: FenceId) -> bool {
        self.entries
            .binary_search_by_key(&fence, |e| e.fence)
            .is_ok_and(|i| self.entries[i].tracker.is_inside())
    }

    /// Feeds one fix against every fence `applies` accepts; pushes confirmed crossings to `events`.
    pub fn step(
        &mut self,
        index: &FenceIndex,
        fix: &Fix,
        config: &TrackerConfig,
        mut applies: impl FnMut(&Fence) -> bool,
        events: &mut Vec<FenceEvent>,
    ) {
        if !fix.is_usable() || self.last_fix_ms.is_some_and(|last| fix.time_ms <= last) {
            return;
        }
        self.last_fix_ms = Some(fix.time_ms);
        let margin = config.margin_for(fix);
        let entries = &mut self.entries;
        index.for_each_candidate(fix.lon, fix.lat, margin, |fence| {
            if !applies(fence) {
                return;
            }
            let side = fence.classify(fix.lon, fix.lat, margin);
            match entries.binary_search_by_key(&fence.id, |e| e.fence) {
                Ok(i) => {
                    let entry = &mut entries[i];
                    entry.seen = true;
                    events.extend(
                        entry
                            .tracker
                            .observe(fence.id, fence.kind, side, fix, config),
                    );
                }
                // Idle-outside and the fix says outside or near: stays idle, no entry needed.
                Err(_) if side != Side::Inside => {}
                Err(i) => {
                    let mut tracker = FenceTracker::default();
                    events.extend(tracker.observe(fence.id, fence.kind, side, fix, config));
                    entries.insert(
                        i,
                        TrackedFence {
                            fence: fence.id,
                            tracker,
                            seen: true,
                        },
                    );
                }
            }
        });
        entries.retain_mut(|entry| {
            if std::mem::take(&mut entry.seen) {
                return !entry.tracker.is_idle_outside();
            }
            // Not a candidate: the fix is more than the margin away from this fence.
            match index.get(entry.fence) {
                Some(fence) if applies(fence) => {
                    events.extend(entry.tracker.observe(
                        fence.id,
                        fence.kind,
                        Side::Outside,
                        fix,
                        config,
                    ));
                    !entry.tracker.is_idle_outside()
                }
                _ => false,
            }
        });
    }
}
