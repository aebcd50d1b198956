//! The device's side of H02, for emulators, integration tests and the load generator:
//! builds the frames a tracker sends and reads the frames a server sends back.
//!
//! ```
//! use protocol::h02::device;
//! use protocol::DeviceId;
//! let id = DeviceId::parse("4210051415").unwrap();
//! assert_eq!(device::heartbeat(&id, Some(80)), b"*HQ,4210051415,HTBT,80#".to_vec());
//! ```

use std::fmt::Write as _;

use bytes::{Buf, BytesMut};
use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Timelike, Utc};
use tokio_util::codec::Decoder;

use super::fields::{Fields, hhmmss, is_digits_n, seconds_of_day};
use super::status::{IgnitionSense, StatusDialect, status_word};
use super::{Maker, MsgType, SpeedUnit};
use crate::{Command, DeviceId, DeviceStatus, Position, ProtocolError};

/// The status word for `status` with the default dialect and ignition sense.
pub fn default_status_word(status: &DeviceStatus) -> u32 {
    status_word(status, StatusDialect::default(), IgnitionSense::BitSetIsOn)
}

/// H02 has no login message: a tracker identifies itself with its first sentence, usually a
/// heartbeat, so this is [`heartbeat`] without a battery level.
pub fn login(device: &DeviceId) -> Vec<u8> {
    heartbeat(device, None)
}

/// `*HQ,<id>,HTBT[,<battery%>]#`.
pub fn heartbeat(device: &DeviceId, battery_level: Option<u8>) -> Vec<u8> {
    match battery_level {
        Some(b) => format!("*HQ,{device},HTBT,{b}#").into_bytes(),
        None => format!("*HQ,{device},HTBT#").into_bytes(),
    }
}

/// Degrees as `DDMM.MMMMM` (latitude, `deg_digits` = 2) or `DDDMM.MMMMM` (3), and hemisphere.
fn coordinate(value: f64, deg_digits: usize, pos: char, neg: char) -> (String, char) {
    let units = (value.abs() * 60.0 * 100_000.0).round() as u64;
    let deg = units / 6_000_000;
    let min = units % 6_000_000;
    (
        format!(
            "{deg:0deg_digits$}{:02}.{:05}",
            min / 100_000,
            min % 100_000
        ),
        if value < 0.0 { neg } else { pos },
    )
}

/// The `<hhmmss>,<A|V>,<lat>,<N|S>,<lon>,<E|W>,<speed>,<course>,<ddmmyy>,<status>` part.
fn location_fields(out: &mut String, p: &Position, word: u32, unit: SpeedUnit) {
    let (lat, ns) = coordinate(p.location.lat, 2, 'N', 'S');
    let (lon, ew) = coordinate(p.location.lon, 3, 'E', 'W');
    let _ = write!(
        out,
        "{},{},{lat},{ns},{lon},{ew},{:.2},{:.0},{},{word:08X}",
        p.time.format("%H%M%S"),
        if p.valid { 'A' } else { 'V' },
        unit.from_kmh(f64::from(p.speed_kmh)),
        p.course.unwrap_or(0.0),
        p.time.format("%d%m%y"),
    );
}

/// `*HQ,<id>,V1,…#` for `p` (speed written in knots, status word from `p.status`).
pub fn location(device: &DeviceId, p: &Position) -> Vec<u8> {
    location_with(device, p, default_status_word(&p.status), SpeedUnit::Knots)
}

/// `*HQ,<id>,V1,…#` with an explicit status word and speed unit.
pub fn location_with(device: &DeviceId, p: &Position, word: u32, unit: SpeedUnit) -> Vec<u8> {
    let mut s = format!("*HQ,{device},V1,");
    location_fields(&mut s, p, word, unit);
    s.push('#');
    s.into_bytes()
}

/// A `V1` without a fix (`V`, empty coordinates) carrying only the status word: decodes to a
/// status report.
pub fn no_fix(device: &DeviceId, time: DateTime<Utc>, status: &DeviceStatus) -> Vec<u8> {
    format!(
        "*HQ,{device},V1,{},V,,N,,E,0.00,0,{},{:08X}#",
        time.format("%H%M%S"),
        time.format("%d%m%y"),
        default_status_word(status)
    )
    .into_bytes()
}

/// An alarm is a location whose status word has the alarm's bit cleared.
pub fn alarm(device: &DeviceId, p: &Position) -> Vec<u8> {
    location(device, p)
}

/// `*HQ,<id>,V4,<cmd>[,<result>],<command hhmmss>,<device hhmmss>,A,…#`: the confirmation of a
/// command whose stamp was `stamp_secs` (seconds since midnight), carrying `p`.
pub fn command_reply(
    device: &DeviceId,
    command: &str,
    result: Option<&str>,
    stamp_secs: u32,
    p: &Position,
) -> Vec<u8> {
    let stamp = NaiveTime::from_num_seconds_from_midnight_opt(stamp_secs % 86_400, 0)
        .unwrap_or(NaiveTime::MIN);
    let mut s = format!("*HQ,{device},V4,{command},");
    if let Some(r) = result {
        let _ = write!(s, "{r},");
    }
    let _ = write!(s, "{},", stamp.format("%H%M%S"));
    location_fields(&mut s, p, default_status_word(&p.status), SpeedUnit::Knots);
    s.push('#');
    s.into_bytes()
}

