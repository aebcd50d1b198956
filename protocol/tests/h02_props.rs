//! Property tests of the H02 codec: round trips through the device side, stream splitting,
//! and arbitrary input.

use bytes::BytesMut;
use chrono::{DateTime, TimeZone, Timelike, Utc};
use proptest::prelude::*;
use protocol::h02::device::{self, H02DeviceCodec, ServerMessage};
use protocol::h02::{
    H02Codec, H02Config, H02Outbound, IgnitionSense, Maker, MsgType, StatusDialect, apply_status,
};
use protocol::{
    Command, CommandProfile, Correlation, Decoded, DeviceCodec, DeviceId, DeviceMessage,
    DeviceStatus, LatLon, Position,
};
use tokio_util::codec::{Decoder, Encoder};

fn device_id() -> impl Strategy<Value = DeviceId> {
    prop_oneof!["[0-9]{10}", "[0-9]{15}"].prop_map(|s| DeviceId::parse(&s).unwrap())
}

fn short_id() -> impl Strategy<Value = DeviceId> {
    "[1-9][0-9]{9}".prop_map(|s| DeviceId::parse(&s).unwrap())
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800i64..4_102_444_799).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
}

fn status() -> impl Strategy<Value = DeviceStatus> {
    any::<u32>().prop_map(|word| {
        let mut s = DeviceStatus::default();
        apply_status(
            word,
            StatusDialect::default(),
            IgnitionSense::BitSetIsOn,
            &mut s,
        );
        s
    })
}

fn position() -> impl Strategy<Value = Position> {
    (
        time(),
        -89.9f64..89.9,
        -179.9f64..179.9,
        any::<bool>(),
        0.0f32..300.0,
        0u16..360,
        status(),
    )
        .prop_filter("0,0 means no fix", |(_, lat, lon, ..)| {
            lat.abs() > 1e-3 || lon.abs() > 1e-3
        })
        .prop_map(|(time, lat, lon, valid, speed, course, status)| {
            let mut p = Position::new(time, LatLon::new(lat, lon).unwrap(), valid, speed);
            p.course = Some(f32::from(course));
            p.status = status;
            p
        })
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::CutPower),
        Just(Command::RestorePower),
        Just(Command::Locate),
        Just(Command::Arm),
        Just(Command::Disarm),
        (1u32..100_000).prop_map(|seconds| Command::SetInterval { seconds }),
    ]
}

fn decode_all(codec: &mut H02Codec, bytes: &[u8]) -> Vec<Decoded<H02Outbound>> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Ok(Some(d)) = codec.decode(&mut buf) {
        out.push(d);
    }
    out
}

fn decode_one(bytes: &[u8]) -> Decoded<H02Outbound> {
    let mut all = decode_all(&mut H02Codec::default(), bytes);
    assert_eq!(all.len(), 1, "{}", String::from_utf8_lossy(bytes));
    all.remove(0)
}

fn assert_position_matches(got: &Position, want: &Position, lat_lon_tol: f64, speed_tol: f32) {
    assert_eq!(got.time, want.time);
    assert!((got.location.lat - want.location.lat).abs() <= lat_lon_tol);
    assert!((got.location.lon - want.location.lon).abs() <= lat_lon_tol);
    assert!((got.speed_kmh - want.speed_kmh).abs() <= speed_tol);
    assert_eq!(got.course, want.course);
    assert_eq!(got.status, want.status);
}

fn server_message(out: &H02Outbound) -> ServerMessage {
    let mut buf = BytesMut::new();
    H02Codec::default().encode(out.clone(), &mut buf).unwrap();
    let mut dev = H02DeviceCodec::default();
    let msg = dev.decode(&mut buf).unwrap().expect("a whole frame");
    assert!(buf.is_empty());
    msg
}

