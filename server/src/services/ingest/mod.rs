//! The one ingest sequence every transport — the TCP gateway (GT06, JT808, H02), the OsmAnd
//! HTTP listener and MQTT — runs for a decoded report: find or register the device
//! ([`UnknownDevicePolicy`], see [`devices`]), write its `last_seen_at` (at most once a
//! minute, [`DeviceTouches`]), take out fixes dated outside the [`FixTimeWindow`]
//! ([`fix_time`]) and record them as events, store the rest through the batcher and hand them
//! (and status reports) to the alarm stage.
//!
//! What stays with each transport is its wire: decoding, when and how it answers (the TCP
//! protocols ack a position only after its batch committed, OsmAnd answers `200` only then,
//! the MQTT broker acks on receipt) and, for the gateway, the connection's session.

pub mod devices;
pub mod fix_time;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use protocol::{DeviceId, DeviceMessage, FixTimeWindow, Position, Protocol};
use serde::{Deserialize, Serialize};

pub use fix_time::{MAX_EVENTS_PER_REPORT, RejectedFix, record_rejected, screen};

use crate::domain::{Device, NewDeviceEvent, PositionRow};
use crate::services::alarms::AlarmEngine;
use crate::services::batcher::{CommitReceipt, PositionBatcher};
use crate::storage::{Db, DbError};

/// What to do with a device the database does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownDevicePolicy {
    /// Close the connection (an `unknown_device` event is still recorded).
    Reject,
    /// Create the device as unclaimed and keep its positions.
    Register,
}

/// The settings of the ingest sequence, the same for every transport.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Unknown devices: register as unclaimed, or reject.
    pub unknown_devices: UnknownDevicePolicy,
    /// Fixes dated outside this window are acknowledged but not stored (see [`fix_time`]).
    pub fix_window: FixTimeWindow,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            unknown_devices: UnknownDevicePolicy::Register,
            fix_window: FixTimeWindow::default(),
        }
    }
}

/// Why a report could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The device is not known and [`UnknownDevicePolicy::Reject`] is in force (the
    /// `unknown_device` event is recorded).
    #[error("unknown device")]
    UnknownDevice,
    /// A device lookup, registration or update failed.
    #[error("database unavailable: {0}")]
    Storage(#[from] DbError),
    /// The position writer stopped (shutting down): nothing was stored.
    #[error("position writer stopped")]
    WriterGone,
}

/// Where a report came from, as recorded in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The protocol it was spoken in.
    pub protocol: Protocol,
    /// The remote address, when the transport has one per report (MQTT's consumer does not).
    pub peer: Option<SocketAddr>,
}

/// The device a report is filed under: its row id and identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRef<'a> {
    /// Row id.
    pub id: i64,
    /// The identifier it reports (the row's `unique_id`).
    pub unique_id: &'a str,
}

impl<'a> From<&'a Device> for DeviceRef<'a> {
    fn from(d: &'a Device) -> Self {
        DeviceRef {
            id: d.id,
            unique_id: d.unique_id.as_str(),
        }
    }
}

/// What became of a report's message.
#[derive(Debug)]
pub enum Outcome {
    /// Its positions were handed to the batcher: the receipt resolves once they are committed
    /// (at once when every fix was [screened](screen) out). Acknowledge after it.
    Submitted(CommitReceipt),
    /// Nothing to store (a status report, a command reply without a fix, an empty batch):
    /// acknowledge now.
    Nothing,
}

/// The ingest sequence with what it needs; built once by the application and cloned into
/// every transport (clones share the device touches).
#[derive(Debug, Clone)]
pub struct Ingest {
    db: Db,
    batcher: PositionBatcher,
    alarms: Option<AlarmEngine>,
    config: IngestConfig,
    touches: DeviceTouches,
}

