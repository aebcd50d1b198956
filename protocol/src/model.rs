//! The device-independent model every protocol decodes into.
//!
//! A location frame must decode without touching the heap, so the hot types here are `Copy`
//! where they can be (`DeviceId` stores its text inline, `AlarmSet` is a bit set) and the only
//! growable field, [`Position::attributes`], stays an empty `Vec` (no allocation) unless a
//! vendor extension actually carries something.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which wire protocol a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// GT06 / Concox binary protocol.
    Gt06,
    /// JT/T 808 (2011/2013/2019).
    Jt808,
    /// H02 text and binary protocol.
    H02,
    /// OsmAnd HTTP protocol (phone apps).
    Osmand,
    /// JSON positions published over MQTT.
    Mqtt,
}

impl Protocol {
    /// Stable lower-case name, as used in settings, metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Gt06 => "gt06",
            Protocol::Jt808 => "jt808",
            Protocol::H02 => "h02",
            Protocol::Osmand => "osmand",
            Protocol::Mqtt => "mqtt",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text could not become a model value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// Device identifiers are 1..=64 characters of `[A-Za-z0-9._:-]`.
    #[error(
        "invalid device id {0:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'"
    )]
    DeviceId(String),
    /// Latitude outside -90..=90, longitude outside -180..=180, or not a finite number.
    #[error(
        "invalid coordinates lat={lat} lon={lon}: latitude must be within ±90 and longitude within ±180"
    )]
    LatLon {
        /// The rejected latitude.
        lat: f64,
        /// The rejected longitude.
        lon: f64,
    },
}

/// Maximum length of a [`DeviceId`] in bytes.
pub const DEVICE_ID_MAX: usize = 64;

/// A device's unique identifier as the device itself reports it (IMEI, JT808 phone number,
/// H02 id, OsmAnd id), stored inline so that identifying a frame never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId {
    len: u8,
    bytes: [u8; DEVICE_ID_MAX],
}

impl DeviceId {
    /// Parses an identifier: 1..=64 characters of `[A-Za-z0-9._:-]`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= DEVICE_ID_MAX
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'));
        if !ok {
            return Err(ModelError::DeviceId(s.chars().take(80).collect()));
        }
        let mut bytes = [0u8; DEVICE_ID_MAX];
        bytes[..b.len()].copy_from_slice(b);
        Ok(DeviceId {
            len: b.len() as u8,
            bytes,
        })
    }

    /// Builds an identifier from packed BCD digits (GT06 terminal id, JT808 phone number),
    /// dropping leading zeros but keeping at least one digit. Fails on a nibble above 9.
    pub fn from_bcd(bcd: &[u8]) -> Result<Self, ModelError> {
        let mut bytes = [0u8; DEVICE_ID_MAX];
        let mut len = 0usize;
        for &byte in bcd {
            for nibble in [byte >> 4, byte & 0x0F] {
                if nibble > 9 {
                    return Err(ModelError::DeviceId(format!("BCD {bcd:02x?}")));
                }
                if len == 0 && nibble == 0 {
                    continue;
                }
                if len == DEVICE_ID_MAX {
                    return Err(ModelError::DeviceId(format!("BCD {bcd:02x?}")));
                }
                bytes[len] = b'0' + nibble;
                len += 1;
            }
        }
        if len == 0 {
            bytes[0] = b'0';
            len = 1;
        }
        Ok(DeviceId {
            len: len as u8,
            bytes,
        })
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in both constructors).
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.as_str())
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeviceId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceId::parse(s)
    }
}

impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        DeviceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A WGS84 coordinate in decimal degrees, validated on construction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude, degrees north (negative = south).
    pub lat: f64,
    /// Longitude, degrees east (negative = west).
    pub lon: f64,
}

impl LatLon {
    /// Validates and builds a coordinate.
    #[inline]
    pub fn new(lat: f64, lon: f64) -> Result<Self, ModelError> {
        if lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon)
        {
            Ok(LatLon { lat, lon })
        } else {
            Err(ModelError::LatLon { lat, lon })
        }
    }
}

