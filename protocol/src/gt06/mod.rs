//! GT06 / Concox binary protocol (`78 78` short and `79 79` long frames, CRC-ITU).
//!
//! Layers, each in its own file: [`frame`] finds frame boundaries in a byte stream, `decode`
//! maps a frame's content onto the model, [`alarm`] holds the per-model alarm tables,
//! [`encode`] builds what the server sends, and [`device`] is the tracker's side (for the
//! emulator and tests).
//!
//! Server use: feed the socket's bytes to [`Gt06Codec`] (a `tokio_util` codec); every frame
//! becomes a [`Decoded`] whose `ack` is a [`Gt06Outbound`] to send back (after the commit, for
//! positions). On [`DeviceMessage::TimeRequest`] call [`DeviceCodec::time_response`].

pub mod alarm;
mod decode;
pub mod device;
pub mod encode;
pub mod frame;

use bytes::{Buf, BytesMut};
use chrono::{DateTime, Datelike, Timelike, Utc};
use tokio_util::codec::{Decoder, Encoder};

pub use alarm::{Gt06Model, alarm_for_code};
pub use decode::classify_reply;
pub use encode::{Gt06Outbound, encode_command_text};

use crate::{
    CodecStats, Command, CommandError, CommandProfile, Correlation, Decoded, DeviceCodec, DeviceId,
    DeviceMessage, Protocol, ProtocolError,
};
use frame::Scan;

/// Default command texts (traccar's `Relay` set).
pub const DEFAULT_CUT_POWER: &str = "Relay,1#";
/// Default text to restore power.
pub const DEFAULT_RESTORE_POWER: &str = "Relay,0#";
/// Cut text of the alternative (`DYD`) family.
pub const ALTERNATIVE_CUT_POWER: &str = "DYD,{password}#";
/// Restore text of the alternative (`HFYD`) family.
pub const ALTERNATIVE_RESTORE_POWER: &str = "HFYD,{password}#";
/// Device password used when the profile has none.
pub const DEFAULT_PASSWORD: &str = "123456";
/// Text that asks for the current position.
pub const LOCATE_TEXT: &str = "WHERE#";

/// The `DYD,<password>#` / `HFYD,<password>#` command profile used by many clones.
pub fn alternative_profile(password: Option<&str>) -> CommandProfile {
    CommandProfile {
        cut_power: Some(ALTERNATIVE_CUT_POWER.to_string()),
        restore_power: Some(ALTERNATIVE_RESTORE_POWER.to_string()),
        password: password.map(str::to_string),
        jt808_vehicle_control: false,
    }
}

/// Settings of one GT06 connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gt06Config {
    /// Bytes that may be buffered without a complete frame before the connection is dropped.
    pub max_frame_len: usize,
    /// Drop frames whose CRC does not match (mismatches are counted either way). Off by
    /// default: real devices and vendor examples often carry wrong CRCs.
    pub enforce_crc: bool,
    /// Device dialect (alarm tables, field layouts).
    pub model: Gt06Model,
    /// Offset of the device clock from UTC in minutes; overrides the one the login announces.
    pub utc_offset_minutes: Option<i16>,
    /// Language word appended to 0x80 commands (0x0002 English); most devices want none.
    pub command_language: Option<u16>,
}

impl Default for Gt06Config {
    fn default() -> Self {
        Gt06Config {
            max_frame_len: 4096,
            enforce_crc: false,
            model: Gt06Model::Generic,
            utc_offset_minutes: None,
            command_language: None,
        }
    }
}

/// Server-side GT06 codec for one connection.
#[derive(Debug, Clone)]
pub struct Gt06Codec {
    config: Gt06Config,
    stats: CodecStats,
    announced_offset: Option<i16>,
    next_flag: u32,
    next_serial: u16,
    dates: decode::DateCache,
}

impl Default for Gt06Codec {
    fn default() -> Self {
        Gt06Codec::new(Gt06Config::default())
    }
}

