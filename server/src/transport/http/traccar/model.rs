//! Traccar's JSON shapes and the mapping of Vigil's values onto them: speeds in knots,
//! Traccar's attribute and alarm names, fences as Traccar's WKT (latitude first), alarms and
//! connection events as Traccar events. Pure: everything a value needs is passed in.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::domain::alarms::{AlarmKind, AlarmView};
use crate::domain::{Device, DeviceEvent, Role, StoredPosition, User};

/// km/h in one knot (Traccar's speeds are knots).
pub const KMH_PER_KNOT: f64 = 1.852;

/// Speeds above this many knots set `motion` (Traccar's default motion threshold).
pub const MOTION_KNOTS: f64 = 0.01;

/// Traccar's time format: ISO 8601 with milliseconds and a numeric offset.
fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00"))
}

fn ser_opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_time(t, s),
        None => s.serialize_none(),
    }
}

/// A device's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// Connected now.
    Online,
    /// Heard from before, not connected now.
    Offline,
    /// Never heard from.
    Unknown,
}

impl DeviceStatus {
    /// The status of a device with its connection state.
    pub fn of(device: &Device, online: bool) -> DeviceStatus {
        if online {
            DeviceStatus::Online
        } else if device.last_seen_at.is_some() {
            DeviceStatus::Offline
        } else {
            DeviceStatus::Unknown
        }
    }
}

/// Traccar's `Device`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TraccarDevice)]
pub struct TraccarDevice {
    /// Device row id (the `deviceId` of positions and events).
    pub id: i64,
    /// Display name.
    pub name: String,
    /// The identifier the device reports (IMEI, …).
    pub unique_id: String,
    /// `online`, `offline` or `unknown`.
    pub status: DeviceStatus,
    /// Always false.
    pub disabled: bool,
    /// Last time the device said anything.
    #[serde(serialize_with = "ser_opt_time")]
    #[schema(value_type = Option<String>)]
    pub last_update: Option<DateTime<Utc>>,
    /// Id of its latest position (0: none).
    pub position_id: i64,
    /// Always 0 (Vigil has no device groups).
    pub group_id: i64,
    /// Always null.
    pub phone: Option<String>,
    /// The protocol it speaks.
    pub model: Option<String>,
    /// Always null.
    pub contact: Option<String>,
    /// Always null.
    pub category: Option<String>,
    /// Always empty.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl TraccarDevice {
    /// A device with its connection state and latest position id.
    pub fn new(device: &Device, online: bool, position_id: Option<i64>) -> TraccarDevice {
        TraccarDevice {
            id: device.id,
            name: device.name.clone(),
            unique_id: device.unique_id.to_string(),
            status: DeviceStatus::of(device, online),
            disabled: false,
            last_update: device.last_seen_at,
            position_id: position_id.unwrap_or(0),
            group_id: 0,
            phone: None,
            model: device.protocol.clone(),
            contact: None,
            category: None,
            attributes: Map::new(),
        }
    }
}

