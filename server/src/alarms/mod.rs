//! The alarm stage of the pipeline: rules, theft detection, de-duplication and the lifecycle.
//!
//! The gateway hands every accepted position to [`AlarmEngine::observe`] right after queuing it
//! for the database batch; one worker task evaluates the rules with per-device state in
//! memory, writes new alarms at once (not in the position batch) and publishes them on the
//! [`Bus`]. Repeats of an open alarm within the cool-down window are coalesced: whatever is
//! queued is evaluated first, then each touched alarm is written once (count, last position).
//!
//! Rules: device-reported alarms of every protocol (one Vigil alarm kind per
//! `protocol::Alarm`); derived low battery (level/voltage thresholds), external power lost
//! (charging true → false), overspeed against the device's limit held for N seconds,
//! geofence enter/exit of the fences assigned to the device (the geofence crate's drift-proof
//! tracker), and **suspected theft** while armed: ignition on, leaving a keep-in circle around
//! the armed position (same tracker, same drift hold), power cut, or vibration followed by
//! movement → one high-severity `theft` alarm whose evidence lists what was seen.

pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geofence::geo::Point;
use geofence::{
    DeviceTrackers, Fence, FenceId, FenceKind, FenceShape, FenceTracker, Fix, TrackerConfig,
};
use protocol::{Alarm, Position};
use tokio::sync::mpsc;

pub use store::{AlarmView, Guard};

use crate::bus::{AlarmAction, Bus, BusEvent, LivePosition};
use crate::db::Db;
use crate::fences::FenceStore;

/// Rule settings.
#[derive(Debug, Clone)]
pub struct AlarmConfig {
    /// Repeats within this window update the open alarm.
    pub cooldown: Duration,
    /// Armed vehicles may drift this far from the armed position.
    pub theft_radius_m: f64,
    /// Hysteresis of fence and armed-circle crossings.
    pub tracker: TrackerConfig,
    /// Battery level (percent) at or below which `low_battery` is raised.
    pub low_battery_level: u8,
    /// Battery voltage at or below which `low_battery` is raised.
    pub low_battery_voltage: f32,
    /// Overspeed must last this long.
    pub overspeed_hold: Duration,
    /// Limit for devices without their own (None: no overspeed rule).
    pub default_speed_limit_kmh: Option<f64>,
    /// Vibration followed by movement within this window is theft evidence.
    pub vibration_window: Duration,
    /// Speed that counts as movement.
    pub movement_speed_kmh: f32,
    /// Distance from the vibration fix that counts as movement.
    pub movement_m: f64,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        AlarmConfig {
            cooldown: Duration::from_secs(600),
            theft_radius_m: 100.0,
            tracker: TrackerConfig::default(),
            low_battery_level: 20,
            low_battery_voltage: 3.5,
            overspeed_hold: Duration::from_secs(10),
            default_speed_limit_kmh: None,
            vibration_window: Duration::from_secs(300),
            movement_speed_kmh: 10.0,
            movement_m: 50.0,
        }
    }
}

/// Severity of an alarm kind.
pub fn severity(kind: &str) -> &'static str {
    match kind {
        "theft" | "sos" | "power_cut" | "illegal_ignition" | "tow" | "removing" | "tampering"
        | "movement" | "accident" => "high",
        "low_battery" | "power_on" | "power_off" | "parking" | "idle" | "fault" => "low",
        _ => "medium",
    }
}

enum Input {
    Positions {
        device_id: i64,
        unique_id: String,
        positions: Vec<Position>,
        received: DateTime<Utc>,
    },
    Guard(Guard),
    AlarmChanged(AlarmView),
}

/// Handle to the alarm worker; cheap to clone.
#[derive(Debug, Clone)]
pub struct AlarmEngine {
    tx: mpsc::Sender<Input>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Input")
    }
}

impl AlarmEngine {
    /// Creates the engine and its worker (run it as a named worker).
    pub fn new(
        db: Db,
        bus: Bus,
        fences: Arc<FenceStore>,
        config: AlarmConfig,
    ) -> (
        AlarmEngine,
        impl Future<Output = Result<(), String>> + Send + 'static,
    ) {
        let (tx, rx) = mpsc::channel(16 * 1024);
        let worker = Worker {
            db,
            bus,
            fences,
            config,
            devices: HashMap::new(),
            open: HashMap::new(),
            pursuit: HashMap::new(),
            pending: HashMap::new(),
        };
        (AlarmEngine { tx }, worker.run(rx))
    }

    /// Hands positions of a device to the alarm stage. Waits only when the stage is far
    /// behind (bounded queue), like the position batcher.
    pub async fn observe(&self, device_id: i64, unique_id: &str, positions: Vec<Position>) {
        let _ = self
            .tx
            .send(Input::Positions {
                device_id,
                unique_id: unique_id.to_owned(),
                positions,
                received: Utc::now(),
            })
            .await;
    }

    /// The device was armed or disarmed (already stored).
    pub async fn guard_changed(&self, guard: Guard) {
        let _ = self.tx.send(Input::Guard(guard)).await;
    }

