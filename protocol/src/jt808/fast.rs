//! A direct decoder for the plain 0x0200 location report that nearly all traffic consists of:
//! fixed header and body fields read at constant offsets and written straight into the
//! returned [`Decoded`], skipping the general path's header struct, reader, accumulator and
//! per-frame calendar arithmetic.
//!
//! It answers only when the general path ([`super::decode::decode_frame`]) would produce a plain
//! position with the same value, and declines (`None`) everything else: another message id,
//! sub-packages, encryption, a check-code or length mismatch, an invalid time or coordinate,
//! additional items outside the few typed ones below (anything that would become an attribute),
//! the G1C Pro dialect (its status bit 4 is an attribute). A unit property test checks it
//! against the general decoder.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::{Decoded, DeviceId, DeviceMessage, DeviceStatus, LatLon, Position};

use super::dialect::Dialect;
use super::fields::bcd_byte;
use super::frame::{FLAG, xor};
use super::header::Terminal;
use super::location::Ctx;
use super::{AckResult, Outbound, OutboundBody, msg};

/// Per-connection memory that makes repeated work free: a device reports the same terminal
/// address on every frame and the same date for hours.
#[derive(Debug, Clone, Default)]
pub(crate) struct FastCache {
    /// The last terminal address and the device id it spells.
    device: Option<(Terminal, DeviceId)>,
    /// The last valid BCD `YY MM DD` and its date.
    date: Option<([u8; 3], NaiveDate)>,
}

impl FastCache {
    /// `terminal.device_id()`, remembered (`None` where that fails).
    #[inline]
    fn device_id(&mut self, terminal: &Terminal) -> Option<DeviceId> {
        if let Some((seen, id)) = &self.device
            && seen == terminal
        {
            return Some(*id);
        }
        self.device_id_slow(terminal)
    }

    /// The device id of the terminal of the last frame the direct path accepted.
    #[inline(always)]
    pub(crate) fn last_device(&self) -> Option<DeviceId> {
        self.device.as_ref().map(|(_, id)| *id)
    }

    #[cold]
    #[inline(never)]
    fn device_id_slow(&mut self, terminal: &Terminal) -> Option<DeviceId> {
        let id = terminal.device_id().ok()?;
        self.device = Some((*terminal, id));
        Some(id)
    }

    /// The date of BCD `YY MM DD` (20YY), remembered.
    #[inline]
    fn date(&mut self, bcd: [u8; 3]) -> Option<NaiveDate> {
        if let Some((seen, date)) = self.date
            && seen == bcd
        {
            return Some(date);
        }
        let [y, m, d] = bcd;
        let date = NaiveDate::from_ymd_opt(2000 + bcd_byte(y)? as i32, bcd_byte(m)?, bcd_byte(d)?)?;
        self.date = Some((bcd, date));
        Some(date)
    }
}

/// `date` at local BCD `hh mm ss`, shifted to UTC by `offset_minutes` (east positive).
///
/// Same value as [`super::fields::local_time`] (`and_hms_opt` then `checked_sub_signed`), but
/// a shift that lands on the same or a neighbouring day is built directly.
#[inline]
fn time_on(date: NaiveDate, hms: [u8; 3], offset_minutes: i32) -> Option<DateTime<Utc>> {
    let [h, m, s] = hms;
    let (h, m, s) = (bcd_byte(h)?, bcd_byte(m)?, bcd_byte(s)?);
    if h >= 24 || m >= 60 || s >= 60 {
        return None;
    }
    let of_day = (h * 3600 + m * 60 + s) as i64;
    let shifted = of_day - offset_minutes as i64 * 60;
    let (date, secs) = match shifted {
        0..86_400 => (date, shifted),
        -86_400..0 => (date.pred_opt()?, shifted + 86_400),
        86_400..172_800 => (date.succ_opt()?, shifted - 86_400),
        _ => {
            return date
                .and_hms_opt(h, m, s)?
                .checked_sub_signed(Duration::minutes(offset_minutes as i64))
                .map(|t| t.and_utc());
        }
    };
    let time = NaiveTime::from_num_seconds_from_midnight_opt(secs as u32, 0)?;
    Some(date.and_time(time).and_utc())
}

/// Header bytes before the body: id, properties, phone BCD[6], serial (2013) …
const HEADER_2013: usize = 12;
/// … or id, properties, version, phone BCD[10], serial (2019).
const HEADER_2019: usize = 17;
/// Alarm, status, latitude, longitude, altitude, speed, course, BCD time.
const FIXED_BODY: usize = 28;

/// Properties bits that send a frame to the general path: encryption (10–12), sub-package (13).
const PROPS_GENERAL: u16 = 0x3C00;
/// Properties bit 14: 2019 header with a version byte.
const PROPS_2019: u16 = 0x4000;

/// The fields of a plain 0x0200 report, before they are laid out as a [`Decoded`]: kept apart
/// so that the caller builds the (300-byte) `Decoded` once, in its return slot, only after the
/// direct path has accepted the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlainFix {
    /// Who sent it (the codec remembers it for replies).
    pub terminal: Terminal,
    serial: u16,
    time: DateTime<Utc>,
    location: LatLon,
    valid: bool,
    speed_kmh: f32,
    course: f32,
    altitude_m: f32,
    satellites: Option<u8>,
    odometer_m: Option<u64>,
    status: DeviceStatus,
}

