//! The alarm rules as pure functions: a device's remembered state, one report and the
//! settings in; the alarms it triggers (and whether the state to persist changed) out. No
//! database, no bus, no clock but the report's own times and a `now` passed in: the worker
//! (`services::alarms::Worker`) raises what these find (de-duplication, cool-down, routing to units) and
//! saves the state.

use chrono::{DateTime, Utc};
use geofence::geo::Point;
use geofence::{
    DeviceTrackers, Fence, FenceId, FenceIndex, FenceKind, FenceShape, FenceTracker, Fix,
};
use protocol::{Alarm, Position};
use std::collections::HashSet;

use super::alarms::{AlarmConfig, AlarmKind, ArmedContact, Guard};

/// What the rules remember of one device between reports.
#[derive(Default)]
pub struct DeviceState {
    /// The owner's guard (armed or not, where, speed limit).
    pub guard: Option<Guard>,
    /// The armed circle and its crossing tracker, while armed.
    pub armed_circle: Option<(Fence, FenceTracker)>,
    /// The latest vibration alarm's time and place (theft evidence if movement follows).
    pub vibration: Option<(DateTime<Utc>, f64, f64)>,
    /// Since when the device has been above its speed limit.
    pub over_since: Option<DateTime<Utc>>,
    /// Overspeed was raised for the current stretch above the limit.
    pub over_raised: bool,
    /// Charging as last reported (power cut: true → false).
    pub charging: Option<bool>,
    /// The battery was last reported low (raised once per edge).
    pub low_battery: bool,
    /// Crossing trackers of the device's assigned fences.
    pub trackers: DeviceTrackers,
    /// Fix time of the latest report evaluated.
    pub last_time: Option<DateTime<Utc>>,
    /// Latest valid fix (where status-only alarms are placed).
    pub last_fix: Option<(f64, f64)>,
    /// The latest fix was looked up in the database (after a restart).
    pub fix_loaded: bool,
    /// Server time of the latest report through any ingest path.
    pub last_received: Option<DateTime<Utc>>,
}

/// An alarm a rule found: its kind and, for `theft`, which evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The alarm kind (`theft`, `sos`, `low_battery`, …).
    pub kind: AlarmKind,
    /// For `theft`: what gave it away (`armed_circle`, `vibration_movement`, …).
    pub evidence: Option<&'static str>,
}

/// Great-circle distance in metres.
fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

/// The geofence crate's view of a position.
pub fn fix_of(p: &Position) -> Fix {
    Fix {
        time_ms: p.time.timestamp_millis(),
        lat: p.location.lat,
        lon: p.location.lon,
        accuracy_m: p.accuracy_m,
        valid: p.valid,
    }
}

/// A new guard state: arming (at a position) draws the armed circle of `theft_radius_m` the
/// vehicle may drift in and forgets earlier vibration evidence; the same arming with only
/// another speed limit keeps the circle and the evidence.
pub fn set_guard(state: &mut DeviceState, g: Guard, theft_radius_m: f64) {
    if let Some(old) = &mut state.guard
        && old.changed_at == g.changed_at
        && old.armed == g.armed
    {
        *old = g;
        return;
    }
    state.armed_circle = None;
    if g.armed
        && let (Some(lat), Some(lon)) = (g.armed_lat, g.armed_lon)
        && let Ok(shape) = FenceShape::circle(Point::new(lon, lat), theft_radius_m)
    {
        let fence = Fence::new(FenceId(0), FenceKind::KeepIn, shape);
        state.armed_circle = Some((fence, FenceTracker::new_inside()));
    }
    state.vibration = None;
    state.guard = Some(g);
}

/// The fences one device is tracked against.
#[derive(Clone, Copy)]
pub struct Fences<'a> {
    /// Fences assigned to the device.
    pub assigned: &'a HashSet<FenceId>,
    /// The fence index (needed only for a fix of a device with assigned fences).
    pub index: Option<&'a FenceIndex>,
}

/// What one report triggered.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Alarms to raise, in rule order.
    pub triggers: Vec<Trigger>,
    /// The persisted part of the state changed (fence or armed-circle crossing, battery or
    /// charging edge).
    pub changed: bool,
}

