//! The terminal's side of JT808, for emulators, the load-test simulator and tests: builds the
//! frames a tracker sends and decodes what the platform sends back.

use bytes::{Buf, BytesMut};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use tokio_util::codec::Decoder;

use crate::read::Reader;
use crate::{Alarm, DeviceId, Position, Protocol, ProtocolError, Registration};

use super::fields::{bcd_byte, gbk};
use super::header::{Header, Terminal};
use super::{AckResult, encode_gbk, frame, msg, write_frame};

/// A simulated terminal: its address, header format and serial counter.
#[derive(Debug, Clone)]
pub struct Device {
    terminal: Terminal,
    serial: u16,
    utc_offset_minutes: i32,
}

impl Device {
    /// A 2013-header terminal with the given phone number / IMEI (see
    /// [`Terminal::for_device`]); clock in GMT+8.
    pub fn new(id: &DeviceId) -> Self {
        Device {
            terminal: Terminal::for_device(id, None),
            serial: 0,
            utc_offset_minutes: 480,
        }
    }

    /// A 2019-header terminal (`BCD[10]` phone, `version` byte).
    pub fn new_2019(id: &DeviceId, version: u8) -> Self {
        Device {
            terminal: Terminal::for_device(id, Some(version)),
            serial: 0,
            utc_offset_minutes: 480,
        }
    }

    /// Changes the clock's offset from UTC (minutes).
    pub fn with_utc_offset(mut self, minutes: i32) -> Self {
        self.utc_offset_minutes = minutes;
        self
    }

    /// The address this terminal puts in its headers.
    pub fn terminal(&self) -> Terminal {
        self.terminal
    }

    /// Serial the next frame will carry.
    pub fn next_serial(&self) -> u16 {
        self.serial
    }

    /// Frames any message with the next serial.
    pub fn frame(&mut self, message_id: u16, body: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        // Bodies built here stay below the 1023-byte limit; an oversize one yields no frame.
        let _ = write_frame(
            self.terminal,
            message_id,
            self.serial,
            false,
            body,
            &mut out,
        );
        self.serial = self.serial.wrapping_add(1);
        out.to_vec()
    }

    /// 0x0100 registration (2013 or 2019 field widths by header format).
    pub fn register(&mut self, reg: &Registration) -> Vec<u8> {
        let (maker, model, id) = if self.terminal.version.is_some() {
            (11, 30, 30)
        } else {
            (5, 20, 7)
        };
        let mut b = Vec::new();
        b.extend_from_slice(&reg.province.to_be_bytes());
        b.extend_from_slice(&reg.city.to_be_bytes());
        for (text, width) in [
            (&reg.manufacturer, maker),
            (&reg.model, model),
            (&reg.terminal_id, id),
        ] {
            let mut t = encode_gbk(text);
            t.resize(width, 0);
            b.extend_from_slice(&t);
        }
        b.push(reg.plate_color);
        b.extend_from_slice(&encode_gbk(&reg.plate));
        self.frame(msg::REGISTER, &b)
    }

    /// 0x0102 authentication with the code from the 0x8100 response.
    pub fn auth(&mut self, code: &str) -> Vec<u8> {
        let code = encode_gbk(code);
        let mut b = Vec::new();
        if self.terminal.version.is_some() {
            b.push(code.len().min(255) as u8);
            b.extend_from_slice(&code[..code.len().min(255)]);
            b.extend_from_slice(&[b'0'; 15]);
            b.extend_from_slice(&[0u8; 20]);
        } else {
            b.extend_from_slice(&code);
        }
        self.frame(msg::AUTH, &b)
    }

    /// 0x0002 heartbeat (empty body).
    pub fn heartbeat(&mut self) -> Vec<u8> {
        self.frame(msg::HEARTBEAT, &[])
    }

    /// 0x0200 location report.
    pub fn location(&mut self, p: &Position) -> Vec<u8> {
        let body = location_body(p, self.utc_offset_minutes);
        self.frame(msg::LOCATION, &body)
    }