/// Why a binary record could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulatorError {
    /// The 32-byte record carries 10 BCD digits.
    #[error("binary H02 records need an id of at most 10 digits, got {0:?}")]
    Id(String),
    /// The record's date is two BCD digits of year.
    #[error("binary H02 records hold years 2000..=2099 only")]
    Year,
}

fn bcd_digits(out: &mut Vec<u8>, digits: &[u8]) {
    for pair in digits.chunks(2) {
        let hi = pair.first().map_or(0, |d| d - b'0');
        let lo = pair.get(1).map_or(0, |d| d - b'0');
        out.push((hi << 4) | lo);
    }
}

fn bcd_number(out: &mut Vec<u8>, value: u64, digits: usize) {
    let text = format!("{value:0digits$}");
    bcd_digits(out, text.as_bytes());
}

/// The 32-byte `$` record for `p` (10-digit id, speed in knots, status word from `p.status`).
pub fn binary_location(device: &DeviceId, p: &Position) -> Result<Vec<u8>, EmulatorError> {
    let id = device.as_str();
    if id.len() > 10 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmulatorError::Id(id.to_string()));
    }
    if !(2000..=2099).contains(&p.time.year()) {
        return Err(EmulatorError::Year);
    }
    let mut out = Vec::with_capacity(32);
    out.push(b'$');
    bcd_digits(&mut out, format!("{id:0>10}").as_bytes());
    let t = p.time;
    for v in [
        t.hour(),
        t.minute(),
        t.second(),
        t.day(),
        t.month(),
        t.year() as u32 % 100,
    ] {
        bcd_number(&mut out, u64::from(v), 2);
    }
    let minutes = |v: f64| {
        let units = (v.abs() * 60.0 * 10_000.0).round() as u64;
        (units / 600_000) * 1_000_000 + units % 600_000
    };
    bcd_number(&mut out, minutes(p.location.lat), 8);
    out.push(6); // battery: 100 %
    let lon = format!("{:09}", minutes(p.location.lon));
    let mut flags = 0u8;
    if p.valid {
        flags |= 0x02;
    }
    if p.location.lat >= 0.0 {
        flags |= 0x04;
    }
    if p.location.lon >= 0.0 {
        flags |= 0x08;
    }
    let mut lon_digits = lon.into_bytes();
    lon_digits.push(b'0' + flags);
    bcd_digits(&mut out, &lon_digits);
    let knots = (f64::from(p.speed_kmh) / 1.852).round().clamp(0.0, 999.0) as u64;
    let course = (p.course.unwrap_or(0.0).round() as u64).min(359);
    let sc = format!("{knots:03}{course:03}");
    bcd_digits(&mut out, sc.as_bytes());
    out.extend_from_slice(&default_status_word(&p.status).to_be_bytes());
    out.extend_from_slice(&[0xFF, 0x00, 0x00]);
    Ok(out)
}

/// A frame the server sent, as the device reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// `*<MM>,<id>,V4,<type>,<yyyyMMddHHmmss>#`.
    Confirm {
        /// Manufacturer code.
        maker: Maker,
        /// Addressed device.
        device: DeviceId,
        /// Confirmed type.
        msg_type: MsgType,
        /// Time in the reply.
        time: DateTime<Utc>,
    },
    /// `*<MM>,<id>,R12,<hhmmss>#`.
    R12 {
        /// Manufacturer code.
        maker: Maker,
        /// Addressed device.
        device: DeviceId,
        /// Time in the reply.
        time: NaiveTime,
    },
    /// `*<MM>,<id>,<type>#`: a heartbeat echo.
    Echo {
        /// Manufacturer code.
        maker: Maker,
        /// Addressed device.
        device: DeviceId,
        /// Echoed type.
        msg_type: MsgType,
    },
    /// `*<MM>,<id>,<CMD>,<HHMMSS>,<params…>#`.
    Command {
        /// Manufacturer code.
        maker: Maker,
        /// Addressed device.
        device: DeviceId,
        /// Command name (`S20`, `SCF` …).
        name: String,
        /// The stamp, seconds since midnight, to echo in the `V4` confirmation.
        stamp: Option<u32>,
        /// Parameters after the stamp.
        params: Vec<String>,
    },
}

impl ServerMessage {
    /// The command the server asked for, as the model names it (`None` for acks).
    pub fn command(&self) -> Option<Command> {
        let ServerMessage::Command { name, params, .. } = self else {
            return None;
        };
        let p: Vec<&str> = params.iter().map(String::as_str).collect();
        Some(match (name.as_str(), p.as_slice()) {
            ("S20", ["1", "1"]) => Command::CutPower,
            ("S20", ["1", "0"]) => Command::RestorePower,
            ("SCF", ["0", "0"]) => Command::Arm,
            ("SCF", ["1", "1"]) => Command::Disarm,
            ("R1", []) => Command::Locate,
            ("S71", ["22", secs]) => match secs.parse() {
                Ok(seconds) => Command::SetInterval { seconds },
                Err(_) => return None,
            },
            _ => return None,
        })
    }
}

