//! Property tests: what `osmand::device` builds parses back to the same model values, and no
//! input makes the parser panic.

use std::borrow::Cow;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use protocol::osmand::{self, OsmandConfig, RequestShape};
use protocol::{
    Alarm, AlarmSet, AttrValue, Attribute, CellTower, DeviceId, DeviceMessage, DeviceStatus,
    LatLon, Position,
};

fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn device_id() -> impl Strategy<Value = DeviceId> {
    "[A-Za-z0-9._:-]{1,64}".prop_map(|s| DeviceId::parse(&s).expect("generated ids are valid"))
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    // 1900..2100 (the seconds/milliseconds switch at 2^31-1 included), whole seconds or milliseconds.
    (
        -2_208_988_800i64..4_102_444_800,
        prop_oneof![Just(0i64), 1i64..1000],
    )
        .prop_map(|(s, ms)| {
            DateTime::from_timestamp_millis(s * 1000 + ms).expect("in chrono's range")
        })
}

fn status() -> impl Strategy<Value = DeviceStatus> {
    (
        prop::array::uniform5(prop::option::of(any::<bool>())),
        prop::option::of(0.0f32..40.0),
        prop::option::of(0.0f32..40.0),
        prop::option::of(0u8..=100),
        prop::option::of(any::<u8>()),
        prop::collection::vec(prop::sample::select(Alarm::ALL.to_vec()), 0..3),
    )
        .prop_map(|(flags, power, battery, level, gsm, alarms)| DeviceStatus {
            ignition: flags[0],
            armed: flags[1],
            charging: flags[2],
            output_cut: flags[3],
            door_open: flags[4],
            battery_voltage: battery,
            battery_level: level,
            power_voltage: power,
            gsm_signal: gsm,
            alarms: alarms.into_iter().collect::<AlarmSet>(),
        })
}

fn attr_value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        any::<bool>().prop_map(AttrValue::Bool),
        any::<i64>().prop_map(AttrValue::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(AttrValue::Float),
        // Text that cannot read as a number or a boolean; with characters that need escaping.
        "[a-z &=+%?#/é]{0,12}".prop_map(|s| AttrValue::Text(format!("s{s}"))),
    ]
}

fn attributes() -> impl Strategy<Value = Vec<Attribute>> {
    prop::collection::btree_map("x_[a-z]{1,6}", attr_value(), 0..5).prop_map(|m| {
        m.into_iter()
            .map(|(key, value)| Attribute {
                key: Cow::Owned(key),
                value,
            })
            .collect()
    })
}

prop_compose! {
    fn position(with_cell: bool)(
        time in time(),
        lat in -90.0f64..=90.0,
        lon in -180.0f64..=180.0,
        valid in any::<bool>(),
        speed_kmh in 0.0f32..500.0,
        course in prop::option::of(0.0f32..359.9),
        altitude_m in prop::option::of(-500.0f32..9000.0),
        accuracy_m in prop::option::of(0.0f32..1000.0),
        satellites in prop::option::of(any::<u8>()),
        odometer_m in prop::option::of(0u64..1_000_000_000_000),
        cell in prop::option::of((any::<u16>(), any::<u16>(), any::<u32>(), any::<u64>())),
        status in status(),
        attributes in attributes(),
    ) -> Position {
        // 0,0 means "no fix" in this protocol.
        let lat = if lat == 0.0 && lon == 0.0 { 1.0 } else { lat };
        let mut p = Position::new(time, LatLon::new(lat, lon).expect("in range"), true, speed_kmh);
        p.course = course;
        p.altitude_m = altitude_m;
        p.accuracy_m = accuracy_m;
        p.satellites = satellites;
        p.odometer_m = odometer_m;
        // JSON has no validity flag: its fixes are always valid.
        p.valid = valid || !with_cell;
        p.cell = if with_cell {
            cell.map(|(mcc, mnc, lac, cell_id)| CellTower { mcc, mnc, lac, cell_id })
        } else {
            None
        };
        p.status = status;
        p.attributes = attributes;
        p
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-3_f32.max(a.abs() * 1e-5)
}

fn same_f64(a: f64, b: f64) -> bool {
    (a - b).abs() <= a.abs().max(b.abs()) * 1e-14
}

fn close_opt(a: Option<f32>, b: Option<f32>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => close(a, b),
        _ => false,
    }
}