    /// An alarm changed through the API (already stored): routing of the pursuit follows it.
    pub async fn alarm_changed(&self, alarm: AlarmView) {
        let _ = self.tx.send(Input::AlarmChanged(alarm)).await;
    }
}

#[derive(Default)]
struct DeviceState {
    guard: Option<Guard>,
    armed_circle: Option<(Fence, FenceTracker)>,
    vibration: Option<(DateTime<Utc>, f64, f64)>,
    over_since: Option<DateTime<Utc>>,
    over_raised: bool,
    charging: Option<bool>,
    low_battery: bool,
    trackers: DeviceTrackers,
    last_time: Option<DateTime<Utc>>,
}

struct Pending {
    times: i64,
    time: DateTime<Utc>,
    lat: f64,
    lon: f64,
    evidence: Vec<String>,
}

struct Worker {
    db: Db,
    bus: Bus,
    fences: Arc<FenceStore>,
    config: AlarmConfig,
    devices: HashMap<i64, DeviceState>,
    /// (device, kind) → the open alarm (cache of the database).
    open: HashMap<(i64, String), AlarmView>,
    /// Vehicles with an open alarm → the unit receiving their positions.
    pursuit: HashMap<i64, i64>,
    pending: HashMap<i64, Pending>,
}

struct Trigger {
    kind: String,
    evidence: Option<&'static str>,
}

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

