//! H02 (`*HQ,…#` text and `$` binary) codec, used by TK103/TK110/"GPS103" style trackers.
//!
//! Layers, one file each: [`frame`](self) splits the stream, `text` and `binary` map a frame
//! onto the model, `status` reads the 32-bit status word, `command` builds server commands and
//! [`device`] is the emulator's side. See `shared/protocols/h02.md` for the protocol itself.

mod binary;
mod command;
pub mod device;
mod fields;
mod frame;
mod status;
mod text;

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};
use chrono::{DateTime, Utc};
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    CodecStats, Command, CommandError, CommandProfile, Correlation, Decoded, DeviceCodec, DeviceId,
    DeviceMessage, Protocol, ProtocolError,
};

pub use status::{IgnitionSense, StatusDialect, apply_status, status_word};

/// Unit of the speed field. Traccar treats H02 speed as knots; some firmwares send km/h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpeedUnit {
    /// Knots (traccar's reading, the default).
    #[default]
    Knots,
    /// Kilometres per hour.
    Kmh,
}

impl SpeedUnit {
    /// Converts a speed in this unit to km/h.
    pub fn to_kmh(self, value: f64) -> f64 {
        match self {
            SpeedUnit::Knots => value * 1.852,
            SpeedUnit::Kmh => value,
        }
    }

    /// Converts km/h to this unit.
    pub fn from_kmh(self, kmh: f64) -> f64 {
        match self {
            SpeedUnit::Knots => kmh / 1.852,
            SpeedUnit::Kmh => kmh,
        }
    }
}

/// Length of `$` binary records, which the records themselves do not state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BinaryLength {
    /// Guess per record: a record followed by a frame start confirms a length (32, 45, 46 or
    /// 48 bytes, learned for the connection); otherwise a buffer holding exactly one of those
    /// lengths is taken whole; with more than 48 bytes and no confirmation, 32 (traccar's
    /// default). The 42-byte IMEI variant is recognised by where its time field sits. A first
    /// record that arrives in pieces may be cut short in this mode: configure `Fixed` when the
    /// fleet's record size is known.
    #[default]
    Auto,
    /// Every `$` record on the connection has this length (traccar `h02.messageLength`).
    Fixed(usize),
}

/// Settings of one H02 connection.
#[derive(Debug, Clone)]
pub struct H02Config {
    /// Longest frame (or unterminated text) kept in the buffer before the connection is ended.
    pub max_frame: usize,
    /// Length of `$` binary records.
    pub binary_length: BinaryLength,
    /// Unit of the speed field.
    pub speed_unit: SpeedUnit,
    /// How bit 10 of the status word reads as ignition.
    pub ignition: IgnitionSense,
    /// Which vendor table maps status bits to alarms.
    pub dialect: StatusDialect,
    /// Keep traccar's extra attributes: the whole status word as `status`, unparsed trailing
    /// fields as `io1..ioN`, `temp1`/`fuel`. Costs one allocation per location frame; with
    /// `false` a location frame decodes without touching the heap.
    pub vendor_attributes: bool,
    /// Answer `V1` with `*HQ,<id>,V4,V1,<yyyyMMddHHmmss>#` and `NBR` with `…,V4,NBR,…#`
    /// (traccar always does).
    pub confirm_locations: bool,
    /// Answer other location messages and binary records with `*HQ,<id>,R12,<hhmmss>#`
    /// (traccar `h02.ack`).
    pub r12_ack: bool,
    /// Echo heartbeats (`HTBT`, `V0`) as `*HQ,<id>,HTBT#`.
    pub heartbeat_echo: bool,
    /// UTC offset, seconds, of the `HHMMSS` stamp written into commands (traccar uses the
    /// server's local time; the device only echoes it).
    pub command_utc_offset_secs: i32,
    /// Manufacturer code for commands until the device has shown its own (`HQ`).
    pub manufacturer: Maker,
    /// Clock for messages whose date field is empty (traccar uses "now"). `None` keeps decoding
    /// pure: the time of the connection's previous message is used, or no position is made.
    pub clock: Option<fn() -> DateTime<Utc>>,
}

impl Default for H02Config {
    fn default() -> Self {
        H02Config {
            max_frame: 2048,
            binary_length: BinaryLength::Auto,
            speed_unit: SpeedUnit::Knots,
            ignition: IgnitionSense::BitSetIsOn,
            dialect: StatusDialect::Vendor,
            vendor_attributes: true,
            confirm_locations: true,
            r12_ack: false,
            heartbeat_echo: true,
            command_utc_offset_secs: 0,
            manufacturer: Maker::HQ,
            clock: None,
        }
    }
}

/// Two-character manufacturer code that starts every text sentence (`HQ`, `TH`, `hq` …).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Maker([u8; 2]);

impl Maker {
    /// `HQ`, the usual code.
    pub const HQ: Maker = Maker(*b"HQ");