/// Runs every rule on one report (`is_fix`: a real fix, not a status report) placed at `at`:
/// the device's own alarm flags, low battery (edge), external power lost (edge), overspeed held
/// for `overspeed_hold`, assigned geofences (with the tracker's hysteresis) and, while armed,
/// theft evidence (ignition, power cut, leaving the armed circle, vibration then movement).
pub fn evaluate(
    state: &mut DeviceState,
    p: &Position,
    is_fix: bool,
    at: Option<(f64, f64)>,
    cfg: &AlarmConfig,
    fences: Fences<'_>,
) -> Outcome {
    let mut changed = false;
    if is_fix && p.valid {
        state.last_fix = Some((p.location.lat, p.location.lon));
    }
    let mut triggers: Vec<Trigger> = Vec::new();
    let s = &p.status;
    let here = (p.location.lat, p.location.lon);

    for a in s.alarms.iter() {
        triggers.push(Trigger {
            kind: AlarmKind::from(a),
            evidence: None,
        });
    }
    // Low battery (edge-triggered: raised when it becomes low).
    let low = s.battery_level.is_some_and(|l| l <= cfg.low_battery_level)
        || s.battery_voltage
            .is_some_and(|v| v > 0.0 && v <= cfg.low_battery_voltage);
    if low && !state.low_battery && !s.alarms.contains(Alarm::LowBattery) {
        triggers.push(Trigger {
            kind: AlarmKind::LowBattery,
            evidence: None,
        });
    }
    if (s.battery_level.is_some() || s.battery_voltage.is_some()) && state.low_battery != low {
        state.low_battery = low;
        changed = true;
    }
    // External power lost.
    let power_lost = state.charging == Some(true) && s.charging == Some(false);
    if power_lost && !s.alarms.contains(Alarm::PowerCut) {
        triggers.push(Trigger {
            kind: AlarmKind::PowerCut,
            evidence: None,
        });
    }
    if s.charging.is_some() && state.charging != s.charging {
        state.charging = s.charging;
        changed = true;
    }
    // Status reports carry server or device time without a fix: not part of the fix order.
    let in_order = is_fix && state.last_time.is_none_or(|t| p.time > t);
    if in_order {
        state.last_time = Some(p.time);
    }
    // Overspeed held for N seconds.
    let limit = state
        .guard
        .and_then(|g| g.speed_limit_kmh)
        .or(cfg.default_speed_limit_kmh);
    if let Some(limit) = limit
        && p.valid
        && in_order
    {
        if f64::from(p.speed_kmh) > limit {
            let since = *state.over_since.get_or_insert(p.time);
            if !state.over_raised
                && (p.time - since).to_std().unwrap_or_default() >= cfg.overspeed_hold
                && !s.alarms.contains(Alarm::Overspeed)
            {
                state.over_raised = true;
                triggers.push(Trigger {
                    kind: AlarmKind::Overspeed,
                    evidence: None,
                });
            }
        } else {
            state.over_since = None;
            state.over_raised = false;
        }
    }
    // Geofences assigned to the device.
    if is_fix
        && !fences.assigned.is_empty()
        && let Some(index) = fences.index
    {
        let assigned = fences.assigned;
        let mut events = Vec::new();
        state.trackers.step(
            index,
            &fix_of(p),
            &cfg.tracker,
            |f| assigned.contains(&f.id) && f.kind != FenceKind::Jurisdiction,
            &mut events,
        );
        changed |= !events.is_empty();
        for e in events.into_iter().filter(|e| e.alarm) {
            let kind = match e.transition {
                geofence::Transition::Enter => AlarmKind::GeofenceEnter,
                geofence::Transition::Exit => AlarmKind::GeofenceExit,
            };
            triggers.push(Trigger {
                kind,
                evidence: None,
            });
        }
    }
    // Suspected theft while armed.
    if state.guard.is_some_and(|g| g.armed) {
        let mut evidence = Vec::new();
        if s.ignition == Some(true) {
            evidence.push("ignition_on");
        }
        if s.alarms.contains(Alarm::PowerCut) || power_lost {
            evidence.push("power_cut");
        }
        if let Some((fence, tracker)) = &mut state.armed_circle
            && is_fix
            && let Some(e) = tracker.step(fence, &fix_of(p), &cfg.tracker)
        {
            changed = true;
            if e.transition == geofence::Transition::Exit {
                evidence.push("moved");
            }
        }
        if let Some((t, lat, lon)) = state.vibration
            && p.valid
            && (p.time - t)
                .to_std()
                .is_ok_and(|d| d <= cfg.vibration_window)
            && (p.speed_kmh >= cfg.movement_speed_kmh
                || haversine_m((lat, lon), here) >= cfg.movement_m)
        {
            evidence.push("vibration_then_movement");
        }
        if s.alarms.contains(Alarm::Vibration)
            && state.vibration.is_none()
            && let Some(v) = at
        {
            state.vibration = Some((p.time, v.0, v.1));
        }
        for e in evidence {
            triggers.push(Trigger {
                kind: AlarmKind::Theft,
                evidence: Some(e),
            });
        }
    }
    Outcome { triggers, changed }
}

