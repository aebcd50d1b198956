//! Frame content → [`DeviceMessage`], following the layouts of the Concox documents and the
//! vendor variants traccar recognises (picked from the start/protocol/length triple).

use std::borrow::Cow;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::alarm::{Gt06Model, add_alarm_code, terminal_info_alarm};
use super::encode::Gt06Outbound;
use super::frame::{START_LONG, header_len};
use crate::read::Reader;
use crate::{
    Alarm, AttrValue, Attribute, CellTower, CommandReply, Correlation, Decoded, DeviceId,
    DeviceMessage, DeviceStatus, LatLon, Position, ProtocolError, ReplyResult, StatusReport,
};

/// Login.
pub const MSG_LOGIN: u8 = 0x01;
/// 365GPS one-byte heartbeat.
pub const MSG_HEARTBEAT_365: u8 = 0x08;
/// GPS only (365GPS online).
pub const MSG_GPS: u8 = 0x10;
/// GPS + LBS with 2-byte MNC and 4-byte cell (365GPS offline).
pub const MSG_GPS_LBS_6: u8 = 0x11;
/// GPS + LBS, original location packet.
pub const MSG_GPS_LBS_1: u8 = 0x12;
/// Status / heartbeat.
pub const MSG_STATUS: u8 = 0x13;
/// String information (0x80 command reply, short frame).
pub const MSG_STRING: u8 = 0x15;
/// GPS + LBS + status alarm.
pub const MSG_GPS_LBS_STATUS_1: u8 = 0x16;
/// WiFi + LBS (clones) or GPS + LBS + RFID (length 0x28).
pub const MSG_WIFI: u8 = 0x17;
/// LBS extended.
pub const MSG_LBS_EXTEND: u8 = 0x18;
/// LBS + status.
pub const MSG_LBS_STATUS: u8 = 0x19;
/// GPS + phone number.
pub const MSG_GPS_PHONE: u8 = 0x1A;
/// GPS + LBS extended (JI09).
pub const MSG_GPS_LBS_EXTEND: u8 = 0x1E;
/// String information (command reply, long frame).
pub const MSG_STRING_INFO: u8 = 0x21;
/// GPS + LBS, UTC generation.
pub const MSG_GPS_LBS_2: u8 = 0x22;
/// GK310 heartbeat.
pub const MSG_HEARTBEAT: u8 = 0x23;
/// LBS multiple (variant 3).
pub const MSG_LBS_MULTIPLE_3: u8 = 0x24;
/// Alarm, single fence.
pub const MSG_GPS_LBS_STATUS_2: u8 = 0x26;
/// Alarm, multi fence.
pub const MSG_GPS_LBS_STATUS_3: u8 = 0x27;
/// LBS multiple.
pub const MSG_LBS_MULTIPLE_1: u8 = 0x28;
/// GPS address request.
pub const MSG_ADDRESS_REQUEST: u8 = 0x2A;
/// LBS + WiFi.
pub const MSG_LBS_WIFI: u8 = 0x2C;
/// GPS + LBS variant 4.
pub const MSG_GPS_LBS_4: u8 = 0x2D;
/// LBS multiple (variant 2).
pub const MSG_LBS_MULTIPLE_2: u8 = 0x2E;
/// GPS + LBS (AZ735, SL4X).
pub const MSG_GPS_LBS_5: u8 = 0x31;
/// GPS + LBS + status (AZ735, SL4X); AZ735 GPS when long.
pub const MSG_GPS_LBS_STATUS_4: u8 = 0x32;
/// WiFi (AZ735, SL4X); AZ735 alarm when long.
pub const MSG_WIFI_5: u8 = 0x33;
/// X1 GPS, or SL4X LBS.
pub const MSG_X1_GPS: u8 = 0x34;
/// X1 photo information.
pub const MSG_X1_PHOTO_INFO: u8 = 0x35;
/// Jimi 4G status (short) / X1 photo data (long).
pub const MSG_STATUS_2: u8 = 0x36;
/// GPS + LBS variant 3 (modules).
pub const MSG_GPS_LBS_3: u8 = 0x37;
/// GPS + LBS variant 8 (cell type).
pub const MSG_GPS_LBS_8: u8 = 0x38;
/// Multimedia (WD-209).
pub const MSG_MULTIMEDIA: u8 = 0x41;
/// iButton driver id.
pub const MSG_IBUTTON: u8 = 0x61;
/// WiFi variant 2.
pub const MSG_WIFI_2: u8 = 0x69;
/// Modular GPS.
pub const MSG_GPS_MODULAR: u8 = 0x70;
/// Server command (and its echoes 0x81/0x82).
pub const MSG_COMMAND_0: u8 = 0x80;
/// OBD data (FM08ABC).
pub const MSG_OBD: u8 = 0x8C;
/// Time request.
pub const MSG_TIME_REQUEST: u8 = 0x8A;
/// Information transfer.
pub const MSG_INFO: u8 = 0x94;
/// JC100 alarm / event.
pub const MSG_ALARM: u8 = 0x95;
/// Serial pass-through data.
pub const MSG_SERIAL: u8 = 0x9B;
/// 4G GPS + LBS (wide cell fields).
pub const MSG_GPS_LBS_7: u8 = 0xA0;
/// 4G LBS.
pub const MSG_LBS_2: u8 = 0xA1;
/// GK310 WiFi / LWxG GPS + LBS + status.
pub const MSG_WIFI_3: u8 = 0xA2;
/// GK310 single fence / SeeWorld status.
pub const MSG_FENCE_SINGLE: u8 = 0xA3;
/// Multi-fence alarm, 4G.
pub const MSG_FENCE_MULTI: u8 = 0xA4;
/// LBS alarm, 4G.
pub const MSG_LBS_ALARM: u8 = 0xA5;
/// LBS address request.
pub const MSG_LBS_ADDRESS: u8 = 0xA7;
/// Power / battery report.
pub const MSG_POWER: u8 = 0xF1;
/// Peripheral data (VL842).
pub const MSG_PERIPHERAL: u8 = 0xF2;
/// WiFi variant 4.
pub const MSG_WIFI_4: u8 = 0xF3;

/// Vendor layouts that share a protocol number, told apart by start, protocol and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Standard,
    Vxt01,
    WanwayS20,
    Sr411Mini,
    Gt06eCard,
    Benway,
    S5,
    Space10x,
    Obd6,
    Wetrust,
    Jc400,
    Sl4x,
    SeeWorld,
    Rfid,
    Lw4g,
}

fn variant(frame: &[u8]) -> Variant {
    if frame.first() == Some(&START_LONG[0]) {
        return Variant::Standard;
    }
    let length = frame.get(2).copied().unwrap_or(0);
    let kind = frame.get(3).copied().unwrap_or(0);
    let word4 = u16::from_be_bytes([
        frame.get(4).copied().unwrap_or(0),
        frame.get(5).copied().unwrap_or(0),
    ]);
    match (kind, length) {
        (MSG_GPS_LBS_1, 0x24) | (MSG_GPS_LBS_STATUS_1, 0x24) => Variant::Vxt01,
        (MSG_LBS_MULTIPLE_3, 0x31) => Variant::WanwayS20,
        (MSG_LBS_MULTIPLE_3, 0x2E) => Variant::Sr411Mini,
        (MSG_GPS_LBS_1, l) if l >= 0x71 => Variant::Gt06eCard,
        (MSG_GPS_LBS_1, 0x21) => Variant::Benway,
        (MSG_GPS_LBS_1, 0x2B) => Variant::S5,
        (MSG_LBS_STATUS, l) if l >= 0x17 => Variant::Space10x,
        (MSG_STATUS, 0x13) => Variant::Obd6,
        (MSG_GPS_LBS_1, 0x29) => Variant::Wetrust,
        (MSG_ALARM, _) if word4 == 0xFFFF => Variant::Jc400,
        (MSG_X1_GPS, 0x37) | (MSG_GPS_LBS_5, 0x2A) => Variant::Sl4x,
        (MSG_GPS_LBS_STATUS_4, 0x27) | (MSG_GPS_LBS_STATUS_4, 0x29) => Variant::Sl4x,
        (MSG_GPS_LBS_2, 0x2F) | (MSG_GPS_LBS_STATUS_1, 0x26) | (MSG_FENCE_SINGLE, 0x0C) => {
            Variant::SeeWorld
        }
        (MSG_WIFI, 0x28) => Variant::Rfid,
        (MSG_WIFI_3, 0x40) => Variant::Lw4g,
        _ => Variant::Standard,
    }
}

/// Whether a frame of this type/length is one of the CRC-less clone packets.
pub(crate) fn carries_no_crc(frame: &[u8]) -> bool {
    let hdr = frame.first().map(|b| header_len(*b)).unwrap_or(3);
    match frame.get(hdr) {
        Some(&MSG_HEARTBEAT_365) | Some(&MSG_WIFI_2) => hdr == 3,
        Some(&MSG_WIFI) => hdr == 3 && variant(frame) != Variant::Rfid,
        _ => false,
    }
}

