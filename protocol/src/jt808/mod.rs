//! JT/T 808 (2011/2013 and 2019 headers): stream framing, decoding into the model, acks and
//! commands.
//!
//! Layers, one file each: [`frame`] (7E flags, 7D stuffing, XOR), [`header`] (both header
//! layouts, terminal address), `location` (0x0200 body and additional items), `decode` (message
//! dispatch), [`dialect`] (per-model alarm/status tables), [`device`] (the terminal's side, for
//! emulators and tests).
//!
//! Choices worth knowing:
//! - **Checksums** are verified and counted; a mismatch drops the frame only with
//!   [`Jt808Config::enforce_checksum`] (off by default: real devices get it wrong).
//! - **Body length**: the frame delimiters are authoritative; a disagreeing length field is
//!   counted in [`CodecStats::length_mismatches`] and otherwise ignored.
//! - **Sub-packages** (properties bit 13) are not reassembled: each fragment is acknowledged
//!   with 0x8001 (so the terminal does not resend it) and reported as
//!   [`DeviceMessage::Other`] with the message id. Trackers only fragment bulky uploads
//!   (photos, CAN dumps) that Vigil does not use; location reports always fit one frame.
//! - **Encrypted bodies** (bits 10–12) are reported as `Other` and answered "not supported".
//! - **Time**: JT808 times are BCD local time, GMT+8 unless configured otherwise.
//! - **Replies** reuse the header format (2013 or 2019 and the ID bytes verbatim) of the last
//!   frame the device sent; the platform keeps its own serial counter
//!   ([`Jt808Codec::set_next_serial`] pins it, e.g. to 0 as traccar does).
//! - **Text frames** `( … )` (an e-lock vendor variant) are passed through: replies become
//!   [`CommandReply`] text; `BASE,2` time requests become [`DeviceMessage::TimeRequest`]
//!   without an ack (answering needs the clock).

pub mod device;
pub mod dialect;
pub mod frame;
pub mod header;

mod decode;
mod fast;
mod fields;
mod location;

use bytes::{Buf, BufMut, BytesMut};
use chrono::{DateTime, Datelike, Timelike, Utc};
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    CodecStats, Command, CommandError, CommandProfile, Correlation, Decoded, DeviceCodec, DeviceId,
    Protocol, ProtocolError,
};
#[allow(unused_imports)]
use crate::{CommandReply, DeviceMessage};

pub use dialect::Dialect;
pub use header::{Header, Terminal};

