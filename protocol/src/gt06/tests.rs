//! Unit tests: acks from the vendor document, malformed input, CRC policy.

use super::*;
use crate::DeviceMessage;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode_all(codec: &mut Gt06Codec, bytes: &[u8]) -> Vec<Decoded<Gt06Outbound>> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(d) = codec.decode(&mut buf).unwrap() {
        out.push(d);
    }
    out
}

#[test]
fn vendor_acks_are_byte_exact() {
    let login = Gt06Outbound::Ack {
        protocol: 0x01,
        serial: 0x0001,
    };
    assert_eq!(login.to_bytes(), hex("78 78 05 01 00 01 D9 DC 0D 0A"));
    let hb = Gt06Outbound::Ack {
        protocol: 0x13,
        serial: 0x0011,
    };
    assert_eq!(hb.to_bytes(), hex("78 78 05 13 00 11 F9 70 0D 0A"));
    let alarm = Gt06Outbound::Ack {
        protocol: 0x16,
        serial: 0x0036,
    };
    assert_eq!(alarm.to_bytes(), hex("78 78 05 16 00 36 95 70 0D 0A"));
}

#[test]
fn login_heartbeat_alarm_get_the_documented_acks() {
    let mut c = Gt06Codec::default();
    let d = decode_all(&mut c, &hex("78780d01012345678901234500018cdd0d0a"));
    assert_eq!(d.len(), 1);
    assert!(matches!(d[0].message, DeviceMessage::Login { .. }));
    assert_eq!(d[0].device.unwrap().as_str(), "123456789012345");
    assert_eq!(
        d[0].ack.as_ref().unwrap().to_bytes(),
        hex("78 78 05 01 00 01 D9 DC 0D 0A")
    );

    let d = decode_all(&mut c, &hex("78780A134004040001000FDCEE0D0A"));
    assert_eq!(
        d[0].ack.as_ref().unwrap().to_bytes(),
        hex("78 78 05 13 00 0F 00 8F 0D 0A")
    );

    let d = decode_all(
        &mut c,
        &hex(
            "787825160B0B0F0E241DCF027AC8870C4657E60014020901CC00287D001F726506040101003656A40D0A",
        ),
    );
    assert_eq!(
        d[0].ack.as_ref().unwrap().to_bytes(),
        hex("78 78 05 16 00 36 95 70 0D 0A")
    );
    let DeviceMessage::Position(p) = &d[0].message else {
        panic!("{:?}", d[0].message)
    };
    assert!(p.status.alarms.contains(crate::Alarm::Sos));
    assert_eq!(p.status.armed, Some(true));
    assert_eq!(p.status.charging, Some(true));
}

#[test]
fn login_zone_applies_to_later_positions() {
    let mut c = Gt06Codec::default();
    let d = decode_all(&mut c, &hex("787811010864717003664467100f190a0002c6d20d0a"));
    let DeviceMessage::Login {
        utc_offset_minutes,
        model_code,
        ..
    } = d[0].message
    else {
        panic!()
    };
    assert_eq!(utc_offset_minutes, Some(-240));
    assert_eq!(model_code, Some(0x100f));
    assert_eq!(c.utc_offset_minutes(), -240);
}

#[test]
fn engine_stop_frame_matches_traccar() {
    assert_eq!(
        encode_command_text(0, 0, "Relay,1#").unwrap(),
        hex("787812800c0000000052656c61792c312300009dee0d0a")
    );
    assert!(encode_command_text(0, 0, &"x".repeat(300)).is_err());
    assert!(encode_command_text(0, 0, "héllo").is_err());
}

#[test]
fn short_and_malformed_frames_are_skipped_and_counted() {
    let mut c = Gt06Codec::default();
    // 0x12 whose content is far too short for a GPS block, followed by a heartbeat
    let mut bytes = hex("78780512000158d90d0a");
    bytes.extend(hex("78780A134004040001000FDCEE0D0A"));
    let d = decode_all(&mut c, &bytes);
    assert_eq!(d.len(), 1);
    assert_eq!(c.stats().malformed, 1);
}