    /// A code of two ASCII letters or digits.
    pub fn new(code: &[u8]) -> Option<Maker> {
        match code {
            [a, b] if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
                Some(Maker([*a, *b]))
            }
            _ => None,
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("HQ")
    }
}

impl fmt::Debug for Maker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Maker({})", self.as_str())
    }
}

impl fmt::Display for Maker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message type (`V1`, `HTBT`, `NBR` …) stored inline, up to 8 ASCII characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgType {
    len: u8,
    bytes: [u8; 8],
}

impl MsgType {
    /// A type of 1..=8 ASCII letters or digits.
    pub fn new(code: &[u8]) -> Option<MsgType> {
        if code.is_empty() || code.len() > 8 || !code.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes.get_mut(..code.len())?.copy_from_slice(code);
        Some(MsgType {
            len: code.len() as u8,
            bytes,
        })
    }

    /// The type as text.
    pub fn as_str(&self) -> &str {
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl fmt::Debug for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgType({})", self.as_str())
    }
}

/// `DeviceMessage::Other::kind` for an H02 type: its first four ASCII bytes, big-endian,
/// zero-padded (`XT` → 0x5854_0000; the `X` binary record → 0x5800_0000; no type → 0).
pub fn kind_code(msg_type: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    for (dst, src) in b.iter_mut().zip(msg_type) {
        *dst = *src;
    }
    u32::from_be_bytes(b)
}

/// What the server sends to an H02 device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H02Outbound {
    /// `*<MM>,<id>,V4,<type>,<yyyyMMddHHmmss>#`: confirmation of a `V1` or `NBR` report.
    Confirm {
        /// Manufacturer code the device used.
        maker: Maker,
        /// The device.
        device: DeviceId,
        /// Type being confirmed.
        msg_type: MsgType,
        /// Time written into the reply (the report's own time: decoding reads no clock).
        time: DateTime<Utc>,
    },
    /// `*<MM>,<id>,R12,<hhmmss>#`: acknowledgement some firmwares expect (`h02.ack`).
    R12 {
        /// Manufacturer code the device used.
        maker: Maker,
        /// The device.
        device: DeviceId,
        /// Time written into the reply.
        time: DateTime<Utc>,
    },
    /// `*<MM>,<id>,<type>#`: heartbeat echo.
    Echo {
        /// Manufacturer code the device used.
        maker: Maker,
        /// The device.
        device: DeviceId,
        /// Type echoed (`HTBT`, `V0`).
        msg_type: MsgType,
    },
    /// A complete command sentence `*<MM>,<id>,<CMD>,<HHMMSS>,…#`.
    Command(String),
}

impl H02Outbound {
    /// Appends the wire bytes to `dst`.
    pub fn write_to(&self, dst: &mut BytesMut) {
        use std::fmt::Write;
        // Writing into a BytesMut cannot fail.
        let _ = match self {
            H02Outbound::Confirm {
                maker,
                device,
                msg_type,
                time,
            } => write!(
                dst,
                "*{maker},{device},V4,{},{}#",
                msg_type.as_str(),
                time.format("%Y%m%d%H%M%S")
            ),
            H02Outbound::R12 {
                maker,
                device,
                time,
            } => write!(dst, "*{maker},{device},R12,{}#", time.format("%H%M%S")),
            H02Outbound::Echo {
                maker,
                device,
                msg_type,
            } => write!(dst, "*{maker},{device},{}#", msg_type.as_str()),
            H02Outbound::Command(text) => {
                dst.put_slice(text.as_bytes());
                Ok(())
            }
        };
    }

    /// The wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        self.write_to(&mut b);
        b.to_vec()
    }
}

/// Server-side H02 codec for one connection.
#[derive(Debug, Clone)]
pub struct H02Codec {
    config: H02Config,
    stats: CodecStats,
    learned_binary_length: Option<usize>,
    maker: Option<Maker>,
    last_time: Option<DateTime<Utc>>,
}

impl Default for H02Codec {
    fn default() -> Self {
        H02Codec::new(H02Config::default())
    }
}