impl Ingest {
    /// The sequence storing into `db` through `batcher`, feeding `alarms` (none: positions
    /// are only stored).
    pub fn new(
        db: Db,
        batcher: PositionBatcher,
        alarms: Option<AlarmEngine>,
        config: IngestConfig,
    ) -> Ingest {
        Ingest {
            db,
            batcher,
            alarms,
            config,
            touches: DeviceTouches::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// The same sequence (sharing its touches) with another [`UnknownDevicePolicy`].
    pub fn with_unknown_devices(mut self, policy: UnknownDevicePolicy) -> Ingest {
        self.config.unknown_devices = policy;
        self
    }

    /// The whole sequence for a report of a connectionless transport (OsmAnd, MQTT): the
    /// device `unique_id` is found or registered, touched, and its `message` taken in.
    pub async fn report(
        &self,
        from: Source,
        unique_id: &DeviceId,
        message: DeviceMessage,
    ) -> Result<Outcome, IngestError> {
        let device = self.resolve(from, unique_id).await?;
        self.touch(from, device.id).await;
        self.message(from, (&device).into(), message).await
    }

    /// Takes in one message of `device` (already resolved and touched): positions are
    /// screened, stored and handed to the alarm stage, a command reply is recorded as a
    /// `command_reply` event (and its fix stored), a status report goes to the alarm stage.
    /// Anything else has nothing to take in.
    pub async fn message(
        &self,
        from: Source,
        device: DeviceRef<'_>,
        message: DeviceMessage,
    ) -> Result<Outcome, IngestError> {
        let positions = match message {
            DeviceMessage::Position(p) => vec![p],
            DeviceMessage::Batch(ps) => ps,
            DeviceMessage::CommandReply(reply) => {
                let detail = serde_json::to_value(&reply).unwrap_or_default();
                self.record(from, "command_reply", Some(device), detail)
                    .await;
                match reply.position {
                    Some(p) => vec![*p],
                    None => Vec::new(),
                }
            }
            DeviceMessage::Status(report) => {
                // Heartbeats carry battery, charging, ignition and alarm flags: alarm rules.
                if let Some(alarms) = &self.alarms {
                    alarms.observe_status(device.id, report).await;
                }
                return Ok(Outcome::Nothing);
            }
            _ => return Ok(Outcome::Nothing),
        };
        if positions.is_empty() {
            return Ok(Outcome::Nothing);
        }
        self.positions(from, device, positions, Utc::now())
            .await
            .map(Outcome::Submitted)
    }

    /// Screens `positions` (server clock `now`), records the rejected ones, submits the rest
    /// to the batcher and hands them to the alarm stage. The receipt is ready at once when
    /// none was left to store: the device is acknowledged all the same, or it would resend
    /// them forever.
    pub async fn positions(
        &self,
        from: Source,
        device: DeviceRef<'_>,
        mut positions: Vec<Position>,
        now: DateTime<Utc>,
    ) -> Result<CommitReceipt, IngestError> {
        let rejected = screen(&self.config.fix_window, &mut positions, now);
        if !rejected.is_empty() {
            record_rejected(
                &self.db,
                from.protocol,
                (device.id, device.unique_id),
                from.peer.map(|a| a.to_string()),
                now,
                &rejected,
            )
            .await;
        }
        if positions.is_empty() {
            return Ok(CommitReceipt::ready());
        }
        let rows = positions
            .iter()
            .map(|p| PositionRow::from_position(device.id, p, now))
            .collect();
        let receipt = self
            .batcher
            .submit(rows)
            .await
            .map_err(|_| IngestError::WriterGone)?;
        if let Some(alarms) = &self.alarms {
            alarms.observe(device.id, device.unique_id, positions).await;
        }
        Ok(receipt)
    }

    /// Writes `device`'s `last_seen_at` if it is due ([`TOUCH_EVERY`]). A failed write is
    /// not the report's failure: the next one is due again a minute later.
    pub async fn touch(&self, from: Source, device: i64) {
        if self.touches.due(device, Instant::now()) {
            let _ = self
                .db
                .touch_device(device, from.protocol.as_str(), Utc::now())
                .await;
        }
    }

    /// Writes `device`'s `last_seen_at` now, whenever it was last written (a device that
    /// just connected), and counts the minute from here.
    pub async fn touch_now(&self, from: Source, device: i64) {
        self.touches.mark(device, Instant::now());
        let _ = self
            .db
            .touch_device(device, from.protocol.as_str(), Utc::now())
            .await;
    }

    /// Records an event of `kind` about `device` (a failure is logged, not returned: the
    /// report goes on without its event).
    pub async fn record(
        &self,
        from: Source,
        kind: &'static str,
        device: Option<DeviceRef<'_>>,
        detail: serde_json::Value,
    ) {
        let e = NewDeviceEvent {
            kind,
            device_id: device.map(|d| d.id),
            unique_id: device.map(|d| d.unique_id.to_owned()),
            protocol: Some(from.protocol.as_str()),
            peer: from.peer.map(|a| a.to_string()),
            detail,
        };
        if let Err(err) = self.db.insert_event(&e).await {
            tracing::warn!(error = %err, kind, "could not record event");
        }
    }
}

/// How often a device's `last_seen_at` is written while it keeps reporting. Every path writes
/// it at most this often, per device through [`DeviceTouches`] (the gateway also when a
/// device connects); before, OsmAnd and MQTT wrote it on every message — one UPDATE per
/// position on the single SQLite writer.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// When each device's `last_seen_at` was last written. One entry per device that reported;
/// clones share the map.
#[derive(Debug, Clone, Default)]
pub struct DeviceTouches(Arc<Mutex<HashMap<i64, Instant>>>);

impl DeviceTouches {
    /// Whether `device` is due a `last_seen_at` write at `now` (then recorded as written).
    pub fn due(&self, device: i64, now: Instant) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&device) {
            Some(&last) if now.saturating_duration_since(last) < TOUCH_EVERY => false,
            _ => {
                map.insert(device, now);
                true
            }
        }
    }

    /// Records `device` as written at `now`.
    pub fn mark(&self, device: i64, now: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(device, now);
    }
}

#[cfg(test)]
mod touch_tests {
    use super::*;

    #[test]
    fn a_device_is_touched_at_most_once_a_minute() {
        let t = DeviceTouches::default();
        let now = Instant::now();
        assert!(t.due(1, now));
        assert!(!t.due(1, now + Duration::from_secs(59)));
        assert!(t.due(2, now + Duration::from_secs(59)));
        assert!(t.due(1, now + TOUCH_EVERY));
        assert!(!t.due(1, now + TOUCH_EVERY + Duration::from_secs(1)));
    }
}
