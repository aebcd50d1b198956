//! Alarms as the domain sees them: what about (kind), how urgent (severity), where in their
//! lifecycle (status), the alarm as shown ([`AlarmView`]), a device's guard, and the rules'
//! settings.

use std::time::Duration;

use chrono::{DateTime, Utc};
use geofence::TrackerConfig;
use serde::Serialize;

/// How urgent an alarm is (from its kind: [`AlarmKind::severity`]).
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

/// An alarm as stored and as the API, WebSocket, MQTT and webhooks show it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AlarmView {
    /// Alarm id.
    pub id: i64,
    /// Device row id.
    pub device_id: i64,
    /// `theft`, `vibration`, `sos`, `low_battery`, `geofence_exit`, …
    pub kind: AlarmKind,
    /// `high`, `medium` or `low`.
    pub severity: Severity,
    /// Where it is in its lifecycle.
    pub status: AlarmStatus,
    /// Patrol unit the alarm is routed or assigned to.
    pub unit_id: Option<i64>,
    /// How many times it was raised while open (de-duplication).
    pub count: i64,
    /// Fix time of the first occurrence.
    pub first_time: DateTime<Utc>,
    /// Fix time of the latest occurrence.
    pub last_time: DateTime<Utc>,
    /// Latest latitude.
    pub lat: Option<f64>,
    /// Latest longitude.
    pub lon: Option<f64>,
    /// Evidence gathered (for `theft`: `ignition_on`, `moved`, `power_cut`, `vibration_then_movement`).
    pub evidence: Vec<String>,
    /// Resolution outcome.
    pub outcome: Option<String>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One lifecycle step.
// The schema keeps the name it had when this was the storage row, so API clients see no change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AlarmActionRow)]
pub struct AlarmStep {
    /// `opened`, `acknowledged`, `assigned`, `resolved`.
    pub action: String,
    /// Who (none for the system).
    pub user_id: Option<i64>,
    /// Unit concerned.
    pub unit_id: Option<i64>,
    /// Outcome or note.
    pub note: Option<String>,
    /// When.
    pub time: DateTime<Utc>,
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

/// What an alarm is about: one kind per [`protocol::Alarm`] (device-reported, same names) plus
/// what only the server derives (`offline`). The stored, API, MQTT and webhook name is
/// [`AlarmKind::as_str`]; `theft`, `low_battery`, `power_cut`, `overspeed` and the
/// `geofence_*` kinds are raised both from device flags and by the server's own rules.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// Panic / SOS button (device-reported).
    Sos,
    /// Shock or vibration sensor (device-reported).
    Vibration,
    /// Battery low: device-reported, or derived from level/voltage thresholds.
    LowBattery,
    /// External power lost: device-reported, or derived from charging true → false.
    PowerCut,
    /// External power voltage low (device-reported).
    LowPower,
    /// Device switched off (device-reported).
    PowerOff,
    /// Device switched on (device-reported).
    PowerOn,
    /// Over the speed limit: device-reported, or derived (held for N seconds).
    Overspeed,
    /// A fence entered: device-side, or a fence assigned to the device.
    GeofenceEnter,
    /// A fence left: device-side, or a fence assigned to the device.
    GeofenceExit,
    /// Device-side geofence event without a direction.
    Geofence,
    /// Moved while parked (device-reported).
    Movement,
    /// Towed (device-reported).
    Tow,
    /// Opened or tampered with (device-reported).
    Tampering,
    /// Removed from its mounting (device-reported).
    Removing,
    /// Suspected theft while armed (evidence lists why), or the device's own theft alarm.
    Theft,
    /// Ignition on while armed (device-reported).
    IllegalIgnition,
    /// Door opened (device-reported).
    Door,
    /// Collision / accident (device-reported).
    Accident,
    /// Rollover or fall (device-reported).
    FallDown,
    /// Harsh braking (device-reported).
    HardBraking,
    /// Harsh acceleration (device-reported).
    HardAcceleration,
    /// Harsh cornering (device-reported).
    HardCornering,
    /// Fatigue driving (device-reported).
    Fatigue,
    /// GPS antenna cut or shorted (device-reported).
    GpsAntennaCut,
    /// Device hardware fault (device-reported).
    Fault,
    /// GSM/GPS jamming (device-reported).
    Jamming,
    /// Parked for too long (device-reported).
    Parking,
    /// Idling for too long (device-reported).
    Idle,
    /// Abnormal fuel level (device-reported).
    FuelLeak,
    /// Temperature out of range (device-reported).
    Temperature,
    /// Alarm the device did not qualify further (device-reported).
    General,
    /// An armed device silent for longer than expected (the offline sweep).
    Offline,
}

