//! Property tests: round trips through both sides of the GT06 codec, stream splitting, and
//! robustness against arbitrary bytes.
use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use protocol::gt06::{Gt06Codec, Gt06Outbound, device};
use protocol::{CellTower, DeviceCodec, DeviceMessage, DeviceStatus, LatLon, Position};
use tokio_util::codec::Decoder;

fn outbound() -> impl Strategy<Value = Gt06Outbound> {
    prop_oneof![
        // 0x80 is the server's command frame: the server never acks a frame of that number,
        // and a device rightly reads an empty 0x80 frame as a malformed command.
        (
            any::<u8>().prop_filter("0x80 is the command frame", |p| *p != 0x80),
            any::<u16>()
        )
            .prop_map(|(protocol, serial)| Gt06Outbound::Ack { protocol, serial }),
        (any::<u8>(), any::<u16>())
            .prop_map(|(protocol, serial)| Gt06Outbound::LongAck { protocol, serial }),
        (
            prop_oneof![Just(0x17u8), Just(0x69u8)],
            prop::array::uniform6(0u8..=0x99)
        )
            .prop_map(|(protocol, t)| Gt06Outbound::WifiTimeEcho {
                protocol,
                time: t
                    .map(|b| if b & 0x0F > 9 { b & 0xF0 } else { b })
                    .map(|b| if b >> 4 > 9 { b & 0x0F } else { b }),
            }),
        prop::array::uniform6(any::<u8>()).prop_map(|time| Gt06Outbound::Time { time }),
        Just(Gt06Outbound::AddressReply),
        (
            any::<u32>(),
            any::<u16>(),
            "[ -~]{1,200}",
            proptest::option::of(any::<u16>())
        )
            .prop_map(
                |(server_flag, serial, text, language)| Gt06Outbound::Command {
                    server_flag,
                    serial,
                    text,
                    language
                }
            ),
    ]
}

fn position() -> impl Strategy<Value = Position> {
    (
        0i64..(99 * 365 * 86_400),
        -90.0f64..90.0,
        -180.0f64..180.0,
        any::<bool>(),
        0u8..=255,
        0u16..360,
        0u8..=15,
        (any::<u16>(), any::<u8>(), any::<u16>(), 0u32..0x0100_0000),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
    )
        .prop_map(
            |(secs, lat, lon, valid, speed, course, sats, cell, ignition, archived)| {
                let time = Utc.timestamp_opt(946_684_800 + secs, 0).unwrap();
                let mut p = Position::new(
                    time,
                    LatLon::new(lat, lon).unwrap(),
                    valid,
                    f32::from(speed),
                );
                p.course = Some(f32::from(course));
                p.satellites = Some(sats);
                p.cell = Some(CellTower {
                    mcc: cell.0 & 0x7FFF,
                    mnc: u16::from(cell.1),
                    lac: u32::from(cell.2),
                    cell_id: u64::from(cell.3),
                });
                p.status.ignition = ignition;
                p.archived = archived;
                p
            },
        )
}

