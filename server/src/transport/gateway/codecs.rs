//! Where the concrete protocol codecs plug into the gateway.
//!
//! Each stream protocol implements [`GatewayCodec`] here; the application starts one
//! listener per protocol [`available`] in this build.

use chrono::Utc;
use protocol::gt06::Gt06Codec;
use protocol::h02::{H02Codec, H02Config};
use protocol::jt808::{AckResult, Jt808Codec, Outbound as Jt808Outbound, OutboundBody, msg};
use protocol::{Decoded, DeviceMessage, Protocol};

use crate::transport::gateway::{GatewayCodec, Handshake};

impl GatewayCodec for Gt06Codec {}
impl GatewayCodec for H02Codec {}

impl GatewayCodec for Jt808Codec {
    const AUTHENTICATES: bool = true;

    fn handshake(&self, frame: &Decoded<Jt808Outbound>) -> Handshake {
        match (&frame.message, &frame.ack) {
            (DeviceMessage::Register(_), _) => Handshake::Register,
            (
                DeviceMessage::Login {
                    auth_code: Some(_), ..
                },
                _,
            ) => Handshake::Authenticate,
            // The model has no message id; the general response names the one it answers.
            (
                _,
                Some(Jt808Outbound {
                    body:
                        OutboundBody::GeneralResponse {
                            reply_id: msg::HEARTBEAT,
                            ..
                        },
                    ..
                }),
            ) => Handshake::Heartbeat,
            _ => Handshake::None,
        }
    }

    fn registration_ack(&mut self, mut ack: Jt808Outbound, auth_code: &str) -> Jt808Outbound {
        ack.set_auth_code(auth_code);
        ack
    }

    /// 0x8001 with result 1 (failure) in place of a general response, and of a register
    /// response (which has no failure of its own that fits: its results say which of vehicle
    /// and terminal is unknown or taken). Other answers (0x8109 time, 0x4401 vendor) carry no
    /// result: nothing is sent for those.
    fn refusal_ack(&mut self, ack: Jt808Outbound) -> Option<Jt808Outbound> {
        let (reply_serial, reply_id) = match ack.body {
            OutboundBody::GeneralResponse {
                reply_serial,
                reply_id,
                ..
            } => (reply_serial, reply_id),
            OutboundBody::RegisterResponse { reply_serial, .. } => (reply_serial, msg::REGISTER),
            _ => return None,
        };
        Some(Jt808Outbound {
            terminal: ack.terminal,
            serial: None,
            body: OutboundBody::GeneralResponse {
                reply_serial,
                reply_id,
                result: AckResult::Failure,
            },
        })
    }

    fn stamp_ack(&mut self, mut ack: Jt808Outbound, now: chrono::DateTime<Utc>) -> Jt808Outbound {
        ack.set_time(now);
        ack
    }
}

/// The H02 settings the server runs with: the wall clock dates sentences without a date.
pub fn h02_config() -> H02Config {
    H02Config {
        clock: Some(Utc::now),
        ..H02Config::default()
    }
}

/// Whether this build serves `protocol` over TCP.
pub fn available(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Gt06 | Protocol::H02 | Protocol::Jt808)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use protocol::jt808::device::Device;
    use protocol::{DeviceId, LatLon, Position};
    use tokio_util::codec::Decoder;

    fn decode(codec: &mut Jt808Codec, frame: &[u8]) -> Decoded<Jt808Outbound> {
        let mut buf = BytesMut::from(frame);
        codec
            .decode(&mut buf)
            .expect("decodes")
            .expect("a whole frame")
    }

    /// Which JT808 frames make the handshake, and what refuses the others.
    #[test]
    fn jt808_handshake_and_refusals() {
        let mut codec = Jt808Codec::default();
        let mut dev = Device::new(&DeviceId::parse("13912345678").unwrap());
        let reg = protocol::Registration {
            province: 44,
            city: 300,
            manufacturer: "VIGIL".into(),
            model: "EMU-1".into(),
            terminal_id: "T000001".into(),
            plate_color: 1,
            plate: "TEST01".into(),
        };
        let fix = Position::new(
            "2024-01-01T00:00:00Z".parse().unwrap(),
            LatLon::new(22.5, 114.0).unwrap(),
            true,
            0.0,
        );
        let cases = [
            (dev.register(&reg), Handshake::Register, Some(msg::REGISTER)),
            (dev.auth("code"), Handshake::Authenticate, Some(msg::AUTH)),
            (dev.heartbeat(), Handshake::Heartbeat, Some(msg::HEARTBEAT)),
            (dev.location(&fix), Handshake::None, Some(msg::LOCATION)),
            (
                dev.batch(std::slice::from_ref(&fix), false),
                Handshake::None,
                Some(msg::LOCATION_BATCH),
            ),
            // 0x8109 carries no result: a refusal sends nothing.
            (
                dev.frame(msg::TIME_SYNC_REQUEST, &[]),
                Handshake::None,
                None,
            ),
        ];
        for (frame, want, refused_id) in cases {
            let decoded = decode(&mut codec, &frame);
            assert_eq!(codec.handshake(&decoded), want, "{:?}", decoded.message);
            let refusal = decoded.ack.and_then(|a| codec.refusal_ack(a));
            match (refusal, refused_id) {
                (None, None) => {}
                (
                    Some(Jt808Outbound {
                        body:
                            OutboundBody::GeneralResponse {
                                reply_id,
                                result: AckResult::Failure,
                                ..
                            },
                        ..
                    }),
                    Some(id),
                ) => assert_eq!(reply_id, id),
                other => panic!("{want:?}: unexpected refusal {other:?}"),
            }
        }
    }
}