impl Gt06Codec {
    /// A codec with the given settings.
    pub fn new(config: Gt06Config) -> Self {
        Gt06Codec {
            config,
            stats: CodecStats::default(),
            announced_offset: None,
            next_flag: 1,
            next_serial: 1,
            dates: decode::DateCache::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &Gt06Config {
        &self.config
    }

    /// Switches the dialect, e.g. once the device's configured model is known after login.
    pub fn set_model(&mut self, model: Gt06Model) {
        self.config.model = model;
    }

    /// The UTC offset (minutes) positions are decoded with: configured, else announced, else 0.
    pub fn utc_offset_minutes(&self) -> i16 {
        self.config
            .utc_offset_minutes
            .or(self.announced_offset)
            .unwrap_or(0)
    }

    /// Decodes one complete frame (`78 78 … 0D 0A`) as the framing layer delivers it. Returns
    /// `None` (and counts it) when the content is malformed or its CRC is rejected.
    #[inline]
    pub fn decode_frame(&mut self, frame: &[u8]) -> Option<Decoded<Gt06Outbound>> {
        if let Some((computed, received)) = frame::crc_values(frame)
            && computed != received
            && !decode::carries_no_crc(frame)
        {
            self.stats.checksum_mismatches += 1;
            if self.config.enforce_crc {
                return None;
            }
        }
        let ctx = decode::Ctx {
            model: self.config.model,
            offset_minutes: i32::from(self.utc_offset_minutes()),
        };
        if let Some(decoded) = decode::decode_plain_location(frame, &ctx, &mut self.dates) {
            self.stats.frames += 1;
            return Some(decoded);
        }
        self.decode_general(frame, &ctx)
    }

    /// Everything but plain location frames; kept out of line so that the hot path stays small.
    #[inline(never)]
    fn decode_general(&mut self, frame: &[u8], ctx: &decode::Ctx) -> Option<Decoded<Gt06Outbound>> {
        match decode::decode(frame, ctx) {
            Ok(out) => {
                self.stats.frames += 1;
                if out.announced_offset.is_some() {
                    self.announced_offset = out.announced_offset;
                }
                Some(Decoded {
                    device: out.device,
                    message: out.message,
                    ack: out.ack,
                })
            }
            Err(_) => {
                self.stats.malformed += 1;
                None
            }
        }
    }

    fn next_command_ids(&mut self) -> (u32, u16) {
        let flag = self.next_flag;
        self.next_flag = self.next_flag.wrapping_add(1).max(1);
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1).max(1);
        (flag, serial)
    }

    /// The 0x80 command text for `command` under `profile`.
    pub fn command_text(
        command: &Command,
        profile: &CommandProfile,
    ) -> Result<String, CommandError> {
        let password = profile.password.as_deref().unwrap_or(DEFAULT_PASSWORD);
        let text = match command {
            Command::CutPower => profile
                .cut_power
                .as_deref()
                .unwrap_or(DEFAULT_CUT_POWER)
                .replace("{password}", password),
            Command::RestorePower => profile
                .restore_power
                .as_deref()
                .unwrap_or(DEFAULT_RESTORE_POWER)
                .replace("{password}", password),
            Command::Locate => LOCATE_TEXT.to_string(),
            Command::SetInterval { seconds } => {
                if *seconds == 0 || *seconds > 65_535 {
                    return Err(CommandError::Invalid(format!(
                        "GT06 interval must be 1..=65535 s, got {seconds}"
                    )));
                }
                format!("TIMER,{seconds}#")
            }
            Command::Arm | Command::Disarm => {
                return Err(CommandError::Unsupported {
                    protocol: Protocol::Gt06,
                    command: command.name(),
                });
            }
            Command::Custom { text } => text.clone(),
        };
        encode::validate_command_text(&text)?;
        Ok(text)
    }
}

impl Decoder for Gt06Codec {
    type Item = Decoded<Gt06Outbound>;
    type Error = ProtocolError;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        loop {
            if src.is_empty() {
                return Ok(None);
            }
            match frame::scan(src) {
                Scan::Garbage(n) => {
                    self.stats.resyncs += 1;
                    self.stats.resync_bytes += n as u64;
                    src.advance(n);
                }
                Scan::Incomplete => {
                    if src.len() > self.config.max_frame_len {
                        return Err(ProtocolError::FrameTooLong {
                            len: src.len(),
                            max: self.config.max_frame_len,
                        });
                    }
                    return Ok(None);
                }
                Scan::Frame { len, length_ok } => {
                    if !length_ok {
                        self.stats.length_mismatches += 1;
                    }
                    let decoded = self.decode_frame(&src[..len]);
                    src.advance(len);
                    if let Some(d) = decoded {
                        return Ok(Some(d));
                    }
                }
            }
        }
    }
}

impl Encoder<Gt06Outbound> for Gt06Codec {
    type Error = ProtocolError;

    fn encode(&mut self, item: Gt06Outbound, dst: &mut BytesMut) -> Result<(), Self::Error> {
        item.write_to(dst);
        Ok(())
    }
}

impl DeviceCodec for Gt06Codec {
    type Outbound = Gt06Outbound;
    const PROTOCOL: Protocol = Protocol::Gt06;

    fn stats(&self) -> CodecStats {
        self.stats
    }

    fn command(
        &mut self,
        _device: &DeviceId,
        command: &Command,
        profile: &CommandProfile,
        _now: DateTime<Utc>,
    ) -> Result<(Gt06Outbound, Correlation), CommandError> {
        let text = Gt06Codec::command_text(command, profile)?;
        let (server_flag, serial) = self.next_command_ids();
        Ok((
            Gt06Outbound::Command {
                server_flag,
                serial,
                text,
                language: self.config.command_language,
            },
            Correlation::ServerFlag(server_flag),
        ))
    }

    fn time_response(&mut self, now: DateTime<Utc>) -> Option<Gt06Outbound> {
        Some(time_reply(now))
    }
}

/// The 0x8A reply carrying `now` (UTC).
pub fn time_reply(now: DateTime<Utc>) -> Gt06Outbound {
    let year = (now.year() - 2000).clamp(0, 255) as u8;
    Gt06Outbound::Time {
        time: [
            year,
            now.month() as u8,
            now.day() as u8,
            now.hour() as u8,
            now.minute() as u8,
            now.second() as u8,
        ],
    }
}

/// Whether a message's acknowledgement may be sent at once (not after a DB commit).
pub fn is_immediate(message: &DeviceMessage) -> bool {
    !matches!(
        message,
        DeviceMessage::Position(_) | DeviceMessage::Batch(_)
    )
}

#[cfg(test)]
mod tests;