/// Per-frame decoding context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    /// Dialect.
    pub model: Gt06Model,
    /// Offset of the device clock from UTC, minutes.
    pub offset_minutes: i32,
}

/// What one frame decoded to.
#[derive(Debug)]
pub(crate) struct FrameOut {
    pub device: Option<DeviceId>,
    pub message: DeviceMessage,
    pub ack: Option<Gt06Outbound>,
    /// The time-zone offset a login announced.
    pub announced_offset: Option<i16>,
}

impl FrameOut {
    fn new(message: DeviceMessage, ack: Option<Gt06Outbound>) -> Self {
        FrameOut {
            device: None,
            message,
            ack,
            announced_offset: None,
        }
    }
}

struct Fix {
    time: DateTime<Utc>,
    location: LatLon,
    valid: bool,
    speed_kmh: f32,
    course: f32,
}

/// Everything one frame said, before deciding whether it is a fix or a status.
#[derive(Default)]
struct Acc {
    time: Option<DateTime<Utc>>,
    fix: Option<Fix>,
    satellites: Option<u8>,
    altitude: Option<f32>,
    odometer: Option<u64>,
    accuracy: Option<f32>,
    archived: bool,
    status: DeviceStatus,
    cell: Option<CellTower>,
    attrs: Vec<Attribute>,
}

impl Acc {
    fn set(&mut self, key: &'static str, value: AttrValue) {
        self.attrs.retain(|a| a.key != key);
        self.attrs.push(Attribute {
            key: Cow::Borrowed(key),
            value,
        });
    }

    fn int(&mut self, key: &'static str, v: i64) {
        self.set(key, AttrValue::Int(v));
    }

    fn float(&mut self, key: &'static str, v: f64) {
        self.set(key, AttrValue::Float(v));
    }

    fn text(&mut self, key: &'static str, v: String) {
        self.set(key, AttrValue::Text(v));
    }

    fn alarm(&mut self, a: Alarm) {
        self.status.alarms.insert(a);
    }

    fn into_message(self) -> DeviceMessage {
        match self.fix {
            Some(fix) => DeviceMessage::Position(Position {
                time: fix.time,
                location: fix.location,
                valid: fix.valid,
                speed_kmh: fix.speed_kmh,
                course: Some(fix.course),
                altitude_m: self.altitude,
                satellites: self.satellites,
                accuracy_m: self.accuracy,
                odometer_m: self.odometer,
                cell: self.cell,
                archived: self.archived,
                status: self.status,
                attributes: self.attrs,
            }),
            None => {
                let mut attrs = self.attrs;
                if let Some(o) = self.odometer {
                    attrs.push(attr("odometer", AttrValue::Int(o as i64)));
                }
                if let Some(a) = self.altitude {
                    attrs.push(attr("altitude", AttrValue::Float(f64::from(a))));
                }
                if let Some(s) = self.satellites {
                    attrs.push(attr("sat", AttrValue::Int(i64::from(s))));
                }
                DeviceMessage::Status(StatusReport {
                    time: self.time,
                    status: self.status,
                    cell: self.cell,
                    attributes: attrs,
                })
            }
        }
    }
}

fn attr(key: &'static str, value: AttrValue) -> Attribute {
    Attribute {
        key: Cow::Borrowed(key),
        value,
    }
}

fn hex_string(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    s
}

/// Builds a UTC time from the device's local `YY MM DD hh mm ss`.
#[inline]
fn local_time(b: [u8; 6], offset_minutes: i32) -> Option<DateTime<Utc>> {
    let [yy, month, day, hour, minute, second] = b;
    let date = NaiveDate::from_ymd_opt(2000 + i32::from(yy), u32::from(month), u32::from(day))?;
    time_on(date, [hour, minute, second], offset_minutes)
}

/// `date` at the device's local `hh mm ss`, shifted to UTC.
///
/// Same result as `and_hms_opt(..).checked_sub_signed(offset)`, but when the shift stays within
/// the day (always for UTC devices) the time of day is built directly, skipping chrono's
/// general date arithmetic.
#[inline]
fn time_on(date: NaiveDate, hms: [u8; 3], offset_minutes: i32) -> Option<DateTime<Utc>> {
    let [hour, minute, second] = hms;
    if hour >= 24 || minute >= 60 || second >= 60 {
        return None;
    }
    let of_day = i32::from(hour) * 3600 + i32::from(minute) * 60 + i32::from(second);
    let shifted = of_day - offset_minutes * 60;
    if (0..86_400).contains(&shifted) {
        let time = NaiveTime::from_num_seconds_from_midnight_opt(shifted as u32, 0)?;
        return Some(date.and_time(time).and_utc());
    }
    date.and_hms_opt(u32::from(hour), u32::from(minute), u32::from(second))?
        .and_utc()
        .checked_sub_signed(Duration::minutes(i64::from(offset_minutes)))
}

/// The last valid `YY MM DD` a connection's location frames carried: a device reports the
/// same day for hours, so its calendar validation is done once per day, not once per frame.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DateCache {
    last: Option<([u8; 3], NaiveDate)>,
}

impl DateCache {
    /// `NaiveDate::from_ymd_opt(2000 + yy, mm, dd)`, remembered.
    #[inline]
    fn date(&mut self, ymd: [u8; 3]) -> Option<NaiveDate> {
        if let Some((seen, date)) = self.last
            && seen == ymd
        {
            return Some(date);
        }
        let [yy, month, day] = ymd;
        let date = NaiveDate::from_ymd_opt(2000 + i32::from(yy), u32::from(month), u32::from(day))?;
        self.last = Some((ymd, date));
        Some(date)
    }
}

/// Bytes left before serial, CRC and stop bytes when reading a whole short-frame tail.
fn left(r: &Reader<'_>) -> usize {
    r.remaining().saturating_sub(6)
}

fn bcd_byte(b: u8) -> u8 {
    (b >> 4) * 10 + (b & 0x0F)
}

#[derive(Clone, Copy)]
struct GpsLayout {
    has_length: bool,
    has_satellites: bool,
    has_speed: bool,
    long_speed: bool,
    swap_flags: bool,
}

const GPS_STANDARD: GpsLayout = GpsLayout {
    has_length: false,
    has_satellites: true,
    has_speed: true,
    long_speed: false,
    swap_flags: false,
};

/// Reads the GPS block; `Ok(false)` when a length-prefixed block says it is empty.
fn read_gps(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    layout: GpsLayout,
    ctx: &Ctx,
) -> Result<bool, ProtocolError> {
    let time = local_time(r.array()?, ctx.offset_minutes);
    acc.time = time;
    if layout.has_length && r.u8()? == 0 {
        return Ok(false);
    }
    if layout.has_satellites {
        acc.satellites = Some(r.u8()? & 0x0F);
    }
    let mut lat = f64::from(r.u32()?) / 60.0 / 30000.0;
    let mut lon = f64::from(r.u32()?) / 60.0 / 30000.0;
    let mut flags = 0u16;
    if layout.swap_flags {
        flags = r.u16()?;
    }
    let speed = if !layout.has_speed {
        0.0
    } else if layout.long_speed {
        f32::from(r.u16()?)
    } else {
        f32::from(r.u8()?)
    };
    if !layout.swap_flags {
        flags = r.u16()?;
    }
    if flags & (1 << 10) == 0 {
        lat = -lat;
    }
    if flags & (1 << 11) != 0 {
        lon = -lon;
    }
    if flags & (1 << 14) != 0 {
        acc.status.ignition = Some(flags & (1 << 15) != 0);
    }
    if let (Some(time), Ok(location)) = (time, LatLon::new(lat, lon)) {
        acc.fix = Some(Fix {
            time,
            location,
            valid: flags & (1 << 12) != 0,
            speed_kmh: speed,
            course: f32::from(flags & 0x03FF),
        });
    }
    Ok(true)
}

/// Reads the serving cell; `Ok(false)` when a length-prefixed block says it is empty.
fn read_lbs(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    kind: u8,
    has_length: bool,
    variant: Variant,
) -> Result<bool, ProtocolError> {
    let mut length = 0usize;
    if has_length {
        length = usize::from(r.u8()?);
        if length == 0 {
            // Some units send a zero length followed by a zeroed cell block; skip it then.
            let rest = r.rest();
            let zeroed = rest
                .get(9..rest.len().min(45))
                .is_some_and(|probe| probe.iter().all(|b| *b == 0));
            if zeroed {
                r.skip(rest.len().min(45))?;
            }
            return Ok(false);
        }
    }
    let cell_type = if kind == MSG_GPS_LBS_8 { r.u8()? } else { 0 };
    let mcc = r.u16()?;
    let mnc = if mcc & 0x8000 != 0 || kind == MSG_GPS_LBS_6 || variant == Variant::Sl4x {
        r.u16()?
    } else {
        u16::from(r.u8()?)
    };
    let wide = cell_type >= 3
        || matches!(kind, MSG_LBS_ALARM | MSG_GPS_LBS_7)
        || (kind == MSG_WIFI_3 && variant == Variant::Lw4g);
    let lac = if wide { r.u32()? } else { u32::from(r.u16()?) };
    let cell_id = if wide || variant == Variant::Sl4x {
        r.u64()?
    } else if kind == MSG_GPS_LBS_6 || kind == MSG_IBUTTON || variant == Variant::SeeWorld {
        u64::from(r.u32()?)
    } else {
        u64::from(r.u24()?)
    };
    if cell_type >= 3 {
        r.skip(2)?;
    } else if kind == MSG_GPS_LBS_8 {
        r.skip(1)?;
    }
    acc.cell = Some(CellTower {
        mcc: mcc & 0x7FFF,
        mnc,
        lac,
        cell_id,
    });
    if length > 9 {
        r.skip((length - 9).min(r.remaining()))?;
    }
    Ok(true)
}