    /// 0x0704 batch upload (`archived` = blind-area back-fill, type 1).
    pub fn batch(&mut self, positions: &[Position], archived: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(positions.len() as u16).to_be_bytes());
        b.push(u8::from(archived));
        for p in positions {
            let body = location_body(p, self.utc_offset_minutes);
            b.extend_from_slice(&(body.len() as u16).to_be_bytes());
            b.extend_from_slice(&body);
        }
        self.frame(msg::LOCATION_BATCH, &b)
    }

    /// 0x0001 terminal general response to a platform message.
    pub fn general_reply(&mut self, reply_serial: u16, reply_id: u16, result: u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&reply_serial.to_be_bytes());
        b.extend_from_slice(&reply_id.to_be_bytes());
        b.push(result);
        self.frame(msg::TERMINAL_RESPONSE, &b)
    }

    /// 0x0201 (answer to 0x8201) or 0x0500 (answer to 0x8500): reply serial + location.
    pub fn location_reply(&mut self, message_id: u16, reply_serial: u16, p: &Position) -> Vec<u8> {
        let mut b = reply_serial.to_be_bytes().to_vec();
        b.extend_from_slice(&location_body(p, self.utc_offset_minutes));
        self.frame(message_id, &b)
    }
}

/// Alarm → standard alarm bit (the inverse of the default dialect).
fn alarm_bit(a: Alarm) -> Option<u32> {
    Some(match a {
        Alarm::Sos => 0,
        Alarm::Overspeed => 1,
        Alarm::Fatigue => 2,
        Alarm::Fault => 4,
        Alarm::GpsAntennaCut => 5,
        Alarm::LowBattery => 7,
        Alarm::PowerCut => 8,
        Alarm::Vibration => 15,
        Alarm::Tampering => 16,
        Alarm::Parking => 19,
        Alarm::Geofence => 20,
        Alarm::FuelLeak => 25,
        Alarm::Theft => 26,
        Alarm::IllegalIgnition => 27,
        Alarm::Movement => 28,
        Alarm::Accident => 29,
        _ => return None,
    })
}

/// BCD `YY MM DD hh mm ss` of `t` shifted by `offset_minutes`.
pub fn bcd_time(t: DateTime<Utc>, offset_minutes: i32) -> [u8; 6] {
    let local = t + Duration::minutes(offset_minutes as i64);
    let bcd = |v: u32| (((v / 10) % 10) << 4 | (v % 10)) as u8;
    [
        bcd(local.year().rem_euclid(100) as u32),
        bcd(local.month()),
        bcd(local.day()),
        bcd(local.hour()),
        bcd(local.minute()),
        bcd(local.second()),
    ]
}

/// The 0x0200 body for a position: alarm and status words, fix, time, and the items
/// 0x01 odometer, 0x30 signal, 0x31 satellites, 0xD4 battery level, 0x69 battery voltage,
/// 0xE1 external power. Alarms without a standard bit are left out.
pub fn location_body(p: &Position, offset_minutes: i32) -> Vec<u8> {
    let mut alarm = 0u32;
    for a in p.status.alarms.iter() {
        if let Some(bit) = alarm_bit(a) {
            alarm |= 1 << bit;
        }
    }
    if let Some(raw) = p
        .status
        .alarms
        .raw
        .filter(|r| r.protocol == Protocol::Jt808)
    {
        alarm |= raw.code;
    }
    let s = &p.status;
    let mut status = 0u32;
    let mut set = |bit: u32, on: bool| {
        if on {
            status |= 1 << bit;
        }
    };
    set(0, s.ignition == Some(true));
    set(1, p.valid);
    set(2, p.location.lat < 0.0);
    set(3, p.location.lon < 0.0);
    set(10, s.output_cut == Some(true));
    set(26, s.charging == Some(true));
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&alarm.to_be_bytes());
    b.extend_from_slice(&status.to_be_bytes());
    b.extend_from_slice(&((p.location.lat.abs() * 1e6).round() as u32).to_be_bytes());
    b.extend_from_slice(&((p.location.lon.abs() * 1e6).round() as u32).to_be_bytes());
    b.extend_from_slice(&(p.altitude_m.unwrap_or(0.0).round() as i16).to_be_bytes());
    b.extend_from_slice(&((p.speed_kmh * 10.0).round().clamp(0.0, 65535.0) as u16).to_be_bytes());
    b.extend_from_slice(&(p.course.unwrap_or(0.0).round() as u16).to_be_bytes());
    b.extend_from_slice(&bcd_time(p.time, offset_minutes));
    if let Some(o) = p.odometer_m {
        b.extend_from_slice(&[0x01, 4]);
        b.extend_from_slice(&((o / 100) as u32).to_be_bytes());
    }
    if let Some(r) = s.gsm_signal {
        b.extend_from_slice(&[0x30, 1, r]);
    }
    if let Some(n) = p.satellites {
        b.extend_from_slice(&[0x31, 1, n]);
    }
    if let Some(l) = s.battery_level {
        b.extend_from_slice(&[0xD4, 1, l.min(100)]);
    }
    if let Some(v) = s.battery_voltage {
        b.extend_from_slice(&[0x69, 2]);
        b.extend_from_slice(&((v as f64 * 100.0).round() as u16).to_be_bytes());
    }
    if let Some(v) = s.power_voltage {
        b.extend_from_slice(&[0xE1, 2]);
        b.extend_from_slice(&((v as f64 * 10.0).round() as u16).to_be_bytes());
    }
    b
}