/// Traccar's `Position`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TraccarPosition)]
pub struct TraccarPosition {
    /// Position row id (0 on a live position not stored yet).
    pub id: i64,
    /// Device row id.
    pub device_id: i64,
    /// The protocol the device speaks.
    pub protocol: Option<String>,
    /// The fix time (Vigil keeps one time per fix).
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String)]
    pub device_time: DateTime<Utc>,
    /// The fix time.
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String)]
    pub fix_time: DateTime<Utc>,
    /// When the server received it.
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String)]
    pub server_time: DateTime<Utc>,
    /// Always false.
    pub outdated: bool,
    /// GNSS fix valid.
    pub valid: bool,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Metres (0 when unknown).
    pub altitude: f64,
    /// Knots.
    pub speed: f64,
    /// Degrees (0 when unknown).
    pub course: f64,
    /// Always null (no reverse geocoding).
    pub address: Option<String>,
    /// Metres (0 when unknown).
    pub accuracy: f64,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub network: Option<Value>,
    /// The assigned fences the fix is inside.
    pub geofence_ids: Vec<i64>,
    /// Traccar's attribute names (`batteryLevel`, `ignition`, `motion`, `alarm`, …).
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// Traccar's alarm name for an alarm kind (the `alarm` attribute of positions and alarm
/// events). `theft` and `illegalIgnition` have no Traccar constant and keep Vigil's meaning
/// in Traccar's spelling; `offline` is not an alarm in Traccar (see [`event_type`]).
pub fn alarm_name(kind: AlarmKind) -> &'static str {
    use AlarmKind::*;
    match kind {
        Sos => "sos",
        Vibration => "vibration",
        LowBattery => "lowBattery",
        PowerCut => "powerCut",
        LowPower => "lowPower",
        PowerOff => "powerOff",
        PowerOn => "powerOn",
        Overspeed => "overspeed",
        GeofenceEnter => "geofenceEnter",
        GeofenceExit => "geofenceExit",
        Geofence => "geofence",
        Movement => "movement",
        Tow => "tow",
        Tampering => "tampering",
        Removing => "removing",
        Theft => "theft",
        IllegalIgnition => "illegalIgnition",
        Door => "door",
        Accident => "accident",
        FallDown => "fallDown",
        HardBraking => "hardBraking",
        HardAcceleration => "hardAcceleration",
        HardCornering => "hardCornering",
        Fatigue => "fatigueDriving",
        GpsAntennaCut => "gpsAntennaCut",
        Fault => "fault",
        Jamming => "jamming",
        Parking => "parking",
        Idle => "idle",
        FuelLeak => "fuelLeak",
        Temperature => "temperature",
        General => "general",
        Offline => "offline",
    }
}

/// Vigil's position attributes that Traccar names otherwise.
const RENAMED: [(&str, &str); 5] = [
    ("output_cut", "blocked"),
    ("door_open", "door"),
    ("power_voltage", "power"),
    ("gsm_signal", "rssi"),
    ("raw_alarm", "alarmCode"),
];

impl TraccarPosition {
    /// A stored position of a device speaking `protocol`; `geofence_ids` are the assigned
    /// fences it is inside.
    pub fn new(
        p: &StoredPosition,
        protocol: Option<String>,
        geofence_ids: Vec<i64>,
    ) -> TraccarPosition {
        let speed = p.speed_kmh / KMH_PER_KNOT;
        let mut a = Map::new();
        for (key, value) in p.attributes.as_object().into_iter().flatten() {
            let key = RENAMED
                .iter()
                .find(|(from, _)| from == key)
                .map_or(key.as_str(), |(_, to)| to);
            a.insert(key.to_owned(), value.clone());
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                a.insert(k.to_owned(), v);
            }
        };
        put("batteryLevel", p.battery_level.map(Value::from));
        put("battery", p.battery_voltage.map(Value::from));
        put("ignition", p.ignition.map(Value::from));
        put("charge", p.charging.map(Value::from));
        put("armed", p.armed.map(Value::from));
        put("sat", p.satellites.map(Value::from));
        put("odometer", p.odometer_m.map(Value::from));
        put("archive", p.archived.then_some(Value::Bool(true)));
        put("motion", Some(Value::Bool(speed > MOTION_KNOTS)));
        let alarms: Vec<&str> = p
            .alarms
            .iter()
            .filter_map(|n| AlarmKind::parse(n).map(alarm_name))
            .collect();
        put(
            "alarm",
            (!alarms.is_empty()).then(|| alarms.join(",").into()),
        );
        TraccarPosition {
            id: p.id,
            device_id: p.device_id,
            protocol,
            device_time: p.fix_time,
            fix_time: p.fix_time,
            server_time: p.server_time,
            outdated: false,
            valid: p.valid,
            latitude: p.lat,
            longitude: p.lon,
            altitude: p.altitude_m.unwrap_or(0.0),
            speed,
            course: p.course.unwrap_or(0.0),
            address: None,
            accuracy: p.accuracy_m.unwrap_or(0.0),
            network: None,
            geofence_ids,
            attributes: a,
        }
    }
}

