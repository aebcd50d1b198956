//! Malformed and edge-case requests.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::model::{Alarm, AttrValue, DeviceMessage};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 15, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn get(uri: &str) -> Result<OsmandReport, OsmandError> {
    parse_request("GET", uri, None, b"", now(), &OsmandConfig::default())
}

fn position(r: &OsmandReport) -> &crate::model::Position {
    match &r.message {
        DeviceMessage::Position(p) => p,
        other => panic!("expected a position, got {other:?}"),
    }
}

#[test]
fn missing_or_bad_id_is_a_400() {
    for uri in ["/?lat=1&lon=2", "/?id=&lat=1&lon=2", "/", "/?", "/?&&"] {
        let e = get(uri).unwrap_err();
        assert_eq!(e, OsmandError::MissingDeviceId, "{uri}");
        assert_eq!(e.http_status(), 400);
    }
    let e = get("/?id=a%20b&lat=1&lon=2").unwrap_err();
    assert!(matches!(e, OsmandError::InvalidDeviceId(_)));
}

#[test]
fn bad_numbers_name_the_field() {
    let e = get("/?id=1&lat=north&lon=2").unwrap_err();
    assert_eq!(
        e,
        OsmandError::InvalidNumber {
            field: "lat".into(),
            value: "north".into()
        }
    );
    assert!(e.to_string().contains("`lat`"));
    assert!(matches!(
        get("/?id=1&lat=NaN&lon=2"),
        Err(OsmandError::InvalidNumber { .. })
    ));
    assert!(matches!(
        get("/?id=1&lat=1&lon=2&speed=fast"),
        Err(OsmandError::InvalidNumber { field, .. }) if field == "speed"
    ));
    assert!(matches!(
        get("/?id=1&timestamp=tomorrow&lat=1&lon=2"),
        Err(OsmandError::InvalidTimestamp { .. })
    ));
}

#[test]
fn coordinates_are_validated() {
    assert!(matches!(
        get("/?id=1&lat=91&lon=2"),
        Err(OsmandError::InvalidCoordinates(_))
    ));
    assert!(matches!(
        get("/?id=1&lat=1"),
        Err(OsmandError::IncompleteLocation { missing: "lon" })
    ));
    assert!(matches!(
        get("/?id=1&location=1"),
        Err(OsmandError::InvalidValue { .. })
    ));
    // 0,0 is "no fix": the server reuses the last location.
    let r = get("/?id=1&lat=0&lon=0&batt=50").unwrap();
    assert!(
        matches!(r.message, DeviceMessage::Status(ref s) if s.status.battery_level == Some(50))
    );
}

#[test]
fn limits_are_enforced() {
    let config = OsmandConfig {
        max_params: 3,
        max_body_bytes: 10,
        max_query_bytes: 40,
        ..OsmandConfig::default()
    };
    let e = parse_request("GET", "/?id=1&a=1&b=2&c=3", None, b"", now(), &config).unwrap_err();
    assert_eq!(e, OsmandError::TooManyParameters { max: 3 });
    let e = parse_request("POST", "/", None, &[b'a'; 11], now(), &config).unwrap_err();
    assert_eq!(e.http_status(), 413);
    let long = format!("/?id=1&x={}", "y".repeat(40));
    let e = parse_request("GET", &long, None, b"", now(), &config).unwrap_err();
    assert_eq!(e.http_status(), 414);
}

