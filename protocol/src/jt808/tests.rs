//! Unit tests for malformed input and the ack/command encodings.

use super::*;

fn stream(bytes: &[u8]) -> (Jt808Codec, Vec<Decoded<Outbound>>) {
    let mut codec = Jt808Codec::default();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Ok(Some(d)) = codec.decode(&mut buf) {
        out.push(d);
    }
    (codec, out)
}

const HEARTBEAT: &str = "7e0002000004304832546500b7ca7e";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn short_and_truncated_frames_are_counted_not_fatal() {
    for bad in ["7e7e", "7e00027e", "7e0002000004307e", "7e01"] {
        let (codec, out) = stream(&hex(bad));
        assert!(out.is_empty(), "{bad}");
        assert!(codec.stats().frames == 0, "{bad}");
    }
    let (codec, _) = stream(&hex("7e0002000004307e"));
    assert_eq!(codec.stats().malformed, 1);
}

#[test]
fn bad_checksum_counted_and_accepted_by_default() {
    let mut f = hex(HEARTBEAT);
    let n = f.len();
    f[n - 2] ^= 0x55;
    let (codec, out) = stream(&f);
    assert_eq!(out.len(), 1);
    assert_eq!(codec.stats().checksum_mismatches, 1);

    let mut strict = Jt808Codec::new(Jt808Config {
        enforce_checksum: true,
        ..Jt808Config::default()
    });
    let mut buf = BytesMut::from(&f[..]);
    assert!(strict.decode(&mut buf).unwrap().is_none());
    assert_eq!(strict.stats().checksum_mismatches, 1);
}

#[test]
fn bad_body_length_is_counted() {
    // Properties say 5 bytes of body, the heartbeat has none.
    let mut content = hex("0002000504304832546500b7");
    let x = frame::xor(&content);
    content.push(x);
    let mut f = vec![0x7E];
    f.extend_from_slice(&content);
    f.push(0x7E);
    let (codec, out) = stream(&f);
    assert_eq!(out.len(), 1);
    assert_eq!(codec.stats().length_mismatches, 1);
}

#[test]
fn garbage_is_skipped_and_counted() {
    let mut f = b"xyz".to_vec();
    f.extend_from_slice(&hex(HEARTBEAT));
    let (codec, out) = stream(&f);
    assert_eq!(out.len(), 1);
    assert_eq!(codec.stats().resyncs, 1);
    assert_eq!(codec.stats().resync_bytes, 3);
}

#[test]
fn oversize_is_an_error() {
    let mut codec = Jt808Codec::default();
    let mut buf = BytesMut::from(&[0x7Eu8; 1][..]);
    buf.extend_from_slice(&vec![0x11; 5000]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(ProtocolError::FrameTooLong { .. })
    ));
}

#[test]
fn location_ack_is_general_response() {
    let (mut codec, out) = stream(&hex(HEARTBEAT));
    let ack = out[0].ack.clone().unwrap();
    let mut dst = BytesMut::new();
    codec.encode(ack, &mut dst).unwrap();
    // 8001, len 5, same ID bytes, serial 0, body: device serial 00b7, id 0002, result 0.
    assert_eq!(
        dst.to_vec(),
        hex("7e80010005043048325465000000b70002004e7e")
    );
}

#[test]
fn register_response_carries_server_code() {
    let f = hex(
        "7E0100002D013511221122000500000000373031303748422D52303347424400000000000000000000003233363631303402CBD5424136383630387E",
    );
    let (_, out) = stream(&f);
    let DeviceMessage::Register(reg) = &out[0].message else {
        panic!("{:?}", out[0].message)
    };
    assert_eq!(reg.plate, "苏BA6860");
    let mut ack = out[0].ack.clone().unwrap();
    ack.set_auth_code("ABC");
    let bytes = ack.to_bytes(7).unwrap();
    let frame = device::decode_server_frame(&bytes).unwrap();
    assert_eq!(
        frame.message,
        device::ServerMessage::RegisterResponse {
            reply_serial: 5,
            result: 0,
            auth_code: "ABC".into()
        }
    );
}

#[test]
fn auth_ack_result_can_be_failure() {
    let (_, out) = stream(&hex(
        "7E0102000E013511221122000661757468656E7469636174696F6E3F7E",
    ));
    let DeviceMessage::Login { auth_code, .. } = &out[0].message else {
        panic!()
    };
    assert_eq!(auth_code.as_deref(), Some("authentication"));
    let mut ack = out[0].ack.clone().unwrap();
    ack.set_result(AckResult::Failure);
    let f = device::decode_server_frame(&ack.to_bytes(1).unwrap()).unwrap();
    assert!(matches!(
        f.message,
        device::ServerMessage::GeneralResponse {
            result: AckResult::Failure,
            reply_id: 0x0102,
            ..
        }
    ));
}

