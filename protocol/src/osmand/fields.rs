//! What the query and JSON shapes have in common: value parsing, the reserved Traccar names, and
//! the builder that turns the collected fields into a [`DeviceMessage`].

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use super::OsmandError;
use crate::model::{
    Alarm, AttrValue, Attribute, CellTower, DeviceMessage, DeviceStatus, LatLon, Position,
    Protocol, RawAlarm, StatusReport,
};

/// Longest piece of client text quoted back in an error.
const QUOTE_MAX: usize = 64;

/// Cuts client text for an error message.
pub(super) fn quote(s: &str) -> String {
    s.chars().take(QUOTE_MAX).collect()
}

/// A finite number, or a clear error naming the field.
pub(super) fn number(field: &str, value: &str) -> Result<f64, OsmandError> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(OsmandError::InvalidNumber {
            field: quote(field),
            value: quote(value),
        }),
    }
}

/// `true`/`false`/`1`/`0` (any case).
pub(super) fn boolean(value: &str) -> Option<bool> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") || v == "1" {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") || v == "0" {
        Some(false)
    } else {
        None
    }
}

/// Below this a numeric timestamp is Unix seconds, from it on milliseconds: 10^11, i.e. a value
/// of at most 11 digits is seconds.
///
/// Traccar switches at 2^31 − 1, which reads a seconds value past 2038-01-19 (4102444800,
/// 2100-01-01) as milliseconds in January 1970. The two readings only meet between 1973-03-03
/// (10^11 ms) and year 5138 (10^11 s): no sender has sent milliseconds of the 1970s or seconds
/// of the 52nd century, so the switch sits there. Negative values are refused (a clock that
/// was never set, not a time).
pub(super) const SECONDS_LIMIT: i64 = 100_000_000_000;

/// Unix seconds or milliseconds (see [`SECONDS_LIMIT`]), fractions allowed → UTC.
pub(super) fn epoch(value: f64, original: &str) -> Result<DateTime<Utc>, OsmandError> {
    if !value.is_finite() || value < 0.0 {
        return Err(bad_time(original));
    }
    let ms = if value < SECONDS_LIMIT as f64 {
        value * 1000.0
    } else {
        value
    };
    // Beyond 2^53 ms the f64 is no longer exact, and chrono stops far earlier anyway.
    if ms > 9.0e15 {
        return Err(bad_time(original));
    }
    DateTime::from_timestamp_millis(ms.round() as i64).ok_or_else(|| bad_time(original))
}

fn bad_time(value: &str) -> OsmandError {
    OsmandError::InvalidTimestamp {
        value: quote(value),
    }
}

/// Every timestamp form OsmAnd senders use; zone-less ones are read in `zone`.
pub(super) fn timestamp(value: &str, zone: FixedOffset) -> Result<DateTime<Utc>, OsmandError> {
    let v = value.trim();
    if let Ok(n) = v.parse::<i64>() {
        if n < 0 {
            return Err(bad_time(value));
        }
        let ms = if n < SECONDS_LIMIT {
            n.checked_mul(1000).ok_or_else(|| bad_time(value))?
        } else {
            n
        };
        return DateTime::from_timestamp_millis(ms).ok_or_else(|| bad_time(value));
    }
    if v.starts_with(|c: char| c.is_ascii_digit()) && !v.contains(['-', ':']) {
        if let Ok(f) = v.parse::<f64>() {
            return epoch(f, value);
        }
        return Err(bad_time(value));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.to_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(v, format) {
            return Ok(t.to_utc());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(v, format) {
            return zone
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.to_utc())
                .ok_or_else(|| bad_time(value));
        }
    }
    Err(bad_time(value))
}

