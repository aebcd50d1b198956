//! Trackers: the devices that report positions and take commands.
//!
//! A device has two ids with one name each: `device_id` (or a row's `id`) is always the row id,
//! an `i64` that other tables refer to; `unique_id` is always the identifier the device reports
//! on the wire (IMEI, phone number, …), a validated [`DeviceId`].

use chrono::{DateTime, Utc};
use protocol::DeviceId;
use serde::Serialize;
use serde_json::Value;

/// A tracker as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Device {
    /// Row id.
    pub id: i64,
    /// The identifier the device reports (IMEI, phone number, …).
    #[schema(value_type = String)]
    pub unique_id: DeviceId,
    /// Protocol it last spoke, if it ever connected.
    pub protocol: Option<String>,
    /// Display name.
    pub name: String,
    /// Whether an owner or administrator created or claimed it (false: auto-registered).
    pub claimed: bool,
    /// Owning user (later issues).
    pub owner_id: Option<i64>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// Last time the device said anything.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// JT808 authentication code issued on registration.
    #[serde(skip)]
    pub auth_code: Option<String>,
    /// Per-device MQTT password.
    #[serde(skip)]
    pub mqtt_token: Option<String>,
    /// Command texts for this device family.
    pub command_profile: Value,
}

/// A device to create.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The identifier the device reports.
    pub unique_id: DeviceId,
    /// Display name.
    pub name: String,
    /// Protocol, if known.
    pub protocol: Option<String>,
    /// Created by a person (true) or auto-registered (false).
    pub claimed: bool,
}