fn read_terminal_info(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    variant: Variant,
) -> Result<(), ProtocolError> {
    let info = r.u8()?;
    acc.status.ignition = Some(info & 0x02 != 0);
    acc.status.charging = Some(info & 0x04 != 0);
    acc.status.output_cut = Some(info & 0x80 != 0);
    acc.status.armed = Some(info & 0x01 != 0);
    if let Some(a) = terminal_info_alarm(info, variant == Variant::Vxt01) {
        acc.alarm(a);
    }
    Ok(())
}

fn battery_level(acc: &mut Acc, level: u8) {
    if level <= 6 {
        acc.status.battery_level = Some((u16::from(level) * 100 / 6) as u8);
    } else if level <= 100 {
        acc.status.battery_level = Some(level);
    }
}

fn has_gps(kind: u8, variant: Variant) -> bool {
    match kind {
        MSG_GPS | MSG_GPS_LBS_1 | MSG_GPS_LBS_2 | MSG_GPS_LBS_3 | MSG_GPS_LBS_4 | MSG_GPS_LBS_5
        | MSG_GPS_LBS_6 | MSG_GPS_LBS_STATUS_1 | MSG_GPS_LBS_STATUS_2 | MSG_GPS_LBS_STATUS_3
        | MSG_GPS_LBS_STATUS_4 | MSG_WIFI_3 | MSG_GPS_PHONE | MSG_GPS_LBS_EXTEND
        | MSG_GPS_LBS_7 | MSG_WIFI | MSG_FENCE_MULTI => true,
        MSG_FENCE_SINGLE => variant != Variant::SeeWorld,
        _ => false,
    }
}

fn has_lbs(kind: u8, variant: Variant) -> bool {
    match kind {
        MSG_LBS_STATUS | MSG_GPS_LBS_1 | MSG_GPS_LBS_2 | MSG_GPS_LBS_3 | MSG_GPS_LBS_4
        | MSG_GPS_LBS_5 | MSG_GPS_LBS_6 | MSG_GPS_LBS_STATUS_1 | MSG_GPS_LBS_STATUS_2
        | MSG_GPS_LBS_STATUS_3 | MSG_GPS_LBS_STATUS_4 | MSG_WIFI_3 | MSG_GPS_LBS_7 | MSG_WIFI
        | MSG_FENCE_MULTI | MSG_LBS_ALARM | MSG_LBS_ADDRESS => true,
        MSG_FENCE_SINGLE => variant != Variant::SeeWorld,
        _ => false,
    }
}

fn has_status(kind: u8, variant: Variant, model: Gt06Model) -> bool {
    match kind {
        MSG_STATUS | MSG_STATUS_2 | MSG_LBS_STATUS | MSG_GPS_LBS_STATUS_1
        | MSG_GPS_LBS_STATUS_2 | MSG_GPS_LBS_STATUS_3 | MSG_GPS_LBS_STATUS_4 | MSG_WIFI_3
        | MSG_FENCE_MULTI | MSG_LBS_ALARM => true,
        MSG_GPS_LBS_2 => model == Gt06Model::Nt20,
        MSG_FENCE_SINGLE => variant == Variant::SeeWorld,
        _ => false,
    }
}

/// Classifies a device's command reply text.
pub fn classify_reply(text: &str) -> ReplyResult {
    let lower = text.to_ascii_lowercase();
    if lower.contains("fail") || lower.contains("not running") || lower.contains("error") {
        ReplyResult::Failure
    } else if lower.contains("success")
        || lower.ends_with(" ok")
        || lower.contains(" ok!")
        || lower.contains("ok!")
    {
        ReplyResult::Success
    } else {
        ReplyResult::Text
    }
}

/// Frame length of a plain 0x12 location (GPS + LBS, length byte 0x1F).
const PLAIN_0X12_LEN: usize = 36;
/// Frame length of a plain 0x22 location (GPS + LBS + ACC, mode, re-upload; length byte 0x22).
const PLAIN_0X22_LEN: usize = 39;

/// The plain location frames nearly all traffic consists of (0x12 and 0x22, standard layout,
/// exact length), decoded straight into the returned [`Decoded`] without the general path's
/// accumulator and the moves of a 288-byte value through `FrameOut` that it costs.
///
/// `None` for anything else, and for the rare details the general path turns into something
/// other than a plain position (invalid time or coordinates → status report, non-zero event
/// byte → attribute, two-byte MNC, dialects that lay these types out differently): the
/// caller then runs [`decode`], which for every frame accepted here yields the same value
/// (checked against it by a property test).
#[inline(always)]
pub(crate) fn decode_plain_location(
    frame: &[u8],
    ctx: &Ctx,
    dates: &mut DateCache,
) -> Option<Decoded<Gt06Outbound>> {
    // One compare on the length picks the layout; the fixed-size arrays make every field
    // read below a constant offset without bounds checks.
    let (kind, ignition_byte, event, archived_byte, serial) = match frame.len() {
        PLAIN_0X12_LEN => {
            let f: &[u8; PLAIN_0X12_LEN] = frame.try_into().ok()?;
            if f[..4] != [0x78, 0x78, 0x1F, MSG_GPS_LBS_1] || ctx.model == Gt06Model::Qh302r {
                return None;
            }
            (MSG_GPS_LBS_1, None, 0, 0, [f[30], f[31]])
        }
        PLAIN_0X22_LEN => {
            let f: &[u8; PLAIN_0X22_LEN] = frame.try_into().ok()?;
            if f[..4] != [0x78, 0x78, 0x22, MSG_GPS_LBS_2]
                || matches!(ctx.model, Gt06Model::Xt40 | Gt06Model::Nt20)
            {
                return None;
            }
            (MSG_GPS_LBS_2, Some(f[30]), f[31], f[32], [f[33], f[34]])
        }
        _ => return None,
    };
    if event != 0 {
        return None;
    }
    let b: &[u8; 26] = frame.get(4..30)?.try_into().ok()?;
    let date = dates.date([b[0], b[1], b[2]])?;
    let time = time_on(date, [b[3], b[4], b[5]], ctx.offset_minutes)?;
    let satellites = b[6] & 0x0F;
    let mut lat = f64::from(u32::from_be_bytes([b[7], b[8], b[9], b[10]])) / 60.0 / 30000.0;
    let mut lon = f64::from(u32::from_be_bytes([b[11], b[12], b[13], b[14]])) / 60.0 / 30000.0;
    let speed_kmh = f32::from(b[15]);
    let flags = u16::from_be_bytes([b[16], b[17]]);
    if flags & (1 << 10) == 0 {
        lat = -lat;
    }
    if flags & (1 << 11) != 0 {
        lon = -lon;
    }
    let location = LatLon::new(lat, lon).ok()?;
    let mcc = u16::from_be_bytes([b[18], b[19]]);
    if mcc & 0x8000 != 0 {
        return None;
    }
    let cell = CellTower {
        mcc,
        mnc: u16::from(b[20]),
        lac: u32::from(u16::from_be_bytes([b[21], b[22]])),
        cell_id: u64::from(u32::from_be_bytes([0, b[23], b[24], b[25]])),
    };
    let ignition = match ignition_byte {
        Some(acc) => Some(acc > 0),
        None if flags & (1 << 14) != 0 => Some(flags & (1 << 15) != 0),
        None => None,
    };
    Some(Decoded {
        device: None,
        message: DeviceMessage::Position(Position {
            time,
            location,
            valid: flags & (1 << 12) != 0,
            speed_kmh,
            course: Some(f32::from(flags & 0x03FF)),
            altitude_m: None,
            satellites: Some(satellites),
            accuracy_m: None,
            odometer_m: None,
            cell: Some(cell),
            archived: archived_byte > 0,
            status: DeviceStatus {
                ignition,
                ..DeviceStatus::default()
            },
            attributes: Vec::new(),
        }),
        ack: Some(Gt06Outbound::Ack {
            protocol: kind,
            serial: u16::from_be_bytes(serial),
        }),
    })
}

