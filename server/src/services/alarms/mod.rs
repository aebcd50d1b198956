//! The alarm stage of the pipeline: rules, theft detection, de-duplication and the lifecycle.
//!
//! Every ingest path (the TCP gateway, OsmAnd HTTP, MQTT) hands each accepted position to
//! [`AlarmEngine::observe`] right after queuing it for the database batch, and the gateway
//! hands fix-less status reports (heartbeats) to [`AlarmEngine::observe_status`]; one worker
//! task evaluates the rules with per-device state in memory, writes new alarms at once (not in
//! the position batch) and publishes them on the [`Bus`]. The [`offline_sweep`] worker
//! periodically asks it to check armed devices that have gone silent. Repeats of an open
//! alarm within the cool-down window are coalesced: whatever is queued is evaluated first,
//! then each touched alarm is written once (count, last position).
//!
//! Rules: device-reported alarms of every protocol (one Vigil alarm kind per
//! `protocol::Alarm`); derived low battery (level/voltage thresholds), external power lost
//! (charging true → false), overspeed against the device's limit held for N seconds,
//! geofence enter/exit of the fences assigned to the device (the geofence crate's drift-proof
//! tracker), and **suspected theft** while armed: ignition on, leaving a keep-in circle around
//! the armed position (same tracker, same drift hold), power cut, or vibration followed by
//! movement → one high-severity `theft` alarm whose evidence lists what was seen; `offline`
//! when an armed device has not been heard from for longer than expected (one alarm per
//! silence).
//!
//! The fence trackers, the armed-circle tracker and the battery/charging edges are persisted
//! (`alarm_state`) whenever one of them changes state, so a restart neither forgets that a
//! vehicle is outside (or unplugged) nor raises enter/exit or low battery again for a state
//! already reported (start-up and persistence: `alarms/state.rs`; the offline sweep:
//! `alarms/offline.rs`).

mod offline;
mod state;

use crate::domain::rules;
use crate::storage::alarms as store;
use crate::storage::units;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use protocol::{LatLon, Position, StatusReport};
use tokio::sync::mpsc;

pub use crate::domain::alarms::AlarmConfig;
pub use crate::domain::alarms::AlarmView;
use crate::domain::alarms::{AlarmKind, ArmedContact, Guard};
pub use offline::offline_sweep;

use crate::services::bus::{AlarmAction, Bus, BusEvent, LivePosition};
use crate::services::fences::FenceStore;
use crate::storage::Db;
use rules::{DeviceState, Trigger};

enum Input {
    Positions {
        device_id: i64,
        unique_id: String,
        positions: Vec<Position>,
        received: DateTime<Utc>,
    },
    Status {
        device_id: i64,
        report: StatusReport,
        received: DateTime<Utc>,
    },
    Sweep {
        armed: Vec<ArmedContact>,
        now: DateTime<Utc>,
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

    /// Hands a fix-less status report (heartbeat: battery, charging, ignition, alarm flags) to
    /// the alarm stage; it is evaluated at the device's last known position.
    pub async fn observe_status(&self, device_id: i64, report: StatusReport) {
        let _ = self
            .tx
            .send(Input::Status {
                device_id,
                report,
                received: Utc::now(),
            })
            .await;
    }

    /// Checks armed devices for silence (the offline rule); false once the worker is gone.
    pub async fn sweep(&self, armed: Vec<ArmedContact>) -> bool {
        self.tx
            .send(Input::Sweep {
                armed,
                now: Utc::now(),
            })
            .await
            .is_ok()
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

struct Pending {
    times: i64,
    time: DateTime<Utc>,
    lat: Option<f64>,
    lon: Option<f64>,
    evidence: Vec<String>,
}

struct Worker {
    db: Db,
    bus: Bus,
    fences: Arc<FenceStore>,
    config: AlarmConfig,
    devices: HashMap<i64, DeviceState>,
    /// (device, kind) → the open alarm (cache of the database).
    open: HashMap<(i64, AlarmKind), AlarmView>,
    /// Vehicles with an open alarm → the unit receiving their positions.
    pursuit: HashMap<i64, i64>,
    pending: HashMap<i64, Pending>,
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

    fn set_guard(&mut self, g: Guard) {
        let state = self.devices.entry(g.device_id).or_default();
        rules::set_guard(state, g, self.config.theft_radius_m);
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Guard(g) => self.set_guard(g),
            Input::AlarmChanged(a) => {
                let key = (a.device_id, a.kind);
                if a.status == store::AlarmStatus::Resolved {
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
                self.devices.entry(device_id).or_default().last_received = Some(received);
                for p in &positions {
                    self.evaluate(device_id, p, true).await;
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
                        fix: std::sync::Arc::new(p.clone()),
                    }));
                }
            }
            Input::Status {
                device_id,
                report,
                received,
            } => {
                self.devices.entry(device_id).or_default().last_received = Some(received);
                let at = self.last_fix(device_id).await;
                // Placed at the last known fix; marked invalid so that no position rule
                // (fences, armed circle, overspeed, movement) takes it for a fix.
                let (lat, lon) = at.unwrap_or((0.0, 0.0));
                let Ok(location) = LatLon::new(lat, lon) else {
                    return;
                };
                let mut p = Position::new(report.time.unwrap_or(received), location, false, 0.0);
                p.status = report.status;
                self.evaluate_at(device_id, &p, false, at).await;
            }
            Input::Sweep { armed, now } => self.sweep(armed, now).await,
        }
    }