/// What the platform sent, as the terminal sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// 0x8001.
    GeneralResponse {
        /// Serial of the terminal message answered.
        reply_serial: u16,
        /// Id of the terminal message answered.
        reply_id: u16,
        /// Outcome.
        result: AckResult,
    },
    /// 0x8100.
    RegisterResponse {
        /// Serial of the 0x0100 answered.
        reply_serial: u16,
        /// Result code.
        result: u8,
        /// Authentication code (empty unless result 0).
        auth_code: String,
    },
    /// 0x4401 vendor general response.
    VendorResponse {
        /// Id answered.
        reply_id: u16,
    },
    /// 0x8109 time sync response (UTC).
    TimeSync {
        /// The time.
        utc: Option<DateTime<Utc>>,
    },
    /// 0x8105 terminal control.
    TerminalControl {
        /// Command word.
        command: u8,
        /// Parameter bytes.
        params: Vec<u8>,
    },
    /// 0x8500 vehicle control (raw body: 2013 one flag byte, 2019 type WORD + parameter).
    VehicleControl {
        /// The body.
        body: Vec<u8>,
    },
    /// 0x8201 location query.
    LocationQuery,
    /// 0x8103 set parameters: `(id, value)` pairs.
    SetParameters {
        /// Parameters in order.
        params: Vec<(u32, Vec<u8>)>,
    },
    /// 0x8300 text message.
    TextMessage {
        /// Flag byte.
        flag: u8,
        /// Text (GBK decoded).
        text: String,
    },
    /// 0x8900 transparent downlink.
    Transparent {
        /// Type byte.
        kind: u8,
        /// Data.
        data: Vec<u8>,
    },
    /// Anything else.
    Other {
        /// Message id.
        message_id: u16,
        /// Body.
        body: Vec<u8>,
    },
}

/// One platform frame: header and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFrame {
    /// The header (serial = platform serial).
    pub header: Header,
    /// The message.
    pub message: ServerMessage,
}

