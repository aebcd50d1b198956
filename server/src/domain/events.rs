//! Server events: connects, disconnects, rejected devices, … (the audit trail of the gateway).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// An entry of the device event log (`events`: connects, refusals, rejected fixes, command
/// replies) to record. Not to be confused with what the bus carries
/// (`services::bus::BusEvent`) or a fence crossing (`geofence::FenceEvent`).
#[derive(Debug, Clone, Default)]
pub struct NewDeviceEvent {
    /// `connect`, `disconnect`, `unknown_device`, `rejected_device`, ….
    pub kind: &'static str,
    /// Device row id, when known.
    pub device_id: Option<i64>,
    /// The identifier the device gave. Text, not a [`protocol::DeviceId`]: events also record
    /// refused frames whose claimed identifier may be invalid.
    pub unique_id: Option<String>,
    /// Protocol.
    pub protocol: Option<&'static str>,
    /// Remote address.
    pub peer: Option<String>,
    /// Anything else.
    pub detail: Value,
}

/// A stored entry of the device event log (the API's `Event` schema).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct DeviceEvent {
    /// Row id (increasing).
    pub id: i64,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Kind.
    pub kind: String,
    /// Device row id.
    pub device_id: Option<i64>,
    /// The identifier the device gave. Text, not a [`protocol::DeviceId`]: events also record
    /// refused frames whose claimed identifier may be invalid.
    pub unique_id: Option<String>,
    /// Protocol.
    pub protocol: Option<String>,
    /// Remote address.
    pub peer: Option<String>,
    /// Details.
    pub detail: Value,
}
