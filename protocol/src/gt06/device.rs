//! The tracker's side of GT06, for the emulator, the load-test simulator and tests: builds
//! device frames from model values and decodes what the server sends back.

use bytes::{Buf, BytesMut};
use chrono::{DateTime, Datelike, Timelike, Utc};
use tokio_util::codec::Decoder;

use super::encode::{Gt06Outbound, MSG_ADDRESS_REPLY, MSG_COMMAND, MSG_TIME, put_long, put_short};
use super::frame::{self, Scan, header_len};
use crate::{Alarm, CellTower, DeviceStatus, Position, ProtocolError};

fn time_bytes(t: DateTime<Utc>) -> [u8; 6] {
    [
        (t.year() - 2000).clamp(0, 255) as u8,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    ]
}

fn imei_bcd(imei: &str) -> Result<[u8; 8], ProtocolError> {
    let digits = imei.as_bytes();
    if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtocolError::malformed(
            "gt06 login",
            "IMEI must be 1..=16 digits",
        ));
    }
    let mut nibbles = [0u8; 16];
    let pad = 16 - digits.len();
    for (i, d) in digits.iter().enumerate() {
        nibbles[pad + i] = d - b'0';
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibbles[2 * i] << 4) | nibbles[2 * i + 1];
    }
    Ok(out)
}

fn frame(protocol: u8, content: &[u8], serial: u16) -> Vec<u8> {
    let mut b = BytesMut::new();
    put_short(&mut b, protocol, content, serial);
    b.to_vec()
}

/// Login 0x01 with only the terminal id (length 0x0D).
pub fn login(imei: &str, serial: u16) -> Result<Vec<u8>, ProtocolError> {
    Ok(frame(0x01, &imei_bcd(imei)?, serial))
}

/// Login 0x01 with type code and time-zone word (length 0x11); `utc_offset_minutes` is
/// encoded as the Concox hour×100+minute value with the west bit.
pub fn login_with_zone(
    imei: &str,
    model_code: u16,
    utc_offset_minutes: i16,
    serial: u16,
) -> Result<Vec<u8>, ProtocolError> {
    let mut content = [0u8; 12];
    content[..8].copy_from_slice(&imei_bcd(imei)?);
    content[8..10].copy_from_slice(&model_code.to_be_bytes());
    let abs = utc_offset_minutes.unsigned_abs();
    let value = (abs / 60) * 100 + abs % 60;
    let mut word = value << 4;
    if utc_offset_minutes < 0 {
        word |= 0x08;
    }
    word |= 0x02; // English
    content[10..12].copy_from_slice(&word.to_be_bytes());
    Ok(frame(0x01, &content, serial))
}

fn put_gps(out: &mut Vec<u8>, p: &Position) {
    out.extend_from_slice(&time_bytes(p.time));
    let sats = p.satellites.unwrap_or(0).min(15);
    out.push(0xC0 | sats);
    let lat = (p.location.lat.abs() * 1_800_000.0).round() as u32;
    let lon = (p.location.lon.abs() * 1_800_000.0).round() as u32;
    out.extend_from_slice(&lat.to_be_bytes());
    out.extend_from_slice(&lon.to_be_bytes());
    out.push(p.speed_kmh.round().clamp(0.0, 255.0) as u8);
    let mut flags = (p.course.unwrap_or(0.0).round().clamp(0.0, 360.0) as u16) & 0x03FF;
    if p.valid {
        flags |= 1 << 12;
    }
    if p.location.lon < 0.0 {
        flags |= 1 << 11;
    }
    if p.location.lat >= 0.0 {
        flags |= 1 << 10;
    }
    out.extend_from_slice(&flags.to_be_bytes());
}