impl H02Codec {
    /// A codec with the given settings.
    pub fn new(config: H02Config) -> Self {
        H02Codec {
            config,
            stats: CodecStats::default(),
            learned_binary_length: None,
            maker: None,
            last_time: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &H02Config {
        &self.config
    }

    /// Cuts the next frame off `src` (garbage before it skipped and counted, trailing CR/LF
    /// dropped) without decoding it; `Ok(None)` until a whole frame is buffered.
    pub fn split_frame(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, ProtocolError> {
        let Some(found) = frame::next(
            src,
            &self.config,
            &mut self.learned_binary_length,
            &mut self.stats,
        )?
        else {
            return Ok(None);
        };
        let frame = src.split_to(found.len.min(src.len()));
        src.advance(found.trailing.min(src.len()));
        Ok(Some(frame))
    }

    /// Decodes one complete frame (as the framer would deliver it: `*…#` or a binary record)
    /// without touching the stream state's framing; for tools and tests.
    pub fn decode_frame(&mut self, frame: &[u8]) -> Result<Decoded<H02Outbound>, ProtocolError> {
        let kind = match frame.first() {
            Some(b'*') => frame::FrameKind::Text,
            Some(b'$') if frame.len() == 42 => frame::FrameKind::Binary { id_len: 8 },
            Some(b'$') => frame::FrameKind::Binary { id_len: 5 },
            Some(b'X') => frame::FrameKind::X,
            _ => return Err(ProtocolError::malformed("h02 frame", "no start marker")),
        };
        self.decode_content(kind, frame)
    }

    fn decode_content(
        &mut self,
        kind: frame::FrameKind,
        frame: &[u8],
    ) -> Result<Decoded<H02Outbound>, ProtocolError> {
        let fallback_time = self.config.clock.map(|now| now()).or(self.last_time);
        let out = match kind {
            frame::FrameKind::Text => text::decode(frame, &self.config, fallback_time)?,
            frame::FrameKind::Binary { id_len } => binary::decode(frame, id_len, &self.config)?,
            frame::FrameKind::X => text::Out {
                maker: None,
                device: None,
                msg_type: None,
                message: DeviceMessage::Other {
                    kind: kind_code(b"X"),
                },
                ack: text::AckKind::None,
            },
        };
        if out.maker.is_some() {
            self.maker = out.maker;
        }
        if let Some(t) = message_time(&out.message) {
            self.last_time = Some(t);
        }
        let ack = self.ack_for(&out);
        Ok(Decoded {
            device: out.device,
            message: out.message,
            ack,
        })
    }

    fn ack_for(&self, out: &text::Out) -> Option<H02Outbound> {
        let device = out.device?;
        let maker = out.maker.unwrap_or(self.config.manufacturer);
        match out.ack {
            text::AckKind::None => None,
            text::AckKind::Echo => {
                let msg_type = out.msg_type?;
                self.config.heartbeat_echo.then_some(H02Outbound::Echo {
                    maker,
                    device,
                    msg_type,
                })
            }
            text::AckKind::Confirm => {
                let time = message_time(&out.message)?;
                let msg_type = out.msg_type?;
                if self.config.confirm_locations {
                    Some(H02Outbound::Confirm {
                        maker,
                        device,
                        msg_type,
                        time,
                    })
                } else if self.config.r12_ack {
                    Some(H02Outbound::R12 {
                        maker,
                        device,
                        time,
                    })
                } else {
                    None
                }
            }
            text::AckKind::R12 => {
                let time = message_time(&out.message)?;
                self.config.r12_ack.then_some(H02Outbound::R12 {
                    maker,
                    device,
                    time,
                })
            }
        }
    }
}

/// The time a message reports, for replies and for later messages without a date.
fn message_time(message: &DeviceMessage) -> Option<DateTime<Utc>> {
    match message {
        DeviceMessage::Position(p) => Some(p.time),
        DeviceMessage::Status(s) => s.time,
        DeviceMessage::CommandReply(r) => r.position.as_ref().map(|p| p.time),
        _ => None,
    }
}

impl Decoder for H02Codec {
    type Item = Decoded<H02Outbound>;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, ProtocolError> {
        loop {
            let found = match frame::next(
                src,
                &self.config,
                &mut self.learned_binary_length,
                &mut self.stats,
            )? {
                Some(found) => found,
                None => return Ok(None),
            };
            let result = match src.get(..found.len) {
                Some(bytes) => self.decode_content(found.kind, bytes),
                None => Err(ProtocolError::malformed("h02 frame", "framer overran")),
            };
            src.advance((found.len + found.trailing).min(src.len()));
            match result {
                Ok(decoded) => {
                    self.stats.frames += 1;
                    return Ok(Some(decoded));
                }
                Err(_) => self.stats.malformed += 1,
            }
        }
    }
}

impl Encoder<H02Outbound> for H02Codec {
    type Error = ProtocolError;

    fn encode(&mut self, item: H02Outbound, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        item.write_to(dst);
        Ok(())
    }
}

impl DeviceCodec for H02Codec {
    type Outbound = H02Outbound;
    const PROTOCOL: Protocol = Protocol::H02;

    fn stats(&self) -> CodecStats {
        self.stats
    }

    fn command(
        &mut self,
        device: &DeviceId,
        command: &Command,
        profile: &CommandProfile,
        now: DateTime<Utc>,
    ) -> Result<(H02Outbound, Correlation), CommandError> {
        let maker = self.maker.unwrap_or(self.config.manufacturer);
        let (text, correlation) = command::build(
            maker,
            device,
            command,
            profile,
            now,
            self.config.command_utc_offset_secs,
        )?;
        Ok((H02Outbound::Command(text), correlation))
    }
}
