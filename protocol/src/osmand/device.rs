//! The phone's side: builds the requests an OsmAnd/Traccar Client app sends, for emulators, the
//! load-test simulator and tests. Everything [`super::parse_request`] maps to a typed field is
//! written under the name the parser reads back, so a [`Position`] round-trips (floats within
//! their text precision; query speed in knots, JSON speed in m/s).

use chrono::{SecondsFormat, Timelike};
use serde_json::{Map, Value, json};

use crate::model::{Alarm, AttrValue, DeviceId, Position};

/// The classic OsmAnd URL query (without `?`):
/// `id=…&timestamp=…&lat=…&lon=…&speed=<knots>&bearing=…&altitude=…&accuracy=…&batt=…`, followed
/// by the device state and the attributes. The timestamp is Unix seconds, or milliseconds when
/// the time has a fraction of a second (ISO-8601 before 1973-03-03, where milliseconds would
/// read as seconds, and before 1970).
pub fn query(device: &DeviceId, position: &Position) -> String {
    let mut q = form_urlencoded::Serializer::new(String::with_capacity(128));
    q.append_pair("id", device.as_str());
    let t = position.time;
    // The parser reads integers below 10^11 as seconds and the rest as milliseconds.
    let limit = super::fields::SECONDS_LIMIT;
    let stamp = if t.nanosecond() == 0 && t.timestamp() < limit && t.timestamp() >= 0 {
        t.timestamp().to_string()
    } else if t.timestamp_millis() >= limit {
        t.timestamp_millis().to_string()
    } else {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    };
    q.append_pair("timestamp", &stamp);
    q.append_pair("lat", &position.location.lat.to_string());
    q.append_pair("lon", &position.location.lon.to_string());
    q.append_pair(
        "speed",
        &(f64::from(position.speed_kmh) / 1.852).to_string(),
    );
    if let Some(c) = position.course {
        q.append_pair("bearing", &c.to_string());
    }
    if let Some(a) = position.altitude_m {
        q.append_pair("altitude", &a.to_string());
    }
    if let Some(a) = position.accuracy_m {
        q.append_pair("accuracy", &a.to_string());
    }
    if !position.valid {
        q.append_pair("valid", "false");
    }
    if let Some(s) = position.satellites {
        q.append_pair("sat", &s.to_string());
    }
    if let Some(o) = position.odometer_m {
        q.append_pair("odometer", &o.to_string());
    }
    if let Some(c) = position.cell {
        q.append_pair(
            "cell",
            &format!("{},{},{},{}", c.mcc, c.mnc, c.lac, c.cell_id),
        );
    }
    let st = &position.status;
    if let Some(level) = st.battery_level {
        q.append_pair("batt", &level.to_string());
    }
    for (key, flag) in [
        ("charge", st.charging),
        ("ignition", st.ignition),
        ("armed", st.armed),
        ("blocked", st.output_cut),
        ("door", st.door_open),
    ] {
        if let Some(b) = flag {
            q.append_pair(key, if b { "true" } else { "false" });
        }
    }
    for (key, volts) in [("power", st.power_voltage), ("battery", st.battery_voltage)] {
        if let Some(v) = volts {
            q.append_pair(key, &float_text(f64::from(v)));
        }
    }
    if let Some(rssi) = st.gsm_signal {
        q.append_pair("rssi", &rssi.to_string());
    }
    if let Some(alarms) = alarm_text(position) {
        q.append_pair("alarm", &alarms);
    }
    for attr in &position.attributes {
        let value = match &attr.value {
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Float(f) => float_text(*f),
            AttrValue::Text(s) => s.clone(),
        };
        q.append_pair(&attr.key, &value);
    }
    q.finish()
}

/// `"/?" + query(…)`: a request target for a GET.
pub fn uri(device: &DeviceId, position: &Position) -> String {
    let mut u = String::from("/?");
    u.push_str(&query(device, position));
    u
}

/// The Transistorsoft JSON body Traccar Client ≥ 9 posts for one position. The format has no
/// validity flag (the parser marks JSON fixes valid), so `position.valid` is not sent.
pub fn json(device: &DeviceId, position: &Position) -> String {
    json!({ "device_id": device.as_str(), "location": location(position) }).to_string()
}