/// Decodes one complete frame (start to `0D 0A`).
pub(crate) fn decode(frame: &[u8], ctx: &Ctx) -> Result<FrameOut, ProtocolError> {
    let first = *frame
        .first()
        .ok_or_else(|| ProtocolError::malformed("gt06 frame", "empty"))?;
    let hdr = header_len(first);
    let kind = *frame
        .get(hdr)
        .ok_or_else(|| ProtocolError::malformed("gt06 frame", "no protocol number"))?;
    // Everything between the protocol number and the stop bytes; the last four bytes of it
    // are serial and CRC (absent in the CRC-less clone packets).
    let payload = frame
        .get(hdr + 1..frame.len().saturating_sub(2))
        .unwrap_or(&[]);
    let content = &payload[..payload.len().saturating_sub(4)];
    // traccar reads from the whole buffer (up to and including the stop bytes) and bounds
    // optional fields by "readable - 6"; devices that lie about lengths rely on exactly that.
    let tail = frame.get(hdr + 1..).unwrap_or(&[]);
    let serial = match payload.len() {
        n if n >= 4 => u16::from_be_bytes([payload[n - 4], payload[n - 3]]),
        _ => 0,
    };
    let v = variant(frame);
    if first == START_LONG[0] {
        let length = frame
            .get(2..4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .unwrap_or(0);
        decode_long(kind, content, serial, length, ctx)
    } else {
        let length = frame.get(2).copied().unwrap_or(0);
        decode_short(kind, length, payload, tail, serial, v, ctx)
    }
}

fn generic_ack(kind: u8, serial: u16) -> Option<Gt06Outbound> {
    Some(Gt06Outbound::Ack {
        protocol: kind,
        serial,
    })
}

fn decode_login(payload: &[u8], content: &[u8], serial: u16) -> Result<FrameOut, ProtocolError> {
    let id = payload.get(..8).ok_or_else(|| {
        ProtocolError::malformed("gt06 login", "shorter than the 8-byte terminal id")
    })?;
    // traccar's rule: hex of the 8 bytes without the first digit (keeps inner zeros).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 16];
    for (i, b) in id.iter().enumerate() {
        text[2 * i] = DIGITS[usize::from(b >> 4)];
        text[2 * i + 1] = DIGITS[usize::from(b & 0x0F)];
    }
    let imei = std::str::from_utf8(&text[1..]).unwrap_or("0");
    let device =
        DeviceId::parse(imei).map_err(|e| ProtocolError::malformed("gt06 login", e.to_string()))?;
    let model_code = content.get(8..10).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let utc_offset_minutes = content.get(10..12).map(|b| {
        let word = u16::from_be_bytes([b[0], b[1]]);
        let value = i32::from(word >> 4);
        let minutes = (value / 100) * 60 + value % 100;
        let signed = if word & 0x08 != 0 { -minutes } else { minutes };
        signed as i16
    });
    Ok(FrameOut {
        device: Some(device),
        message: DeviceMessage::Login {
            device,
            utc_offset_minutes,
            auth_code: None,
            model_code,
        },
        ack: generic_ack(MSG_LOGIN, serial),
        announced_offset: utc_offset_minutes,
    })
}

fn decode_short(
    kind: u8,
    length: u8,
    payload: &[u8],
    tail: &[u8],
    serial: u16,
    v: Variant,
    ctx: &Ctx,
) -> Result<FrameOut, ProtocolError> {
    let content = &tail[..tail.len().saturating_sub(6)];
    let model = ctx.model;
    let nt = model == Gt06Model::Nt20;
    let data_length = i32::from(length) - 5;
    let mut acc = Acc::default();
    let mut r = Reader::new(tail, "gt06 frame");
    match kind {
        MSG_LOGIN => return decode_login(payload, content, serial),
        MSG_HEARTBEAT_365 => {
            return Ok(FrameOut::new(
                DeviceMessage::Other {
                    kind: u32::from(kind),
                },
                None,
            ));
        }
        MSG_HEARTBEAT => {
            let info = r.u8()?;
            acc.status.armed = Some(info & 0x01 != 0);
            acc.status.ignition = Some(info & 0x02 != 0);
            acc.status.charging = Some(info & 0x04 != 0);
            if left(&r) >= 2 {
                acc.status.battery_voltage = Some(f32::from(r.u16()?) * 0.01);
            }
            if left(&r) >= 1 {
                acc.status.gsm_signal = Some(r.u8()?);
            }
            return Ok(FrameOut::new(acc.into_message(), generic_ack(kind, serial)));
        }
        MSG_ADDRESS_REQUEST => {
            return Ok(FrameOut::new(
                DeviceMessage::Other {
                    kind: u32::from(kind),
                },
                Some(Gt06Outbound::AddressReply),
            ));
        }
        MSG_TIME_REQUEST => return Ok(FrameOut::new(DeviceMessage::TimeRequest, None)),
        MSG_X1_GPS if v != Variant::Sl4x => {
            r.skip(4)?;
            read_gps(&mut r, &mut acc, GPS_STANDARD, ctx)?;
            r.skip(2)?;
            acc.odometer = Some(u64::from(r.u32()?));
            let mcc = r.u16()?;
            let mnc = u16::from(r.u8()?);
            let lac = u32::from(r.u16()?);
            let cell_id = u64::from(r.u32()?);
            acc.cell = Some(CellTower {
                mcc,
                mnc,
                lac,
                cell_id,
            });
            let driver = r.u32()?;
            if driver > 0 {
                acc.text("driverUniqueId", driver.to_string());
            }
            acc.status.battery_voltage = Some(f32::from(r.u16()?) * 0.01);
            acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01);
            let port_info = r.u32()?;
            acc.int("input", i64::from(r.u8()?));
            acc.int("output", i64::from(r.u8()?));
            const ADC: [&str; 16] = [
                "adc1", "adc2", "adc3", "adc4", "adc5", "adc6", "adc7", "adc8", "adc9", "adc10",
                "adc11", "adc12", "adc13", "adc14", "adc15", "adc16",
            ];
            let count = ((port_info >> 20) & 0x0F) as usize;
            for key in ADC.iter().take(count) {
                let value = f64::from(r.u16()?) * 0.01;
                acc.float(key, value);
            }
        }
        MSG_X1_PHOTO_INFO => {
            return Ok(FrameOut::new(
                DeviceMessage::Other {
                    kind: u32::from(kind),
                },
                None,
            ));
        }
        MSG_WIFI | MSG_WIFI_2 | MSG_WIFI_4 if kind != MSG_WIFI || v != Variant::Rfid => {
            return decode_wifi(kind, length, payload, ctx);
        }
        MSG_INFO => {
            acc.status.power_voltage = Some(f32::from(r.i16()?) * 0.01);
        }
        MSG_LBS_MULTIPLE_3 if v == Variant::Sr411Mini => {
            read_gps(&mut r, &mut acc, GPS_STANDARD, ctx)?;
            read_lbs(&mut r, &mut acc, kind, false, v)?;
            acc.status.ignition = Some(r.u8()? > 0);
            acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01);
            acc.status.battery_voltage = Some(f32::from(r.u16()?) * 0.01);
        }
        MSG_LBS_MULTIPLE_1 | MSG_LBS_MULTIPLE_2 | MSG_LBS_MULTIPLE_3 | MSG_LBS_EXTEND
        | MSG_LBS_WIFI | MSG_LBS_2 | MSG_X1_GPS | MSG_WIFI_5 => {
            decode_lbs_multiple(&mut r, &mut acc, kind, v, ctx)?;
        }
        MSG_WIFI_3 if v != Variant::Lw4g => {
            decode_lbs_multiple(&mut r, &mut acc, kind, v, ctx)?;
        }
        MSG_STRING => {
            let command_length = usize::from(r.u8()?);
            if left(&r) >= 4 {
                let flag = r.u32()?;
                // Some units send 0 as the length and NUL-pad the text instead.
                let n = if command_length > 4 {
                    (command_length - 4).min(left(&r))
                } else {
                    left(&r)
                };
                let raw = r.bytes(n)?;
                let raw = raw.split(|b| *b == 0).next().unwrap_or(&[]);
                let text = String::from_utf8_lossy(raw).into_owned();
                if let Some(rest) = text.strip_prefix("<ICCID:") {
                    let iccid: String = rest.chars().take(20).collect();
                    acc.text("iccid", iccid);
                } else {
                    let message = DeviceMessage::CommandReply(CommandReply {
                        correlation: Correlation::ServerFlag(flag),
                        answered_message: None,
                        result: classify_reply(&text),
                        text: Some(text),
                        position: None,
                    });
                    return Ok(FrameOut::new(message, generic_ack(kind, serial)));
                }
            }
        }
        MSG_STATUS if content.len() == 16 => {
            r.skip(5)?;
            acc.status.battery_level = Some(r.u8()?);
            r.skip(8)?;
            let value = r.u16()?;
            let temperature = f64::from(value & 0x7FFF) * 0.1;
            acc.float(
                "temp1",
                if value & 0x8000 != 0 {
                    temperature
                } else {
                    -temperature
                },
            );
        }
        MSG_IBUTTON => {
            r.skip(8)?;
            read_gps(&mut r, &mut acc, GPS_STANDARD, ctx)?;
            read_lbs(&mut r, &mut acc, kind, false, v)?;
            let id = (u64::from(r.u32()?) << 16) | u64::from(r.u16()?);
            acc.text("driverUniqueId", id.to_string());
        }
        MSG_ALARM => {
            decode_jc_alarm(&mut r, &mut acc, data_length, v, ctx)?;
        }
        MSG_GPS_LBS_2 | 0x25 if model == Gt06Model::Xt40 => {
            decode_xt40(&mut r, &mut acc, kind, ctx)?
        }
        MSG_STATUS_2 if model == Gt06Model::Vl && length >= 0x30 => {
            decode_vl_0x36(&mut r, &mut acc, ctx)?
        }
        MSG_FENCE_SINGLE if length == 0x18 => {
            // SeeWorld status with a pedometer
            r.skip(9)?;
            acc.int("steps", i64::from(r.u32()?));
        }
        _ if has_gps(kind, v) || has_lbs(kind, v) || has_status(kind, v, model) => {
            if kind == MSG_LBS_STATUS && v == Variant::Space10x {
                return Ok(FrameOut::new(
                    DeviceMessage::Other {
                        kind: u32::from(kind),
                    },
                    None,
                ));
            }
            decode_location(&mut r, &mut acc, kind, v, ctx)?;
        }
        MSG_COMMAND_0 | 0x81 | 0x82 => {
            return Ok(FrameOut::new(
                DeviceMessage::Other {
                    kind: u32::from(kind),
                },
                None,
            ));
        }
        _ => {
            return Ok(FrameOut::new(
                DeviceMessage::Other {
                    kind: u32::from(kind),
                },
                generic_ack(kind, serial),
            ));
        }
    }
    let _ = nt;
    Ok(FrameOut::new(acc.into_message(), generic_ack(kind, serial)))
}