fn decode_stream(bytes: &[u8], chunks: &[usize]) -> Vec<DeviceMessage> {
    let mut codec = Gt06Codec::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let step = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(bytes.len())
            .max(1);
        i += 1;
        let end = (pos + step).min(bytes.len());
        buf.extend_from_slice(&bytes[pos..end]);
        pos = end;
        while let Some(d) = codec.decode(&mut buf).unwrap() {
            out.push(d.message);
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1.0 / 1_800_000.0
}

proptest! {
    #[test]
    fn server_frames_round_trip_through_the_device_decoder(o in outbound()) {
        let mut buf = BytesMut::from(&o.to_bytes()[..]);
        let got = device::DeviceDecoder::default().decode(&mut buf).unwrap();
        prop_assert_eq!(got, Some(o));
    }

    #[test]
    fn emulated_locations_decode_to_the_same_fix(p in position(), serial in any::<u16>(), modern in any::<bool>()) {
        let bytes = if modern { device::location(&p, serial) } else { device::location_0x12(&p, serial) };
        let mut codec = Gt06Codec::default();
        let d = codec.decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap();
        let DeviceMessage::Position(got) = d.message else { return Err(TestCaseError::fail("not a position")) };
        prop_assert_eq!(got.time, p.time);
        prop_assert!(close(got.location.lat, p.location.lat) && close(got.location.lon, p.location.lon));
        prop_assert_eq!(got.valid, p.valid);
        prop_assert_eq!(got.speed_kmh, p.speed_kmh);
        prop_assert_eq!(got.course, p.course);
        prop_assert_eq!(got.satellites, p.satellites);
        prop_assert_eq!(got.cell, p.cell);
        if modern {
            prop_assert_eq!(got.status.ignition, Some(p.status.ignition.unwrap_or(false)));
            prop_assert_eq!(got.archived, p.archived);
        }
        prop_assert_eq!(d.ack, Some(Gt06Outbound::Ack { protocol: if modern { 0x22 } else { 0x12 }, serial }));
        prop_assert_eq!(codec.stats().checksum_mismatches, 0);
    }

    #[test]
    fn emulated_heartbeats_decode_to_the_same_status(
        ignition in any::<bool>(), armed in any::<bool>(), charging in any::<bool>(), cut in any::<bool>(),
        level in 0u8..=100, gsm in 0u8..=4, serial in any::<u16>(),
    ) {
        let status = DeviceStatus {
            ignition: Some(ignition), armed: Some(armed), charging: Some(charging), output_cut: Some(cut),
            battery_level: Some(level), gsm_signal: Some(gsm), ..DeviceStatus::default()
        };
        let bytes = device::heartbeat(&status, serial);
        let d = Gt06Codec::default().decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap();
        let DeviceMessage::Status(got) = d.message else { return Err(TestCaseError::fail("not a status")) };
        prop_assert_eq!(got.status.ignition, Some(ignition));
        prop_assert_eq!(got.status.armed, Some(armed));
        prop_assert_eq!(got.status.charging, Some(charging));
        prop_assert_eq!(got.status.output_cut, Some(cut));
        prop_assert_eq!(got.status.gsm_signal, Some(gsm));
        let lvl = device::voltage_level(level);
        prop_assert_eq!(got.status.battery_level, Some((u16::from(lvl) * 100 / 6) as u8));
        prop_assert_eq!(d.ack, Some(Gt06Outbound::Ack { protocol: 0x13, serial }));
    }

    #[test]
    fn command_replies_keep_their_server_flag(flag in any::<u32>(), text in "[ -~]{1,100}", long in any::<bool>()) {
        let bytes = if long { device::command_reply_long(flag, &text, 1) } else { device::command_reply(flag, &text, 1) };
        let d = Gt06Codec::default().decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap();
        match d.message {
            DeviceMessage::CommandReply(r) => {
                prop_assert_eq!(r.correlation, protocol::Correlation::ServerFlag(flag));
                prop_assert_eq!(r.text.as_deref(), Some(text.as_str()));
            }
            // an ICCID-shaped reply becomes a status attribute
            other => prop_assert!(text.starts_with("<ICCID:"), "{other:?}"),
        }
    }

    #[test]
    fn streams_decode_the_same_however_they_are_split(
        ps in prop::collection::vec((position(), any::<u16>()), 1..6),
        chunks in prop::collection::vec(1usize..40, 1..10),
    ) {
        let mut bytes = device::login("123456789012345", 1).unwrap();
        for (p, serial) in &ps {
            bytes.extend(device::location(p, *serial));
            bytes.extend(device::heartbeat(&p.status, *serial));
        }
        let whole = decode_stream(&bytes, &[bytes.len()]);
        prop_assert_eq!(whole.len(), 1 + 2 * ps.len());
        prop_assert_eq!(&decode_stream(&bytes, &chunks), &whole);
        prop_assert_eq!(&decode_stream(&bytes, &[1]), &whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), chunks in prop::collection::vec(1usize..64, 1..8)) {
        let mut codec = Gt06Codec::default();
        let mut buf = BytesMut::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < data.len() {
            let end = (pos + chunks[i % chunks.len()]).min(data.len());
            i += 1;
            buf.extend_from_slice(&data[pos..end]);
            pos = end;
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => { buf.clear(); break; }
                }
            }
            prop_assert!(buf.len() <= codec.config().max_frame_len + 64);
        }
        let _ = codec.decode_frame(&data);
        let mut dbuf = BytesMut::from(&data[..]);
        let mut dev = device::DeviceDecoder::default();
        while let Ok(Some(_)) = dev.decode(&mut dbuf) {}
    }

    #[test]
    fn framed_garbage_with_valid_markers_never_panics(kind in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..120), long in any::<bool>()) {
        let mut f = if long { vec![0x79, 0x79, 0, (body.len() + 5) as u8] } else { vec![0x78, 0x78, (body.len() + 5) as u8] };
        f.push(kind);
        f.extend_from_slice(&body);
        f.extend_from_slice(&[0, 1, 0, 0, 0x0D, 0x0A]);
        for model in ["", "LW4G", "SEEWORLD", "R11", "NT20", "XT40", "VL103", "QH302R"] {
            let mut c = Gt06Codec::default();
            c.set_model(protocol::gt06::Gt06Model::from_name(model));
            let _ = c.decode_frame(&f);
        }
    }
}