impl AlarmKind {
    /// Every kind: the device-reported ones in [`protocol::Alarm::ALL`] order, then the derived.
    pub const ALL: [AlarmKind; 33] = [
        AlarmKind::Sos,
        AlarmKind::Vibration,
        AlarmKind::LowBattery,
        AlarmKind::PowerCut,
        AlarmKind::LowPower,
        AlarmKind::PowerOff,
        AlarmKind::PowerOn,
        AlarmKind::Overspeed,
        AlarmKind::GeofenceEnter,
        AlarmKind::GeofenceExit,
        AlarmKind::Geofence,
        AlarmKind::Movement,
        AlarmKind::Tow,
        AlarmKind::Tampering,
        AlarmKind::Removing,
        AlarmKind::Theft,
        AlarmKind::IllegalIgnition,
        AlarmKind::Door,
        AlarmKind::Accident,
        AlarmKind::FallDown,
        AlarmKind::HardBraking,
        AlarmKind::HardAcceleration,
        AlarmKind::HardCornering,
        AlarmKind::Fatigue,
        AlarmKind::GpsAntennaCut,
        AlarmKind::Fault,
        AlarmKind::Jamming,
        AlarmKind::Parking,
        AlarmKind::Idle,
        AlarmKind::FuelLeak,
        AlarmKind::Temperature,
        AlarmKind::General,
        AlarmKind::Offline,
    ];