proptest! {
    #[test]
    fn commands_round_trip_through_the_device(
        id in device_id(),
        cmd in command(),
        now in time(),
        offset in -12 * 3600i32..14 * 3600,
    ) {
        let mut codec = H02Codec::new(H02Config { command_utc_offset_secs: offset, ..H02Config::default() });
        let (out, correlation) = codec.command(&id, &cmd, &CommandProfile::default(), now).unwrap();
        let msg = server_message(&out);
        prop_assert_eq!(msg.command(), Some(cmd));
        let ServerMessage::Command { device, stamp, maker, .. } = msg else { unreachable!() };
        prop_assert_eq!(device, id);
        prop_assert_eq!(maker, Maker::HQ);
        let local = now + chrono::TimeDelta::seconds(i64::from(offset));
        prop_assert_eq!(stamp, Some(local.num_seconds_from_midnight()));
        prop_assert_eq!(correlation, Correlation::TimeStamp(local.num_seconds_from_midnight()));
    }

    #[test]
    fn acks_round_trip_through_the_device(id in device_id(), t in time(), which in 0..3u8) {
        let msg_type = MsgType::new(b"V1").unwrap();
        let out = match which {
            0 => H02Outbound::Confirm { maker: Maker::HQ, device: id, msg_type, time: t },
            1 => H02Outbound::R12 { maker: Maker::HQ, device: id, time: t },
            _ => H02Outbound::Echo { maker: Maker::HQ, device: id, msg_type: MsgType::new(b"HTBT").unwrap() },
        };
        match (server_message(&out), out) {
            (ServerMessage::Confirm { device, msg_type: m, time, .. }, H02Outbound::Confirm { .. }) => {
                prop_assert_eq!(device, id);
                prop_assert_eq!(m, msg_type);
                prop_assert_eq!(time, t);
            }
            (ServerMessage::R12 { device, time, .. }, H02Outbound::R12 { .. }) => {
                prop_assert_eq!(device, id);
                prop_assert_eq!(time, t.time());
            }
            (ServerMessage::Echo { device, msg_type, .. }, H02Outbound::Echo { .. }) => {
                prop_assert_eq!(device, id);
                prop_assert_eq!(msg_type.as_str(), "HTBT");
            }
            (got, sent) => prop_assert!(false, "{sent:?} came back as {got:?}"),
        }
    }

    #[test]
    fn text_locations_round_trip(id in device_id(), p in position()) {
        let d = decode_one(&device::location(&id, &p));
        prop_assert_eq!(d.device, Some(id));
        let DeviceMessage::Position(got) = d.message else { panic!("not a position: {:?}", d.message) };
        prop_assert_eq!(got.valid, p.valid);
        // 5 decimals of minutes; speed written in knots with 2 decimals.
        assert_position_matches(&got, &p, 1e-6, 0.01);
        let confirmed = matches!(d.ack, Some(H02Outbound::Confirm { .. }));
        prop_assert!(confirmed);
    }

    #[test]
    fn binary_locations_round_trip(id in short_id(), p in position()) {
        let mut want = p.clone();
        want.speed_kmh = ((f64::from(p.speed_kmh) / 1.852).round() * 1.852) as f32;
        want.status.battery_level = Some(100);
        let d = decode_one(&device::binary_location(&id, &p).unwrap());
        prop_assert_eq!(d.device, Some(id));
        let DeviceMessage::Position(got) = d.message else { panic!("not a position") };
        prop_assert_eq!(got.valid, p.valid);
        assert_position_matches(&got, &want, 1e-6, 0.01);
    }

    #[test]
    fn heartbeats_and_replies_round_trip(
        id in device_id(), battery in proptest::option::of(0u8..=100), stamp in 0u32..86_400, p in position(),
    ) {
        let d = decode_one(&device::heartbeat(&id, battery));
        let DeviceMessage::Status(s) = d.message else { panic!("not a status") };
        prop_assert_eq!(s.status.battery_level, battery);
        let echoed = matches!(d.ack, Some(H02Outbound::Echo { .. }));
        prop_assert!(echoed);

        let d = decode_one(&device::command_reply(&id, "S20", Some("DONE"), stamp, &p));
        let DeviceMessage::CommandReply(r) = d.message else { panic!("not a reply") };
        prop_assert_eq!(r.correlation, Correlation::TimeStamp(stamp));
        prop_assert_eq!(r.text.as_deref(), Some("S20,DONE"));
        assert_position_matches(&r.position.expect("position"), &p, 1e-6, 0.01);

        let d = decode_one(&device::no_fix(&id, p.time, &p.status));
        let DeviceMessage::Status(s) = d.message else { panic!("not a status") };
        prop_assert_eq!(s.status, p.status);
        prop_assert_eq!(s.time, Some(p.time));
    }

    #[test]
    fn streams_decode_the_same_however_they_are_split(
        ids in proptest::collection::vec(short_id(), 1..6),
        ps in proptest::collection::vec(position(), 6),
        garbage in proptest::collection::vec(any::<u8>().prop_filter("not a frame start", |b| !b"*$X".contains(b)), 0..8),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
    ) {
        let mut stream = garbage.clone();
        for (i, id) in ids.iter().enumerate() {
            let p = &ps[i];
            match i % 3 {
                0 => stream.extend(device::location(id, p)),
                1 => stream.extend(device::binary_location(id, p).unwrap()),
                _ => stream.extend(device::heartbeat(id, Some(50))),
            }
            stream.extend_from_slice(b"\r\n");
        }
        let whole = decode_all(&mut H02Codec::default(), &stream);
        prop_assert_eq!(whole.len(), ids.len());

        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut codec = H02Codec::default();
        let mut buf = BytesMut::new();
        let mut pieces = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([stream.len()]) {
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            while let Some(d) = codec.decode(&mut buf).unwrap() {
                pieces.push(d);
            }
        }
        prop_assert_eq!(&pieces, &whole);

        let mut codec = H02Codec::default();
        let mut buf = BytesMut::new();
        let mut bytewise = Vec::new();
        for b in &stream {
            buf.extend_from_slice(&[*b]);
            while let Some(d) = codec.decode(&mut buf).unwrap() {
                bytewise.push(d);
            }
        }
        prop_assert_eq!(&bytewise, &whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..64,
    ) {
        let mut codec = H02Codec::new(H02Config { max_frame: 256, ..H02Config::default() });
        let mut buf = BytesMut::new();
        for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => { buf.clear(); break; }
                }
            }
            // Nothing unbounded: what stays buffered is one partial frame at most.
            prop_assert!(buf.len() <= 256 + chunk);
        }
        let mut dev = H02DeviceCodec::default();
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = dev.decode(&mut buf) {}
    }

    #[test]
    fn framed_text_with_arbitrary_fields_never_panics(
        body in "[A-Za-z0-9,.: -]{0,200}",
    ) {
        let frame = format!("*HQ,4210051415,{body}#");
        let _ = decode_all(&mut H02Codec::default(), frame.as_bytes());
        let frame = format!("*HQ,4210051415,V1,{body}#");
        let _ = decode_all(&mut H02Codec::default(), frame.as_bytes());
        let frame = format!("*HQ,4210051415,V4,{body}#");
        let _ = decode_all(&mut H02Codec::default(), frame.as_bytes());
    }
}

