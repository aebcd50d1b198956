//! What the server sends: acknowledgements, the time reply, and 0x80 text commands.

use bytes::{BufMut, BytesMut};

use super::frame::{START_LONG, START_SHORT, crc_itu};
use crate::CommandError;

/// Protocol number of the server's text command.
pub const MSG_COMMAND: u8 = 0x80;
/// Protocol number of the time request / time reply.
pub const MSG_TIME: u8 = 0x8A;
/// Protocol number of the (English) address reply.
pub const MSG_ADDRESS_REPLY: u8 = 0x97;
/// Text of the address reply (the server does not geocode).
pub const ADDRESS_REPLY_TEXT: &str = "NA&&NA&&0##";
/// Longest command text a short 0x80 frame can carry (with the optional language word).
pub const MAX_COMMAND_TEXT: usize = 255 - (1 + 1 + 4 + 2 + 2 + 2);

/// A frame the server sends to a GT06 device. Acks are plain values (no heap), so the gateway
/// can hold them until the fix they acknowledge is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gt06Outbound {
    /// `78 78 05 <protocol> <serial> <crc> 0D 0A`.
    Ack {
        /// Protocol number acknowledged.
        protocol: u8,
        /// Serial copied from the device's frame.
        serial: u16,
    },
    /// `79 79 00 05 <protocol> <serial> <crc> 0D 0A` (AZ735 0x32/0x33, multimedia 0x41).
    LongAck {
        /// Protocol number acknowledged.
        protocol: u8,
        /// Serial copied from the device's frame.
        serial: u16,
    },
    /// WiFi packet reply `78 78 00 <protocol> <BCD time> 0D 0A`: no serial, no CRC.
    WifiTimeEcho {
        /// 0x17 or 0x69.
        protocol: u8,
        /// The six BCD time bytes copied from the packet.
        time: [u8; 6],
    },
    /// 0x8A time reply: `YY MM DD hh mm ss` (binary, UTC), serial 0.
    Time {
        /// Year-2000, month, day, hour, minute, second.
        time: [u8; 6],
    },
    /// 0x97 long-frame address reply with [`ADDRESS_REPLY_TEXT`], serial 0.
    AddressReply,
    /// 0x80 text command.
    Command {
        /// Opaque 32-bit flag the device echoes in its 0x15/0x21 reply.
        server_flag: u32,
        /// Information serial number.
        serial: u16,
        /// Command text (ASCII, SMS syntax).
        text: String,
        /// Optional language word (0x0001 Chinese, 0x0002 English); most devices omit it.
        language: Option<u16>,
    },
}

fn finish_short(dst: &mut BytesMut, start: usize) {
    let crc = crc_itu(&dst[start + 2..]);
    dst.put_u16(crc);
    dst.put_slice(&[0x0D, 0x0A]);
}

/// Appends a short frame `78 78 <len> <protocol> <content> <serial> <crc> 0D 0A`.
pub fn put_short(dst: &mut BytesMut, protocol: u8, content: &[u8], serial: u16) {
    let start = dst.len();
    dst.reserve(content.len() + 10);
    dst.put_slice(&START_SHORT);
    // content.len() is bounded by every caller (<= 250)
    dst.put_u8((content.len() + 5) as u8);
    dst.put_u8(protocol);
    dst.put_slice(content);
    dst.put_u16(serial);
    finish_short(dst, start);
}

/// Appends a long frame `79 79 <len:2> <protocol> <content> <serial> <crc> 0D 0A`.
pub fn put_long(dst: &mut BytesMut, protocol: u8, content: &[u8], serial: u16) {
    let start = dst.len();
    dst.reserve(content.len() + 11);
    dst.put_slice(&START_LONG);
    dst.put_u16((content.len() + 5) as u16);
    dst.put_u8(protocol);
    dst.put_slice(content);
    dst.put_u16(serial);
    finish_short(dst, start);
}

impl Gt06Outbound {
    /// Writes the frame's bytes.
    pub fn write_to(&self, dst: &mut BytesMut) {
        match self {
            Gt06Outbound::Ack { protocol, serial } => put_short(dst, *protocol, &[], *serial),
            Gt06Outbound::LongAck { protocol, serial } => put_long(dst, *protocol, &[], *serial),
            Gt06Outbound::WifiTimeEcho { protocol, time } => {
                dst.reserve(12);
                dst.put_slice(&START_SHORT);
                dst.put_u8(0);
                dst.put_u8(*protocol);
                dst.put_slice(time);
                dst.put_slice(&[0x0D, 0x0A]);
            }
            Gt06Outbound::Time { time } => put_short(dst, MSG_TIME, time, 0),
            Gt06Outbound::AddressReply => {
                let mut content = Vec::with_capacity(16);
                content.push(ADDRESS_REPLY_TEXT.len() as u8);
                content.extend_from_slice(&[0, 0, 0, 0]);
                content.extend_from_slice(ADDRESS_REPLY_TEXT.as_bytes());
                put_long(dst, MSG_ADDRESS_REPLY, &content, 0);
            }
            Gt06Outbound::Command {
                server_flag,
                serial,
                text,
                language,
            } => put_command(dst, *server_flag, *serial, text.as_bytes(), *language),
        }
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        self.write_to(&mut b);
        b.to_vec()
    }
}

fn put_command(dst: &mut BytesMut, flag: u32, serial: u16, text: &[u8], language: Option<u16>) {
    // Callers validated the length; clamp anyway so a bad value cannot corrupt the frame.
    let text = text.get(..MAX_COMMAND_TEXT).unwrap_or(text);
    let mut content = [0u8; 255];
    content[0] = (4 + text.len()) as u8;
    content[1..5].copy_from_slice(&flag.to_be_bytes());
    content[5..5 + text.len()].copy_from_slice(text);
    let mut n = 5 + text.len();
    if let Some(lang) = language {
        content[n..n + 2].copy_from_slice(&lang.to_be_bytes());
        n += 2;
    }
    put_short(dst, MSG_COMMAND, &content[..n], serial);
}

/// Checks that `text` fits a 0x80 frame and is ASCII.
pub fn validate_command_text(text: &str) -> Result<(), CommandError> {
    if text.is_empty() {
        return Err(CommandError::Invalid("empty command text".into()));
    }
    if !text.is_ascii() {
        return Err(CommandError::Invalid(
            "GT06 command text must be ASCII".into(),
        ));
    }
    if text.len() > MAX_COMMAND_TEXT {
        return Err(CommandError::Invalid(format!(
            "GT06 command text is {} bytes, at most {MAX_COMMAND_TEXT} fit",
            text.len()
        )));
    }
    Ok(())
}

/// The exact bytes of a 0x80 command with the given server flag, serial and text (no language
/// word), e.g. `encode_command_text(0, 0, "Relay,1#")` is traccar's engine-stop frame.
pub fn encode_command_text(
    server_flag: u32,
    serial: u16,
    text: &str,
) -> Result<Vec<u8>, CommandError> {
    validate_command_text(text)?;
    let mut b = BytesMut::new();
    put_command(&mut b, server_flag, serial, text.as_bytes(), None);
    Ok(b.to_vec())
}