impl PlainFix {
    /// The decoded frame, `device` being the id of [`PlainFix::terminal`].
    #[inline(always)]
    pub(crate) fn into_decoded(self, device: Option<DeviceId>) -> Decoded<Outbound> {
        Decoded {
            device,
            message: DeviceMessage::Position(Position {
                time: self.time,
                location: self.location,
                valid: self.valid,
                speed_kmh: self.speed_kmh,
                course: Some(self.course),
                altitude_m: Some(self.altitude_m),
                satellites: self.satellites,
                accuracy_m: None,
                odometer_m: self.odometer_m,
                cell: None,
                archived: false,
                status: self.status,
                attributes: Vec::new(),
            }),
            ack: Some(Outbound {
                terminal: self.terminal,
                serial: None,
                body: OutboundBody::GeneralResponse {
                    reply_serial: self.serial,
                    reply_id: msg::LOCATION,
                    result: AckResult::Success,
                },
            }),
        }
    }
}

/// Reads `frame` (un-escaped, `7E … 7E`) when it is a plain 0x0200 location report; see the
/// module docs for what it declines. On success the sender's device id is
/// [`FastCache::last_device`].
#[inline(always)]
pub(crate) fn plain_location(frame: &[u8], ctx: Ctx, cache: &mut FastCache) -> Option<PlainFix> {
    let [FLAG, content @ .., FLAG] = frame else {
        return None;
    };
    let (&received, checked) = content.split_last()?;
    let [0x02, 0x00, p0, p1, ..] = *checked else {
        return None;
    };
    let properties = u16::from_be_bytes([p0, p1]);
    if properties & PROPS_GENERAL != 0 {
        return None;
    }
    let (terminal, serial, body) = if properties & PROPS_2019 == 0 {
        let (head, body) = checked.split_first_chunk::<HEADER_2013>()?;
        let [_, _, _, _, id @ .., s0, s1] = head;
        (Terminal::from_array(None, id), [*s0, *s1], body)
    } else {
        let (head, body) = checked.split_first_chunk::<HEADER_2019>()?;
        let [_, _, _, _, version, id @ .., s0, s1] = head;
        (Terminal::from_array(Some(*version), id), [*s0, *s1], body)
    };
    if body.len() != (properties & 0x03FF) as usize || xor(checked) != received {
        return None;
    }
    let (fixed, mut items) = body.split_first_chunk::<FIXED_BODY>()?;
    if ctx.dialect == Dialect::G1cPro {
        return None;
    }
    cache.device_id(&terminal)?;

    let be32 = |i: usize| u32::from_be_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
    let be16 = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
    let alarm_word = be32(0);
    let status_word = be32(4);
    let mut lat = be32(8) as f64 / 1_000_000.0;
    let mut lon = be32(12) as f64 / 1_000_000.0;
    if status_word & 4 != 0 {
        lat = -lat;
    }
    if status_word & 8 != 0 {
        lon = -lon;
    }
    let location = LatLon::new(lat, lon).ok()?;
    let date = cache.date([fixed[22], fixed[23], fixed[24]])?;
    let time = time_on(
        date,
        [fixed[25], fixed[26], fixed[27]],
        ctx.utc_offset_minutes,
    )?;

    // What `location::apply_status` sets, for every dialect but G1C Pro.
    let mut status = DeviceStatus {
        ignition: Some(status_word & 1 != 0),
        output_cut: Some(status_word & (3 << 10) != 0),
        charging: Some(status_word & (1 << 26) != 0),
        door_open: (ctx.dialect == Dialect::Mv710g).then_some(status_word & (1 << 16) != 0),
        alarms: if alarm_word == 0 {
            crate::AlarmSet::EMPTY
        } else {
            ctx.dialect.alarms(alarm_word)
        },
        ..DeviceStatus::default()
    };
    let mut odometer_m = None;
    let mut satellites = None;
    // The items `location::item` maps to typed fields only, at the lengths it reads in full;
    // anything else (and a chain that does not end exactly at the body's end) goes the
    // general way.
    while let [item_id, len, rest @ ..] = items {
        let (value, next) = rest.split_at_checked(*len as usize)?;
        match (*item_id, value) {
            (0x01, &[a, b, c, d]) => {
                odometer_m = Some(u32::from_be_bytes([a, b, c, d]) as u64 * 100);
            }
            (0x30, &[v]) => status.gsm_signal = Some(v),
            (0x31, &[v]) => satellites = Some(v),
            (0x69, &[a, b]) => {
                status.battery_voltage = Some((u16::from_be_bytes([a, b]) as f64 / 100.0) as f32)
            }
            (0xD4 | 0xE1, &[0xFF]) => status.charging = Some(true),
            (0xD4 | 0xE1, &[level]) => status.battery_level = Some(level),
            (0xE1, &[a, b]) => {
                status.power_voltage = Some((u16::from_be_bytes([a, b]) as f64 / 10.0) as f32)
            }
            _ => return None,
        }
        items = next;
    }
    if !items.is_empty() {
        return None;
    }
    Some(PlainFix {
        terminal,
        serial: u16::from_be_bytes(serial),
        time,
        location,
        valid: status_word & 2 != 0,
        speed_kmh: be16(18) as f32 / 10.0,
        course: be16(20) as f32,
        altitude_m: be16(16) as i16 as f32,
        satellites,
        odometer_m,
        status,
    })
}