    /// The device's latest valid fix: in memory, else (once after a restart) from the database.
    async fn last_fix(&mut self, device_id: i64) -> Option<(f64, f64)> {
        let state = self.devices.entry(device_id).or_default();
        if state.last_fix.is_none() && !state.fix_loaded {
            state.fix_loaded = true;
            if let Ok(Some(p)) = self.db.latest_position(device_id).await {
                let state = self.devices.entry(device_id).or_default();
                state.last_fix.get_or_insert((p.lat, p.lon));
            }
        }
        self.devices.get(&device_id).and_then(|s| s.last_fix)
    }

    /// Runs every rule on one position (`is_fix`: a real fix, not a status report).
    async fn evaluate(&mut self, device_id: i64, p: &Position, is_fix: bool) {
        let at = Some((p.location.lat, p.location.lon));
        self.evaluate_at(device_id, p, is_fix, at).await;
    }

    /// Runs every rule on one report placed at `at` ([`rules::evaluate`]), then raises what
    /// they found and saves the rule state when it changed.
    async fn evaluate_at(
        &mut self,
        device_id: i64,
        p: &Position,
        is_fix: bool,
        at: Option<(f64, f64)>,
    ) {
        let state = self.devices.entry(device_id).or_default();
        let assigned = self.fences.assigned(device_id);
        let index = (is_fix && !assigned.is_empty()).then(|| self.fences.snapshot());
        let fences = rules::Fences {
            assigned: &assigned,
            index: index.as_deref(),
        };
        let outcome = rules::evaluate(state, p, is_fix, at, &self.config, fences);
        // Alarms first: the rule state's write is not on the way to the patrol units.
        for t in outcome.triggers {
            self.raise(device_id, p.time, at, t).await;
        }
        if outcome.changed {
            self.persist(device_id).await;
        }
    }

    async fn unit_for(&mut self, at: Option<(f64, f64)>) -> Option<i64> {
        if let Some((lat, lon)) = at
            && let Some(u) = self.fences.jurisdiction_unit(lat, lon)
        {
            return Some(u);
        }
        match units::default_unit(&self.db).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "default unit lookup failed");
                None
            }
        }
    }

    /// Opens an alarm, or (same device and kind open within the cool-down) counts a repeat.
    #[tracing::instrument(skip(self, t), fields(kind = %t.kind))]
    async fn raise(
        &mut self,
        device_id: i64,
        time: DateTime<Utc>,
        at: Option<(f64, f64)>,
        t: Trigger,
    ) {
        let key = (device_id, t.kind);
        let cooldown = chrono::Duration::from_std(self.config.cooldown).unwrap_or_default();
        let (lat, lon) = (at.map(|a| a.0), at.map(|a| a.1));
        if let Some(open) = self.open.get_mut(&key)
            && time - open.last_time <= cooldown
        {
            if time > open.last_time {
                open.last_time = time;
            }
            if let Some(e) = t.evidence
                && !open.evidence.iter().any(|x| x == e)
            {
                open.evidence.push(e.to_owned());
            }
            let pending = self.pending.entry(open.id).or_insert_with(|| Pending {
                times: 0,
                time,
                lat,
                lon,
                evidence: Vec::new(),
            });
            pending.times += 1;
            if time >= pending.time {
                pending.time = time;
                if at.is_some() {
                    pending.lat = lat;
                    pending.lon = lon;
                }
            }
            pending.evidence = open.evidence.clone();
            return;
        }
        let unit_id = self.unit_for(at).await;
        let new = store::NewAlarm {
            device_id,
            kind: t.kind,
            severity: t.kind.severity(),
            unit_id,
            time,
            lat,
            lon,
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
        metrics::counter!("vigil_alarms_total", "kind" => t.kind.as_str()).increment(1);
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
                    let key = (view.device_id, view.kind);
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
