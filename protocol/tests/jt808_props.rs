//! Property tests: emulator ↔ server round trips, chunking invariance, no panics on noise.

use bytes::BytesMut;
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use protocol::jt808::device::{Device, ServerFrameDecoder, ServerMessage};
use protocol::jt808::{AckResult, Jt808Codec, OutboundBody, msg};
use protocol::{
    Alarm, AlarmSet, Command, CommandProfile, Correlation, Decoded, DeviceCodec, DeviceId,
    DeviceMessage, LatLon, Position, Registration,
};
use tokio_util::codec::{Decoder, Encoder};

const MAPPABLE: [Alarm; 15] = [
    Alarm::Sos,
    Alarm::Overspeed,
    Alarm::Fatigue,
    Alarm::Fault,
    Alarm::GpsAntennaCut,
    Alarm::LowBattery,
    Alarm::PowerCut,
    Alarm::Vibration,
    Alarm::Tampering,
    Alarm::Parking,
    Alarm::Geofence,
    Alarm::FuelLeak,
    Alarm::Theft,
    Alarm::Movement,
    Alarm::Accident,
];

fn position() -> impl Strategy<Value = Position> {
    (
        (
            0i64..3_155_760_000,
            -90_000_000i64..=90_000_000,
            -180_000_000i64..=180_000_000,
        ),
        (any::<bool>(), 0u16..65535, 0u16..360, -1000i16..10000),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(0u64..4_000_000),
            proptest::option::of(0u8..=31),
        ),
        (
            proptest::option::of(0u8..=100),
            proptest::option::of(0u16..5000),
            proptest::option::of(0u16..400),
        ),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<u16>()),
    )
        .prop_map(
            |(fix, motion, extra, power, (ign, cut, charge, alarm_bits))| {
                let (secs, lat, lon) = fix;
                let (valid, speed, course, alt) = motion;
                let time = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()
                    + chrono::Duration::seconds(secs);
                let loc = LatLon::new(lat as f64 / 1e6, lon as f64 / 1e6).unwrap();
                let mut p = Position::new(time, loc, valid, speed as f32 / 10.0);
                p.course = Some(course as f32);
                p.altitude_m = Some(alt as f32);
                p.satellites = extra.0;
                p.odometer_m = extra.1.map(|o| o * 100);
                p.status.gsm_signal = extra.2;
                p.status.battery_level = power.0;
                p.status.battery_voltage = power.1.map(|v| (v as f64 / 100.0) as f32);
                p.status.power_voltage = power.2.map(|v| (v as f64 / 10.0) as f32);
                p.status.ignition = Some(ign);
                p.status.output_cut = Some(cut);
                p.status.charging = Some(charge);
                p.status.alarms = MAPPABLE
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| alarm_bits & (1 << i) != 0)
                    .map(|(_, a)| *a)
                    .collect::<AlarmSet>();
                p
            },
        )
        .prop_filter("time within the BCD century", |p| {
            p.time < Utc.with_ymd_and_hms(2099, 12, 31, 0, 0, 0).unwrap()
        })
}

fn decode_all(codec: &mut Jt808Codec, bytes: &[u8]) -> Vec<Decoded<protocol::jt808::Outbound>> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Ok(Some(d)) = codec.decode(&mut buf) {
        out.push(d);
    }
    out
}