fn decode_wifi(kind: u8, length: u8, payload: &[u8], ctx: &Ctx) -> Result<FrameOut, ProtocolError> {
    let mut acc = Acc::default();
    let mut r = Reader::new(payload, "gt06 wifi");
    let raw_time: [u8; 6] = r.array()?;
    acc.time = local_time(raw_time.map(bcd_byte), 0);
    let _ = ctx;
    let wifi_count = if kind == MSG_WIFI_4 { r.u8()? } else { length };
    let mut access_points = 0i64;
    for _ in 0..wifi_count {
        if kind == MSG_WIFI_4 {
            r.skip(2)?;
        }
        r.skip(6)?;
        if kind != MSG_WIFI_4 {
            r.skip(1)?;
        }
        access_points += 1;
    }
    let mut ack = None;
    if kind != MSG_WIFI_4 {
        let cell_count = r.u8()?;
        let mcc = r.u16()?;
        let mnc = u16::from(r.u8()?);
        for _ in 0..cell_count {
            let lac = u32::from(r.u16()?);
            let cell_id = u64::from(r.u16()?);
            r.skip(1)?;
            if acc.cell.is_none() {
                acc.cell = Some(CellTower {
                    mcc,
                    mnc,
                    lac,
                    cell_id,
                });
            }
        }
        ack = Some(Gt06Outbound::WifiTimeEcho {
            protocol: kind,
            time: raw_time,
        });
    }
    if access_points > 0 {
        acc.int("wifiAccessPoints", access_points);
    }
    if acc.cell.is_none() && access_points == 0 {
        acc.int("wifiAccessPoints", 0);
    }
    Ok(FrameOut::new(acc.into_message(), ack))
}

fn decode_lbs_multiple(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    kind: u8,
    v: Variant,
    ctx: &Ctx,
) -> Result<(), ProtocolError> {
    acc.time = local_time(r.array()?, ctx.offset_minutes);
    if matches!(v, Variant::WanwayS20 | Variant::Sl4x) {
        r.skip(1)?;
    }
    let mcc = r.u16()?;
    let mnc = if mcc & 0x8000 != 0 || v == Variant::Sl4x {
        r.u16()?
    } else {
        u16::from(r.u8()?)
    };
    let cell_count = if v == Variant::WanwayS20 {
        r.u8()?
    } else if kind == MSG_WIFI_5 {
        6
    } else {
        7
    };
    for _ in 0..cell_count {
        let (lac, cell_id) = if matches!(kind, MSG_LBS_2 | MSG_WIFI_3) {
            (r.u32()?, r.u64()?)
        } else if kind == MSG_WIFI_5 || kind == MSG_X1_GPS {
            (u32::from(r.u16()?), u64::from(r.u32()?))
        } else {
            (u32::from(r.u16()?), u64::from(r.u24()?))
        };
        r.skip(1)?;
        if lac > 0 && acc.cell.is_none() {
            acc.cell = Some(CellTower {
                mcc: mcc & 0x7FFF,
                mnc,
                lac,
                cell_id,
            });
        }
    }
    if !matches!(v, Variant::WanwayS20 | Variant::Sl4x) {
        r.skip(1)?;
    }
    if !matches!(
        kind,
        MSG_LBS_MULTIPLE_1 | MSG_LBS_MULTIPLE_2 | MSG_LBS_MULTIPLE_3 | MSG_LBS_2 | MSG_X1_GPS
    ) {
        let wifi_count = r.u8()?;
        for _ in 0..wifi_count {
            r.skip(7)?;
        }
        if wifi_count > 0 {
            acc.int("wifiAccessPoints", i64::from(wifi_count));
        }
    }
    Ok(())
}

fn decode_jc_alarm(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    data_length: i32,
    v: Variant,
    ctx: &Ctx,
) -> Result<(), ProtocolError> {
    let jc400 = v == Variant::Jc400;
    let extended = data_length > 7;
    if extended {
        if jc400 {
            r.skip(3)?;
        }
        let layout = GpsLayout {
            has_length: false,
            has_satellites: jc400,
            has_speed: jc400,
            long_speed: jc400,
            swap_flags: jc400,
        };
        read_gps(r, acc, layout, ctx)?;
    } else {
        acc.time = local_time(r.array()?, ctx.offset_minutes);
    }
    if jc400 {
        acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.1);
    }
    let event = r.u8()?;
    acc.int("event", i64::from(event));
    acc.int("eventData", i64::from(r.u16()?));
    let alarm = match event {
        0x01 if extended => Some(Alarm::Sos),
        0x01 => Some(Alarm::General),
        0x0E => Some(Alarm::LowPower),
        0x76 => Some(Alarm::Temperature),
        0x80 => Some(Alarm::Vibration),
        0x87 => Some(Alarm::Overspeed),
        0x88 => Some(Alarm::PowerCut),
        0x90 => Some(Alarm::HardAcceleration),
        0x91 => Some(Alarm::HardBraking),
        0x92 => Some(Alarm::HardCornering),
        0x93 => Some(Alarm::Accident),
        _ => None,
    };
    if let Some(a) = alarm {
        acc.alarm(a);
    }
    if left(r) > 0 {
        let files = String::from_utf8_lossy(r.rest().get(..left(r)).unwrap_or(&[])).into_owned();
        acc.text("eventFiles", files);
    }
    Ok(())
}