fn sorted(attrs: &[Attribute]) -> Vec<(String, AttrValue)> {
    let mut v: Vec<_> = attrs
        .iter()
        .map(|a| (a.key.to_string(), a.value.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Model equality with float tolerance for the values that travel as converted text.
fn assert_same(sent: &Position, got: &Position) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.time, sent.time);
    // serde_json's default float parser may be off by one ulp (no `float_roundtrip` feature).
    prop_assert!(
        same_f64(got.location.lat, sent.location.lat),
        "{:?} vs {:?}",
        got.location,
        sent.location
    );
    prop_assert!(
        same_f64(got.location.lon, sent.location.lon),
        "{:?} vs {:?}",
        got.location,
        sent.location
    );
    prop_assert_eq!(got.valid, sent.valid);
    prop_assert!(
        close(got.speed_kmh, sent.speed_kmh),
        "speed {} vs {}",
        got.speed_kmh,
        sent.speed_kmh
    );
    prop_assert!(
        close_opt(got.course, sent.course),
        "course {:?} vs {:?}",
        got.course,
        sent.course
    );
    prop_assert!(close_opt(got.altitude_m, sent.altitude_m));
    prop_assert!(close_opt(got.accuracy_m, sent.accuracy_m));
    prop_assert_eq!(got.satellites, sent.satellites);
    prop_assert_eq!(got.odometer_m, sent.odometer_m);
    prop_assert_eq!(got.cell, sent.cell);
    let (g, s) = (&got.status, &sent.status);
    prop_assert_eq!(
        (g.ignition, g.armed, g.charging, g.output_cut, g.door_open),
        (s.ignition, s.armed, s.charging, s.output_cut, s.door_open)
    );
    prop_assert!(close_opt(g.power_voltage, s.power_voltage));
    prop_assert!(close_opt(g.battery_voltage, s.battery_voltage));
    prop_assert_eq!(g.battery_level, s.battery_level);
    prop_assert_eq!(g.gsm_signal, s.gsm_signal);
    prop_assert_eq!(g.alarms, s.alarms);
    let (ga, sa) = (sorted(&got.attributes), sorted(&sent.attributes));
    prop_assert_eq!(ga.len(), sa.len());
    for ((gk, gv), (sk, sv)) in ga.iter().zip(&sa) {
        prop_assert_eq!(gk, sk);
        match (gv, sv) {
            (AttrValue::Float(g), AttrValue::Float(s)) => {
                prop_assert!(same_f64(*g, *s), "{}: {} vs {}", gk, g, s)
            }
            _ => prop_assert_eq!(gv, sv),
        }
    }
    Ok(())
}

fn the_position(message: &DeviceMessage) -> Result<&Position, TestCaseError> {
    match message {
        DeviceMessage::Position(p) => Ok(p),
        other => Err(TestCaseError::fail(format!(
            "expected a position, got {other:?}"
        ))),
    }
}

proptest! {
    #[test]
    fn query_round_trips(id in device_id(), sent in position(true)) {
        let uri = osmand::device::uri(&id, &sent);
        let report = osmand::parse_request("GET", &uri, None, b"", received_at(), &OsmandConfig::default())
            .map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        prop_assert_eq!(report.device, id);
        prop_assert_eq!(report.shape, RequestShape::Query);
        assert_same(&sent, the_position(&report.message)?)?;
    }

    #[test]
    fn form_body_round_trips(id in device_id(), sent in position(true)) {
        let body = osmand::device::query(&id, &sent);
        let report = osmand::parse_request(
            "POST", "/", Some("application/x-www-form-urlencoded"), body.as_bytes(),
            received_at(), &OsmandConfig::default(),
        ).map_err(|e| TestCaseError::fail(format!("{body}: {e}")))?;
        prop_assert_eq!(report.shape, RequestShape::Form);
        assert_same(&sent, the_position(&report.message)?)?;
    }

    #[test]
    fn json_round_trips(id in device_id(), sent in position(false)) {
        let body = osmand::device::json(&id, &sent);
        let report = osmand::parse_request(
            "POST", "/", Some("application/json"), body.as_bytes(), received_at(),
            &OsmandConfig::default(),
        ).map_err(|e| TestCaseError::fail(format!("{body}: {e}")))?;
        prop_assert_eq!(report.device, id);
        prop_assert_eq!(report.shape, RequestShape::Json);
        assert_same(&sent, the_position(&report.message)?)?;
        // The standalone (MQTT) entry point agrees.
        let alone = osmand::parse_json(body.as_bytes(), None, received_at(), &OsmandConfig::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(alone.message, report.message);
    }

    #[test]
    fn json_batch_round_trips(id in device_id(), sent in prop::collection::vec(position(false), 1..5)) {
        let body = osmand::device::json_batch(&id, &sent);
        let report = osmand::parse_json(body.as_bytes(), None, received_at(), &OsmandConfig::default())
            .map_err(|e| TestCaseError::fail(format!("{body}: {e}")))?;
        let DeviceMessage::Batch(got) = &report.message else {
            return Err(TestCaseError::fail(format!("expected a batch, got {:?}", report.message)));
        };
        prop_assert_eq!(got.len(), sent.len());
        for (s, g) in sent.iter().zip(got) {
            assert_same(s, g)?;
        }
    }

    #[test]
    fn arbitrary_requests_never_panic(
        method in prop::sample::select(vec!["GET", "POST", "PUT", ""]),
        uri in ".{0,200}",
        content_type in prop::option::of(prop::sample::select(vec![
            "application/json", "application/x-www-form-urlencoded", "text/plain", "APPLICATION/JSON; charset=utf-8",
        ])),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = osmand::parse_request(method, &uri, content_type, &body, received_at(), &OsmandConfig::default());
        let _ = osmand::parse_json(&body, None, received_at(), &OsmandConfig::default());
        let _ = osmand::parse_query(&body, received_at(), &OsmandConfig::default());
    }

    #[test]
    fn query_like_noise_never_panics(
        query in r"([a-zA-Z]{1,12}=[-0-9.,:TZ+%a-fA-F ]{0,24}&){0,12}",
    ) {
        let uri = format!("/?id=1&{query}");
        if let Ok(report) = osmand::parse_request("GET", &uri, None, b"", received_at(), &OsmandConfig::default()) {
            // Whatever was accepted must be a sane model value.
            if let DeviceMessage::Position(p) = &report.message {
                prop_assert!(p.location.lat.abs() <= 90.0 && p.location.lon.abs() <= 180.0);
                prop_assert!(p.speed_kmh.is_finite() && p.speed_kmh >= 0.0);
            }
        }
    }

    #[test]
    fn json_like_noise_never_panics(
        body in r#"\{"device_id":"1","location":[\[\{]("(coords|timestamp|battery|extras|latitude|longitude|speed|level)":|[-0-9.e{}\[\],"a-z]){0,40}"#,
    ) {
        let _ = osmand::parse_json(body.as_bytes(), None, received_at(), &OsmandConfig::default());
    }
}