/// A normalised alarm. Protocol-specific codes map onto these; codes with no mapping are kept in
/// [`AlarmSet::raw`] instead of being dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Alarm {
    /// Panic / SOS button.
    Sos = 0,
    /// Shock or vibration sensor.
    Vibration,
    /// Internal (backup) battery low.
    LowBattery,
    /// External power disconnected (wires cut).
    PowerCut,
    /// External power voltage low.
    LowPower,
    /// Device switched off.
    PowerOff,
    /// Device switched on.
    PowerOn,
    /// Speed above the limit configured in the device.
    Overspeed,
    /// Device-side geofence entered.
    GeofenceEnter,
    /// Device-side geofence left.
    GeofenceExit,
    /// Device-side geofence event without a direction.
    Geofence,
    /// Moved while parked (displacement).
    Movement,
    /// Towed.
    Tow,
    /// Opened or tampered with.
    Tampering,
    /// Removed from its mounting / cover removed.
    Removing,
    /// Theft reported by the device's anti-theft logic.
    Theft,
    /// Ignition on while armed.
    IllegalIgnition,
    /// Door opened.
    Door,
    /// Collision / accident.
    Accident,
    /// Rollover or fall.
    FallDown,
    /// Harsh braking.
    HardBraking,
    /// Harsh acceleration.
    HardAcceleration,
    /// Harsh cornering.
    HardCornering,
    /// Fatigue driving.
    Fatigue,
    /// GPS antenna cut or shorted.
    GpsAntennaCut,
    /// Device hardware fault.
    Fault,
    /// GSM/GPS jamming detected.
    Jamming,
    /// Parked for too long.
    Parking,
    /// Idling for too long.
    Idle,
    /// Abnormal fuel level (leak or theft).
    FuelLeak,
    /// Temperature out of range.
    Temperature,
    /// Generic alarm the device did not qualify further.
    General,
}

impl Alarm {
    /// Every variant, in declaration order.
    pub const ALL: [Alarm; 32] = [
        Alarm::Sos,
        Alarm::Vibration,
        Alarm::LowBattery,
        Alarm::PowerCut,
        Alarm::LowPower,
        Alarm::PowerOff,
        Alarm::PowerOn,
        Alarm::Overspeed,
        Alarm::GeofenceEnter,
        Alarm::GeofenceExit,
        Alarm::Geofence,
        Alarm::Movement,
        Alarm::Tow,
        Alarm::Tampering,
        Alarm::Removing,
        Alarm::Theft,
        Alarm::IllegalIgnition,
        Alarm::Door,
        Alarm::Accident,
        Alarm::FallDown,
        Alarm::HardBraking,
        Alarm::HardAcceleration,
        Alarm::HardCornering,
        Alarm::Fatigue,
        Alarm::GpsAntennaCut,
        Alarm::Fault,
        Alarm::Jamming,
        Alarm::Parking,
        Alarm::Idle,
        Alarm::FuelLeak,
        Alarm::Temperature,
        Alarm::General,
    ];

    /// Stable snake_case name used in the API, MQTT topics and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Alarm::Sos => "sos",
            Alarm::Vibration => "vibration",
            Alarm::LowBattery => "low_battery",
            Alarm::PowerCut => "power_cut",
            Alarm::LowPower => "low_power",
            Alarm::PowerOff => "power_off",
            Alarm::PowerOn => "power_on",
            Alarm::Overspeed => "overspeed",
            Alarm::GeofenceEnter => "geofence_enter",
            Alarm::GeofenceExit => "geofence_exit",
            Alarm::Geofence => "geofence",
            Alarm::Movement => "movement",
            Alarm::Tow => "tow",
            Alarm::Tampering => "tampering",
            Alarm::Removing => "removing",
            Alarm::Theft => "theft",
            Alarm::IllegalIgnition => "illegal_ignition",
            Alarm::Door => "door",
            Alarm::Accident => "accident",
            Alarm::FallDown => "fall_down",
            Alarm::HardBraking => "hard_braking",
            Alarm::HardAcceleration => "hard_acceleration",
            Alarm::HardCornering => "hard_cornering",
            Alarm::Fatigue => "fatigue",
            Alarm::GpsAntennaCut => "gps_antenna_cut",
            Alarm::Fault => "fault",
            Alarm::Jamming => "jamming",
            Alarm::Parking => "parking",
            Alarm::Idle => "idle",
            Alarm::FuelLeak => "fuel_leak",
            Alarm::Temperature => "temperature",
            Alarm::General => "general",
        }
    }

    /// Parses the name produced by [`Alarm::as_str`].
    pub fn from_name(name: &str) -> Option<Alarm> {
        Alarm::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Alarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alarm code a decoder could not map onto [`Alarm`], kept as the device sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawAlarm {
    /// Protocol that defines the code.
    pub protocol: Protocol,
    /// The code: GT06 alarm byte (with traccar's language high bits for 0x26/0x27), JT808 alarm
    /// bits that had no mapping, H02 status bits that had no mapping, or an OsmAnd hash of the text.
    pub code: u32,
}

/// A set of alarms reported by one message, plus at most one unmapped raw code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct AlarmSet {
    bits: u64,
    /// A code the protocol decoder could not map, kept rather than dropped.
    pub raw: Option<RawAlarm>,
}