/// The direct 0x0200 path (`fast`) against the general decoder, on frames built field by field
/// so that every way of declining is exercised: odd properties, bad check codes, invalid BCD
/// times and dates, out-of-range coordinates, every dialect and zone, items the direct path
/// maps and items it must leave to the general path (at right and wrong lengths), broken
/// item chains, the itemless 20-byte vendor tail. About half the generated frames take the
/// direct path.
mod direct_path {
    use super::*;
    use proptest::prelude::*;

    const PHONES: [[u8; 10]; 3] = [
        [0x01, 0x35, 0x11, 0x22, 0x11, 0x22, 0, 0, 0, 0],
        [0x0B, 0x3A, 0x73, 0xCE, 0x2F, 0xF2, 0, 0, 0, 0],
        [0x00, 0x00, 0x00, 0x00, 0x01, 0x39, 0x12, 0x34, 0x56, 0x78],
    ];

    fn bcd(v: u8) -> u8 {
        ((v / 10) << 4) | (v % 10)
    }

    fn item() -> impl Strategy<Value = Vec<u8>> {
        // The items the direct path maps, at the lengths it accepts …
        let typed = prop_oneof![
            any::<[u8; 4]>().prop_map(|v| (0x01u8, v.to_vec())),
            any::<u8>().prop_map(|v| (0x30u8, vec![v])),
            any::<u8>().prop_map(|v| (0x31u8, vec![v])),
            any::<[u8; 2]>().prop_map(|v| (0x69u8, v.to_vec())),
            any::<u8>().prop_map(|v| (0xD4u8, vec![v])),
            Just((0xD4u8, vec![0xFF])),
            any::<u8>().prop_map(|v| (0xE1u8, vec![v])),
            Just((0xE1u8, vec![0xFF])),
            any::<[u8; 2]>().prop_map(|v| (0xE1u8, v.to_vec())),
        ];
        // … and anything else: the same ids at other lengths, attribute items, the 0x80
        // extension, any id.
        let id = prop_oneof![
            Just(0x01u8),
            Just(0x30),
            Just(0x31),
            Just(0x69),
            Just(0xD4),
            Just(0xE1),
            Just(0x02),
            Just(0x06),
            Just(0x25),
            Just(0x33),
            Just(0x56),
            Just(0x80),
            Just(0xE9),
            Just(0xEB),
            Just(0xFE),
            any::<u8>(),
        ];
        let other = (id, proptest::collection::vec(any::<u8>(), 0..12));
        prop_oneof![8 => typed, 1 => other].prop_map(|(id, value)| {
            let mut b = vec![id, value.len() as u8];
            b.extend_from_slice(&value);
            b
        })
    }

    prop_compose! {
        fn frame()(
            v2019 in any::<bool>(),
            phone in 0usize..3,
            props_extra in prop_oneof![40 => Just(0u16), 1 => Just(0x8000u16), 1 => Just(0x0400u16),
                1 => Just(0x2000u16), 1 => Just(0x0001u16)],
            message_id in prop_oneof![30 => Just(0x0200u16), 1 => Just(0x0201u16), 1 => Just(0x5501u16)],
            alarm in prop_oneof![2 => Just(0u32), 1 => any::<u32>()],
            status in any::<u32>(),
            lat in prop_oneof![30 => 0u32..=90_000_000, 1 => any::<u32>()],
            lon in prop_oneof![30 => 0u32..=180_000_000, 1 => any::<u32>()],
            motion in any::<[u8; 6]>(),
            date in prop_oneof![30 => (0u8..100, 1u8..=12, 1u8..=31).prop_map(|(y, m, d)| [bcd(y), bcd(m), bcd(d)]),
                1 => Just([0x26, 0x03, 0x01]), 1 => any::<[u8; 3]>()],
            hms in prop_oneof![30 => (0u8..24, 0u8..60, 0u8..60).prop_map(|(h, m, s)| [bcd(h), bcd(m), bcd(s)]),
                1 => any::<[u8; 3]>()],
            items in proptest::collection::vec(item(), 0..5),
            tail in prop_oneof![30 => Just(Vec::new()), 1 => proptest::collection::vec(any::<u8>(), 1..3),
                1 => proptest::collection::vec(any::<u8>(), 18..=18)],
            length_off in prop_oneof![30 => Just(0i32), 1 => -2i32..=2],
            xor_off in prop_oneof![30 => Just(0u8), 1 => any::<u8>()],
        ) -> Vec<u8> {
            let mut body = Vec::new();
            body.extend_from_slice(&alarm.to_be_bytes());
            body.extend_from_slice(&status.to_be_bytes());
            body.extend_from_slice(&lat.to_be_bytes());
            body.extend_from_slice(&lon.to_be_bytes());
            body.extend_from_slice(&motion);
            body.extend_from_slice(&date);
            body.extend_from_slice(&hms);
            for i in &items {
                body.extend_from_slice(i);
            }
            body.extend_from_slice(&tail);
            let len = (body.len() as i32 + length_off).clamp(0, 0x3FF) as u16;
            let mut content = message_id.to_be_bytes().to_vec();
            let props = len | props_extra | if v2019 { 0x4000 } else { 0 };
            content.extend_from_slice(&props.to_be_bytes());
            if v2019 {
                content.push(1);
                content.extend_from_slice(&PHONES[phone]);
            } else {
                content.extend_from_slice(&PHONES[phone][..6]);
            }
            content.extend_from_slice(&0x1234u16.to_be_bytes());
            content.extend_from_slice(&body);
            let check = frame::xor(&content) ^ xor_off;
            let mut f = vec![frame::FLAG];
            f.extend_from_slice(&content);
            f.push(check);
            f.push(frame::FLAG);
            f
        }
    }

