//! The JSON shape (Transistorsoft background-geolocation, Traccar Client ≥ 9):
//! `{"device_id": "…", "location": {"timestamp": "…", "coords": {…}, "battery": {…}, …}}`,
//! or a batch (`batchSync: true`) where `location` is an array of such objects.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::fields::{Fields, epoch, number, timestamp};
use super::{Network, OsmandConfig, OsmandError, OsmandReport, RequestShape};
use crate::model::{AttrValue, DeviceId, DeviceMessage};

#[derive(Deserialize)]
struct Root {
    #[serde(default)]
    device_id: Option<Value>,
    #[serde(default, deserialize_with = "one_or_many")]
    location: Option<Locations>,
}

enum Locations {
    One(Box<JsonLocation>),
    Many(Vec<JsonLocation>),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonLocation {
    timestamp: Option<Value>,
    coords: Option<Coords>,
    is_moving: Option<bool>,
    odometer: Option<f64>,
    event: Option<String>,
    mock: Option<bool>,
    alarm: Option<String>,
    battery: Option<Battery>,
    activity: Option<Activity>,
    extras: Option<Map<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Coords {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy: Option<f64>,
    speed: Option<f64>,
    heading: Option<f64>,
    altitude: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Battery {
    level: Option<f64>,
    is_charging: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Activity {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `location` as an object or an array, without buffering it through an untagged enum (which
/// would turn every type error into "did not match any variant").
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Locations>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Locations>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a location object or an array of them")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let one = JsonLocation::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(Some(Locations::One(Box::new(one))))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let many =
                Vec::<JsonLocation>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Ok(Some(Locations::Many(many)))
        }
    }
    d.deserialize_any(V)
}

/// Parses a JSON report (the body of a `Content-Type: application/json` request, or a JSON
/// position published over MQTT).
///
/// The body's `device_id` (string or number) names the device; when it has none,
/// `default_device` is used (e.g. the MQTT client or topic id — such a caller should check the
/// two agree when both are present). `location` may be one object or an array (a batch, which
/// becomes [`DeviceMessage::Batch`]). Speeds are m/s, battery level a 0..1 fraction; `extras`
/// become attributes (integral numbers as `Int`).
pub fn parse_json(
    body: &[u8],
    default_device: Option<DeviceId>,
    received_at: DateTime<Utc>,
    config: &OsmandConfig,
) -> Result<OsmandReport, OsmandError> {
    if body.len() > config.max_body_bytes {
        return Err(OsmandError::BodyTooLarge {
            len: body.len(),
            max: config.max_body_bytes,
        });
    }
    parse_json_body(body, default_device, received_at, config)
}

pub(super) fn parse_json_body(
    body: &[u8],
    default_device: Option<DeviceId>,
    received_at: DateTime<Utc>,
    config: &OsmandConfig,
) -> Result<OsmandReport, OsmandError> {
    let root: Root =
        serde_json::from_slice(body).map_err(|e| OsmandError::InvalidJson(e.to_string()))?;
    let device = match root.device_id {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            DeviceId::parse(s.trim()).map_err(OsmandError::InvalidDeviceId)?
        }
        Some(Value::Number(n)) => {
            DeviceId::parse(&n.to_string()).map_err(OsmandError::InvalidDeviceId)?
        }
        Some(Value::String(_)) | Some(Value::Null) | None => {
            default_device.ok_or(OsmandError::MissingDeviceId)?
        }
        Some(_) => {
            return Err(OsmandError::InvalidJson(
                "`device_id` must be a string".into(),
            ));
        }
    };
    let mut skipped_entries = 0;
    let message = match root.location {
        None => DeviceMessage::Status(empty_status()),
        Some(Locations::One(loc)) => location(*loc, "location", received_at, config)?,
        Some(Locations::Many(locs)) => {
            if locs.is_empty() {
                return Err(OsmandError::EmptyBatch);
            }
            if locs.len() > config.max_batch {
                return Err(OsmandError::BatchTooLarge {
                    len: locs.len(),
                    max: config.max_batch,
                });
            }
            let mut positions = Vec::with_capacity(locs.len());
            let mut first_status = None;
            for loc in locs {
                match location(loc, "location[]", received_at, config)? {
                    DeviceMessage::Position(p) => positions.push(p),
                    other => {
                        skipped_entries += 1;
                        first_status.get_or_insert(other);
                    }
                }
            }
            match first_status {
                // Nothing had a fix: report the state the way a single coord-less entry would.
                Some(status) if positions.is_empty() => {
                    skipped_entries -= 1;
                    status
                }
                _ => DeviceMessage::Batch(positions),
            }
        }
    };
    Ok(OsmandReport {
        device,
        shape: RequestShape::Json,
        message,
        network: Network::default(),
        notification_token: None,
        skipped_entries,
    })
}

fn empty_status() -> crate::model::StatusReport {
    crate::model::StatusReport {
        time: None,
        status: Default::default(),
        cell: None,
        attributes: Vec::new(),
    }
}

fn location(
    loc: JsonLocation,
    path: &str,
    received_at: DateTime<Utc>,
    config: &OsmandConfig,
) -> Result<DeviceMessage, OsmandError> {
    let time = match &loc.timestamp {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(timestamp(s, config.local_offset)?),
        Some(Value::Number(n)) => {
            let text = n.to_string();
            Some(epoch(number("location.timestamp", &text)?, &text)?)
        }
        Some(other) => {
            return Err(OsmandError::InvalidTimestamp {
                value: other.to_string().chars().take(64).collect(),
            });
        }
    };
    let mut f = Fields {
        time,
        ..Fields::default()
    };
    if let Some(c) = loc.coords {
        f.lat = c
            .latitude
            .map(|v| finite(v, path, "coords.latitude"))
            .transpose()?;
        f.lon = c
            .longitude
            .map(|v| finite(v, path, "coords.longitude"))
            .transpose()?;
        if let Some(v) = c.speed {
            f.speed(finite(v, path, "coords.speed")? * 3.6);
        }
        if let Some(v) = c.heading {
            f.course(finite(v, path, "coords.heading")?);
        }
        if let Some(v) = c.accuracy {
            let v = finite(v, path, "coords.accuracy")?;
            f.accuracy_m = (v >= 0.0).then_some(v as f32);
        }
        if let Some(v) = c.altitude {
            f.altitude_m = Some(finite(v, path, "coords.altitude")? as f32);
        }
        if f.lat.is_none() && f.lon.is_none() {
            return Err(OsmandError::IncompleteLocation {
                missing: "coords.latitude",
            });
        }
    }
    if let Some(b) = loc.battery {
        if let Some(level) = b.level {
            f.battery_percent(finite(level, path, "battery.level")? * 100.0);
        }
        f.status.charging = b.is_charging;
    }
    if let Some(moving) = loc.is_moving {
        f.push_static("motion", AttrValue::Bool(moving));
    }
    if let Some(odometer) = loc.odometer {
        f.attribute(Cow::Borrowed("odometer"), AttrValue::Float(odometer));
    }
    if let Some(event) = loc.event {
        f.push_static("event", AttrValue::Text(event));
    }
    if let Some(mock) = loc.mock {
        f.push_static("mock", AttrValue::Bool(mock));
    }
    if let Some(kind) = loc.activity.and_then(|a| a.kind) {
        f.push_static("activity", AttrValue::Text(kind));
    }
    if let Some(alarm) = loc.alarm {
        f.alarm(&alarm);
    }
    if let Some(extras) = loc.extras {
        if extras.len() > config.max_params {
            return Err(OsmandError::TooManyParameters {
                max: config.max_params,
            });
        }
        for (key, value) in extras {
            let value = match value {
                Value::Null => continue,
                Value::Bool(b) => AttrValue::Bool(b),
                Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => AttrValue::Int(i),
                    (None, Some(x)) if x.is_finite() => AttrValue::Float(x),
                    _ => AttrValue::Text(n.to_string()),
                },
                Value::String(s) => AttrValue::Text(s),
                nested => AttrValue::Text(nested.to_string()),
            };
            f.attribute(Cow::Owned(key), value);
        }
    }
    f.finish(received_at)
}

fn finite(v: f64, path: &str, field: &str) -> Result<f64, OsmandError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(OsmandError::InvalidNumber {
            field: format!("{path}.{field}"),
            value: v.to_string(),
        })
    }
}