/// Decodes one un-escaped platform frame `7E … 7E` (checksum verified).
pub fn decode_server_frame(frame: &[u8]) -> Result<ServerFrame, ProtocolError> {
    let content = match frame {
        [frame::FLAG, c @ .., frame::FLAG] => c,
        _ => {
            return Err(ProtocolError::malformed(
                "jt808 server frame",
                "missing 7E flags",
            ));
        }
    };
    let Some((&received, checked)) = content.split_last() else {
        return Err(ProtocolError::malformed("jt808 server frame", "empty"));
    };
    let computed = frame::xor(checked);
    if computed != received {
        return Err(ProtocolError::Checksum {
            computed: computed as u32,
            received: received as u32,
        });
    }
    let mut r = Reader::new(checked, "jt808 server header");
    let header = if u16::from_be_bytes([
        checked.first().copied().unwrap_or(0),
        checked.get(1).copied().unwrap_or(0),
    ]) == msg::VENDOR_RESPONSE
    {
        // 0x4401 uses the 2013 header with a one-byte serial.
        let id = r.u16()?;
        let props = r.u16()?;
        let t = Terminal::from_raw(None, r.bytes(6)?);
        let serial = r.u8()? as u16;
        Header {
            message_id: id,
            properties: props,
            terminal: t,
            serial,
            package: None,
            len: r.position(),
        }
    } else {
        Header::parse(&mut r)?
    };
    let body = r.rest();
    let mut b = Reader::new(body, "jt808 server body");
    let message = match header.message_id {
        msg::PLATFORM_RESPONSE => ServerMessage::GeneralResponse {
            reply_serial: b.u16()?,
            reply_id: b.u16()?,
            result: AckResult::from_byte(b.u8()?),
        },
        msg::REGISTER_RESPONSE => {
            let reply_serial = b.u16()?;
            let result = b.u8()?;
            ServerMessage::RegisterResponse {
                reply_serial,
                result,
                auth_code: gbk(b.rest()),
            }
        }
        msg::VENDOR_RESPONSE => ServerMessage::VendorResponse { reply_id: b.u16()? },
        msg::TIME_SYNC_RESPONSE => {
            let year = b.u16()? as i32;
            let f = [b.u8()?, b.u8()?, b.u8()?, b.u8()?, b.u8()?];
            let utc = chrono::NaiveDate::from_ymd_opt(year, f[0] as u32, f[1] as u32)
                .and_then(|d| d.and_hms_opt(f[2] as u32, f[3] as u32, f[4] as u32))
                .map(|n| n.and_utc());
            ServerMessage::TimeSync { utc }
        }
        msg::TERMINAL_CONTROL => ServerMessage::TerminalControl {
            command: b.u8()?,
            params: b.rest().to_vec(),
        },
        msg::VEHICLE_CONTROL => ServerMessage::VehicleControl {
            body: body.to_vec(),
        },
        msg::LOCATION_QUERY => ServerMessage::LocationQuery,
        msg::SET_PARAMETERS => {
            let count = b.u8()?;
            let mut params = Vec::new();
            for _ in 0..count {
                let id = b.u32()?;
                let n = b.u8()? as usize;
                params.push((id, b.bytes(n)?.to_vec()));
            }
            ServerMessage::SetParameters { params }
        }
        msg::TEXT_MESSAGE => ServerMessage::TextMessage {
            flag: b.u8()?,
            text: gbk(b.rest()),
        },
        msg::TRANSPARENT_DOWNLINK => ServerMessage::Transparent {
            kind: b.u8()?,
            data: b.rest().to_vec(),
        },
        other => ServerMessage::Other {
            message_id: other,
            body: body.to_vec(),
        },
    };
    Ok(ServerFrame { header, message })
}

/// Stream decoder for platform frames (the terminal's side of the connection). Malformed
/// frames are skipped; more than `max_frame_len` bytes without a frame is an error.
#[derive(Debug, Clone)]
pub struct ServerFrameDecoder {
    /// Largest frame accepted.
    pub max_frame_len: usize,
}

impl Default for ServerFrameDecoder {
    fn default() -> Self {
        ServerFrameDecoder {
            max_frame_len: 4096,
        }
    }
}

impl Decoder for ServerFrameDecoder {
    type Item = ServerFrame;
    type Error = ProtocolError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ServerFrame>, ProtocolError> {
        loop {
            let Some(start) = buf.iter().position(|&b| b == frame::FLAG) else {
                buf.clear();
                return Ok(None);
            };
            buf.advance(start);
            let Some(end) = buf
                .iter()
                .skip(1)
                .position(|&b| b == frame::FLAG)
                .map(|i| i + 1)
            else {
                if buf.len() > self.max_frame_len {
                    return Err(ProtocolError::FrameTooLong {
                        len: buf.len(),
                        max: self.max_frame_len,
                    });
                }
                return Ok(None);
            };
            if end == 1 {
                buf.advance(1);
                continue;
            }
            let mut raw = buf[..=end].to_vec();
            let n = frame::unescape_in_place(&mut raw[1..end]);
            raw.truncate(n + 1);
            raw.push(frame::FLAG);
            match decode_server_frame(&raw) {
                Ok(f) => {
                    buf.advance(end + 1);
                    return Ok(Some(f));
                }
                Err(_) => buf.advance(end),
            }
        }
    }
}

/// Decodes a BCD time field the way the server does (for tests of emulated frames).
pub fn parse_bcd_time(raw: [u8; 6], offset_minutes: i32) -> Option<DateTime<Utc>> {
    let mut f = [0u32; 6];
    for (slot, b) in f.iter_mut().zip(raw) {
        *slot = bcd_byte(b)?;
    }
    super::fields::local_time(f, offset_minutes)
}
