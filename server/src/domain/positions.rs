//! Positions: a decoded fix as it is stored, as the API returns it, and as a track point.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// One position row ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionRow {
    /// Device row id.
    pub device_id: i64,
    /// Fix time.
    pub fix_time: DateTime<Utc>,
    /// When the server received it.
    pub server_time: DateTime<Utc>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// GNSS fix valid.
    pub valid: bool,
    /// km/h.
    pub speed_kmh: f64,
    /// Degrees.
    pub course: Option<f64>,
    /// Metres.
    pub altitude_m: Option<f64>,
    /// Satellites used.
    pub satellites: Option<i64>,
    /// Metres.
    pub accuracy_m: Option<f64>,
    /// Metres.
    pub odometer_m: Option<i64>,
    /// Re-sent from the device's buffer.
    pub archived: bool,
    /// Ignition.
    pub ignition: Option<bool>,
    /// Anti-theft armed.
    pub armed: Option<bool>,
    /// Charging / external power.
    pub charging: Option<bool>,
    /// Battery percent.
    pub battery_level: Option<i64>,
    /// Battery volts.
    pub battery_voltage: Option<f64>,
    /// Comma-separated alarm names.
    pub alarms: String,
    /// Everything else (cell, vendor attributes, other status fields).
    pub attributes: Value,
}

impl PositionRow {
    /// Maps a decoded position of `device_id` onto its row.
    pub fn from_position(
        device_id: i64,
        p: &protocol::Position,
        server_time: DateTime<Utc>,
    ) -> PositionRow {
        let s = &p.status;
        let mut attrs = serde_json::Map::new();
        if let Some(v) = s.output_cut {
            attrs.insert("output_cut".into(), v.into());
        }
        if let Some(v) = s.door_open {
            attrs.insert("door_open".into(), v.into());
        }
        if let Some(v) = s.power_voltage {
            attrs.insert("power_voltage".into(), f64::from(v).into());
        }
        if let Some(v) = s.gsm_signal {
            attrs.insert("gsm_signal".into(), v.into());
        }
        if let Some(raw) = s.alarms.raw
            && let Ok(v) = serde_json::to_value(raw)
        {
            attrs.insert("raw_alarm".into(), v);
        }
        if let Some(cell) = p.cell
            && let Ok(v) = serde_json::to_value(cell)
        {
            attrs.insert("cell".into(), v);
        }
        for a in &p.attributes {
            if let Ok(v) = serde_json::to_value(&a.value) {
                attrs.insert(a.key.to_string(), v);
            }
        }
        let alarms = s
            .alarms
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",");
        PositionRow {
            device_id,
            fix_time: p.time,
            server_time,
            lat: p.location.lat,
            lon: p.location.lon,
            valid: p.valid,
            speed_kmh: f64::from(p.speed_kmh),
            course: p.course.map(f64::from),
            altitude_m: p.altitude_m.map(f64::from),
            satellites: p.satellites.map(i64::from),
            accuracy_m: p.accuracy_m.map(f64::from),
            odometer_m: p.odometer_m.and_then(|v| i64::try_from(v).ok()),
            archived: p.archived,
            ignition: s.ignition,
            armed: s.armed,
            charging: s.charging,
            battery_level: s.battery_level.map(i64::from),
            battery_voltage: s.battery_voltage.map(f64::from),
            alarms,
            attributes: Value::Object(attrs),
        }
    }
}

/// The columns of a stored position a trajectory needs (`GET …/trajectory` JSON points).
/// Serialised with the keys in the order the API has always used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrackPoint {
    /// Metres.
    pub altitude_m: Option<f64>,
    /// Degrees.
    pub course: Option<f64>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// km/h.
    pub speed_kmh: f64,
    /// Fix time.
    #[serde(rename = "time")]
    pub fix_time: DateTime<Utc>,
    /// GPS fix valid.
    pub valid: bool,
}

/// A stored position as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredPosition {
    /// Row id.
    pub id: i64,
    /// Device row id.
    pub device_id: i64,
    /// Fix time.
    pub fix_time: DateTime<Utc>,
    /// Server receive time.
    pub server_time: DateTime<Utc>,
    /// Latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// GNSS fix valid.
    pub valid: bool,
    /// km/h.
    #[schema(minimum = 0)]
    pub speed_kmh: f64,
    /// Degrees.
    pub course: Option<f64>,
    /// Metres.
    pub altitude_m: Option<f64>,
    /// Satellites.
    pub satellites: Option<i64>,
    /// Metres.
    pub accuracy_m: Option<f64>,
    /// Metres.
    pub odometer_m: Option<i64>,
    /// Re-sent from the device's buffer.
    pub archived: bool,
    /// Ignition.
    pub ignition: Option<bool>,
    /// Anti-theft armed.
    pub armed: Option<bool>,
    /// Charging.
    pub charging: Option<bool>,
    /// Battery percent.
    pub battery_level: Option<i64>,
    /// Battery volts.
    pub battery_voltage: Option<f64>,
    /// Alarm names.
    pub alarms: Vec<String>,
    /// Other attributes.
    pub attributes: Value,
}

impl StoredPosition {
    /// A row as the API shows it; id 0 until it is stored (storage sets the row id).
    pub fn unsaved(row: PositionRow) -> StoredPosition {
        StoredPosition {
            id: 0,
            device_id: row.device_id,
            fix_time: row.fix_time,
            server_time: row.server_time,
            lat: row.lat,
            lon: row.lon,
            valid: row.valid,
            speed_kmh: row.speed_kmh,
            course: row.course,
            altitude_m: row.altitude_m,
            satellites: row.satellites,
            accuracy_m: row.accuracy_m,
            odometer_m: row.odometer_m,
            archived: row.archived,
            ignition: row.ignition,
            armed: row.armed,
            charging: row.charging,
            battery_level: row.battery_level,
            battery_voltage: row.battery_voltage,
            alarms: row
                .alarms
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            attributes: row.attributes,
        }
    }
}