fn fix_of(p: &Position) -> Fix {
    Fix {
        time_ms: p.time.timestamp_millis(),
        lat: p.location.lat,
        lon: p.location.lon,
        accuracy_m: p.accuracy_m,
        valid: p.valid,
    }
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Input>) -> Result<(), String> {
        self.restore().await;
        while let Some(first) = rx.recv().await {
            self.handle(first).await;
            // Coalesce: evaluate everything already queued before writing repeats.
            while let Ok(next) = rx.try_recv() {
                self.handle(next).await;
                if self.pending.len() > 256 {
                    break;
                }
            }
            self.flush().await;
        }
        Ok(())
    }

    async fn restore(&mut self) {
        match store::guards(&self.db).await {
            Ok(guards) => {
                for g in guards {
                    self.set_guard(g);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot load armed devices"),
        }
        match store::unresolved_alarms(&self.db).await {
            Ok(alarms) => {
                for a in alarms {
                    if let Some(u) = a.unit_id {
                        self.pursuit.insert(a.device_id, u);
                    }
                    self.open.insert((a.device_id, a.kind.clone()), a);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot load open alarms"),
        }
    }

    fn set_guard(&mut self, g: Guard) {
        let state = self.devices.entry(g.device_id).or_default();
        state.armed_circle = None;
        if g.armed
            && let (Some(lat), Some(lon)) = (g.armed_lat, g.armed_lon)
            && let Ok(shape) = FenceShape::circle(Point::new(lon, lat), self.config.theft_radius_m)
        {
            let fence = Fence::new(FenceId(0), FenceKind::KeepIn, shape);
            state.armed_circle = Some((fence, FenceTracker::new_inside()));
        }
        state.vibration = None;
        state.guard = Some(g);
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Guard(g) => self.set_guard(g),
            Input::AlarmChanged(a) => {
                let key = (a.device_id, a.kind.clone());
                if a.status == "resolved" {
                    self.open.remove(&key);
                    if !self.open.keys().any(|(d, _)| *d == a.device_id) {
                        self.pursuit.remove(&a.device_id);
                    }
                } else {
                    if let Some(u) = a.unit_id {
                        self.pursuit.insert(a.device_id, u);
                    }
                    self.open.insert(key, a);
                }
            }
            Input::Positions {
                device_id,
                unique_id,
                positions,
                received,
            } => {
                for p in &positions {
                    self.evaluate(device_id, p).await;
                    self.bus.publish(BusEvent::Position(LivePosition {
                        device_id,
                        unique_id: unique_id.clone(),
                        fix_time: p.time,
                        lat: p.location.lat,
                        lon: p.location.lon,
                        speed_kmh: f64::from(p.speed_kmh),
                        course: p.course.map(f64::from),
                        unit_id: self.pursuit.get(&device_id).copied(),
                        server_time: received,
                    }));
                }
            }
        }
    }

    /// Runs every rule on one position.
    async fn evaluate(&mut self, device_id: i64, p: &Position) {
        let cfg = &self.config;
        let state = self.devices.entry(device_id).or_default();
        let mut triggers: Vec<Trigger> = Vec::new();
        let s = &p.status;
        let here = (p.location.lat, p.location.lon);

        for a in s.alarms.iter() {
            triggers.push(Trigger {
                kind: a.as_str().to_owned(),
                evidence: None,
            });
        }
        // Low battery (edge-triggered: raised when it becomes low).
        let low = s.battery_level.is_some_and(|l| l <= cfg.low_battery_level)
            || s.battery_voltage
                .is_some_and(|v| v > 0.0 && v <= cfg.low_battery_voltage);
        if low && !state.low_battery && !s.alarms.contains(Alarm::LowBattery) {
            triggers.push(Trigger {
                kind: "low_battery".into(),
                evidence: None,
            });
        }
        if s.battery_level.is_some() || s.battery_voltage.is_some() {
            state.low_battery = low;
        }
        // External power lost.
        let power_lost = state.charging == Some(true) && s.charging == Some(false);
        if power_lost && !s.alarms.contains(Alarm::PowerCut) {
            triggers.push(Trigger {
                kind: "power_cut".into(),
                evidence: None,
            });
        }
        if s.charging.is_some() {
            state.charging = s.charging;
        }
        let in_order = state.last_time.is_none_or(|t| p.time > t);
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
                        kind: "overspeed".into(),
                        evidence: None,
                    });
                }
            } else {
                state.over_since = None;
                state.over_raised = false;
            }
        }
        // Geofences assigned to the device.
        let assigned = self.fences.assigned(device_id);
        if !assigned.is_empty() {
            let index = self.fences.snapshot();
            let mut events = Vec::new();
            state.trackers.step(
                &index,
                &fix_of(p),
                &cfg.tracker,
                |f| assigned.contains(&f.id) && f.kind != FenceKind::Jurisdiction,
                &mut events,
            );
            for e in events.into_iter().filter(|e| e.alarm) {
                let kind = match e.transition {
                    geofence::Transition::Enter => "geofence_enter",
                    geofence::Transition::Exit => "geofence_exit",
                };
                triggers.push(Trigger {
                    kind: kind.into(),
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
                && let Some(e) = tracker.step(fence, &fix_of(p), &cfg.tracker)
                && e.transition == geofence::Transition::Exit
            {
                evidence.push("moved");
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
            if s.alarms.contains(Alarm::Vibration) && state.vibration.is_none() {
                state.vibration = Some((p.time, here.0, here.1));
            }
            for e in evidence {
                triggers.push(Trigger {
                    kind: "theft".into(),
                    evidence: Some(e),
                });
            }
        }
        for t in triggers {
            self.raise(device_id, p, t).await;
        }
    }

    async fn unit_for(&mut self, lat: f64, lon: f64) -> Option<i64> {
        if let Some(u) = self.fences.jurisdiction_unit(lat, lon) {
            return Some(u);
        }
        match store::default_unit(&self.db).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "default unit lookup failed");
                None
            }
        }
    }

    #[tracing::instrument(skip(self, p, t), fields(kind = %t.kind))]
    async fn raise(&mut self, device_id: i64, p: &Position, t: Trigger) {
        let key = (device_id, t.kind.clone());
        let cooldown = chrono::Duration::from_std(self.config.cooldown).unwrap_or_default();
        if let Some(open) = self.open.get_mut(&key)
            && p.time - open.last_time <= cooldown
        {
            if p.time > open.last_time {
                open.last_time = p.time;
            }
            if let Some(e) = t.evidence
                && !open.evidence.iter().any(|x| x == e)
            {
                open.evidence.push(e.to_owned());
            }
            let pending = self.pending.entry(open.id).or_insert_with(|| Pending {
                times: 0,
                time: p.time,
                lat: p.location.lat,
                lon: p.location.lon,
                evidence: Vec::new(),
            });
            pending.times += 1;
            if p.time >= pending.time {
                pending.time = p.time;
                pending.lat = p.location.lat;
                pending.lon = p.location.lon;
            }
            pending.evidence = open.evidence.clone();
            return;
        }
        let unit_id = self.unit_for(p.location.lat, p.location.lon).await;
        let new = store::NewAlarm {
            device_id,
            kind: t.kind.clone(),
            severity: severity(&t.kind),
            unit_id,
            time: p.time,
            lat: p.location.lat,
            lon: p.location.lon,
            evidence: t.evidence.map(|e| vec![e.to_owned()]).unwrap_or_default(),
        };
        // Retried: an alarm must not be lost to a transient database error.
        let mut backoff = Duration::from_millis(50);
        let view = loop {
            match store::insert_alarm(&self.db, &new).await {
                Ok(v) => break v,
                Err(e) if backoff < Duration::from_secs(10) => {
                    tracing::warn!(error = %e, "alarm insert failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e) => {
                    tracing::error!(error = %e, "alarm lost: database unavailable");
                    return;
                }
            }
        };
        metrics::counter!("vigil_alarms_total", "kind" => t.kind.clone()).increment(1);
        if let Some(u) = view.unit_id {
            self.pursuit.insert(device_id, u);
        }
        self.open.insert(key, view.clone());
        self.bus.publish(BusEvent::Alarm {
            action: AlarmAction::Opened,
            alarm: view,
        });
    }

    async fn flush(&mut self) {
        for (id, p) in std::mem::take(&mut self.pending) {
            match store::bump_alarm(&self.db, id, p.times, p.time, p.lat, p.lon, &p.evidence).await
            {
                Ok(view) => {
                    let key = (view.device_id, view.kind.clone());
                    if let Some(open) = self.open.get_mut(&key)
                        && open.id == view.id
                    {
                        open.count = view.count;
                    }
                    self.bus.publish(BusEvent::Alarm {
                        action: AlarmAction::Updated,
                        alarm: view,
                    });
                }
                Err(e) => tracing::warn!(alarm = id, error = %e, "alarm update failed"),
            }
        }
    }
}