/// Message ids used by this codec.
pub mod msg {
    /// Terminal general response.
    pub const TERMINAL_RESPONSE: u16 = 0x0001;
    /// Heartbeat.
    pub const HEARTBEAT: u16 = 0x0002;
    /// Terminal logout.
    pub const LOGOUT: u16 = 0x0003;
    /// Registration.
    pub const REGISTER: u16 = 0x0100;
    /// Authentication.
    pub const AUTH: u16 = 0x0102;
    /// Terminal attributes (reply to 0x8107).
    pub const TERMINAL_ATTRIBUTES: u16 = 0x0107;
    /// Time synchronisation request (vendor).
    pub const TIME_SYNC_REQUEST: u16 = 0x0109;
    /// Location report.
    pub const LOCATION: u16 = 0x0200;
    /// Location query response.
    pub const LOCATION_QUERY_RESPONSE: u16 = 0x0201;
    /// Vendor batch / battery report.
    pub const LOCATION_BATCH_2: u16 = 0x0210;
    /// Vehicle control response.
    pub const VEHICLE_CONTROL_RESPONSE: u16 = 0x0500;
    /// Heartbeat variant (vendor).
    pub const HEARTBEAT_2: u16 = 0x0506;
    /// Command response text (vendor).
    pub const COMMAND_RESPONSE: u16 = 0x0701;
    /// Driver identity.
    pub const DRIVER_IDENTITY: u16 = 0x0702;
    /// Batch location upload.
    pub const LOCATION_BATCH: u16 = 0x0704;
    /// Transparent uplink.
    pub const TRANSPARENT: u16 = 0x0900;
    /// Time-zone sync (vendor).
    pub const TIMEZONE_SYNC: u16 = 0x1007;
    /// Text message response, UTF-16 (vendor).
    pub const TEXT_MESSAGE_RESPONSE: u16 = 0x1300;
    /// Acceleration samples (vendor).
    pub const ACCELERATION: u16 = 0x2070;
    /// Vendor location report (1-byte serial).
    pub const VENDOR_LOCATION: u16 = 0x5501;
    /// Text report (vendor).
    pub const REPORT_TEXT_MESSAGE: u16 = 0x6006;
    /// Vendor general response (1-byte serial), answer to 0x5501/0x5502.
    pub const VENDOR_RESPONSE: u16 = 0x4401;
    /// Platform general response.
    pub const PLATFORM_RESPONSE: u16 = 0x8001;
    /// Register response.
    pub const REGISTER_RESPONSE: u16 = 0x8100;
    /// Set terminal parameters.
    pub const SET_PARAMETERS: u16 = 0x8103;
    /// Terminal control.
    pub const TERMINAL_CONTROL: u16 = 0x8105;
    /// Time sync response (vendor).
    pub const TIME_SYNC_RESPONSE: u16 = 0x8109;
    /// Location query.
    pub const LOCATION_QUERY: u16 = 0x8201;
    /// Text message downlink.
    pub const TEXT_MESSAGE: u16 = 0x8300;
    /// Vehicle control.
    pub const VEHICLE_CONTROL: u16 = 0x8500;
    /// Photo (vendor).
    pub const PHOTO: u16 = 0x8888;
    /// Transparent downlink.
    pub const TRANSPARENT_DOWNLINK: u16 = 0x8900;
}

/// Settings of a JT808 connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Jt808Config {
    /// Largest frame (escaped, with flags) or run of bytes without a complete frame.
    pub max_frame_len: usize,
    /// Drop frames whose check code is wrong (they are always counted).
    pub enforce_checksum: bool,
    /// Offset of the device clock from UTC in minutes (JT808 uses Beijing time, +480).
    pub utc_offset_minutes: i32,
    /// Model dialect for alarm/status bits and vendor items.
    pub dialect: Dialect,
    /// Accept `( … )` ASCII frames (e-lock vendor variant).
    pub text_frames: bool,
}

impl Default for Jt808Config {
    fn default() -> Self {
        Jt808Config {
            max_frame_len: 4096,
            enforce_checksum: false,
            utc_offset_minutes: 8 * 60,
            dialect: Dialect::Standard,
            text_frames: true,
        }
    }
}

/// Result byte of a platform general response (0x8001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AckResult {
    /// Success / acknowledged.
    Success = 0,
    /// Failure (e.g. authentication refused).
    Failure = 1,
    /// Message error.
    MessageError = 2,
    /// Not supported.
    Unsupported = 3,
    /// Alarm handling confirmed.
    AlarmConfirmed = 4,
}

impl AckResult {
    /// From the wire byte (unknown values read as a message error).
    pub fn from_byte(b: u8) -> AckResult {
        match b {
            0 => AckResult::Success,
            1 => AckResult::Failure,
            3 => AckResult::Unsupported,
            4 => AckResult::AlarmConfirmed,
            _ => AckResult::MessageError,
        }
    }
}

/// What the platform sends: addressed to a terminal, with a serial (assigned by the encoder
/// from the connection's counter when `None`) and a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// Header format and ID bytes to use (those the device used).
    pub terminal: Terminal,
    /// Platform serial number; `None` = next from the codec's counter at encode time.
    pub serial: Option<u16>,
    /// The message.
    pub body: OutboundBody,
}