#[test]
fn bad_crc_is_counted_and_accepted_by_default_dropped_when_enforced() {
    let bad = hex("78780A134004040001000FDCEF0D0A");
    let mut c = Gt06Codec::default();
    assert_eq!(decode_all(&mut c, &bad).len(), 1);
    assert_eq!(c.stats().checksum_mismatches, 1);
    let mut strict = Gt06Codec::new(Gt06Config {
        enforce_crc: true,
        ..Gt06Config::default()
    });
    assert_eq!(decode_all(&mut strict, &bad).len(), 0);
    assert_eq!(strict.stats().checksum_mismatches, 1);
}

#[test]
fn garbage_is_skipped_and_oversized_buffers_fail() {
    let mut c = Gt06Codec::default();
    let mut bytes = vec![0x00, 0x11, 0x22];
    bytes.extend(hex("78780A134004040001000FDCEE0D0A"));
    assert_eq!(decode_all(&mut c, &bytes).len(), 1);
    assert_eq!(c.stats().resyncs, 1);
    assert_eq!(c.stats().resync_bytes, 3);

    let mut c = Gt06Codec::new(Gt06Config {
        max_frame_len: 64,
        ..Gt06Config::default()
    });
    let mut buf = BytesMut::from(&hex("7979ffff80")[..]);
    buf.extend_from_slice(&[0x55; 100]);
    assert!(matches!(
        c.decode(&mut buf),
        Err(ProtocolError::FrameTooLong { .. })
    ));
}

#[test]
fn time_request_has_no_ack_and_a_time_response() {
    let mut c = Gt06Codec::default();
    let d = decode_all(&mut c, &device::time_request(5));
    assert_eq!(d[0].message, DeviceMessage::TimeRequest);
    assert!(d[0].ack.is_none());
    let now = DateTime::parse_from_rfc3339("2015-12-29T00:00:21Z")
        .unwrap()
        .with_timezone(&Utc);
    let reply = c.time_response(now).unwrap();
    // The vendor example (serial 6) differs only in serial and CRC; traccar answers serial 0.
    let bytes = reply.to_bytes();
    assert_eq!(&bytes[..12], &hex("78780B8A0F0C1D0000150000")[..]);
    assert_eq!(frame::crc_matches(&bytes), Some(true));
}

#[test]
fn command_replies_are_classified() {
    use crate::ReplyResult::*;
    assert_eq!(classify_reply("Relay,1 ok"), Success);
    assert_eq!(classify_reply("DYD=Success!"), Success);
    assert_eq!(classify_reply("Cut off the fuel supply: Success!"), Success);
    assert_eq!(classify_reply("HFYD=Fail!"), Failure);
    assert_eq!(
        classify_reply(
            "Already in the state of fuel supply to resume, the command is not running!"
        ),
        Failure
    );
    assert_eq!(classify_reply("GPS:OK"), Text);
}

#[test]
fn commands_use_profile_texts_and_fresh_flags() {
    let mut c = Gt06Codec::default();
    let id = DeviceId::parse("123456789012345").unwrap();
    let now = Utc::now();
    let (o1, k1) = c
        .command(&id, &Command::CutPower, &CommandProfile::default(), now)
        .unwrap();
    let (o2, k2) = c
        .command(&id, &Command::RestorePower, &alternative_profile(None), now)
        .unwrap();
    assert_ne!(k1, k2);
    let Gt06Outbound::Command { text, .. } = o1 else {
        panic!()
    };
    assert_eq!(text, "Relay,1#");
    let Gt06Outbound::Command { text, .. } = o2 else {
        panic!()
    };
    assert_eq!(text, "HFYD,123456#");
    assert!(
        c.command(&id, &Command::Arm, &CommandProfile::default(), now)
            .is_err()
    );
    let (o, _) = c
        .command(
            &id,
            &Command::SetInterval { seconds: 30 },
            &CommandProfile::default(),
            now,
        )
        .unwrap();
    assert!(matches!(o, Gt06Outbound::Command { ref text, .. } if text == "TIMER,30#"));
}

mod plain_location_fast_path {
    use super::*;
    use crate::{CellTower, LatLon, Position};
    use chrono::TimeZone;
    use proptest::prelude::*;