/// The offline rule: whether an armed device whose last contact is the newer of
/// `last_seen_at` and `seen_here` (the last report this process received; the arming time when
/// neither) is silent for longer than `after` at `now`, and not already covered by an open
/// `offline` alarm whose latest occurrence (`open_since`) is at or after that contact (one alarm
/// per silence).
pub fn offline_due(
    c: &ArmedContact,
    seen_here: Option<DateTime<Utc>>,
    open_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    after: chrono::Duration,
) -> bool {
    let last_contact = c.last_seen.max(seen_here).unwrap_or(c.armed_at);
    now - last_contact > after && open_since.is_none_or(|t| t < last_contact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::LatLon;

    const LAT: f64 = 22.5;
    const LON: f64 = 114.0;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200 + secs, 0).unwrap()
    }

    /// A valid fix `secs` after the start, `north_m` metres north of the armed point.
    fn fix(secs: i64, north_m: f64, speed_kmh: f32) -> Position {
        let lat = LAT + north_m / 111_195.0;
        Position::new(at(secs), LatLon::new(lat, LON).unwrap(), true, speed_kmh)
    }

    fn run(state: &mut DeviceState, p: &Position, cfg: &AlarmConfig) -> Outcome {
        let none = HashSet::new();
        let fences = Fences {
            assigned: &none,
            index: None,
        };
        let here = Some((p.location.lat, p.location.lon));
        evaluate(state, p, true, here, cfg, fences)
    }

    fn kinds(o: &Outcome) -> Vec<String> {
        o.triggers
            .iter()
            .map(|t| match t.evidence {
                Some(e) => format!("{}:{e}", t.kind),
                None => t.kind.to_string(),
            })
            .collect()
    }

    fn armed(state: &mut DeviceState, cfg: &AlarmConfig) {
        set_guard(
            state,
            Guard {
                device_id: 1,
                armed: true,
                armed_lat: Some(LAT),
                armed_lon: Some(LON),
                speed_limit_kmh: None,
                changed_at: at(0),
            },
            cfg.theft_radius_m,
        );
    }

    #[test]
    fn low_battery_is_raised_on_its_edge() {
        let cfg = AlarmConfig::default();
        let mut s = DeviceState::default();
        let mut seen = Vec::new();
        for (i, level) in [80u8, 15, 10, 50, 12].into_iter().enumerate() {
            let mut p = fix(i as i64 * 30, 0.0, 0.0);
            p.status.battery_level = Some(level);
            let o = run(&mut s, &p, &cfg);
            seen.push((kinds(&o), o.changed));
        }
        let low = || vec!["low_battery".to_owned()];
        assert_eq!(
            seen,
            [
                (vec![], false),
                (low(), true),
                (vec![], false),
                (vec![], true),
                (low(), true)
            ]
        );
    }

    #[test]
    fn power_cut_is_raised_when_external_power_goes() {
        let cfg = AlarmConfig::default();
        let mut s = DeviceState::default();
        let mut raised = Vec::new();
        for (i, charging) in [true, false, false, true, false].into_iter().enumerate() {
            let mut p = fix(i as i64 * 30, 0.0, 0.0);
            p.status.charging = Some(charging);
            raised.push(kinds(&run(&mut s, &p, &cfg)) == ["power_cut"]);
        }
        assert_eq!(raised, [false, true, false, false, true]);
    }

    #[test]
    fn overspeed_must_hold() {
        let cfg = AlarmConfig {
            default_speed_limit_kmh: Some(50.0),
            overspeed_hold: std::time::Duration::from_secs(10),
            ..AlarmConfig::default()
        };
        let mut s = DeviceState::default();
        let mut raised = Vec::new();
        for (t, speed) in [
            (0, 60.0),
            (5, 60.0),
            (10, 60.0),
            (15, 60.0),
            (20, 30.0),
            (25, 60.0),
            (30, 70.0),
            (35, 60.0),
        ] {
            raised.push(kinds(&run(&mut s, &fix(t, 0.0, speed), &cfg)) == ["overspeed"]);
        }
        assert_eq!(
            raised,
            [false, false, true, false, false, false, false, true]
        );
        // A fix older than the last one (archived, sent late) does not count.
        let mut s = DeviceState::default();
        run(&mut s, &fix(100, 0.0, 60.0), &cfg);
        assert!(run(&mut s, &fix(50, 0.0, 60.0), &cfg).triggers.is_empty());
    }

    #[test]
    fn armed_jitter_is_not_theft_but_leaving_is() {
        let cfg = AlarmConfig::default();
        let mut s = DeviceState::default();
        armed(&mut s, &cfg);
        // Two hours of ±40 m GPS jitter around the parked bike, one fix a minute.
        for i in 0..120 {
            let north = if i % 2 == 0 { 40.0 } else { -40.0 };
            let o = run(&mut s, &fix(i * 60, north, 0.0), &cfg);
            assert!(o.triggers.is_empty(), "jitter at {i}: {:?}", kinds(&o));
        }
        // Ridden away: 500 m and more, held for three fixes over a minute.
        let mut theft = Vec::new();
        for i in 0..6 {
            let o = run(
                &mut s,
                &fix(7200 + i * 30, 500.0 + i as f64 * 200.0, 30.0),
                &cfg,
            );
            theft.extend(kinds(&o));
        }
        assert_eq!(theft, ["theft:moved"]);
    }

    #[test]
    fn a_vibration_flood_is_no_theft_until_the_bike_moves() {
        let cfg = AlarmConfig::default();
        let mut s = DeviceState::default();
        // Disarmed: each report is just its own vibration flag (repeats are merged when raised).
        for i in 0..10 {
            let mut p = fix(i, 0.0, 0.0);
            p.status.alarms.insert(Alarm::Vibration);
            assert_eq!(kinds(&run(&mut s, &p, &cfg)), ["vibration"]);
        }
        armed(&mut s, &cfg);
        for i in 0..50 {
            let mut p = fix(100 + i, 5.0, 0.0);
            p.status.alarms.insert(Alarm::Vibration);
            assert_eq!(kinds(&run(&mut s, &p, &cfg)), ["vibration"], "{i}");
        }
        // Then it moves within the vibration window: theft, with that evidence.
        let o = run(&mut s, &fix(200, 10.0, 20.0), &cfg);
        assert_eq!(kinds(&o), ["theft:vibration_then_movement"]);
        // Ignition on while armed is evidence by itself.
        let mut p = fix(210, 10.0, 0.0);
        p.status.ignition = Some(true);
        assert!(kinds(&run(&mut s, &p, &cfg)).contains(&"theft:ignition_on".to_owned()));
    }

    #[test]
    fn offline_is_raised_once_per_silence() {
        let after = chrono::Duration::seconds(900);
        let c = ArmedContact {
            device_id: 1,
            last_seen: Some(at(0)),
            armed_at: at(-3600),
            armed_lat: Some(LAT),
            armed_lon: Some(LON),
        };
        assert!(!offline_due(&c, None, None, at(900), after));
        assert!(offline_due(&c, None, None, at(901), after));
        // A report this process received more recently than last_seen_at.
        assert!(!offline_due(&c, Some(at(600)), None, at(1200), after));
        // Already raised for this silence; a new silence after a new contact raises again.
        assert!(!offline_due(&c, None, Some(at(901)), at(5000), after));
        assert!(offline_due(
            &c,
            Some(at(6000)),
            Some(at(901)),
            at(7000),
            after
        ));
        // Never heard from since arming: counted from the arming.
        let never = ArmedContact {
            last_seen: None,
            ..c
        };
        assert!(offline_due(&never, None, None, at(-3600 + 901), after));
    }
}