fn device_id() -> DeviceId {
    DeviceId::parse("13511221122").unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

proptest! {
    #[test]
    fn location_round_trip(p in position(), v2019 in any::<bool>()) {
        let mut dev = if v2019 { Device::new_2019(&device_id(), 1) } else { Device::new(&device_id()) };
        let frame = dev.location(&p);
        let mut codec = Jt808Codec::default();
        let got = decode_all(&mut codec, &frame);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].device, Some(device_id()));
        prop_assert_eq!(&got[0].message, &DeviceMessage::Position(p.clone()));
        prop_assert_eq!(codec.stats().checksum_mismatches, 0);
        // The ack echoes the device's header format.
        let ack = got[0].ack.clone().unwrap();
        prop_assert_eq!(ack.terminal, dev.terminal());
        let mut bytes = BytesMut::new();
        codec.encode(ack, &mut bytes).unwrap();
        let frame = ServerFrameDecoder::default().decode(&mut bytes).unwrap().unwrap();
        prop_assert_eq!(frame.header.terminal, dev.terminal());
        prop_assert_eq!(frame.message, ServerMessage::GeneralResponse {
            reply_serial: 0, reply_id: msg::LOCATION, result: AckResult::Success });
    }

    #[test]
    fn batch_round_trip(ps in proptest::collection::vec(position(), 1..5), archived in any::<bool>()) {
        let mut dev = Device::new(&device_id());
        let frame = dev.batch(&ps, archived);
        let got = decode_all(&mut Jt808Codec::default(), &frame);
        let want: Vec<Position> = ps.iter().cloned().map(|mut p| { p.archived = archived; p }).collect();
        prop_assert_eq!(&got[0].message, &DeviceMessage::Batch(want));
    }

    #[test]
    fn chunking_does_not_change_the_result(ps in proptest::collection::vec(position(), 1..4), cuts in proptest::collection::vec(1usize..40, 1..50)) {
        let mut dev = Device::new(&device_id());
        let mut stream = b"\x00garbage".to_vec();
        stream.extend(dev.register(&Registration {
            province: 44, city: 300, manufacturer: "VIGIL".into(), model: "M1".into(),
            terminal_id: "T1".into(), plate_color: 1, plate: "粤B12345".into() }));
        stream.extend(dev.auth("code-1"));
        stream.extend(dev.heartbeat());
        for p in &ps { stream.extend(dev.location(p)); }
        stream.extend(dev.general_reply(7, msg::TERMINAL_CONTROL, 0));
        let whole = decode_all(&mut Jt808Codec::default(), &stream);
        prop_assert_eq!(whole.len(), 4 + ps.len());
        // Byte by byte.
        let mut codec = Jt808Codec::default();
        let mut buf = BytesMut::new();
        let mut one = Vec::new();
        for b in &stream {
            buf.extend_from_slice(&[*b]);
            while let Ok(Some(d)) = codec.decode(&mut buf) { one.push(d); }
        }
        prop_assert_eq!(&one, &whole);
        // At arbitrary boundaries.
        let mut codec = Jt808Codec::default();
        let mut buf = BytesMut::new();
        let mut split = Vec::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            i += 1;
            while let Ok(Some(d)) = codec.decode(&mut buf) { split.push(d); }
        }
        prop_assert_eq!(&split, &whole);
    }

    #[test]
    fn noise_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
        let mut codec = Jt808Codec::default();
        let mut buf = BytesMut::new();
        for part in bytes.chunks(chunk) {
            buf.extend_from_slice(part);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => { buf.clear(); break; }
                }
            }
            prop_assert!(buf.len() <= codec.config().max_frame_len + chunk);
        }
        let mut dev = BytesMut::from(&bytes[..]);
        let mut sd = ServerFrameDecoder::default();
        while let Ok(Some(_)) = sd.decode(&mut dev) {}
    }

    #[test]
    fn noise_with_frame_markers_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just(vec![0x7Eu8]), Just(vec![0x7D, 0x02]), Just(vec![0x7D]), Just(b"(".to_vec()),
        Just(b")".to_vec()), proptest::collection::vec(any::<u8>(), 0..40)], 0..60)) {
        let bytes: Vec<u8> = parts.concat();
        let mut codec = Jt808Codec::default();
        let _ = decode_all(&mut codec, &bytes);
    }

    #[test]
    fn commands_decode_on_the_device(seconds in any::<u32>(), text in "[ -~]{0,60}", v2019 in any::<bool>(), vehicle in any::<bool>()) {
        let mut dev = if v2019 { Device::new_2019(&device_id(), 1) } else { Device::new(&device_id()) };
        let mut codec = Jt808Codec::default();
        // The server learns the header format from the device's first frame.
        let _ = decode_all(&mut codec, &dev.heartbeat());
        let profile = CommandProfile { jt808_vehicle_control: vehicle, ..CommandProfile::default() };
        for (cmd, want) in [
            (Command::CutPower, if vehicle {
                ServerMessage::VehicleControl { body: if v2019 { vec![0, 1, 1] } else { vec![1] } }
            } else { ServerMessage::TerminalControl { command: 0xF0, params: vec![] } }),
            (Command::RestorePower, if vehicle {
                ServerMessage::VehicleControl { body: if v2019 { vec![0, 1, 0] } else { vec![0] } }
            } else { ServerMessage::TerminalControl { command: 0xF1, params: vec![] } }),
            (Command::Locate, ServerMessage::LocationQuery),
            (Command::SetInterval { seconds }, ServerMessage::SetParameters {
                params: vec![(0x0029, seconds.to_be_bytes().to_vec())] }),
            (Command::Custom { text: format!("x{text}") }, ServerMessage::TextMessage {
                flag: 1, text: format!("x{text}").trim().to_string() }),
        ] {
            let (out, corr) = codec.command(&device_id(), &cmd, &profile, now()).unwrap();
            let mut bytes = BytesMut::new();
            codec.encode(out, &mut bytes).unwrap();
            let frame = ServerFrameDecoder::default().decode(&mut bytes).unwrap().unwrap();
            prop_assert_eq!(frame.header.terminal, dev.terminal());
            prop_assert_eq!(corr, Correlation::Serial(frame.header.serial));
            prop_assert_eq!(&frame.message, &want);
            // The device's 0x0001 answer is matched by that serial.
            let reply = decode_all(&mut codec, &dev.general_reply(frame.header.serial, frame.header.message_id, 0));
            let DeviceMessage::CommandReply(r) = &reply[0].message else { panic!("{:?}", reply[0].message) };
            prop_assert_eq!(r.correlation, corr);
            prop_assert_eq!(r.answered_message, Some(frame.header.message_id));
        }
    }
}

#[test]
fn register_and_auth_round_trip() {
    for v2019 in [false, true] {
        let mut dev = if v2019 {
            Device::new_2019(&device_id(), 1)
        } else {
            Device::new(&device_id())
        };
        let reg = Registration {
            province: 44,
            city: 300,
            manufacturer: "VIGIL".into(),
            model: "M1".into(),
            terminal_id: "T1".into(),
            plate_color: 1,
            plate: "粤B12345".into(),
        };
        let mut codec = Jt808Codec::default();
        let got = decode_all(&mut codec, &dev.register(&reg));
        assert_eq!(got[0].message, DeviceMessage::Register(reg.clone()));
        let mut ack = got[0].ack.clone().unwrap();
        assert!(
            matches!(ack.body, OutboundBody::RegisterResponse { ref auth_code, .. } if auth_code.is_empty())
        );
        ack.set_auth_code("secret");
        let mut bytes = BytesMut::new();
        codec.encode(ack, &mut bytes).unwrap();
        let frame = ServerFrameDecoder::default()
            .decode(&mut bytes)
            .unwrap()
            .unwrap();
        let ServerMessage::RegisterResponse { auth_code, .. } = frame.message else {
            panic!()
        };
        let got = decode_all(&mut codec, &dev.auth(&auth_code));
        let DeviceMessage::Login {
            auth_code, device, ..
        } = &got[0].message
        else {
            panic!()
        };
        assert_eq!(auth_code.as_deref(), Some("secret"));
        assert_eq!(*device, device_id());
    }
}