    const MODELS: [Gt06Model; 8] = [
        Gt06Model::Generic,
        Gt06Model::Lw,
        Gt06Model::SeeWorld,
        Gt06Model::R11,
        Gt06Model::Nt20,
        Gt06Model::Xt40,
        Gt06Model::Vl,
        Gt06Model::Qh302r,
    ];

    /// The general decoder's answer, shaped like the fast path's.
    fn general(frame: &[u8], ctx: &decode::Ctx) -> Option<Decoded<Gt06Outbound>> {
        let out = decode::decode(frame, ctx).ok()?;
        assert!(out.announced_offset.is_none());
        Some(Decoded {
            device: out.device,
            message: out.message,
            ack: out.ack,
        })
    }

    fn sample() -> Position {
        let mut p = Position::new(
            Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 0).unwrap(),
            LatLon::new(-22.5461, 114.0579).unwrap(),
            true,
            42.0,
        );
        p.course = Some(181.0);
        p.satellites = Some(9);
        p.status.ignition = Some(true);
        p.cell = Some(CellTower {
            mcc: 460,
            mnc: 1,
            lac: 0x287D,
            cell_id: 0x1FB8,
        });
        p
    }

    #[test]
    fn emulator_locations_take_the_fast_path_and_match() {
        for frame in [
            device::location_0x12(&sample(), 7),
            device::location(&sample(), 7),
        ] {
            for offset_minutes in [0, 480, -300] {
                let ctx = decode::Ctx {
                    model: Gt06Model::Generic,
                    offset_minutes,
                };
                let mut dates = decode::DateCache::default();
                let fast = decode::decode_plain_location(&frame, &ctx, &mut dates);
                assert!(fast.is_some(), "{frame:02x?}");
                assert_eq!(fast, general(&frame, &ctx));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whenever the fast path answers, the general decoder gives the identical value (with
        /// the date cache cold and warm, including after a different date).
        #[test]
        fn fast_path_equals_general_decoder(
            is_0x22 in any::<bool>(),
            ymd in (prop_oneof![0u8..=30, any::<u8>()], 0u8..=13, 0u8..=32),
            hms in (0u8..=25, 0u8..=61, 0u8..=61),
            body in prop::array::uniform32(any::<u8>()),
            plausible in any::<bool>(),
            event in prop_oneof![Just(0u8), any::<u8>()],
            model in 0usize..MODELS.len(),
            offset_minutes in prop_oneof![Just(0i32), -900i32..=900],
            previous in (0u8..=30, 1u8..=12, 1u8..=28),
        ) {
            let kind = if is_0x22 { 0x22 } else { 0x12 };
            let length = if is_0x22 { 0x22 } else { 0x1F };
            let mut f = vec![0x78, 0x78, length, kind, ymd.0, ymd.1, ymd.2, hms.0, hms.1, hms.2];
            let mut gps = body;
            if plausible {
                // keep |lat| <= 90 and |lon| <= 180 so that most cases yield a position
                let lat = u32::from_be_bytes([gps[1], gps[2], gps[3], gps[4]]) % 162_000_001;
                let lon = u32::from_be_bytes([gps[5], gps[6], gps[7], gps[8]]) % 324_000_001;
                gps[1..5].copy_from_slice(&lat.to_be_bytes());
                gps[5..9].copy_from_slice(&lon.to_be_bytes());
            }
            f.extend_from_slice(&gps[..20]);
            if is_0x22 {
                f.extend_from_slice(&[gps[20], event, gps[21]]);
            }
            f.extend_from_slice(&gps[22..24]);
            let crc = frame::crc_itu(&f[2..]);
            f.extend_from_slice(&crc.to_be_bytes());
            f.extend_from_slice(&[0x0D, 0x0A]);
            let ctx = decode::Ctx { model: MODELS[model], offset_minutes };
            let expected = general(&f, &ctx);
            let mut dates = decode::DateCache::default();
            let mut other = f.clone();
            other[4..7].copy_from_slice(&[previous.0, previous.1, previous.2]);
            let _ = decode::decode_plain_location(&other, &ctx, &mut dates);
            for _ in 0..2 {
                if let Some(fast) = decode::decode_plain_location(&f, &ctx, &mut dates) {
                    prop_assert_eq!(Some(fast), expected.clone());
                }
            }
        }
    }
}