const WHAT: &str = "h02 server frame";

fn bad(detail: &'static str) -> ProtocolError {
    ProtocolError::malformed(WHAT, detail)
}

/// Reads one complete `*…#` frame sent by a server.
pub fn parse_server_frame(frame: &[u8]) -> Result<ServerMessage, ProtocolError> {
    let content = frame
        .strip_prefix(b"*")
        .and_then(|f| f.strip_suffix(b"#"))
        .ok_or_else(|| bad("not a *…# sentence"))?;
    let f = Fields::split(content);
    let maker = Maker::new(f.at(0)).ok_or_else(|| bad("bad manufacturer code"))?;
    let device = std::str::from_utf8(f.at(1))
        .ok()
        .and_then(|s| DeviceId::parse(s).ok())
        .ok_or_else(|| bad("bad device id"))?;
    let name = f.at(2);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if name == b"V4" && f.len() == 5 && is_digits_n(f.at(4), 14) {
        let s = std::str::from_utf8(f.at(4)).map_err(|_| bad("bad time"))?;
        let time = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
            .map_err(|_| bad("bad time"))?;
        return Ok(ServerMessage::Confirm {
            maker,
            device,
            msg_type: MsgType::new(f.at(3)).ok_or_else(|| bad("bad type"))?,
            time: Utc.from_utc_datetime(&time),
        });
    }
    if name == b"R12" && f.len() == 4 {
        return Ok(ServerMessage::R12 {
            maker,
            device,
            time: hhmmss(f.at(3)).ok_or_else(|| bad("bad time"))?,
        });
    }
    if f.len() == 3 {
        return Ok(ServerMessage::Echo {
            maker,
            device,
            msg_type: MsgType::new(name).ok_or_else(|| bad("bad type"))?,
        });
    }
    if name.is_empty() {
        return Err(bad("no command name"));
    }
    let stamp = seconds_of_day(f.at(3));
    Ok(ServerMessage::Command {
        maker,
        device,
        name: text(name),
        stamp,
        params: (4..f.len()).map(|i| text(f.at(i))).collect(),
    })
}

/// Device-side stream codec: splits what a server sends into [`ServerMessage`]s.
#[derive(Debug, Clone)]
pub struct H02DeviceCodec {
    max_frame: usize,
}

impl Default for H02DeviceCodec {
    fn default() -> Self {
        H02DeviceCodec { max_frame: 2048 }
    }
}

impl Decoder for H02DeviceCodec {
    type Item = ServerMessage;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ServerMessage>, ProtocolError> {
        loop {
            let start = src.iter().position(|&b| b == b'*').unwrap_or(src.len());
            src.advance(start);
            let Some(end) = src.iter().position(|&b| b == b'#') else {
                if src.len() > self.max_frame {
                    return Err(ProtocolError::FrameTooLong {
                        len: src.len(),
                        max: self.max_frame,
                    });
                }
                return Ok(None);
            };
            let frame = src.split_to(end + 1);
            // A malformed sentence is skipped, like on the server side.
            if let Ok(msg) = parse_server_frame(&frame) {
                return Ok(Some(msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LatLon;

    #[test]
    fn coordinates_carry_minutes() {
        assert_eq!(coordinate(9.93978, 2, 'N', 'S'), ("0956.38680".into(), 'N'));
        assert_eq!(
            coordinate(-84.11178, 3, 'E', 'W'),
            ("08406.70680".into(), 'W')
        );
        assert_eq!(
            coordinate(-0.999999999, 2, 'N', 'S'),
            ("0100.00000".into(), 'S')
        );
    }

    #[test]
    fn binary_record_is_32_bytes() {
        let id = DeviceId::parse("4106000826").unwrap();
        let time = Utc.with_ymd_and_hms(2015, 8, 31, 21, 53, 21).unwrap();
        let p = Position::new(time, LatLon::new(4.69898, -74.06971).unwrap(), true, 0.0);
        let rec = binary_location(&id, &p).unwrap();
        assert_eq!(rec.len(), 32);
        assert_eq!(
            &rec[..16],
            &[
                0x24, 0x41, 0x06, 0x00, 0x08, 0x26, 0x21, 0x53, 0x21, 0x31, 0x08, 0x15, 0x04, 0x41,
                0x93, 0x88
            ][..]
        );
    }

    #[test]
    fn server_frames_parse() {
        let m = parse_server_frame(b"*HQ,123456789012345,S20,010203,1,1#").unwrap();
        assert_eq!(m.command(), Some(Command::CutPower));
        let ServerMessage::Command { stamp, .. } = m else {
            panic!("not a command");
        };
        assert_eq!(stamp, Some(3723));
        assert!(matches!(
            parse_server_frame(b"*HQ,135790246811220,HTBT#"),
            Ok(ServerMessage::Echo { .. })
        ));
        assert!(parse_server_frame(b"*HQ,,S20#").is_err());
        assert!(parse_server_frame(b"HQ,1,S20#").is_err());
    }
}