    fn dialect() -> impl Strategy<Value = Dialect> {
        prop_oneof![
            Just(Dialect::Standard),
            Just(Dialect::Mv710g),
            Just(Dialect::Aovx),
            Just(Dialect::Padlock),
            Just(Dialect::Jimi),
            Just(Dialect::C5),
            Just(Dialect::Vl300),
            Just(Dialect::Dt800),
            Just(Dialect::G1cPro),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn direct_path_equals_general_decoder(
            frames in proptest::collection::vec(frame(), 1..6),
            dialect in dialect(),
            offset in prop_oneof![4 => Just(480i32), 1 => -1500i32..1500, 1 => Just(0i32), 1 => Just(-600i32)],
            enforce_checksum in any::<bool>(),
        ) {
            let config = Jt808Config {
                dialect,
                utc_offset_minutes: offset,
                enforce_checksum,
                ..Jt808Config::default()
            };
            // One codec keeps its caches across the frames; the general decoder starts afresh
            // each time, so a cache that went stale would show.
            let mut with_direct = Jt808Codec::new(config.clone());
            for f in &frames {
                let mut general = Jt808Codec::new(config.clone());
                general.terminal = with_direct.terminal;
                general.stats = with_direct.stats;
                let expected = general.decode_general(f);
                let got = with_direct.decode_frame(f);
                match (&got, &expected) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    _ => prop_assert!(false, "{got:?} vs {expected:?}"),
                }
                prop_assert_eq!(with_direct.stats, general.stats);
                prop_assert_eq!(with_direct.terminal, general.terminal);
            }
        }
    }

    /// The direct path does answer for what the emulator sends (else the test above would
    /// prove nothing about it).
    #[test]
    fn emulator_locations_take_the_direct_path() {
        use crate::{DeviceId, LatLon, Position};
        use chrono::{TimeZone, Utc};
        let id = DeviceId::parse("13511221122").unwrap();
        for (i, mut device) in [device::Device::new(&id), device::Device::new_2019(&id, 1)]
            .into_iter()
            .enumerate()
        {
            let mut p = Position::new(
                Utc.with_ymd_and_hms(2026, 3, 1, 2 + 10 * i as u32, 0, 0)
                    .unwrap(),
                LatLon::new(-22.5, 114.0).unwrap(),
                true,
                36.0,
            );
            p.course = Some(0.0);
            p.altitude_m = Some(125.0);
            p.status.ignition = Some(false);
            p.status.output_cut = Some(false);
            p.status.charging = Some(false);
            p.odometer_m = Some(123_400);
            p.satellites = Some(9);
            p.status.gsm_signal = Some(20);
            p.status.battery_level = Some(80);
            p.status.battery_voltage = Some(4.1);
            p.status.power_voltage = Some(12.5);
            let escaped = device.location(&p);
            let mut buf = BytesMut::from(&escaped[..]);
            let Some(Located::Binary { frame_len, .. }) =
                Jt808Codec::default().locate(&mut buf).unwrap()
            else {
                panic!("no frame");
            };
            let mut cache = fast::FastCache::default();
            let fix =
                fast::plain_location(&buf[..frame_len], Jt808Codec::default().ctx(), &mut cache)
                    .expect("direct path declined a plain location");
            let d = fix.into_decoded(cache.last_device());
            assert_eq!(d.message, DeviceMessage::Position(p));
            assert_eq!(d.device, Some(id));
        }
    }
}