impl AlarmSet {
    /// The empty set.
    pub const EMPTY: AlarmSet = AlarmSet { bits: 0, raw: None };

    /// Adds an alarm.
    pub fn insert(&mut self, alarm: Alarm) {
        self.bits |= 1u64 << (alarm as u8);
    }

    /// Whether the set holds `alarm`.
    pub fn contains(&self, alarm: Alarm) -> bool {
        self.bits & (1u64 << (alarm as u8)) != 0
    }

    /// True when there is neither a mapped alarm nor a raw code.
    pub fn is_empty(&self) -> bool {
        self.bits == 0 && self.raw.is_none()
    }

    /// Number of mapped alarms.
    pub fn len(&self) -> usize {
        self.bits.count_ones() as usize
    }

    /// Mapped alarms in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = Alarm> + '_ {
        Alarm::ALL.into_iter().filter(|a| self.contains(*a))
    }

    /// Merges another set into this one (a raw code already present is kept).
    pub fn extend(&mut self, other: AlarmSet) {
        self.bits |= other.bits;
        if self.raw.is_none() {
            self.raw = other.raw;
        }
    }
}

impl FromIterator<Alarm> for AlarmSet {
    fn from_iter<T: IntoIterator<Item = Alarm>>(iter: T) -> Self {
        let mut set = AlarmSet::EMPTY;
        for a in iter {
            set.insert(a);
        }
        set
    }
}

impl Serialize for AlarmSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let names: Vec<&'static str> = self.iter().map(Alarm::as_str).collect();
        let mut st = s.serialize_struct("AlarmSet", 2)?;
        st.serialize_field("alarms", &names)?;
        st.serialize_field("raw", &self.raw)?;
        st.end()
    }
}

/// One GSM cell the device was camped on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellTower {
    /// Mobile country code.
    pub mcc: u16,
    /// Mobile network code.
    pub mnc: u16,
    /// Location area code (4G devices send 32 bits).
    pub lac: u32,
    /// Cell id (4G devices send up to 64 bits).
    pub cell_id: u64,
}

/// Device state carried by positions and heartbeats alike; `None` means "not reported".
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct DeviceStatus {
    /// Ignition / ACC line.
    pub ignition: Option<bool>,
    /// Anti-theft mode armed ("defence", "fortified").
    pub armed: Option<bool>,
    /// External power connected / battery charging.
    pub charging: Option<bool>,
    /// Power/fuel cut relay engaged (the engine is immobilised).
    pub output_cut: Option<bool>,
    /// Door open.
    pub door_open: Option<bool>,
    /// Internal battery voltage, volts.
    pub battery_voltage: Option<f32>,
    /// Internal battery level, percent 0..=100.
    pub battery_level: Option<u8>,
    /// External (vehicle) power voltage, volts.
    pub power_voltage: Option<f32>,
    /// GSM signal as the device reports it (GT06 0..=4, JT808 0..=31, …).
    pub gsm_signal: Option<u8>,
    /// Alarms raised by this message.
    pub alarms: AlarmSet,
}

/// A vendor-specific value that has no typed field (temperature sensors, OBD data, extras).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// Boolean flag.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Floating-point number.
    Float(f64),
    /// Text.
    Text(String),
}

/// A named vendor-specific value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribute {
    /// Attribute name (traccar's spelling where one exists, e.g. `temp1`, `rpm`).
    pub key: Cow<'static, str>,
    /// The value.
    pub value: AttrValue,
}