/// Traccar's `Geofence`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TraccarGeofence)]
pub struct TraccarGeofence {
    /// Fence id.
    pub id: i64,
    /// Name (empty when unnamed).
    pub name: String,
    /// Always null.
    pub description: Option<String>,
    /// The shape as Traccar's WKT, latitude first.
    pub area: String,
    /// Always 0.
    pub calendar_id: i64,
    /// `kind` (Vigil's fence kind), `polylineDistance` (corridors: half-width, metres).
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl TraccarGeofence {
    /// A fence.
    pub fn new(fence: &geofence::Fence) -> TraccarGeofence {
        let mut attributes = Map::new();
        attributes.insert("kind".into(), fence.kind.as_str().into());
        if let geofence::ShapeView::Corridor { half_width_m, .. } = fence.shape.view() {
            attributes.insert("polylineDistance".into(), half_width_m.into());
        }
        TraccarGeofence {
            id: fence.id.0 as i64,
            name: fence.name.clone().unwrap_or_default(),
            description: None,
            area: wkt(&fence.shape.view()),
            calendar_id: 0,
            attributes,
        }
    }
}

/// `lat lon, lat lon, …` of a ring or line.
fn points(coords: &[geofence::geo::Coord<f64>]) -> String {
    coords
        .iter()
        .map(|c| format!("{} {}", c.y, c.x))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `((ring), (hole), …)` of one polygon.
fn rings(polygon: &[&[geofence::geo::Coord<f64>]]) -> String {
    let inner: Vec<String> = polygon.iter().map(|r| format!("({})", points(r))).collect();
    format!("({})", inner.join(", "))
}

/// A shape as Traccar's WKT, latitude first: `CIRCLE (lat lon, radius)`,
/// `POLYGON ((lat lon, …))` (holes as further rings), `LINESTRING (lat lon, …)` for a
/// corridor (its half-width is the `polylineDistance` attribute), and `MULTIPOLYGON` for
/// several polygons (standard WKT; Traccar itself has no multi-polygon fences).
pub fn wkt(shape: &geofence::ShapeView<'_>) -> String {
    match shape {
        geofence::ShapeView::Circle { center, radius_m } => {
            format!("CIRCLE ({} {}, {})", center.y, center.x, radius_m)
        }
        geofence::ShapeView::Corridor { line, .. } => format!("LINESTRING ({})", points(line)),
        geofence::ShapeView::Area { polygons, .. } if polygons.len() == 1 => {
            format!("POLYGON {}", rings(&polygons[0]))
        }
        geofence::ShapeView::Area { polygons, .. } => {
            let all: Vec<String> = polygons.iter().map(|p| rings(p)).collect();
            format!("MULTIPOLYGON ({})", all.join(", "))
        }
    }
}

/// Traccar's `Event`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TraccarEvent)]
pub struct TraccarEvent {
    /// Alarm `a`: `2a`; connection event `e`: `2e + 1` (one id space for both sources).
    pub id: i64,
    /// `alarm`, `geofenceEnter`, `geofenceExit`, `deviceOnline`, `deviceOffline`,
    /// `deviceInactive`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it happened.
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String)]
    pub event_time: DateTime<Utc>,
    /// Device row id.
    pub device_id: i64,
    /// Always 0.
    pub position_id: i64,
    /// Always 0 (Vigil's alarms do not keep the fence).
    pub geofence_id: i64,
    /// Always 0.
    pub maintenance_id: i64,
    /// `alarm` (Traccar's alarm name) on alarm events.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// The Traccar event type of an alarm kind.
pub fn event_type(kind: AlarmKind) -> &'static str {
    match kind {
        AlarmKind::GeofenceEnter => "geofenceEnter",
        AlarmKind::GeofenceExit => "geofenceExit",
        // An armed vehicle silent for too long.
        AlarmKind::Offline => "deviceInactive",
        _ => "alarm",
    }
}