/// A `batchSync` JSON body: `location` is an array.
pub fn json_batch(device: &DeviceId, positions: &[Position]) -> String {
    let locations: Vec<Value> = positions.iter().map(location).collect();
    json!({ "device_id": device.as_str(), "location": locations }).to_string()
}

fn location(p: &Position) -> Value {
    let mut coords = Map::new();
    coords.insert("latitude".into(), json!(p.location.lat));
    coords.insert("longitude".into(), json!(p.location.lon));
    coords.insert("speed".into(), json!(f64::from(p.speed_kmh) / 3.6));
    coords.insert("heading".into(), json!(p.course.map_or(-1.0, f64::from)));
    if let Some(a) = p.accuracy_m {
        coords.insert("accuracy".into(), json!(f64::from(a)));
    }
    if let Some(a) = p.altitude_m {
        coords.insert("altitude".into(), json!(f64::from(a)));
    }
    let mut loc = Map::new();
    loc.insert(
        "timestamp".into(),
        json!(p.time.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    loc.insert("coords".into(), Value::Object(coords));
    let st = &p.status;
    let mut battery = Map::new();
    battery.insert(
        "level".into(),
        json!(st.battery_level.map_or(-1.0, |l| f64::from(l) / 100.0)),
    );
    if let Some(c) = st.charging {
        battery.insert("is_charging".into(), json!(c));
    }
    loc.insert("battery".into(), Value::Object(battery));
    if let Some(o) = p.odometer_m {
        loc.insert("odometer".into(), json!(o));
    }
    if let Some(alarms) = alarm_text(p) {
        loc.insert("alarm".into(), json!(alarms));
    }
    let mut extras = Map::new();
    for (key, flag) in [
        ("ignition", st.ignition),
        ("armed", st.armed),
        ("blocked", st.output_cut),
        ("door", st.door_open),
    ] {
        if let Some(b) = flag {
            extras.insert(key.into(), json!(b));
        }
    }
    for (key, volts) in [("power", st.power_voltage), ("battery", st.battery_voltage)] {
        if let Some(v) = volts {
            extras.insert(key.into(), json!(f64::from(v)));
        }
    }
    if let Some(rssi) = st.gsm_signal {
        extras.insert("rssi".into(), json!(rssi));
    }
    if let Some(sat) = p.satellites {
        extras.insert("sat".into(), json!(sat));
    }
    for attr in &p.attributes {
        let value = match &attr.value {
            AttrValue::Bool(b) => json!(b),
            AttrValue::Int(i) => json!(i),
            AttrValue::Float(f) => json!(f),
            AttrValue::Text(s) => json!(s),
        };
        extras.insert(attr.key.to_string(), value);
    }
    loc.insert("extras".into(), Value::Object(extras));
    Value::Object(loc)
}

/// Traccar's names of the position's alarms, comma-joined (the parser reads them back).
fn alarm_text(p: &Position) -> Option<String> {
    let mut text = String::new();
    for alarm in p.status.alarms.iter() {
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(traccar_name(alarm));
    }
    (!text.is_empty()).then_some(text)
}

fn traccar_name(alarm: Alarm) -> &'static str {
    match alarm {
        Alarm::LowBattery => "lowBattery",
        Alarm::PowerCut => "powerCut",
        Alarm::LowPower => "lowPower",
        Alarm::PowerOff => "powerOff",
        Alarm::PowerOn => "powerOn",
        Alarm::GeofenceEnter => "geofenceEnter",
        Alarm::GeofenceExit => "geofenceExit",
        Alarm::FallDown => "fallDown",
        Alarm::HardBraking => "hardBraking",
        Alarm::HardAcceleration => "hardAcceleration",
        Alarm::HardCornering => "hardCornering",
        Alarm::Fatigue => "fatigueDriving",
        Alarm::GpsAntennaCut => "gpsAntennaCut",
        Alarm::FuelLeak => "fuelLeak",
        // Vigil-only alarms have no Traccar name; the parser also accepts Vigil's own names.
        other => other.as_str(),
    }
}

/// A float as text that reads back as a float (`2.0`, not `2`, which would read as an integer).
fn float_text(v: f64) -> String {
    format!("{v:?}")
}