/// One location fix with the device state that came with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position {
    /// Fix time, UTC.
    pub time: DateTime<Utc>,
    /// Where.
    pub location: LatLon,
    /// Whether the GNSS fix was valid.
    pub valid: bool,
    /// Ground speed, km/h.
    pub speed_kmh: f32,
    /// Course over ground, degrees clockwise from north.
    pub course: Option<f32>,
    /// Altitude, metres above sea level.
    pub altitude_m: Option<f32>,
    /// Satellites used in the fix.
    pub satellites: Option<u8>,
    /// Horizontal accuracy, metres (or HDOP-derived), when the device reports one.
    pub accuracy_m: Option<f32>,
    /// Device odometer, metres.
    pub odometer_m: Option<u64>,
    /// Serving cell, when reported.
    pub cell: Option<CellTower>,
    /// True when the device marks the fix as re-sent from its buffer (not real time).
    pub archived: bool,
    /// State flags, battery and alarms.
    pub status: DeviceStatus,
    /// Vendor extensions; empty (and not allocated) for plain location frames.
    pub attributes: Vec<Attribute>,
}

impl Position {
    /// A position with the given fix and everything else unknown.
    pub fn new(time: DateTime<Utc>, location: LatLon, valid: bool, speed_kmh: f32) -> Self {
        Position {
            time,
            location,
            valid,
            speed_kmh,
            course: None,
            altitude_m: None,
            satellites: None,
            accuracy_m: None,
            odometer_m: None,
            cell: None,
            archived: false,
            status: DeviceStatus::default(),
            attributes: Vec::new(),
        }
    }

    /// Looks up a vendor attribute by name.
    pub fn attribute(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}

/// A heartbeat or status report without a location fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// When the device says it was sent, if it says.
    pub time: Option<DateTime<Utc>>,
    /// State flags, battery and alarms.
    pub status: DeviceStatus,
    /// Serving cell, when reported (LBS-only reports).
    pub cell: Option<CellTower>,
    /// Vendor extensions.
    pub attributes: Vec<Attribute>,
}

/// How a device's reply is matched to the command that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Correlation {
    /// GT06: the 32-bit server flag of the 0x80 command, echoed in 0x15/0x21.
    ServerFlag(u32),
    /// JT808: the platform message serial number echoed in the 0x0001 reply.
    Serial(u16),
    /// H02: the `HHMMSS` stamp of the command, echoed in the V4 reply (seconds since midnight).
    TimeStamp(u32),
    /// The protocol carries nothing to match on; the oldest command in flight is assumed.
    None,
}

/// Outcome the device reports for a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyResult {
    /// The device accepted or executed it.
    Success,
    /// The device refused it or failed.
    Failure,
    /// The device does not support it.
    Unsupported,
    /// A free-text answer whose meaning the decoder cannot tell.
    Text,
}

/// A device's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandReply {
    /// What to match it against.
    pub correlation: Correlation,
    /// JT808: the id of the message being answered (0x8105, 0x8500, …).
    pub answered_message: Option<u16>,
    /// Success, failure, or unknown.
    pub result: ReplyResult,
    /// Text of the reply, if any.
    pub text: Option<String>,
    /// A position carried by the reply (GT06 "Current position!…", H02 V4, JT808 0x0500).
    pub position: Option<Box<Position>>,
}

/// JT808 registration data (0x0100).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registration {
    /// Province id.
    pub province: u16,
    /// City id.
    pub city: u16,
    /// Manufacturer id.
    pub manufacturer: String,
    /// Terminal model.
    pub model: String,
    /// Terminal id.
    pub terminal_id: String,
    /// Plate colour.
    pub plate_color: u8,
    /// Plate / VIN.
    pub plate: String,
}

/// What a device said, independent of the protocol it said it in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceMessage {
    /// The device identified itself (GT06 login, H02 first message, JT808 authentication).
    Login {
        /// The identifier it gave.
        device: DeviceId,
        /// UTC offset the device announced for its clock, minutes (GT06 login time-zone word).
        utc_offset_minutes: Option<i16>,
        /// JT808 authentication code, checked against the one the server issued.
        auth_code: Option<String>,
        /// Model/type code the device announced.
        model_code: Option<u16>,
    },
    /// JT808 registration request (answered with 0x8100 and an auth code).
    Register(Registration),
    /// One location fix.
    Position(Position),
    /// Several fixes in one frame (JT808 0x0704, multi-record binary frames).
    Batch(Vec<Position>),
    /// A heartbeat or status without a fix.
    Status(StatusReport),
    /// The device's answer to a command.
    CommandReply(CommandReply),
    /// The device asked for the current time.
    TimeRequest,
    /// A valid frame whose content Vigil does not use (still acknowledged where the protocol
    /// expects it).
    Other {
        /// The protocol-specific message type (GT06 protocol number, JT808 message id, …).
        kind: u32,
    },
}

