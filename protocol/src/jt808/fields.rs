//! Writing decoded values into the model: typed fields where Vigil has one, vendor attributes
//! (Traccar's key names) otherwise. Only the attribute path allocates.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};

use crate::{Alarm, AttrValue, Attribute, CellTower, LatLon, Position};

/// Collects what one message says into a [`Position`].
pub(crate) struct Out<'a> {
    pub p: &'a mut Position,
}

impl Out<'_> {
    /// Sets a numeric value by Traccar key.
    pub fn num(&mut self, key: &'static str, v: f64) {
        let s = &mut self.p.status;
        match key {
            "power" => s.power_voltage = Some(v as f32),
            "battery" => s.battery_voltage = Some(v as f32),
            "batteryLevel" if (0.0..=255.0).contains(&v) && v.fract() == 0.0 => {
                s.battery_level = Some(v as u8)
            }
            "rssi" if (0.0..=255.0).contains(&v) => s.gsm_signal = Some(v as u8),
            "sat" if (0.0..=255.0).contains(&v) => self.p.satellites = Some(v as u8),
            "odometer" if v >= 0.0 => self.p.odometer_m = Some(v as u64),
            _ => {
                let value = if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    AttrValue::Int(v as i64)
                } else {
                    AttrValue::Float(v)
                };
                self.attr(Cow::Borrowed(key), value)
            }
        }
    }

    /// Sets a boolean by Traccar key.
    pub fn flag(&mut self, key: &'static str, v: bool) {
        let s = &mut self.p.status;
        match key {
            "ignition" => s.ignition = Some(v),
            "charge" => s.charging = Some(v),
            "blocked" => s.output_cut = Some(v),
            "door" => s.door_open = Some(v),
            "armed" => s.armed = Some(v),
            _ => self.attr(Cow::Borrowed(key), AttrValue::Bool(v)),
        }
    }

    /// Sets a text attribute.
    pub fn text(&mut self, key: impl Into<Cow<'static, str>>, v: impl Into<String>) {
        self.attr(key.into(), AttrValue::Text(v.into()))
    }

    /// Sets a numeric attribute under a computed key (`temp1`, `lock2Battery`, …).
    pub fn num_at(&mut self, key: String, v: f64) {
        let value = if v.fract() == 0.0 && v.abs() < 9.0e15 {
            AttrValue::Int(v as i64)
        } else {
            AttrValue::Float(v)
        };
        self.attr(Cow::Owned(key), value)
    }

    /// Sets a boolean attribute under a computed key.
    pub fn flag_at(&mut self, key: String, v: bool) {
        self.attr(Cow::Owned(key), AttrValue::Bool(v))
    }

    fn attr(&mut self, key: Cow<'static, str>, value: AttrValue) {
        if let Some(a) = self.p.attributes.iter_mut().find(|a| a.key == key) {
            a.value = value;
        } else {
            self.p.attributes.push(Attribute { key, value });
        }
    }

    /// Raises an alarm.
    pub fn alarm(&mut self, a: Alarm) {
        self.p.status.alarms.insert(a);
    }

    /// Records the serving cell (the first one reported wins).
    pub fn cell(&mut self, mcc: u16, mnc: u16, lac: u32, cell_id: u64) {
        if self.p.cell.is_none() {
            self.p.cell = Some(CellTower {
                mcc,
                mnc,
                lac,
                cell_id,
            });
        }
    }
}

/// A position with no fix yet (for messages that carry only state).
pub(crate) fn blank_position() -> Position {
    Position::new(
        DateTime::<Utc>::UNIX_EPOCH,
        LatLon { lat: 0.0, lon: 0.0 },
        false,
        0.0,
    )
}

/// Decodes a packed-BCD byte (0..=99), `None` on an invalid nibble.
pub(crate) fn bcd_byte(b: u8) -> Option<u32> {
    let (hi, lo) = (b >> 4, b & 0x0F);
    (hi <= 9 && lo <= 9).then_some((hi * 10 + lo) as u32)
}

/// A local date-time `(year since 2000, month, day, hour, minute, second)` shifted to UTC by
/// `offset_minutes` (the device's zone, east positive).
pub(crate) fn local_time(fields: [u32; 6], offset_minutes: i32) -> Option<DateTime<Utc>> {
    let [y, mo, d, h, mi, s] = fields;
    let naive = NaiveDate::from_ymd_opt(2000 + y as i32, mo, d)?.and_hms_opt(h, mi, s)?;
    let utc = naive.checked_sub_signed(chrono::Duration::minutes(offset_minutes as i64))?;
    Some(utc.and_utc())
}

/// BCD `YY MM DD hh mm ss` in the device zone → UTC.
pub(crate) fn bcd_time(raw: [u8; 6], offset_minutes: i32) -> Option<DateTime<Utc>> {
    let mut f = [0u32; 6];
    for (slot, b) in f.iter_mut().zip(raw) {
        *slot = bcd_byte(b)?;
    }
    local_time(f, offset_minutes)
}

/// When a terminal sends an impossible date (all zeros is common before the first fix), the
/// position keeps this placeholder and is marked invalid.
pub(crate) fn placeholder_time(offset_minutes: i32) -> DateTime<Utc> {
    local_time([0, 1, 1, 0, 0, 0], offset_minutes).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0F) as usize] as char);
    }
    s
}

/// Single-byte text as traccar reads its "ASCII" fields (Netty maps each byte to the char of
/// the same code, so bytes above 0x7F survive as Latin-1).
pub(crate) fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Trims control characters and spaces at both ends (Java's `String.trim`).
pub(crate) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Whether every byte is printable ASCII.
pub(crate) fn printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..0x7F).contains(b))
}

/// GBK text (the JT808 `STRING` type), NULs and padding trimmed.
pub(crate) fn gbk(bytes: &[u8]) -> String {
    let (text, _, _) = encoding_rs::GBK.decode(bytes);
    text.trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string()
}