/// The GPS / LBS / status family (0x12, 0x16, 0x22, 0x26, 0x27, 0xA0, 0x13 …).
fn decode_location(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    kind: u8,
    v: Variant,
    ctx: &Ctx,
) -> Result<(), ProtocolError> {
    let model = ctx.model;
    let nt = model == Gt06Model::Nt20;
    let lw_status = kind == MSG_WIFI_3; // only reached for the LW4G variant
    if kind == MSG_GPS_LBS_1 && model == Gt06Model::Qh302r {
        r.skip(8)?;
    }
    if kind == MSG_GPS_LBS_2 && nt {
        r.skip(1 + 8 + 6)?;
    }
    if has_gps(kind, v) {
        read_gps(r, acc, GPS_STANDARD, ctx)?;
    }
    if has_lbs(kind, v) && left(r) > 0 {
        let has_length = has_status(kind, v, model)
            && kind != MSG_LBS_STATUS
            && kind != MSG_LBS_ALARM
            && (kind != MSG_GPS_LBS_STATUS_1 || v != Variant::Vxt01)
            && !lw_status;
        read_lbs(r, acc, kind, has_length, v)?;
    }
    if has_status(kind, v, model) {
        if lw_status {
            r.skip(1)?;
        }
        read_terminal_info(r, acc, v)?;
        if v == Variant::Obd6 {
            let signal = r.u16()?;
            acc.satellites = Some((((signal >> 10) & 0x1F) + ((signal >> 5) & 0x1F)) as u8);
            acc.status.gsm_signal = Some((signal & 0x1F) as u8);
            add_alarm_code(&mut acc.status.alarms, u16::from(r.u8()?), model);
            r.skip(1)?;
            acc.status.battery_level = Some(r.u8()?);
            let mode = r.u8()?;
            acc.status.power_voltage = Some(f32::from(r.u16()?) / 100.0);
            r.skip(3)?;
            if mode == 4 {
                acc.float("temp1", f64::from(r.i16()?) / 10.0);
            }
        } else {
            if lw_status || (nt && kind == MSG_GPS_LBS_2) {
                acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01);
            }
            if kind == MSG_STATUS && model == Gt06Model::R11 {
                acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01);
            } else {
                let mut level = r.u8()?;
                if nt && kind == MSG_GPS_LBS_2 {
                    level /= 10;
                }
                battery_level(acc, level);
            }
            acc.status.gsm_signal = Some(r.u8()?);
            if kind == MSG_STATUS && model == Gt06Model::Lw {
                acc.status.power_voltage = Some(f32::from(r.u16()? & 0x0FFF) / 10.0);
            } else {
                let mut extension = u16::from(r.u8()?);
                if matches!(
                    kind,
                    MSG_GPS_LBS_STATUS_2 | MSG_GPS_LBS_STATUS_3 | MSG_FENCE_MULTI
                ) && let Some(lang) = r.rest().first()
                {
                    extension += u16::from(lang >> 4) << 8;
                }
                if kind == MSG_STATUS && model == Gt06Model::SeeWorld {
                    acc.status.power_voltage = Some(f32::from(extension));
                } else if v != Variant::Vxt01 {
                    add_alarm_code(&mut acc.status.alarms, extension, model);
                }
                if model == Gt06Model::Vl && kind == MSG_GPS_LBS_STATUS_1 {
                    acc.int("event", i64::from(extension));
                    if left(r) >= 9 {
                        r.skip(1)?;
                        driver_id(acc, r.bytes(8)?);
                    }
                }
            }
        }
    }
    if (kind == MSG_STATUS_2
        || lw_status
        || kind == MSG_GPS_LBS_STATUS_3
        || kind == MSG_FENCE_MULTI
        || (nt && kind == MSG_GPS_LBS_2))
        && left(r) > 0
    {
        r.skip(1)?;
    }
    if kind == MSG_STATUS_2 {
        while left(r) > 0 {
            let module = r.u16()?;
            let len = usize::from(r.u8()?);
            match module {
                0x0018 => acc.status.battery_voltage = Some(f32::from(r.u16()?) / 100.0),
                0x0032 => acc.int("startupStatus", i64::from(r.u8()?)),
                0x006A => acc.status.battery_level = Some(r.u8()?),
                _ => r.skip(len.min(left(r)))?,
            }
        }
    }
    if lw_status {
        acc.odometer = Some(u64::from(r.u32()?));
        acc.int("hours", i64::from(r.u32()?) * 1000);
        r.skip(8)?;
        acc.int("input", i64::from(r.u16()?));
    }
    if kind == MSG_GPS_LBS_1 {
        decode_0x12_variant(r, acc, v, model)?;
    }
    if kind == MSG_GPS_LBS_2 && v == Variant::SeeWorld {
        acc.status.ignition = Some(r.u8()? > 0);
        r.skip(2)?;
        acc.odometer = Some(u64::from(r.u32()?));
        r.skip(4)?;
        let t = r.u16()?;
        let celsius = if t & 0x8000 != 0 {
            -f64::from(t & 0x7FFF)
        } else {
            f64::from(t)
        };
        acc.float("temp1", celsius * 0.01);
        acc.float("humidity", f64::from(r.u16()?) * 0.01);
    }
    if kind == MSG_GPS_LBS_STATUS_4 && v == Variant::Sl4x {
        acc.altitude = Some(f32::from(r.i16()?));
    }
    if matches!(
        kind,
        MSG_GPS_LBS_2 | MSG_GPS_LBS_3 | MSG_GPS_LBS_4 | MSG_GPS_LBS_5
    ) && left(r) >= 3
        && !nt
    {
        acc.status.ignition = Some(r.u8()? > 0);
        let event = r.u8()?;
        if event != 0 {
            acc.int("event", i64::from(event));
        }
        acc.archived = r.u8()? > 0;
        if v == Variant::Sl4x {
            if left(r) > 2 {
                acc.odometer = Some(u64::from(r.u32()?));
            }
            acc.altitude = Some(f32::from(r.i16()?));
        }
    }
    if kind == MSG_GPS_LBS_3 && left(r) >= 3 {
        let module = r.u16()?;
        let len = usize::from(r.u8()?);
        match module {
            0x0027 => acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01),
            0x002E => acc.odometer = Some(u64::from(r.u32()?)),
            0x003B => acc.accuracy = Some(f32::from(r.u16()?) * 0.01),
            _ => r.skip(len.min(left(r)))?,
        }
    }
    if kind == MSG_WIFI && v == Variant::Rfid {
        let id = r.bytes(8)?;
        acc.text("driverUniqueId", hex_string(id));
        r.skip(1)?;
    }
    if nt && kind == MSG_GPS_LBS_2 {
        acc.odometer = Some(u64::from(r.u24()?));
        acc.int("hours", i64::from(r.u24()?) * 60 * 1000);
    }
    if left(r) == 3 || left(r) == 7 {
        acc.status.ignition = Some(r.u8()? > 0);
        r.skip(1)?;
        acc.archived = r.u8()? > 0;
    }
    if left(r) == 4 {
        acc.odometer = Some(u64::from(r.u32()?));
    }
    Ok(())
}

fn driver_id(acc: &mut Acc, id: &[u8]) {
    if id.iter().any(|b| *b != 0) {
        acc.text("driverUniqueId", hex_string(id));
    }
}

/// XT40 0x22/0x25: source type, IMEI and device time before the GPS block, a length-prefixed
/// cell, then power/battery (0x22) or an RFID reader frame `02 … 03` at the end (0x25).
fn decode_xt40(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    kind: u8,
    ctx: &Ctx,
) -> Result<(), ProtocolError> {
    r.skip(1 + 8 + 6)?;
    read_gps(r, acc, GPS_STANDARD, ctx)?;
    read_lbs(r, acc, kind, true, Variant::Standard)?;
    if kind == MSG_GPS_LBS_2 {
        read_terminal_info(r, acc, Variant::Standard)?;
        acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01);
        acc.status.battery_voltage = Some(f32::from(r.u8()?) * 0.1);
    } else {
        let rest = r.rest().get(..left(r)).unwrap_or(&[]);
        if let (Some(end), Some(start)) = (
            rest.iter().rposition(|b| *b == 0x03),
            rest.iter().rposition(|b| *b == 0x02),
        ) && start < end
        {
            acc.text("driverUniqueId", hex_string(&rest[start..=end]));
        }
    }
    Ok(())
}

/// Jimi VL103 0x36: GPS block, 4-byte cell id, ACC, battery and an iButton id.
fn decode_vl_0x36(r: &mut Reader<'_>, acc: &mut Acc, ctx: &Ctx) -> Result<(), ProtocolError> {
    read_gps(r, acc, GPS_STANDARD, ctx)?;
    read_lbs(r, acc, MSG_GPS_LBS_6 ^ 0xFF, false, Variant::SeeWorld)?;
    acc.status.ignition = Some(r.u8()? > 0);
    r.skip(5)?;
    battery_level(acc, r.u8()?);
    r.skip(1)?;
    acc.status.gsm_signal = Some(r.u8()?);
    acc.status.battery_voltage = Some(f32::from(r.u8()?) * 0.1);
    r.skip(3)?;
    driver_id(acc, r.bytes(8)?);
    Ok(())
}

fn decode_0x12_variant(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    v: Variant,
    model: Gt06Model,
) -> Result<(), ProtocolError> {
    match v {
        Variant::Gt06eCard => {
            acc.odometer = Some(u64::from(r.u32()?));
            let n = usize::from(r.u8()?);
            let card = String::from_utf8_lossy(r.bytes(n)?).trim().to_string();
            r.skip(2)?;
            acc.text("card", card);
        }
        Variant::Benway => {
            let mask = r.u16()?;
            acc.status.ignition = Some(mask & (1 << 15) != 0);
            acc.set("in2", AttrValue::Bool(mask & (1 << 14) != 0));
            if mask & (1 << 12) != 0 {
                let mut value = i64::from(mask & 0x01FF);
                if mask & (1 << 9) != 0 {
                    value = -value;
                }
                acc.int("temp1", value);
            } else {
                let value = mask & 0x03FF;
                if mask & (1 << 13) != 0 {
                    acc.int("adc1", i64::from(value));
                } else {
                    acc.float("adc1", f64::from(value) * 0.1);
                }
            }
        }
        Variant::Vxt01 => {
            read_terminal_info(r, acc, v)?;
            acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01);
            acc.status.gsm_signal = Some(r.u8()?);
            r.skip(1)?;
        }
        Variant::S5 => {
            read_terminal_info(r, acc, v)?;
            acc.status.power_voltage = Some(f32::from(r.u16()?) * 0.01);
            acc.status.gsm_signal = Some(r.u8()?);
            add_alarm_code(&mut acc.status.alarms, u16::from(r.u8()?), model);
            acc.int("oil", i64::from(r.u16()?));
            let t = r.u8()?;
            let celsius = if t & 0x80 != 0 {
                -i64::from(t & 0x7F)
            } else {
                i64::from(t)
            };
            acc.int("temp1", celsius);
            acc.odometer = Some(u64::from(r.u32()?) * 10);
        }
        Variant::Wetrust => {
            acc.odometer = Some(u64::from(r.u32()?));
            let n = usize::from(r.u8()?);
            let card = String::from_utf8_lossy(r.bytes(n)?).into_owned();
            acc.text("card", card);
            if r.u8()? > 0 {
                acc.alarm(Alarm::General);
            }
            acc.int("cardStatus", i64::from(r.u8()?));
            acc.int("drivingTime", i64::from(r.u16()?));
        }
        _ => {}
    }
    Ok(())
}