/// A query value as an attribute: integer, finite number, boolean, else text.
pub(super) fn attr_value(text: &str) -> AttrValue {
    if let Ok(i) = text.parse::<i64>() {
        return AttrValue::Int(i);
    }
    if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return AttrValue::Float(f);
    }
    match text {
        "true" => AttrValue::Bool(true),
        "false" => AttrValue::Bool(false),
        _ => AttrValue::Text(text.to_owned()),
    }
}

/// Traccar's alarm names, and Vigil's own snake_case names.
pub(super) fn alarm_from_name(name: &str) -> Option<Alarm> {
    Alarm::from_traccar_name(name).or_else(|| Alarm::from_name(name))
}

/// Stable code of an alarm text no table knows: 32-bit FNV-1a of its bytes.
pub fn alarm_code(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Everything a request said, before it becomes a position or a status.
#[derive(Debug, Default)]
pub(super) struct Fields {
    pub time: Option<DateTime<Utc>>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub valid: Option<bool>,
    pub speed_kmh: Option<f64>,
    pub course: Option<f32>,
    pub altitude_m: Option<f32>,
    pub accuracy_m: Option<f32>,
    pub satellites: Option<u8>,
    pub odometer_m: Option<u64>,
    pub cell: Option<CellTower>,
    pub status: DeviceStatus,
    pub attributes: Vec<Attribute>,
}

impl Fields {
    /// Adds an attribute, or fills the typed field Traccar reserves the name for when the value
    /// has that field's type.
    pub fn attribute(&mut self, key: Cow<'_, str>, value: AttrValue) {
        let num = match &value {
            AttrValue::Int(i) => Some(*i as f64),
            AttrValue::Float(f) => Some(*f),
            _ => None,
        };
        let flag = match &value {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        };
        let st = &mut self.status;
        let used = match (key.as_ref(), flag, num) {
            ("ignition", Some(b), _) => set(&mut st.ignition, b),
            ("armed", Some(b), _) => set(&mut st.armed, b),
            ("blocked", Some(b), _) => set(&mut st.output_cut, b),
            ("door", Some(b), _) => set(&mut st.door_open, b),
            ("charge", Some(b), _) => set(&mut st.charging, b),
            ("power", _, Some(v)) => set(&mut st.power_voltage, v as f32),
            ("battery", _, Some(v)) => set(&mut st.battery_voltage, v as f32),
            ("batteryLevel", _, Some(v)) => {
                percent(v).is_some_and(|p| set(&mut st.battery_level, p))
            }
            ("rssi", _, Some(v)) => small(v).is_some_and(|s| set(&mut st.gsm_signal, s)),
            ("sat", _, Some(v)) => small(v).is_some_and(|s| set(&mut self.satellites, s)),
            ("odometer", _, Some(v)) => metres(v).is_some_and(|m| set(&mut self.odometer_m, m)),
            ("alarm", _, _) => {
                if let AttrValue::Text(text) = &value {
                    self.alarm(text);
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if !used {
            self.push(key, value);
        }
    }

    /// Appends an attribute as is.
    pub fn push(&mut self, key: Cow<'_, str>, value: AttrValue) {
        let key = match key {
            Cow::Borrowed(k) => Cow::Owned(k.to_owned()),
            Cow::Owned(k) => Cow::Owned(k),
        };
        self.attributes.push(Attribute { key, value });
    }

    /// Appends an attribute whose name is a literal.
    pub fn push_static(&mut self, key: &'static str, value: AttrValue) {
        self.attributes.push(Attribute {
            key: Cow::Borrowed(key),
            value,
        });
    }

    /// Maps a comma-separated alarm text; an unknown name becomes the raw code and keeps the
    /// whole text as the `alarm` attribute.
    pub fn alarm(&mut self, text: &str) {
        let mut unknown = None;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match alarm_from_name(name) {
                Some(alarm) => self.status.alarms.insert(alarm),
                None => unknown = unknown.or(Some(name)),
            }
        }
        if let Some(name) = unknown {
            if self.status.alarms.raw.is_none() {
                self.status.alarms.raw = Some(RawAlarm {
                    protocol: Protocol::Osmand,
                    code: alarm_code(name),
                });
            }
            self.push_static("alarm", AttrValue::Text(text.to_owned()));
        }
    }

    /// Battery level in percent; out-of-range values are kept as the `batt` attribute.
    pub fn battery_percent(&mut self, value: f64) {
        if value < 0.0 {
            return;
        }
        match percent(value) {
            Some(p) => self.status.battery_level = Some(p),
            None => self.push_static("batt", AttrValue::Float(value)),
        }
    }

    /// A course in degrees; negative means unknown.
    pub fn course(&mut self, degrees: f64) {
        self.course = (degrees >= 0.0).then(|| degrees.rem_euclid(360.0) as f32);
    }

    /// A speed already in km/h; negative means unknown.
    pub fn speed(&mut self, kmh: f64) {
        self.speed_kmh = (kmh >= 0.0).then_some(kmh);
    }

    /// A position when a location was sent (and is not the 0,0 "no fix"), else a status.
    pub fn finish(self, received_at: DateTime<Utc>) -> Result<DeviceMessage, OsmandError> {
        let location = match (self.lat, self.lon) {
            (None, None) => None,
            (Some(_), None) => return Err(OsmandError::IncompleteLocation { missing: "lon" }),
            (None, Some(_)) => return Err(OsmandError::IncompleteLocation { missing: "lat" }),
            (Some(lat), Some(lon)) if lat == 0.0 && lon == 0.0 => None,
            (Some(lat), Some(lon)) => {
                Some(LatLon::new(lat, lon).map_err(OsmandError::InvalidCoordinates)?)
            }
        };
        let Some(location) = location else {
            return Ok(DeviceMessage::Status(StatusReport {
                time: self.time,
                status: self.status,
                cell: self.cell,
                attributes: self.attributes,
            }));
        };
        Ok(DeviceMessage::Position(Position {
            time: self.time.unwrap_or(received_at),
            location,
            valid: self.valid.unwrap_or(true),
            speed_kmh: self.speed_kmh.unwrap_or(0.0) as f32,
            course: self.course,
            altitude_m: self.altitude_m,
            satellites: self.satellites,
            accuracy_m: self.accuracy_m,
            odometer_m: self.odometer_m,
            cell: self.cell,
            archived: false,
            status: self.status,
            attributes: self.attributes,
        }))
    }
}

fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    *slot = Some(value);
    true
}

fn percent(v: f64) -> Option<u8> {
    (0.0..=100.0).contains(&v).then(|| v.round() as u8)
}

fn small(v: f64) -> Option<u8> {
    (v.fract() == 0.0 && (0.0..=255.0).contains(&v)).then_some(v as u8)
}

fn metres(v: f64) -> Option<u64> {
    (0.0..1.0e15).contains(&v).then(|| v.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn timestamps_in_every_form() {
        let t = |s: &str| timestamp(s, utc()).map(|t| t.to_rfc3339());
        assert_eq!(t("1377177267").unwrap(), "2013-08-22T13:14:27+00:00");
        assert_eq!(t("1442068686579").unwrap(), "2015-09-12T14:38:06.579+00:00");
        assert_eq!(
            t("2016-01-27T18:55:47Z").unwrap(),
            "2016-01-27T18:55:47+00:00"
        );
        assert_eq!(
            t("2016-01-27T18:55:47+0200").unwrap(),
            "2016-01-27T16:55:47+00:00"
        );
        assert_eq!(
            t("2014-06-04 09:10:11").unwrap(),
            "2014-06-04T09:10:11+00:00"
        );
        assert_eq!(t("1377177267.5").unwrap(), "2013-08-22T13:14:27.500+00:00");
        // Seconds up to 11 digits, milliseconds from 12 on: 2100 in seconds stays 2100 (the
        // server then refuses it as future), 14 digits are milliseconds (year 5138).
        assert_eq!(t("4102444800").unwrap(), "2100-01-01T00:00:00+00:00");
        assert_eq!(t("99999999999").unwrap(), "5138-11-16T09:46:39+00:00");
        assert_eq!(t("100000000000").unwrap(), "1973-03-03T09:46:40+00:00");
        assert_eq!(
            t("99999999999999").unwrap(),
            "5138-11-16T09:46:39.999+00:00"
        );
        assert_eq!(t("4102444800.25").unwrap(), "2100-01-01T00:00:00.250+00:00");
        assert_eq!(
            t("1442068686579.0").unwrap(),
            "2015-09-12T14:38:06.579+00:00"
        );
        assert_eq!(t("0").unwrap(), "1970-01-01T00:00:00+00:00");
        let plus2 = FixedOffset::east_opt(7200).unwrap_or_else(|| unreachable!());
        assert_eq!(
            timestamp("2014-06-04 09:10:11", plus2)
                .unwrap()
                .to_rfc3339(),
            "2014-06-04T07:10:11+00:00"
        );
        for bad in [
            "",
            "yesterday",
            "2014-13-04 09:10:11",
            "NaN",
            "inf",
            "-1",
            "-1377177267",
            "-0.5",
            "9".repeat(30).as_str(),
        ] {
            assert!(
                matches!(t(bad), Err(OsmandError::InvalidTimestamp { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_numbers_follow_the_same_rule() {
        let e = |v: f64| epoch(v, &v.to_string()).map(|t| t.to_rfc3339());
        assert_eq!(e(4102444800.0).unwrap(), "2100-01-01T00:00:00+00:00");
        assert_eq!(e(1442068686579.0).unwrap(), "2015-09-12T14:38:06.579+00:00");
        assert_eq!(e(1377177267.25).unwrap(), "2013-08-22T13:14:27.250+00:00");
        for bad in [-1.0, -0.001, f64::NAN, f64::INFINITY, 1.0e17] {
            assert!(
                matches!(e(bad), Err(OsmandError::InvalidTimestamp { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn attribute_values_are_typed() {
        assert_eq!(attr_value("933"), AttrValue::Int(933));
        assert_eq!(attr_value("1.5"), AttrValue::Float(1.5));
        assert_eq!(attr_value("true"), AttrValue::Bool(true));
        assert_eq!(attr_value("NaN"), AttrValue::Text("NaN".into()));
        assert_eq!(attr_value("abc"), AttrValue::Text("abc".into()));
    }

    #[test]
    fn alarms_map_and_unknown_ones_are_kept() {
        let mut f = Fields::default();
        f.alarm("sos,powerCut");
        assert!(f.status.alarms.contains(Alarm::Sos) && f.status.alarms.contains(Alarm::PowerCut));
        assert!(f.attributes.is_empty());
        let mut f = Fields::default();
        f.alarm("sos,meteorite");
        assert!(f.status.alarms.contains(Alarm::Sos));
        assert_eq!(
            f.status.alarms.raw,
            Some(RawAlarm {
                protocol: Protocol::Osmand,
                code: alarm_code("meteorite")
            })
        );
        assert_eq!(alarm_code("meteorite"), alarm_code("meteorite"));
        assert_eq!(
            f.attributes[0].value,
            AttrValue::Text("sos,meteorite".into())
        );
    }

    #[test]
    fn reserved_names_fill_typed_fields_only_with_the_right_type() {
        let mut f = Fields::default();
        f.attribute(Cow::Borrowed("ignition"), AttrValue::Bool(true));
        f.attribute(Cow::Borrowed("power"), AttrValue::Float(12.5));
        f.attribute(Cow::Borrowed("ignition"), AttrValue::Text("maybe".into()));
        assert_eq!(f.status.ignition, Some(true));
        assert_eq!(f.status.power_voltage, Some(12.5));
        assert_eq!(f.attributes.len(), 1);
    }
}