/// Per-device text of the commands that differ between device families; every protocol has
/// sane defaults (see each protocol module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CommandProfile {
    /// Text (GT06 0x80, H02) for cutting power/fuel; `{password}` is substituted.
    pub cut_power: Option<String>,
    /// Text for restoring power/fuel; `{password}` is substituted.
    pub restore_power: Option<String>,
    /// Device password for commands that need one.
    pub password: Option<String>,
    /// JT808: use 0x8500 vehicle control instead of 0x8105 terminal control.
    pub jt808_vehicle_control: bool,
}

/// A command the server sends to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Cut power/fuel (immobilise).
    CutPower,
    /// Restore power/fuel.
    RestorePower,
    /// Report the position now.
    Locate,
    /// Report every `seconds` seconds.
    SetInterval {
        /// Reporting interval, seconds.
        seconds: u32,
    },
    /// Arm the device's own anti-theft mode.
    Arm,
    /// Disarm it.
    Disarm,
    /// Raw text (GT06 0x80, H02, JT808 0x8300 text message) — administrators only.
    Custom {
        /// The text, sent verbatim.
        text: String,
    },
}

/// Errors a command encoder can return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The protocol has no way to express the command.
    #[error("{protocol} devices do not support the {command} command")]
    Unsupported {
        /// Protocol asked.
        protocol: Protocol,
        /// Command name.
        command: &'static str,
    },
    /// A parameter is out of range or too long for the frame.
    #[error("invalid command parameter: {0}")]
    Invalid(String),
}

impl Command {
    /// Stable name of the command kind.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CutPower => "cut_power",
            Command::RestorePower => "restore_power",
            Command::Locate => "locate",
            Command::SetInterval { .. } => "set_interval",
            Command::Arm => "arm",
            Command::Disarm => "disarm",
            Command::Custom { .. } => "custom",
        }
    }
}

/// Counts of stream anomalies a codec has seen on one connection (exported as metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodecStats {
    /// Frames decoded.
    pub frames: u64,
    /// Bytes skipped while looking for a frame start.
    pub resync_bytes: u64,
    /// Times the decoder had to skip garbage.
    pub resyncs: u64,
    /// Frames whose checksum did not match (accepted or not, per settings).
    pub checksum_mismatches: u64,
    /// Frames whose length field disagreed with the frame found on the terminator.
    pub length_mismatches: u64,
    /// Frames that framed correctly but whose content could not be decoded.
    pub malformed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_parse_and_bcd() {
        assert_eq!(
            DeviceId::parse("123456789012345").unwrap().as_str(),
            "123456789012345"
        );
        assert!(DeviceId::parse("").is_err());
        assert!(DeviceId::parse("a b").is_err());
        assert!(DeviceId::parse(&"1".repeat(65)).is_err());
        let id = DeviceId::from_bcd(&[0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45]).unwrap();
        assert_eq!(id.as_str(), "123456789012345");
        assert_eq!(DeviceId::from_bcd(&[0, 0]).unwrap().as_str(), "0");
        assert!(DeviceId::from_bcd(&[0xAB]).is_err());
    }

    #[test]
    fn latlon_validates() {
        assert!(LatLon::new(22.5, 114.0).is_ok());
        assert!(LatLon::new(91.0, 0.0).is_err());
        assert!(LatLon::new(0.0, -180.5).is_err());
        assert!(LatLon::new(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn alarm_set_holds_every_variant() {
        let set: AlarmSet = Alarm::ALL.into_iter().collect();
        assert_eq!(set.len(), Alarm::ALL.len());
        for a in Alarm::ALL {
            assert!(set.contains(a));
            assert_eq!(Alarm::from_name(a.as_str()), Some(a));
        }
        assert!(AlarmSet::EMPTY.is_empty());
    }
}