    /// The stored and wire name (for device-reported kinds, the [`protocol::Alarm::as_str`] name).
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Sos => "sos",
            AlarmKind::Vibration => "vibration",
            AlarmKind::LowBattery => "low_battery",
            AlarmKind::PowerCut => "power_cut",
            AlarmKind::LowPower => "low_power",
            AlarmKind::PowerOff => "power_off",
            AlarmKind::PowerOn => "power_on",
            AlarmKind::Overspeed => "overspeed",
            AlarmKind::GeofenceEnter => "geofence_enter",
            AlarmKind::GeofenceExit => "geofence_exit",
            AlarmKind::Geofence => "geofence",
            AlarmKind::Movement => "movement",
            AlarmKind::Tow => "tow",
            AlarmKind::Tampering => "tampering",
            AlarmKind::Removing => "removing",
            AlarmKind::Theft => "theft",
            AlarmKind::IllegalIgnition => "illegal_ignition",
            AlarmKind::Door => "door",
            AlarmKind::Accident => "accident",
            AlarmKind::FallDown => "fall_down",
            AlarmKind::HardBraking => "hard_braking",
            AlarmKind::HardAcceleration => "hard_acceleration",
            AlarmKind::HardCornering => "hard_cornering",
            AlarmKind::Fatigue => "fatigue",
            AlarmKind::GpsAntennaCut => "gps_antenna_cut",
            AlarmKind::Fault => "fault",
            AlarmKind::Jamming => "jamming",
            AlarmKind::Parking => "parking",
            AlarmKind::Idle => "idle",
            AlarmKind::FuelLeak => "fuel_leak",
            AlarmKind::Temperature => "temperature",
            AlarmKind::General => "general",
            AlarmKind::Offline => "offline",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<AlarmKind> {
        AlarmKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How urgent an alarm of this kind is.
    pub fn severity(self) -> Severity {
        use AlarmKind::*;
        match self {
            Theft | Sos | PowerCut | IllegalIgnition | Tow | Removing | Tampering | Movement
            | Accident => Severity::High,
            LowBattery | PowerOn | PowerOff | Parking | Idle | Fault => Severity::Low,
            _ => Severity::Medium,
        }
    }
}

impl From<protocol::Alarm> for AlarmKind {
    fn from(a: protocol::Alarm) -> AlarmKind {
        use protocol::Alarm as A;
        match a {
            A::Sos => AlarmKind::Sos,
            A::Vibration => AlarmKind::Vibration,
            A::LowBattery => AlarmKind::LowBattery,
            A::PowerCut => AlarmKind::PowerCut,
            A::LowPower => AlarmKind::LowPower,
            A::PowerOff => AlarmKind::PowerOff,
            A::PowerOn => AlarmKind::PowerOn,
            A::Overspeed => AlarmKind::Overspeed,
            A::GeofenceEnter => AlarmKind::GeofenceEnter,
            A::GeofenceExit => AlarmKind::GeofenceExit,
            A::Geofence => AlarmKind::Geofence,
            A::Movement => AlarmKind::Movement,
            A::Tow => AlarmKind::Tow,
            A::Tampering => AlarmKind::Tampering,
            A::Removing => AlarmKind::Removing,
            A::Theft => AlarmKind::Theft,
            A::IllegalIgnition => AlarmKind::IllegalIgnition,
            A::Door => AlarmKind::Door,
            A::Accident => AlarmKind::Accident,
            A::FallDown => AlarmKind::FallDown,
            A::HardBraking => AlarmKind::HardBraking,
            A::HardAcceleration => AlarmKind::HardAcceleration,
            A::HardCornering => AlarmKind::HardCornering,
            A::Fatigue => AlarmKind::Fatigue,
            A::GpsAntennaCut => AlarmKind::GpsAntennaCut,
            A::Fault => AlarmKind::Fault,
            A::Jamming => AlarmKind::Jamming,
            A::Parking => AlarmKind::Parking,
            A::Idle => AlarmKind::Idle,
            A::FuelLeak => AlarmKind::FuelLeak,
            A::Temperature => AlarmKind::Temperature,
            A::General => AlarmKind::General,
        }
    }
}

impl std::fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in AlarmKind::ALL {
            assert_eq!(AlarmKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str(), "{k:?}");
            let back: AlarmKind = serde_json::from_value(k.as_str().into()).unwrap();
            assert_eq!(back, k);
        }
        assert_eq!(AlarmKind::parse("bogus"), None);
        assert_eq!(AlarmKind::parse("Theft"), None);
    }

    #[test]
    fn device_alarms_keep_their_protocol_names() {
        for a in protocol::Alarm::ALL {
            assert_eq!(AlarmKind::from(a).as_str(), a.as_str());
        }
        assert_eq!(AlarmKind::Offline.as_str(), "offline");
        assert_eq!(AlarmKind::ALL.len(), protocol::Alarm::ALL.len() + 1);
    }

    #[test]
    fn severities_unchanged() {
        let high = [
            "theft",
            "sos",
            "power_cut",
            "illegal_ignition",
            "tow",
            "removing",
            "tampering",
            "movement",
            "accident",
        ];
        let low = [
            "low_battery",
            "power_on",
            "power_off",
            "parking",
            "idle",
            "fault",
        ];
        for k in AlarmKind::ALL {
            let want = if high.contains(&k.as_str()) {
                Severity::High
            } else if low.contains(&k.as_str()) {
                Severity::Low
            } else {
                Severity::Medium
            };
            assert_eq!(k.severity(), want, "{k}");
        }
    }

    #[test]
    fn severity_and_status_names_round_trip() {
        for s in [Severity::High, Severity::Medium, Severity::Low] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in AlarmStatus::ALL {
            assert_eq!(AlarmStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