fn decode_long(
    kind: u8,
    content: &[u8],
    serial: u16,
    length: u16,
    ctx: &Ctx,
) -> Result<FrameOut, ProtocolError> {
    let mut acc = Acc::default();
    let mut r = Reader::new(content, "gt06 long frame");

    let mut ack = None;
    match kind {
        MSG_STRING_INFO => {
            let flag = r.u32()?;
            let encoding = r.u8()?;
            let raw = r.rest();
            let text = if encoding == 1 {
                String::from_utf8_lossy(raw).into_owned()
            } else {
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            };
            let position = parse_location_reply(&text).map(Box::new);
            let result = if position.is_some() {
                ReplyResult::Success
            } else {
                classify_reply(&text)
            };
            let message = DeviceMessage::CommandReply(CommandReply {
                correlation: Correlation::ServerFlag(flag),
                answered_message: None,
                result,
                text: Some(text),
                position,
            });
            return Ok(FrameOut::new(message, None));
        }
        MSG_INFO => {
            if !decode_info(&mut r, &mut acc, length, ctx)? {
                return Ok(FrameOut::new(
                    DeviceMessage::Other {
                        kind: u32::from(kind),
                    },
                    None,
                ));
            }
        }
        MSG_GPS_LBS_STATUS_4 | MSG_WIFI_5 => {
            let layout = GpsLayout {
                has_length: true,
                ..GPS_STANDARD
            };
            read_gps(&mut r, &mut acc, layout, ctx)?;
            if read_lbs(&mut r, &mut acc, kind, true, Variant::Standard)? {
                acc.status.gsm_signal = Some(r.u8()?);
            }
            let n = usize::from(r.u8()?);
            r.skip(n)?;
            let n = usize::from(r.u8()?);
            r.skip(n)?;
            let status = r.u8()?;
            acc.int("status", i64::from(status));
            if kind == MSG_WIFI_5 {
                match status {
                    0xA0 => acc.status.armed = Some(true),
                    0xA1 => acc.status.armed = Some(false),
                    0xA2 | 0xA3 => acc.alarm(Alarm::LowBattery),
                    0xA4 => acc.alarm(Alarm::General),
                    0xA5 => acc.alarm(Alarm::Door),
                    _ => {}
                }
            }
            ack = Some(Gt06Outbound::LongAck {
                protocol: kind,
                serial,
            });
        }
        MSG_OBD => {
            acc.time = local_time(r.array()?, ctx.offset_minutes);
            acc.status.ignition = Some(r.u8()? > 0);
            let n = r.remaining().saturating_sub(12);
            let data = String::from_utf8_lossy(r.bytes(n)?).into_owned();
            for pair in data.split(',') {
                let mut it = pair.split('=');
                let (Some(k), Some(v)) = (it.next(), it.next()) else {
                    continue;
                };
                let Some(id) = k.get(..2).and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                    continue;
                };
                let num = i64::from_str_radix(v, 16).ok().map(|x| x as f64 * 0.01);
                match (id, num) {
                    (40, Some(x)) => acc.float("odometer", x),
                    (43, Some(x)) => acc.float("fuel", x),
                    (45, Some(x)) => acc.float("coolantTemp", x),
                    (53, Some(x)) => acc.float("obdSpeed", x),
                    (54, Some(x)) => acc.float("rpm", x),
                    (71, Some(x)) => acc.float("fuelUsed", x),
                    (73, Some(x)) => acc.float("hours", x),
                    (74, _) => acc.text("vin", v.to_string()),
                    _ => {}
                }
            }
        }
        MSG_GPS_MODULAR => {
            decode_modular(&mut r, &mut acc)?;
            ack = Some(Gt06Outbound::Ack {
                protocol: kind,
                serial,
            });
        }
        MSG_MULTIMEDIA => {
            return Ok(FrameOut::new(
                DeviceMessage::Other {
                    kind: u32::from(kind),
                },
                Some(Gt06Outbound::LongAck {
                    protocol: kind,
                    serial,
                }),
            ));
        }
        MSG_SERIAL => {
            r.skip(1)?;
            let data = r.rest();
            let printable = data
                .iter()
                .all(|b| (0x20..0x7F).contains(b) || b.is_ascii_whitespace());
            let value = if printable {
                String::from_utf8_lossy(data).trim().to_string()
            } else {
                hex_string(data)
            };
            acc.text("result", value);
        }
        MSG_PERIPHERAL => {
            let ts = r.u32()?;
            acc.time = DateTime::from_timestamp(i64::from(ts), 0);
            while r.remaining() > 0 {
                let id = r.u16()?;
                match id {
                    0x000A => {
                        let len = usize::from(r.u16()?);
                        r.skip(1)?;
                        acc.text("mac", hex_string(r.bytes(6)?));
                        let event = r.u8()?;
                        acc.int("event", i64::from(event));
                        let event_data = r.u8()?;
                        if event > 0 {
                            acc.int("eventData", i64::from(event_data));
                        }
                        acc.int("dataType", i64::from(r.u8()?));
                        let details = r.bytes(len.saturating_sub(10))?;
                        acc.text("dataDetails", hex_string(details));
                    }
                    0x000C => {
                        r.skip(1)?;
                        acc.int("externalBatteryLevel", i64::from(r.u8()?));
                        if r.u8()? > 0 {
                            acc.set("externalBatteryCharge", AttrValue::Bool(true));
                        }
                        acc.int("externalBatteryCycles", i64::from(r.u16()?));
                        r.skip(6)?;
                    }
                    _ => {
                        let len = usize::from(r.u8()?);
                        let n = if len == 0 { usize::from(r.u8()?) } else { len };
                        r.skip(n)?;
                    }
                }
            }
            ack = Some(Gt06Outbound::Ack {
                protocol: kind,
                serial,
            });
        }
        MSG_GPS_LBS_8 => {
            read_gps(&mut r, &mut acc, GPS_STANDARD, ctx)?;
            r.skip(2)?;
            read_lbs(&mut r, &mut acc, kind, false, Variant::Standard)?;
        }
        MSG_POWER => {
            let ts = r.u32()?;
            acc.time = DateTime::from_timestamp(i64::from(ts), 0);
            while r.remaining() >= 3 {
                let id = r.u16()?;
                let len = usize::from(r.u8()?);
                let value = r.bytes(len.min(r.remaining()))?;
                if id == 0x0005 && value.len() == 2 {
                    acc.status.power_voltage =
                        Some(f32::from(u16::from_be_bytes([value[0], value[1]])) * 0.01);
                }
            }
        }
        _ => {
            return Ok(FrameOut::new(
                DeviceMessage::Other {
                    kind: u32::from(kind),
                },
                None,
            ));
        }
    }
    Ok(FrameOut::new(acc.into_message(), ack))
}

