//! The internal event bus: one `tokio::sync::broadcast` channel of typed [`BusEvent`]s that
//! the WebSocket stream, MQTT publisher and webhooks subscribe to.
//!
//! Publishing never waits: a subscriber that falls more than the channel capacity behind
//! gets `Lagged` and skips ahead, the pipeline is never blocked by a slow reader.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::alarms::AlarmView;
use crate::domain::linkage::Intercept;

/// Events kept for slow subscribers before they start skipping.
pub const BUS_CAPACITY: usize = 8192;

/// A live position as published on the bus.
#[derive(Debug, Clone, Serialize)]
pub struct LivePosition {
    /// Device row id.
    pub device_id: i64,
    /// Device unique id (IMEI…).
    pub unique_id: String,
    /// Fix time.
    pub fix_time: DateTime<Utc>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Speed, km/h.
    pub speed_kmh: f64,
    /// Course, degrees.
    pub course: Option<f64>,
    /// The patrol unit pursuing this vehicle (it has an open alarm routed there).
    pub unit_id: Option<i64>,
    /// When the server received it (for latency measurements).
    pub server_time: DateTime<Utc>,
    /// The whole decoded fix (status, attributes), for subscribers that show more than the
    /// fields above (the Traccar-compatible socket); not part of the published JSON.
    #[serde(skip)]
    pub fix: std::sync::Arc<protocol::Position>,
}

/// What happened to an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmAction {
    /// A new alarm.
    Opened,
    /// The open alarm was raised again (count, last position, evidence).
    Updated,
    /// Acknowledged by a person.
    Acknowledged,
    /// Assigned to a patrol unit.
    Assigned,
    /// Closed with an outcome.
    Resolved,
    /// A checkpoint was asked to intercept the vehicle ([`BusEvent::Intercept`]).
    InterceptRequested,
}

/// One event on the bus.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusEvent {
    /// A position was accepted from a device.
    Position(LivePosition),
    /// An alarm changed.
    Alarm {
        /// What happened.
        action: AlarmAction,
        /// The alarm after the change.
        alarm: AlarmView,
    },
    /// A command changed state (published by the commands module).
    Command(serde_json::Value),
    /// A checkpoint was asked to intercept the vehicle of an alarm: an alarm event (`"type":
    /// "alarm"`, `"action": "intercept_requested"`) that also carries the request, delivered
    /// to the checkpoint's unit (and to whoever handles the alarm) — police data, so never to
    /// owners or sharees.
    #[serde(rename = "alarm")]
    Intercept {
        /// Always [`AlarmAction::InterceptRequested`].
        action: AlarmAction,
        /// The alarm.
        alarm: AlarmView,
        /// The request (checkpoint, unit notified, estimated arrival).
        intercept: Intercept,
    },
}

/// Sender side of the bus; cheap to clone.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(BUS_CAPACITY)
    }
}

impl Bus {
    /// A bus keeping `capacity` events for lagging subscribers.
    pub fn new(capacity: usize) -> Bus {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Bus { tx }
    }

    /// Publishes without waiting (no subscriber is fine).
    pub fn publish(&self, event: BusEvent) {
        let _ = self.tx.send(event);
    }

    /// A new subscriber, receiving events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }
}
