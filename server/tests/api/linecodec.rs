//! A tiny line protocol implementing `DeviceCodec`, to drive the generic gateway in tests:
//!
//! - `LOGIN <id>` → Login, ack `OK LOGIN`
//! - `POS <id> <t>` → Position at t seconds past 2024-01-01, ack `ACK <t>` (after commit)
//! - `BATCH <id> <t1>,<t2>,…` → Batch, ack `ACKB <n>` (after commit)
//! - `REG <id>` → Register, ack `AUTH <code>` (code filled in by `registration_ack`)
//! - `AUTH <id> <code>` → Login with auth code, ack `OK AUTH`
//! - `HB` → Status, ack `OK HB`
//! - anything else → skipped and counted as malformed; a line over 128 bytes → FrameTooLong.

use bytes::BytesMut;
use protocol::{
    CodecStats, Command, CommandError, CommandProfile, Correlation, Decoded, DeviceCodec, DeviceId,
    DeviceMessage, Protocol, ProtocolError, Registration, StatusReport,
};
use tokio_util::codec::{Decoder, Encoder};
use vigil_server::transport::gateway::GatewayCodec;

use crate::helpers::position;

pub const MAX_LINE: usize = 128;

#[derive(Debug, Default)]
pub struct LineCodec {
    stats: CodecStats,
}

impl Decoder for LineCodec {
    type Item = Decoded<String>;
    type Error = ProtocolError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, ProtocolError> {
        loop {
            let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
                if buf.len() > MAX_LINE {
                    return Err(ProtocolError::FrameTooLong {
                        len: buf.len(),
                        max: MAX_LINE,
                    });
                }
                return Ok(None);
            };
            let line = buf.split_to(nl + 1);
            let text = String::from_utf8_lossy(&line[..nl]).trim().to_owned();
            match parse(&text) {
                Some(d) => {
                    self.stats.frames += 1;
                    return Ok(Some(d));
                }
                None => self.stats.malformed += 1,
            }
        }
    }
}

fn id(s: Option<&str>) -> Option<DeviceId> {
    DeviceId::parse(s?).ok()
}

fn parse(text: &str) -> Option<Decoded<String>> {
    let mut it = text.split_whitespace();
    let verb = it.next()?;
    let d = |device, message, ack: &str| {
        Some(Decoded {
            device,
            message,
            ack: Some(ack.to_owned()),
        })
    };
    match verb {
        "LOGIN" => {
            let dev = id(it.next())?;
            d(
                Some(dev),
                DeviceMessage::Login {
                    device: dev,
                    utc_offset_minutes: None,
                    auth_code: None,
                    model_code: None,
                },
                "OK LOGIN",
            )
        }
        "AUTH" => {
            let dev = id(it.next())?;
            let code = it.next()?.to_owned();
            d(
                Some(dev),
                DeviceMessage::Login {
                    device: dev,
                    utc_offset_minutes: None,
                    auth_code: Some(code),
                    model_code: None,
                },
                "OK AUTH",
            )
        }
        "REG" => {
            let dev = id(it.next())?;
            d(
                Some(dev),
                DeviceMessage::Register(Registration {
                    province: 0,
                    city: 0,
                    manufacturer: "T".into(),
                    model: "T".into(),
                    terminal_id: "T".into(),
                    plate_color: 0,
                    plate: String::new(),
                }),
                "AUTH ?",
            )
        }
        "POS" => {
            let dev = id(it.next())?;
            let t: i64 = it.next()?.parse().ok()?;
            d(
                Some(dev),
                DeviceMessage::Position(position(t)),
                &format!("ACK {t}"),
            )
        }
        "BATCH" => {
            let dev = id(it.next())?;
            let ts: Vec<i64> = it
                .next()?
                .split(',')
                .map(|t| t.parse().ok())
                .collect::<Option<_>>()?;
            let n = ts.len();
            d(
                Some(dev),
                DeviceMessage::Batch(ts.into_iter().map(position).collect()),
                &format!("ACKB {n}"),
            )
        }
        "HB" => d(
            None,
            DeviceMessage::Status(StatusReport {
                time: None,
                status: Default::default(),
                cell: None,
                attributes: Vec::new(),
            }),
            "OK HB",
        ),
        _ => None,
    }
}

impl Encoder<String> for LineCodec {
    type Error = ProtocolError;
    fn encode(&mut self, item: String, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        dst.extend_from_slice(item.as_bytes());
        dst.extend_from_slice(b"\n");
        Ok(())
    }
}

impl DeviceCodec for LineCodec {
    type Outbound = String;
    const PROTOCOL: Protocol = Protocol::H02;

    fn stats(&self) -> CodecStats {
        self.stats
    }

    fn command(
        &mut self,
        _device: &DeviceId,
        command: &Command,
        _profile: &CommandProfile,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(String, Correlation), CommandError> {
        Ok((format!("CMD {}", command.name()), Correlation::None))
    }
}

impl GatewayCodec for LineCodec {
    fn registration_ack(&mut self, _ack: String, auth_code: &str) -> String {
        format!("AUTH {auth_code}")
    }
}