impl TraccarEvent {
    /// An alarm as the event of its first occurrence.
    pub fn alarm(a: &AlarmView) -> TraccarEvent {
        let kind = event_type(a.kind);
        let mut attributes = Map::new();
        if kind == "alarm" {
            attributes.insert("alarm".into(), alarm_name(a.kind).into());
        }
        TraccarEvent {
            id: a.id.saturating_mul(2),
            kind,
            event_time: a.first_time,
            device_id: a.device_id,
            position_id: 0,
            geofence_id: 0,
            maintenance_id: 0,
            attributes,
        }
    }

    /// A connection event (`connect`: `deviceOnline`, `disconnect`: `deviceOffline`); other
    /// entries of the device event log have no Traccar event.
    pub fn connection(e: &DeviceEvent) -> Option<TraccarEvent> {
        let kind = match e.kind.as_str() {
            "connect" => "deviceOnline",
            "disconnect" => "deviceOffline",
            _ => return None,
        };
        Some(TraccarEvent {
            id: e.id.saturating_mul(2).saturating_add(1),
            kind,
            event_time: e.time,
            device_id: e.device_id?,
            position_id: 0,
            geofence_id: 0,
            maintenance_id: 0,
            attributes: Map::new(),
        })
    }
}

/// Traccar's `User`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TraccarUser)]
pub struct TraccarUser {
    /// User row id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Login name.
    pub login: String,
    /// Login name (Vigil logs in with it).
    pub email: String,
    /// Always false.
    pub readonly: bool,
    /// Administrators.
    pub administrator: bool,
    /// Always false.
    pub disabled: bool,
    /// Everyone but administrators (devices are created by administrators).
    pub device_readonly: bool,
    /// Always false.
    pub limit_commands: bool,
    /// `role`: Vigil's role.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl TraccarUser {
    /// A user.
    pub fn new(u: &User) -> TraccarUser {
        let mut attributes = Map::new();
        attributes.insert("role".into(), u.role.as_str().into());
        TraccarUser {
            id: u.id,
            name: u.name.clone(),
            login: u.email.clone(),
            email: u.email.clone(),
            readonly: false,
            administrator: u.role == Role::Admin,
            disabled: false,
            device_readonly: u.role != Role::Admin,
            limit_commands: false,
            attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geofence::geo::{Coord, LineString, Point, Polygon};

    #[test]
    fn wkt_is_latitude_first() {
        let circle = geofence::FenceShape::circle(Point::new(114.0, 22.5), 250.0).unwrap();
        assert_eq!(wkt(&circle.view()), "CIRCLE (22.5 114, 250)");
        let square = Polygon::new(
            LineString::from(vec![
                (114.0, 22.5),
                (114.01, 22.5),
                (114.01, 22.51),
                (114.0, 22.5),
            ]),
            vec![],
        );
        let area = geofence::FenceShape::polygon(&square).unwrap();
        assert_eq!(
            wkt(&area.view()),
            "POLYGON ((22.5 114, 22.5 114.01, 22.51 114.01, 22.5 114))"
        );
        let line = LineString::new(vec![
            Coord { x: 114.0, y: 22.5 },
            Coord { x: 114.1, y: 22.6 },
        ]);
        let corridor = geofence::FenceShape::corridor(&line, 30.0).unwrap();
        assert_eq!(wkt(&corridor.view()), "LINESTRING (22.5 114, 22.6 114.1)");
    }

    #[test]
    fn every_alarm_kind_has_a_camel_case_name() {
        for k in AlarmKind::ALL {
            let n = alarm_name(k);
            assert!(!n.contains('_'), "{n}");
        }
        assert_eq!(alarm_name(AlarmKind::PowerCut), "powerCut");
        assert_eq!(alarm_name(AlarmKind::Fatigue), "fatigueDriving");
        assert_eq!(event_type(AlarmKind::GeofenceExit), "geofenceExit");
        assert_eq!(event_type(AlarmKind::Sos), "alarm");
    }
}
