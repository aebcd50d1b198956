//! Server events: connects, disconnects, rejected devices, … (the audit trail of the gateway).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A server event to record.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
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

/// A stored server event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
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