fn put_cell(out: &mut Vec<u8>, cell: Option<CellTower>) {
    let c = cell.unwrap_or(CellTower {
        mcc: 0,
        mnc: 0,
        lac: 0,
        cell_id: 0,
    });
    out.extend_from_slice(&(c.mcc & 0x7FFF).to_be_bytes());
    out.push(c.mnc as u8);
    out.extend_from_slice(&(c.lac as u16).to_be_bytes());
    let cid = (c.cell_id as u32) & 0x00FF_FFFF;
    out.extend_from_slice(&cid.to_be_bytes()[1..]);
}

/// Original location 0x12: GPS block + serving cell (MCC, 1-byte MNC, 2-byte LAC, 3-byte cell).
pub fn location_0x12(p: &Position, serial: u16) -> Vec<u8> {
    let mut c = Vec::with_capacity(26);
    put_gps(&mut c, p);
    put_cell(&mut c, p.cell);
    frame(0x12, &c, serial)
}

/// UTC-generation location 0x22: GPS block + cell + ACC + upload mode 0 + re-upload flag.
pub fn location(p: &Position, serial: u16) -> Vec<u8> {
    let mut c = Vec::with_capacity(29);
    put_gps(&mut c, p);
    put_cell(&mut c, p.cell);
    c.push(u8::from(p.status.ignition.unwrap_or(false)));
    c.push(0);
    c.push(u8::from(p.archived));
    frame(0x22, &c, serial)
}

/// The alarm code byte GT06 devices use for `alarm`, if there is one.
pub fn alarm_code(alarm: Alarm) -> Option<u8> {
    Some(match alarm {
        Alarm::Sos => 0x01,
        Alarm::PowerCut => 0x02,
        Alarm::Vibration => 0x03,
        Alarm::GeofenceEnter => 0x04,
        Alarm::GeofenceExit => 0x05,
        Alarm::Overspeed => 0x06,
        Alarm::LowBattery => 0x0E,
        Alarm::PowerOff => 0x11,
        Alarm::Tampering => 0x13,
        Alarm::Door => 0x14,
        Alarm::Removing => 0x18,
        Alarm::HardBraking => 0x1A,
        Alarm::FallDown => 0x23,
        Alarm::HardAcceleration => 0x26,
        Alarm::HardCornering => 0x2A,
        Alarm::Accident => 0x2C,
        Alarm::Jamming => 0x30,
        Alarm::FuelLeak => 0x53,
        Alarm::Temperature => 0x5B,
        Alarm::Idle => 0xC9,
        _ => return None,
    })
}

/// Voltage level 0..=6 for a battery percentage.
pub fn voltage_level(percent: u8) -> u8 {
    ((u16::from(percent.min(100)) * 6 + 50) / 100) as u8
}

fn put_status(out: &mut Vec<u8>, s: &DeviceStatus) {
    let mut info = 0x40u8; // GPS tracking on
    if s.output_cut == Some(true) {
        info |= 0x80;
    }
    if s.charging == Some(true) {
        info |= 0x04;
    }
    if s.ignition == Some(true) {
        info |= 0x02;
    }
    if s.armed == Some(true) {
        info |= 0x01;
    }
    out.push(info);
    out.push(voltage_level(s.battery_level.unwrap_or(100)));
    out.push(s.gsm_signal.unwrap_or(4).min(4));
    let code = s.alarms.iter().find_map(alarm_code).unwrap_or(0);
    out.push(code);
    out.push(0x02); // English
}

/// Heartbeat / status 0x13: terminal info, voltage level, GSM signal, first alarm's code.
pub fn heartbeat(status: &DeviceStatus, serial: u16) -> Vec<u8> {
    let mut c = Vec::with_capacity(5);
    put_status(&mut c, status);
    frame(0x13, &c, serial)
}

/// Alarm 0x16: GPS block + LBS (with length) + status of `p.status` (first alarm's code).
pub fn alarm(p: &Position, serial: u16) -> Vec<u8> {
    let mut c = Vec::with_capacity(32);
    put_gps(&mut c, p);
    c.push(8);
    put_cell(&mut c, p.cell);
    put_status(&mut c, &p.status);
    frame(0x16, &c, serial)
}