#[test]
fn speed_units_and_query_fields() {
    let r = get("/?id=dev-1&lat=1.5&lon=2.5&speed=10&bearing=-1&altitude=5&accuracy=3&hdop=1.2&batt=87&charge=true&valid=0&driverUniqueId=drv%2B1&timestamp=2014-06-04+09%3A10%3A11").unwrap();
    assert_eq!(r.device.as_str(), "dev-1");
    assert_eq!(r.shape, RequestShape::Query);
    let p = position(&r);
    assert!((p.speed_kmh - 18.52).abs() < 1e-4);
    assert_eq!(p.course, None);
    assert_eq!(p.altitude_m, Some(5.0));
    assert_eq!(p.accuracy_m, Some(3.0));
    assert!(!p.valid);
    assert_eq!(p.status.battery_level, Some(87));
    assert_eq!(p.status.charging, Some(true));
    assert_eq!(p.attribute("hdop"), Some(&AttrValue::Float(1.2)));
    assert_eq!(
        p.attribute("driverUniqueId"),
        Some(&AttrValue::Text("drv+1".into()))
    );
    assert_eq!(p.time.to_rfc3339(), "2014-06-04T09:10:11+00:00");
    for (unit, kmh) in [
        (SpeedUnit::Kmh, 10.0),
        (SpeedUnit::Mps, 36.0),
        (SpeedUnit::Mph, 16.09344),
    ] {
        let config = OsmandConfig {
            speed_unit: unit,
            ..OsmandConfig::default()
        };
        let r = parse_request(
            "GET",
            "/?id=1&lat=1&lon=1&speed=10",
            None,
            b"",
            now(),
            &config,
        )
        .unwrap();
        assert!((position(&r).speed_kmh - kmh).abs() < 1e-4, "{unit:?}");
    }
}

#[test]
fn reserved_names_cells_and_wifi() {
    let r = get("/?id=1&lat=1&lon=1&ignition=true&alarm=sos&rpm=933&note=hello+world&cell=257,02,16,2224&cell=257,02,16,2223,-90&wifi=00-14-22-01-23-45,-80&notificationToken=abc").unwrap();
    let p = position(&r);
    assert_eq!(p.status.ignition, Some(true));
    assert!(p.status.alarms.contains(Alarm::Sos));
    assert_eq!(p.attribute("rpm"), Some(&AttrValue::Int(933)));
    assert_eq!(
        p.attribute("note"),
        Some(&AttrValue::Text("hello world".into()))
    );
    assert_eq!(p.attribute("alarm"), None);
    assert_eq!(r.network.cells.len(), 2);
    assert_eq!(r.network.cells[1].rssi, Some(-90));
    assert_eq!(p.cell.map(|c| c.cell_id), Some(2224));
    assert_eq!(r.network.wifi[0].to_string(), "00:14:22:01:23:45");
    assert_eq!(r.notification_token.as_deref(), Some("abc"));
    for bad in [
        "cell=1,2,3",
        "cell=a,2,3,4",
        "wifi=00-14-22,1",
        "wifi=zz-14-22-01-23-45,1",
    ] {
        assert!(
            matches!(
                get(&format!("/?id=1&{bad}")),
                Err(OsmandError::InvalidValue { .. })
            ),
            "{bad}"
        );
    }
    let r = get("/?id=1&alarm=meteorite").unwrap();
    let DeviceMessage::Status(s) = &r.message else {
        panic!("expected a status");
    };
    assert!(s.status.alarms.raw.is_some());
    assert_eq!(s.attributes[0].value, AttrValue::Text("meteorite".into()));
}

#[test]
fn form_body_is_used_when_the_query_is_empty() {
    let body = b"id=42&lat=10&lon=20";
    let r = parse_request(
        "POST",
        "/",
        Some("application/x-www-form-urlencoded"),
        body,
        now(),
        &OsmandConfig::default(),
    )
    .unwrap();
    assert_eq!(r.shape, RequestShape::Form);
    assert_eq!(position(&r).location.lat, 10.0);
    // GET bodies are ignored.
    assert!(parse_request("GET", "/", None, body, now(), &OsmandConfig::default()).is_err());
}

