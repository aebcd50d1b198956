//! Alarms as the domain sees them: how urgent (severity), where in their lifecycle (status),
//! a device's guard, and the rules' settings.

use std::time::Duration;

use chrono::{DateTime, Utc};
use geofence::TrackerConfig;
use serde::Serialize;

/// How urgent an alarm is (from its kind: [`severity`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Theft, SOS, power cut, tampering: a patrol should move now.
    High,
    /// The rest of what needs a look (vibration, fences, overspeed, offline, …).
    Medium,
    /// Housekeeping (low battery, power on/off, parking).
    Low,
}

impl Severity {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::High, Severity::Medium, Severity::Low]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Where an alarm is in its lifecycle: `open` → `acknowledged` / `assigned` → `resolved`
/// (final).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AlarmStatus {
    /// Raised, nobody has acted on it yet.
    Open,
    /// Seen by a dispatcher or officer.
    Acknowledged,
    /// Given to a patrol unit.
    Assigned,
    /// Closed with an outcome.
    Resolved,
}

impl AlarmStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [AlarmStatus; 4] = [
        AlarmStatus::Open,
        AlarmStatus::Acknowledged,
        AlarmStatus::Assigned,
        AlarmStatus::Resolved,
    ];

    /// The stored and wire name (also the name of the lifecycle step that reaches it).
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmStatus::Open => "open",
            AlarmStatus::Acknowledged => "acknowledged",
            AlarmStatus::Assigned => "assigned",
            AlarmStatus::Resolved => "resolved",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<AlarmStatus> {
        AlarmStatus::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The persisted guard state of a device.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Guard {
    /// Device row id.
    pub device_id: i64,
    /// Armed by its owner.
    pub armed: bool,
    /// Where it was armed.
    pub armed_lat: Option<f64>,
    /// Where it was armed.
    pub armed_lon: Option<f64>,
    /// Per-device overspeed limit.
    pub speed_limit_kmh: Option<f64>,
    /// When the arming last changed.
    pub changed_at: DateTime<Utc>,
}

/// An armed device and when it was last heard from (offline sweep).
#[derive(Debug, Clone, Copy)]
pub struct ArmedContact {
    /// Device row id.
    pub device_id: i64,
    /// `devices.last_seen_at` (connection, login, at most once a minute per connection).
    pub last_seen: Option<DateTime<Utc>>,
    /// When it was armed.
    pub armed_at: DateTime<Utc>,
    /// Where it was armed.
    pub armed_lat: Option<f64>,
    /// Where it was armed.
    pub armed_lon: Option<f64>,
}

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
    /// An armed device silent for longer than this raises `offline` (None: no offline rule).
    pub offline_after: Option<Duration>,
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
            offline_after: Some(Duration::from_secs(900)),
        }
    }
}

/// Severity of an alarm kind.
pub fn severity(kind: &str) -> Severity {
    match kind {
        "theft" | "sos" | "power_cut" | "illegal_ignition" | "tow" | "removing" | "tampering"
        | "movement" | "accident" => Severity::High,
        "low_battery" | "power_on" | "power_off" | "parking" | "idle" | "fault" => Severity::Low,
        _ => Severity::Medium,
    }
}