/// Messages the platform sends.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundBody {
    /// 0x8001 platform general response.
    GeneralResponse {
        /// Serial of the message answered.
        reply_serial: u16,
        /// Id of the message answered.
        reply_id: u16,
        /// Outcome (the server may set [`AckResult::Failure`], e.g. for a bad auth code).
        result: AckResult,
    },
    /// 0x8100 register response. The codec leaves `auth_code` empty; the server generates,
    /// stores and fills it in (only sent when `result` is 0).
    RegisterResponse {
        /// Serial of the 0x0100 answered.
        reply_serial: u16,
        /// 0 success, 1 vehicle registered, 2 no such vehicle, 3 terminal registered,
        /// 4 no such terminal.
        result: u8,
        /// Authentication code the terminal presents in 0x0102 from now on.
        auth_code: String,
    },
    /// 0x4401 vendor general response to 0x5501/0x5502 (1-byte serial).
    VendorResponse {
        /// Id of the message answered.
        reply_id: u16,
    },
    /// 0x8109 time sync response; the server fills in `utc` (a pure codec reads no clock).
    TimeSyncResponse {
        /// Current UTC time; encoding fails while it is `None`.
        utc: Option<DateTime<Utc>>,
    },
    /// Any other message: id and body (commands).
    Message {
        /// Message id (0x8105, 0x8500, 0x8201, 0x8103, 0x8300, 0x8900 …).
        message_id: u16,
        /// Un-escaped body.
        body: Vec<u8>,
    },
    /// A complete frame sent verbatim (traccar's hex passthrough of custom commands).
    Raw(Vec<u8>),
}

impl Outbound {
    /// Sets the result of a general response (e.g. failure for a wrong auth code).
    pub fn set_result(&mut self, result: AckResult) {
        if let OutboundBody::GeneralResponse { result: r, .. } = &mut self.body {
            *r = result;
        }
    }

    /// Sets the auth code of a register response.
    pub fn set_auth_code(&mut self, code: impl Into<String>) {
        if let OutboundBody::RegisterResponse { auth_code, .. } = &mut self.body {
            *auth_code = code.into();
        }
    }

    /// Sets the time of a time sync response.
    pub fn set_time(&mut self, now: DateTime<Utc>) {
        if let OutboundBody::TimeSyncResponse { utc } = &mut self.body {
            *utc = Some(now);
        }
    }

    /// Message id this encodes to (`None` for raw frames).
    pub fn message_id(&self) -> Option<u16> {
        Some(match &self.body {
            OutboundBody::GeneralResponse { .. } => msg::PLATFORM_RESPONSE,
            OutboundBody::RegisterResponse { .. } => msg::REGISTER_RESPONSE,
            OutboundBody::VendorResponse { .. } => msg::VENDOR_RESPONSE,
            OutboundBody::TimeSyncResponse { .. } => msg::TIME_SYNC_RESPONSE,
            OutboundBody::Message { message_id, .. } => *message_id,
            OutboundBody::Raw(_) => return None,
        })
    }