#[test]
fn json_shapes_and_errors() {
    let cfg = OsmandConfig::default();
    let json = |body: &str| {
        parse_request(
            "POST",
            "/",
            Some("application/json; charset=utf-8"),
            body.as_bytes(),
            now(),
            &cfg,
        )
    };
    let r = json(r#"{"device_id":"7","location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":1,"longitude":2,"speed":10,"heading":90,"accuracy":5},"battery":{"level":0.5,"is_charging":true},"is_moving":true,"odometer":1234.4,"event":"motionchange","activity":{"type":"walking"},"extras":{"n":12,"f":1.5,"ignition":true}}}"#).unwrap();
    assert_eq!(r.shape, RequestShape::Json);
    let p = position(&r);
    assert!((p.speed_kmh - 36.0).abs() < 1e-4);
    assert_eq!(p.course, Some(90.0));
    assert_eq!(p.status.battery_level, Some(50));
    assert_eq!(p.status.charging, Some(true));
    assert_eq!(p.status.ignition, Some(true));
    assert_eq!(p.odometer_m, Some(1234));
    assert_eq!(p.attribute("motion"), Some(&AttrValue::Bool(true)));
    assert_eq!(
        p.attribute("activity"),
        Some(&AttrValue::Text("walking".into()))
    );
    assert_eq!(p.attribute("n"), Some(&AttrValue::Int(12)));
    assert_eq!(p.attribute("f"), Some(&AttrValue::Float(1.5)));

    // No coords: a status report (the server reuses the last location).
    let r = json(r#"{"device_id":7,"location":{"battery":{"level":0.3}}}"#).unwrap();
    assert_eq!(r.device.as_str(), "7");
    assert!(
        matches!(r.message, DeviceMessage::Status(ref s) if s.status.battery_level == Some(30))
    );

    // Batch.
    let r = json(r#"{"device_id":"7","location":[{"coords":{"latitude":1,"longitude":2}},{"event":"x"},{"coords":{"latitude":3,"longitude":4}}]}"#).unwrap();
    assert!(matches!(r.message, DeviceMessage::Batch(ref ps) if ps.len() == 2));
    assert_eq!(r.skipped_entries, 1);
    assert_eq!(
        json(r#"{"device_id":"7","location":[]}"#).unwrap_err(),
        OsmandError::EmptyBatch
    );

    assert_eq!(
        json(r#"{"location":{}}"#).unwrap_err(),
        OsmandError::MissingDeviceId
    );
    assert!(matches!(json("{"), Err(OsmandError::InvalidJson(_))));
    assert!(matches!(
        json(r#"{"device_id":"7","location":{"coords":{"latitude":"x","longitude":2}}}"#),
        Err(OsmandError::InvalidJson(_))
    ));
    assert!(matches!(
        json(r#"{"device_id":"7","location":{"coords":{"latitude":100,"longitude":2}}}"#),
        Err(OsmandError::InvalidCoordinates(_))
    ));
    assert!(matches!(
        json(
            r#"{"device_id":"7","location":{"timestamp":"soon","coords":{"latitude":1,"longitude":2}}}"#
        ),
        Err(OsmandError::InvalidTimestamp { .. })
    ));
    // No content type but a JSON-looking body.
    assert!(parse_request("POST", "/", None, br#" {"device_id":"7"}"#, now(), &cfg).is_ok());
    // An id in the URL of a JSON POST is the fallback for a missing `device_id`.
    let r = parse_request(
        "POST",
        "/?id=url-1",
        Some("application/json"),
        br#"{"location":{"coords":{"latitude":1,"longitude":2}}}"#,
        now(),
        &cfg,
    )
    .unwrap();
    assert_eq!((r.device.as_str(), r.shape), ("url-1", RequestShape::Json));
    // The MQTT path: the id comes from elsewhere.
    let dev = DeviceId::parse("mqtt-1").ok();
    let r = parse_json(
        br#"{"location":{"coords":{"latitude":1,"longitude":2}}}"#,
        dev,
        now(),
        &cfg,
    )
    .unwrap();
    assert_eq!(r.device.as_str(), "mqtt-1");
}

#[test]
fn commands_are_custom_text_only() {
    assert_eq!(
        response_body(&Command::Custom { text: "hi".into() }).unwrap(),
        "hi"
    );
    assert!(response_body(&Command::CutPower).is_err());
}
