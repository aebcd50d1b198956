//! The worker's start-up and the rule state that survives a restart: armed devices, the
//! persisted trackers and battery/charging edges (`alarm_state`, JSON) and the open alarms are
//! reloaded; the state is written whenever one of them changes.

use chrono::{DateTime, Utc};
use geofence::{DeviceTrackers, FenceTracker};
use serde::{Deserialize, Serialize};

use super::Worker;
use crate::storage::alarms as store;
use crate::storage::guards;

/// The part of a device's rule state that survives a restart (`alarm_state.state`, JSON).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    /// Fence trackers.
    fences: DeviceTrackers,
    /// The armed-circle tracker and the arming (`device_guard.changed_at`) it belongs to.
    armed: Option<(DateTime<Utc>, FenceTracker)>,
    /// The battery was low (edge of `low_battery`).
    #[serde(default)]
    low_battery: bool,
    /// Last charging flag (edge of the derived `power_cut`).
    #[serde(default)]
    charging: Option<bool>,
}

impl Worker {
    /// Loads the guards, the persisted rule state and the open alarms (start-up).
    pub(super) async fn restore(&mut self) {
        match guards::guards(&self.db).await {
            Ok(guards) => {
                for g in guards {
                    self.set_guard(g);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot load armed devices"),
        }
        match guards::alarm_states(&self.db).await {
            Ok(states) => {
                for (device_id, json) in states {
                    let Ok(p) = serde_json::from_str::<Persisted>(&json) else {
                        tracing::warn!(device_id, "stored alarm state unreadable; starting afresh");
                        continue;
                    };
                    let state = self.devices.entry(device_id).or_default();
                    state.trackers = p.fences;
                    state.low_battery = p.low_battery;
                    state.charging = p.charging;
                    // Only for the same arming: a later arm/disarm starts a fresh circle.
                    if let (Some((armed_at, tracker)), Some(g), Some((_, current))) =
                        (p.armed, state.guard, state.armed_circle.as_mut())
                        && (g.changed_at - armed_at).num_milliseconds().abs() < 1
                    {
                        *current = tracker;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot load alarm rule state"),
        }
        match store::unresolved_alarms(&self.db).await {
            Ok(alarms) => {
                for a in alarms {
                    if let Some(u) = a.unit_id {
                        self.pursuit.insert(a.device_id, u);
                    }
                    self.open.insert((a.device_id, a.kind), a);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot load open alarms"),
        }
    }

    /// Writes the device's persisted rule state (after a confirmed crossing or a change of the
    /// battery/charging edges).
    pub(super) async fn persist(&mut self, device_id: i64) {
        let Some(state) = self.devices.get(&device_id) else {
            return;
        };
        let p = Persisted {
            fences: state.trackers.clone(),
            armed: match (state.guard, &state.armed_circle) {
                (Some(g), Some((_, t))) if g.armed => Some((g.changed_at, *t)),
                _ => None,
            },
            low_battery: state.low_battery,
            charging: state.charging,
        };
        let json = serde_json::to_string(&p).unwrap_or_default();
        if let Err(e) = guards::save_alarm_state(&self.db, device_id, &json).await {
            tracing::warn!(device_id, error = %e, "alarm rule state not saved");
        }
    }
}