/// Command reply 0x15 (short frame) echoing `server_flag`, ASCII `text` (≤ 240 bytes).
pub fn command_reply(server_flag: u32, text: &str, serial: u16) -> Vec<u8> {
    let text = text.as_bytes();
    let text = text.get(..240).unwrap_or(text);
    let mut c = Vec::with_capacity(text.len() + 7);
    c.push((4 + text.len()) as u8);
    c.extend_from_slice(&server_flag.to_be_bytes());
    c.extend_from_slice(text);
    c.extend_from_slice(&[0x00, 0x02]);
    frame(0x15, &c, serial)
}

/// Command reply 0x21 (long frame, ASCII) echoing `server_flag`.
pub fn command_reply_long(server_flag: u32, text: &str, serial: u16) -> Vec<u8> {
    let mut c = Vec::with_capacity(text.len() + 5);
    c.extend_from_slice(&server_flag.to_be_bytes());
    c.push(0x01);
    c.extend_from_slice(text.as_bytes());
    let mut b = BytesMut::new();
    put_long(&mut b, 0x21, &c, serial);
    b.to_vec()
}

/// Time request 0x8A.
pub fn time_request(serial: u16) -> Vec<u8> {
    frame(0x8A, &[], serial)
}

/// Decodes what the server sends (acks, time replies, commands) from a byte stream.
#[derive(Debug, Default, Clone)]
pub struct DeviceDecoder {
    /// Frames that framed but could not be understood.
    pub malformed: u64,
}

/// Parses one server frame.
pub fn parse_server_frame(f: &[u8]) -> Option<Gt06Outbound> {
    let hdr = header_len(*f.first()?);
    let protocol = *f.get(hdr)?;
    if hdr == 3 && f.get(2) == Some(&0) {
        let time: [u8; 6] = f.get(4..10)?.try_into().ok()?;
        return Some(Gt06Outbound::WifiTimeEcho { protocol, time });
    }
    if frame::crc_matches(f) != Some(true) {
        return None;
    }
    let content = f.get(hdr + 1..f.len() - 6)?;
    let serial = u16::from_be_bytes([f[f.len() - 6], f[f.len() - 5]]);
    if hdr == 4 {
        return match (protocol, content.len()) {
            (_, 0) => Some(Gt06Outbound::LongAck { protocol, serial }),
            (MSG_ADDRESS_REPLY, _) => Some(Gt06Outbound::AddressReply),
            _ => None,
        };
    }
    match protocol {
        MSG_COMMAND => {
            let len = usize::from(*content.first()?);
            let server_flag = u32::from_be_bytes(content.get(1..5)?.try_into().ok()?);
            let text = content.get(5..1 + len)?;
            let language = match content.get(1 + len..)? {
                [] => None,
                [a, b] => Some(u16::from_be_bytes([*a, *b])),
                _ => return None,
            };
            Some(Gt06Outbound::Command {
                server_flag,
                serial,
                text: String::from_utf8(text.to_vec()).ok()?,
                language,
            })
        }
        MSG_TIME if content.len() == 6 => Some(Gt06Outbound::Time {
            time: content.try_into().ok()?,
        }),
        _ if content.is_empty() => Some(Gt06Outbound::Ack { protocol, serial }),
        _ => None,
    }
}

impl Decoder for DeviceDecoder {
    type Item = Gt06Outbound;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Gt06Outbound>, ProtocolError> {
        loop {
            if src.is_empty() {
                return Ok(None);
            }
            match frame::scan(src) {
                Scan::Garbage(n) => src.advance(n),
                Scan::Incomplete => {
                    if src.len() > 4096 {
                        return Err(ProtocolError::FrameTooLong {
                            len: src.len(),
                            max: 4096,
                        });
                    }
                    return Ok(None);
                }
                Scan::Frame { len, .. } => {
                    let parsed = parse_server_frame(&src[..len]);
                    src.advance(len);
                    match parsed {
                        Some(p) => return Ok(Some(p)),
                        None => self.malformed += 1,
                    }
                }
            }
        }
    }
}