    /// Writes the complete, escaped frame with the given serial.
    pub fn write(&self, serial: u16, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let mut body = [0u8; 16];
        let (id, payload): (u16, &[u8]) = match &self.body {
            OutboundBody::Raw(bytes) => {
                dst.extend_from_slice(bytes);
                return Ok(());
            }
            OutboundBody::GeneralResponse {
                reply_serial,
                reply_id,
                result,
            } => {
                body[..2].copy_from_slice(&reply_serial.to_be_bytes());
                body[2..4].copy_from_slice(&reply_id.to_be_bytes());
                body[4] = *result as u8;
                (msg::PLATFORM_RESPONSE, &body[..5])
            }
            OutboundBody::VendorResponse { reply_id } => {
                body[..2].copy_from_slice(&reply_id.to_be_bytes());
                (msg::VENDOR_RESPONSE, &body[..3])
            }
            OutboundBody::TimeSyncResponse { utc } => {
                let t = utc.ok_or_else(|| {
                    ProtocolError::Command(CommandError::Invalid(
                        "time sync response without a time".into(),
                    ))
                })?;
                body[..2].copy_from_slice(&(t.year().clamp(0, 0xFFFF) as u16).to_be_bytes());
                body[2] = t.month() as u8;
                body[3] = t.day() as u8;
                body[4] = t.hour() as u8;
                body[5] = t.minute() as u8;
                body[6] = t.second() as u8;
                body[7] = 0;
                (msg::TIME_SYNC_RESPONSE, &body[..8])
            }
            OutboundBody::RegisterResponse {
                reply_serial,
                result,
                auth_code,
            } => {
                let mut b = Vec::with_capacity(3 + auth_code.len());
                b.extend_from_slice(&reply_serial.to_be_bytes());
                b.push(*result);
                if *result == 0 {
                    b.extend_from_slice(&encode_gbk(auth_code));
                }
                return write_frame(
                    self.terminal,
                    msg::REGISTER_RESPONSE,
                    serial,
                    false,
                    &b,
                    dst,
                );
            }
            OutboundBody::Message { message_id, body } => (*message_id, body.as_slice()),
        };
        write_frame(
            self.terminal,
            id,
            serial,
            id == msg::VENDOR_RESPONSE,
            payload,
            dst,
        )
    }

    /// The frame as bytes (convenience for tests and tools).
    pub fn to_bytes(&self, serial: u16) -> Result<Vec<u8>, ProtocolError> {
        let mut b = BytesMut::new();
        self.write(serial, &mut b)?;
        Ok(b.to_vec())
    }
}

/// GBK text for bodies (falls back to the UTF-8 bytes for characters GBK cannot carry).
pub(crate) fn encode_gbk(text: &str) -> Vec<u8> {
    let (bytes, _, _) = encoding_rs::GBK.encode(text);
    bytes.into_owned()
}