#[test]
fn heartbeat_echo_is_the_documented_bytes() {
    let d = decode_one(b"*HQ,135790246811220,HTBT#");
    let mut buf = BytesMut::new();
    H02Codec::default()
        .encode(d.ack.unwrap(), &mut buf)
        .unwrap();
    assert_eq!(&buf[..], b"*HQ,135790246811220,HTBT#");
}

#[test]
fn v1_confirmation_and_r12_bytes() {
    let d = decode_one(
        b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#",
    );
    assert_eq!(
        d.ack.unwrap().to_bytes(),
        b"*HQ,4210051415,V4,V1,20151222164549#".to_vec()
    );
    let mut codec = H02Codec::new(H02Config {
        r12_ack: true,
        ..H02Config::default()
    });
    let d = decode_all(
        &mut codec,
        b"*TH,2020916012,V4,S17,130305,050316,A,2212.8745,N,11346.6574,E,14.28,028,220902,FFFFFBFF#",
    );
    assert_eq!(
        d[0].ack.clone().unwrap().to_bytes(),
        b"*TH,2020916012,R12,050316#".to_vec()
    );
    // The device's own manufacturer code is used for later commands.
    let (out, _) = codec
        .command(
            &DeviceId::parse("2020916012").unwrap(),
            &Command::CutPower,
            &CommandProfile::default(),
            Utc.with_ymd_and_hms(2024, 1, 1, 1, 2, 3).unwrap(),
        )
        .unwrap();
    assert_eq!(out.to_bytes(), b"*TH,2020916012,S20,010203,1,1#".to_vec());
}

#[test]
fn malformed_frames_are_skipped_and_counted() {
    let mut codec = H02Codec::default();
    let got = decode_all(
        &mut codec,
        b"*HQ,1,V1,99,A#*HQ,1,HTBT,100#\x24\x99\x99\x99\x99\x99\x99\x99\x99\x99\x99\x99\x99\x99\x99\x99",
    );
    assert_eq!(got.len(), 1);
    let stats = codec.stats();
    assert_eq!(stats.malformed, 1);
    assert_eq!(stats.frames, 1);
    assert!(stats.resyncs >= 1);
}

#[test]
fn fixed_binary_length_reads_long_records_in_pieces() {
    let rec = "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f";
    let rec: Vec<u8> = (0..rec.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&rec[i..i + 2], 16).unwrap())
        .collect();
    let mut codec = H02Codec::new(H02Config {
        binary_length: protocol::h02::BinaryLength::Fixed(45),
        ..H02Config::default()
    });
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for _ in 0..3 {
        for b in &rec {
            buf.extend_from_slice(&[*b]);
            while let Some(d) = codec.decode(&mut buf).unwrap() {
                got.push(d);
            }
        }
    }
    assert_eq!(got.len(), 3);
    assert_eq!(codec.stats().resyncs, 0);
}
