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