/// Builds `7E | id | properties | [version] | terminal id | serial | body | XOR | 7E`, escaped.
/// `short_serial` writes a one-byte serial (vendor 0x4401).
pub fn write_frame(
    terminal: Terminal,
    message_id: u16,
    serial: u16,
    short_serial: bool,
    body: &[u8],
    dst: &mut BytesMut,
) -> Result<(), ProtocolError> {
    if body.len() > 0x03FF {
        return Err(ProtocolError::Command(CommandError::Invalid(format!(
            "body of {} bytes exceeds the 1023-byte limit",
            body.len()
        ))));
    }
    // Header at most 2+2+1+10+2 bytes: assemble it on the stack.
    let mut head = [0u8; 17];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        head[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    put(&message_id.to_be_bytes());
    let mut props = body.len() as u16;
    if terminal.version.is_some() {
        props |= 0x4000;
    }
    put(&props.to_be_bytes());
    if let Some(v) = terminal.version {
        put(&[v]);
    }
    put(terminal.raw());
    if short_serial {
        put(&[serial as u8]);
    } else {
        put(&serial.to_be_bytes());
    }
    let check = frame::xor(&head[..n]) ^ frame::xor(body);
    dst.reserve(n + body.len() + 8);
    dst.put_u8(frame::FLAG);
    frame::escape_into(&head[..n], dst);
    frame::escape_into(body, dst);
    frame::escape_into(&[check], dst);
    dst.put_u8(frame::FLAG);
    Ok(())
}

/// Server-side JT808 codec for one connection.
#[derive(Debug, Clone)]
pub struct Jt808Codec {
    config: Jt808Config,
    stats: CodecStats,
    terminal: Option<Terminal>,
    next_serial: u16,
    fast: fast::FastCache,
}

impl Default for Jt808Codec {
    fn default() -> Self {
        Jt808Codec::new(Jt808Config::default())
    }
}

const TEXT_FRAME_MAX: usize = 512;

impl Jt808Codec {
    /// A codec with the given settings.
    pub fn new(config: Jt808Config) -> Self {
        Jt808Codec {
            config,
            stats: CodecStats::default(),
            terminal: None,
            next_serial: 0,
            fast: fast::FastCache::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Jt808Config {
        &self.config
    }

    /// Switches the model dialect (when the device's model becomes known).
    pub fn set_dialect(&mut self, dialect: Dialect) {
        self.config.dialect = dialect;
    }

    /// Pins the serial the next platform message will carry.
    pub fn set_next_serial(&mut self, serial: u16) {
        self.next_serial = serial;
    }

    /// The terminal address learned from the last frame (replies use its format).
    pub fn terminal(&self) -> Option<Terminal> {
        self.terminal
    }

    fn take_serial(&mut self) -> u16 {
        let s = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        s
    }

    fn ctx(&self) -> location::Ctx {
        location::Ctx {
            dialect: self.config.dialect,
            utc_offset_minutes: self.config.utc_offset_minutes,
        }
    }

    /// Decodes one complete, already un-escaped frame (`7E … 7E` or `( … )`), updating the
    /// counters and the remembered terminal address. `Ok(None)` = dropped (bad checksum
    /// while enforced).
    #[inline]
    pub fn decode_frame(
        &mut self,
        frame: &[u8],
    ) -> Result<Option<Decoded<Outbound>>, ProtocolError> {
        if let Some(fix) = fast::plain_location(frame, self.ctx(), &mut self.fast) {
            return Ok(Some(self.accept_plain(fix)));
        }
        self.decode_general(frame)
    }

    /// Records a frame the direct path accepted and lays it out.
    #[inline(always)]
    fn accept_plain(&mut self, fix: fast::PlainFix) -> Decoded<Outbound> {
        self.terminal = Some(fix.terminal);
        self.stats.frames += 1;
        fix.into_decoded(self.fast.last_device())
    }

    /// Everything but plain location reports; out of line so that the hot path stays small.
    #[inline(never)]
    fn decode_general(&mut self, frame: &[u8]) -> Result<Option<Decoded<Outbound>>, ProtocolError> {
        let mut verdict = decode::Verdict::default();
        let result = decode::decode_frame(
            frame,
            self.ctx(),
            self.config.enforce_checksum,
            &mut verdict,
        );
        if verdict.checksum_mismatch {
            self.stats.checksum_mismatches += 1;
        }
        if verdict.length_mismatch {
            self.stats.length_mismatches += 1;
        }
        match result {
            Ok((header, decoded)) => {
                if let Some(h) = header {
                    self.terminal = Some(h.terminal);
                }
                self.stats.frames += 1;
                Ok(Some(decoded))
            }
            Err(ProtocolError::Checksum { .. }) => Ok(None),
            Err(e) => {
                self.stats.malformed += 1;
                Err(e)
            }
        }
    }

    fn skip(&mut self, buf: &mut BytesMut, n: usize) {
        if n > 0 {
            self.stats.resyncs += 1;
            self.stats.resync_bytes += n as u64;
            buf.advance(n);
        }
    }
}

/// Where the next frame in the buffer is, once [`Jt808Codec::locate`] has un-escaped it.
enum Located {
    /// A `( … )` text frame of this many bytes.
    Text(usize),
    /// A binary frame: its un-escaped length (flags included) at the start of the buffer, and
    /// how many buffered bytes it came from.
    Binary { frame_len: usize, consumed: usize },
}

impl Jt808Codec {
    /// Skips garbage, waits for a complete frame and un-escapes it in place.
    fn locate(&mut self, buf: &mut BytesMut) -> Result<Option<Located>, ProtocolError> {
        loop {
            let text = self.config.text_frames;
            let Some(start) = buf
                .iter()
                .position(|&b| b == frame::FLAG || (text && b == b'('))
            else {
                let n = buf.len();
                self.skip(buf, n);
                return Ok(None);
            };
            self.skip(buf, start);
            if buf.first() == Some(&b'(') {
                let window = &buf[..buf.len().min(TEXT_FRAME_MAX)];
                match window.iter().position(|&b| b == b')' || b == frame::FLAG) {
                    Some(end) if buf[end] == b')' => return Ok(Some(Located::Text(end + 1))),
                    // A '(' that is not followed by a text frame is garbage.
                    Some(_) => {
                        self.skip(buf, 1);
                        continue;
                    }
                    None if buf.len() >= TEXT_FRAME_MAX => {
                        self.skip(buf, 1);
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            let Some(end) = frame::find_byte(&buf[1..], frame::FLAG).map(|i| i + 1) else {
                if buf.len() > self.config.max_frame_len {
                    return Err(ProtocolError::FrameTooLong {
                        len: buf.len(),
                        max: self.config.max_frame_len,
                    });
                }
                return Ok(None);
            };
            if end == 1 {
                // `7E 7E`: the first flag closed something we never saw the start of.
                self.skip(buf, 1);
                continue;
            }
            if end + 1 > self.config.max_frame_len {
                return Err(ProtocolError::FrameTooLong {
                    len: end + 1,
                    max: self.config.max_frame_len,
                });
            }
            let n = frame::unescape_in_place(&mut buf[1..end]);
            buf[n + 1] = frame::FLAG;
            return Ok(Some(Located::Binary {
                frame_len: n + 2,
                consumed: end + 1,
            }));
        }
    }

    /// Splits the next complete frame off the stream, un-escaped (`7E … 7E` or `( … )`),
    /// without decoding it (the frame-decoder view; allocates the returned buffer's handle).
    pub fn split_frame(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, ProtocolError> {
        Ok(match self.locate(buf)? {
            None => None,
            Some(Located::Text(n)) => Some(buf.split_to(n)),
            Some(Located::Binary {
                frame_len,
                consumed,
            }) => {
                let mut f = buf.split_to(consumed);
                f.truncate(frame_len);
                Some(f)
            }
        })
    }
}

impl Decoder for Jt808Codec {
    type Item = Decoded<Outbound>;
    type Error = ProtocolError;

    #[inline]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, ProtocolError> {
        loop {
            match self.locate(buf)? {
                None => return Ok(None),
                Some(Located::Text(n)) => {
                    let result = self.decode_frame(&buf[..n]);
                    buf.advance(n);
                    if let Ok(Some(d)) = result {
                        return Ok(Some(d));
                    }
                }
                Some(Located::Binary {
                    frame_len,
                    consumed,
                }) => {
                    // The direct path inline here, so that the item is built in place.
                    if let Some(fix) =
                        fast::plain_location(&buf[..frame_len], self.ctx(), &mut self.fast)
                    {
                        buf.advance(consumed);
                        return Ok(Some(self.accept_plain(fix)));
                    }
                    match self.decode_general(&buf[..frame_len]) {
                        Ok(Some(d)) => {
                            buf.advance(consumed);
                            return Ok(Some(d));
                        }
                        Ok(None) => buf.advance(consumed),
                        // Keep the closing flag: it may be the opening flag of the next real
                        // frame.
                        Err(_) => buf.advance(consumed - 1),
                    }
                }
            }
        }
    }
}

impl Encoder<Outbound> for Jt808Codec {
    type Error = ProtocolError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let serial = match item.serial {
            Some(s) => s,
            None => self.take_serial(),
        };
        item.write(serial, dst)
    }
}

/// Parses a hex string (even length, no separators).
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.is_empty() || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl DeviceCodec for Jt808Codec {
    type Outbound = Outbound;
    const PROTOCOL: Protocol = Protocol::Jt808;

    fn stats(&self) -> CodecStats {
        self.stats
    }

    /// CutPower/RestorePower: 0x8105 with command word 0xF0/0xF1 (or `profile.cut_power` /
    /// `restore_power`: hex = body bytes, other text = ASCII body), or 0x8500 vehicle control
    /// when `profile.jt808_vehicle_control`. Locate: 0x8201. SetInterval: 0x8103 parameter
    /// 0x0029. Custom: 0x8300 text (flag 0x01), 0x8900 `F0`+text for Jimi models, or a
    /// complete hex frame `7E…7E` sent verbatim. Arm/Disarm: not in the standard.
    fn command(
        &mut self,
        device: &DeviceId,
        command: &Command,
        profile: &CommandProfile,
        _now: DateTime<Utc>,
    ) -> Result<(Outbound, Correlation), CommandError> {
        let terminal = match self.terminal {
            Some(t) if t.device_id().ok().as_ref() == Some(device) => t,
            Some(t) => Terminal::for_device(device, t.version),
            None => Terminal::for_device(device, None),
        };
        let v2019 = terminal.version.is_some();
        let unsupported = || CommandError::Unsupported {
            protocol: Protocol::Jt808,
            command: command.name(),
        };
        let (message_id, body) = match command {
            Command::CutPower | Command::RestorePower => {
                let cut = matches!(command, Command::CutPower);
                if profile.jt808_vehicle_control {
                    let flag = u8::from(cut);
                    let body = if v2019 {
                        vec![0x00, 0x01, flag]
                    } else {
                        vec![flag]
                    };
                    (msg::VEHICLE_CONTROL, body)
                } else {
                    let custom = if cut {
                        profile.cut_power.as_deref()
                    } else {
                        profile.restore_power.as_deref()
                    };
                    let body = match custom {
                        Some(text) => {
                            let text = text
                                .replace("{password}", profile.password.as_deref().unwrap_or(""));
                            parse_hex(&text).unwrap_or_else(|| text.into_bytes())
                        }
                        None => vec![if cut { 0xF0 } else { 0xF1 }],
                    };
                    (msg::TERMINAL_CONTROL, body)
                }
            }
            Command::Locate => (msg::LOCATION_QUERY, Vec::new()),
            Command::SetInterval { seconds } => {
                let mut b = vec![1u8];
                b.extend_from_slice(&0x0029u32.to_be_bytes());
                b.push(4);
                b.extend_from_slice(&seconds.to_be_bytes());
                (msg::SET_PARAMETERS, b)
            }
            Command::Arm | Command::Disarm => return Err(unsupported()),
            Command::Custom { text } => {
                if let Some(raw) = parse_hex(text).filter(|b| {
                    b.len() >= 15
                        && b.first() == Some(&frame::FLAG)
                        && b.last() == Some(&frame::FLAG)
                }) {
                    let correlation = raw
                        .get(1..raw.len() - 1)
                        .and_then(|c| Header::parse(&mut crate::read::Reader::new(c, "raw")).ok())
                        .map_or(Correlation::None, |h| Correlation::Serial(h.serial));
                    let out = Outbound {
                        terminal,
                        serial: None,
                        body: OutboundBody::Raw(raw),
                    };
                    return Ok((out, correlation));
                }
                if self.config.dialect.custom_as_transparent() {
                    let mut b = vec![0xF0];
                    b.extend_from_slice(text.as_bytes());
                    (msg::TRANSPARENT_DOWNLINK, b)
                } else {
                    let mut b = vec![0x01];
                    b.extend_from_slice(&encode_gbk(text));
                    (msg::TEXT_MESSAGE, b)
                }
            }
        };
        if body.len() > 0x03FF {
            return Err(CommandError::Invalid(format!(
                "{} body of {} bytes exceeds 1023",
                command.name(),
                body.len()
            )));
        }
        let serial = self.take_serial();
        Ok((
            Outbound {
                terminal,
                serial: Some(serial),
                body: OutboundBody::Message { message_id, body },
            },
            Correlation::Serial(serial),
        ))
    }
}

#[cfg(test)]
mod tests;