/// 0x94 information transfer; `Ok(false)` for sub-types Vigil does not use.
fn decode_info(
    r: &mut Reader<'_>,
    acc: &mut Acc,
    length: u16,
    ctx: &Ctx,
) -> Result<bool, ProtocolError> {
    let sub = r.u8()?;
    match sub {
        0x00 => acc.float("adc1", f64::from(r.u16()?) * 0.01),
        0x04 => {
            let text = String::from_utf8_lossy(r.rest()).into_owned();
            for item in text.split(';') {
                let mut it = item.split('=');
                let (Some(k), Some(v)) = (it.next(), it.next()) else {
                    continue;
                };
                let Ok(value) = i64::from_str_radix(v.trim(), 16) else {
                    continue;
                };
                match k {
                    "ALM1" => acc.int("alarm1Status", value),
                    "ALM2" => acc.int("alarm2Status", value),
                    "ALM3" => acc.int("alarm3Status", value),
                    "STA1" => acc.int("otherStatus", value),
                    "DYD" => acc.int("engineStatus", value),
                    _ => {}
                }
                if k.starts_with("ALM") {
                    // traccar falls through to STA1 here
                    acc.int("otherStatus", value);
                }
            }
        }
        0x05 => {
            if r.remaining() >= 7 {
                acc.time = local_time(r.array()?, ctx.offset_minutes);
            }
            let flags = r.u8()?;
            acc.status.door_open = Some(flags & 0x01 != 0);
            acc.set("io1", AttrValue::Bool(flags & 0x04 != 0));
        }
        0x0A => {
            r.skip(16)?;
            let iccid: String = hex_string(r.bytes(10)?)
                .chars()
                .filter(|c| *c != 'f')
                .collect();
            acc.text("iccid", iccid);
        }
        0x0B => match length.saturating_sub(6) {
            1 => acc.text(
                "networkTechnology",
                if r.u8()? > 0 { "4G" } else { "2G" }.to_string(),
            ),
            2 => acc.status.power_voltage = Some(f32::from(r.u16()?) / 100.0),
            _ => return Ok(false),
        },
        0x0D => {
            let mut data = r.rest();
            if data.first() != Some(&b'!') {
                data = data.get(6..).unwrap_or(&[]);
            }
            let text = String::from_utf8_lossy(data);
            let fields: Vec<&str> = text.split(',').collect();
            if fields.first() != Some(&"!AIOIL") || fields.len() < 7 {
                return Ok(false);
            }
            let (Ok(temp), Ok(fuel)) = (fields[3].parse::<f64>(), fields[6].parse::<f64>()) else {
                return Ok(false);
            };
            acc.float("temp1", temp);
            acc.float("fuel", fuel);
        }
        0x1B => {
            if r.rest().first().is_some_and(|b| b.is_ascii_alphabetic()) {
                let text = String::from_utf8_lossy(r.rest()).trim().to_string();
                acc.text("serial", text);
            } else {
                r.skip(2)?;
                acc.text("driverUniqueId", hex_string(r.bytes(4)?));
            }
        }
        0x1E => {
            acc.float("temp1", f64::from(r.i32()?) / 10.0);
            acc.float("humidity", f64::from(r.i32()?) / 10.0);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn decode_modular(r: &mut Reader<'_>, acc: &mut Acc) -> Result<(), ProtocolError> {
    while r.remaining() > 0 {
        let module = r.u16()?;
        let len = usize::from(r.u16()?);
        let body = r.bytes(len.min(r.remaining()))?;
        let mut m = Reader::new(body, "gt06 0x70 module");
        match module {
            0x01 => {
                let imei = hex_string(m.bytes(8)?);
                acc.text("imei", imei.trim_start_matches('0').to_string());
            }
            0x2C => acc.time = DateTime::from_timestamp(i64::from(m.u32()?), 0),
            0x03 => acc.text("iccid", hex_string(m.bytes(10)?)),
            0x09 => acc.satellites = Some(m.u8()?),
            0x0A => acc.int("satVisible", i64::from(m.u8()?)),
            0x11 => {
                let mcc = m.u16()?;
                let mnc = m.u16()?;
                let lac = u32::from(m.u16()?);
                let cell_id = u64::from(m.u24()?);
                if cell_id > 0 {
                    acc.cell = Some(CellTower {
                        mcc,
                        mnc,
                        lac,
                        cell_id,
                    });
                }
            }
            0x18 => acc.status.battery_voltage = Some(f32::from(m.u16()?) * 0.01),
            0x28 => acc.float("hdop", f64::from(m.u8()?) * 0.1),
            0x29 => acc.int("index", i64::from(m.u32()?)),
            0x2A => {
                let input = m.u8()?;
                acc.status.door_open = Some(input & 0x0F > 0);
                acc.set("tamper", AttrValue::Bool(input >> 4 > 0));
            }
            0x2B => acc.int("bootReason", i64::from(m.u8()?)),
            0x2E => acc.odometer = Some(u64::from(u32::from_le_bytes(m.array()?))),
            0x33 => {
                let ts = m.u32()?;
                acc.satellites = Some(m.u8()?);
                acc.altitude = Some(f32::from(m.i16()?));
                let mut lat = f64::from(m.u32()?) / 60.0 / 30000.0;
                let mut lon = f64::from(m.u32()?) / 60.0 / 30000.0;
                let speed = f32::from(m.u8()?);
                let flags = m.u16()?;
                if flags & (1 << 10) == 0 {
                    lat = -lat;
                }
                if flags & (1 << 11) != 0 {
                    lon = -lon;
                }
                // A module of zeros (time 0 = 1970, at 0,0) is a receiver without a fix, not a
                // fix: the frame stays a status report with its other modules.
                let time = match ts {
                    0 => None,
                    ts => DateTime::from_timestamp(i64::from(ts), 0),
                };
                if time.is_some() {
                    acc.time = time;
                }
                if let (Some(time), Ok(location)) = (time, LatLon::new(lat, lon)) {
                    acc.fix = Some(Fix {
                        time,
                        location,
                        valid: flags & (1 << 12) != 0,
                        speed_kmh: speed,
                        course: f32::from(flags & 0x03FF),
                    });
                }
            }
            0x34 => {
                let event = m.u8()?;
                let alarm = match event {
                    0x10 => Some(Alarm::Door),
                    0x12 => Some(Alarm::Removing),
                    0x14 => Some(Alarm::GeofenceEnter),
                    0x15 => Some(Alarm::GeofenceExit),
                    0x16 => Some(Alarm::Temperature),
                    0x1A => Some(Alarm::LowBattery),
                    0x1B => Some(Alarm::Overspeed),
                    0x1C => Some(Alarm::PowerOn),
                    0x1D => Some(Alarm::PowerOff),
                    0x20 => Some(Alarm::Vibration),
                    0x21 => Some(Alarm::PowerCut),
                    0x23 => Some(Alarm::Tampering),
                    _ => None,
                };
                if let Some(a) = alarm {
                    acc.alarm(a);
                }
                acc.int("event", i64::from(event));
            }
            0x7F => {
                acc.text("tag1Id", hex_string(m.bytes(6)?));
                acc.float("tag1Battery", f64::from(m.u16()?) / 1000.0);
                acc.int("tag1BatteryLevel", i64::from(m.u8()?));
                acc.float("tag1Temp", f64::from(m.i16()?) / 10.0);
                acc.int("tag1Humidity", i64::from(m.i16()?));
                acc.int("tag1Status", i64::from(m.u8()?));
            }
            _ => {}
        }
    }
    Ok(())
}

/// "Current position!Lat:N22.5,Lon:E114.0,Course:0.00,Speed:0.00,DateTime:2020-01-01 00:00:00".
fn parse_location_reply(text: &str) -> Option<Position> {
    let rest = text.strip_prefix("Current position!")?;
    let mut lat = None;
    let mut lon = None;
    let mut course = None;
    let mut speed = None;
    let mut time = None;
    for part in rest.split(',') {
        let (k, v) = part.split_once(':')?;
        let v = v.trim();
        let hemi = |v: &str| -> Option<f64> {
            let (h, n) = v.split_at_checked(1)?;
            let n: f64 = n.parse().ok()?;
            Some(if h == "S" || h == "W" { -n } else { n })
        };
        match k.trim() {
            "Lat" => lat = hemi(v),
            "Lon" => lon = hemi(v),
            "Course" => course = v.parse::<f32>().ok(),
            "Speed" => speed = v.parse::<f32>().ok(),
            "DateTime" => {
                let full = part.split_once(':').map(|x| x.1.trim())?;
                time = chrono::NaiveDateTime::parse_from_str(full, "%Y-%m-%d %H:%M:%S")
                    .ok()
                    .map(|t| t.and_utc());
            }
            _ => {}
        }
    }
    let location = LatLon::new(lat?, lon?).ok()?;
    let mut p = Position::new(time?, location, true, speed.unwrap_or(0.0));
    p.course = course;
    Some(p)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    /// The chrono formula `local_time` short-cuts.
    fn reference(b: [u8; 6], offset_minutes: i32) -> Option<DateTime<Utc>> {
        let t = NaiveDate::from_ymd_opt(2000 + i32::from(b[0]), u32::from(b[1]), u32::from(b[2]))?
            .and_hms_opt(u32::from(b[3]), u32::from(b[4]), u32::from(b[5]))?
            .and_utc();
        t.checked_sub_signed(Duration::minutes(i64::from(offset_minutes)))
    }

    #[test]
    fn local_time_matches_chrono_arithmetic() {
        let offsets = [
            0, 1, -1, 60, -60, 330, -330, 480, -720, 840, 1439, -1439, 32767, -32768,
        ];
        let dates = [
            [24, 5, 1],
            [0, 1, 1],
            [0, 2, 29],
            [1, 2, 29],
            [23, 12, 31],
            [99, 12, 31],
            [255, 12, 31],
            [24, 13, 1],
            [24, 0, 1],
            [24, 4, 31],
            [24, 4, 0],
        ];
        let times = [
            [0, 0, 0],
            [23, 59, 59],
            [12, 30, 0],
            [0, 5, 0],
            [24, 0, 0],
            [0, 60, 0],
            [0, 0, 60],
            [255, 255, 255],
        ];
        for offset in offsets {
            for [y, mo, d] in dates {
                for [h, mi, s] in times {
                    let b = [y, mo, d, h, mi, s];
                    assert_eq!(
                        local_time(b, offset),
                        reference(b, offset),
                        "{b:?} {offset}"
                    );
                }
            }
        }
    }
}
