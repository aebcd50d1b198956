//! The `$` binary record: BCD id, time, coordinates, speed and course, then the status word.

use chrono::{NaiveDate, NaiveTime};

use super::status::apply_status;
use super::text::{AckKind, Out};
use super::{H02Config, MsgType};
use crate::read::{Reader, bcd_value};
use crate::{
    AttrValue, Attribute, DeviceId, DeviceMessage, DeviceStatus, LatLon, Position, ProtocolError,
    StatusReport,
};

const WHAT: &str = "h02 binary";

fn bad(detail: &'static str) -> ProtocolError {
    ProtocolError::malformed(WHAT, detail)
}

/// The id as its hex digits (leading zeros kept, so it matches the text form's id); the
/// 8-byte form holds a 15-digit IMEI and one padding nibble.
fn device_id(raw: &[u8], digits: usize) -> Result<DeviceId, ProtocolError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 16];
    for (i, b) in raw.iter().enumerate().take(8) {
        if let Some(pair) = text.get_mut(i * 2..i * 2 + 2) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0x0F)];
        }
    }
    let id = text.get(..digits.min(raw.len() * 2)).unwrap_or(&[]);
    std::str::from_utf8(id)
        .ok()
        .and_then(|s| DeviceId::parse(s).ok())
        .ok_or_else(|| bad("bad device id"))
}

fn bcd2(r: &mut Reader<'_>) -> Result<u32, ProtocolError> {
    Ok(r.bcd(1)? as u32)
}

/// Battery byte as traccar reads it: 1..=6 are steps, up to 100 a percentage, 0xF1..=0xF6 1..=6 %.
fn battery_level(v: u8) -> Option<u8> {
    match v {
        0 => None,
        1..=3 => Some((v - 1) * 10),
        4..=6 => Some((v - 1) * 20),
        7..=100 => Some(v),
        0xF1..=0xF6 => Some(v - 0xF0),
        _ => None,
    }
}

/// Decodes one record whose id takes `id_len` bytes (5, or 8 for the 42-byte IMEI form).
pub(crate) fn decode(
    frame: &[u8],
    id_len: usize,
    config: &H02Config,
) -> Result<Out, ProtocolError> {
    let mut r = Reader::new(frame, WHAT);
    if r.u8()? != b'$' {
        return Err(bad("no $ marker"));
    }
    let id_raw = r.bytes(id_len)?;
    let device = device_id(id_raw, if id_len == 8 { 15 } else { id_len * 2 })?;
    let (h, mi, s) = (bcd2(&mut r)?, bcd2(&mut r)?, bcd2(&mut r)?);
    let (d, mo, y) = (bcd2(&mut r)?, bcd2(&mut r)?, bcd2(&mut r)?);
    let time = NaiveDate::from_ymd_opt(2000 + y as i32, mo, d)
        .zip(NaiveTime::from_hms_opt(h, mi, s))
        .map(|(date, time)| date.and_time(time).and_utc())
        .ok_or_else(|| bad("bad date or time"))?;

    // Latitude: DD MM.MMMM as 8 BCD digits.
    let lat_digits = r.bcd(4)?;
    let lat = (lat_digits / 1_000_000) as f64 + (lat_digits % 1_000_000) as f64 / 10_000.0 / 60.0;
    let battery = r.u8()?;
    // Longitude: DDD MM.MMMM as 9 BCD digits, then the flags nibble.
    let lon_raw = r.bytes(5)?;
    let lon_digits = lon_raw
        .get(..4)
        .and_then(bcd_value)
        .zip(lon_raw.get(4).map(|b| b >> 4).filter(|n| *n <= 9))
        .map(|(hi, lo)| hi * 10 + u64::from(lo))
        .ok_or_else(|| bad("bad longitude BCD"))?;
    let flags = lon_raw.get(4).map_or(0, |b| b & 0x0F);
    let lon = (lon_digits / 1_000_000) as f64 + (lon_digits % 1_000_000) as f64 / 10_000.0 / 60.0;
    let valid = flags & 0x02 != 0;
    let lat = if flags & 0x04 != 0 { lat } else { -lat };
    let lon = if flags & 0x08 != 0 { lon } else { -lon };

    // Speed: 3 BCD digits; course: one nibble of hundreds then two BCD digits.
    let sc = r.bytes(3)?;
    let speed_digits = sc
        .first()
        .and_then(|b| bcd_value(std::slice::from_ref(b)))
        .zip(sc.get(1).map(|b| b >> 4).filter(|n| *n <= 9))
        .map(|(hi, lo)| hi * 10 + u64::from(lo))
        .ok_or_else(|| bad("bad speed BCD"))?;
    let course_hundreds = sc.get(1).map_or(0, |b| b & 0x0F);
    let course_rest = sc
        .get(2)
        .and_then(|b| bcd_value(std::slice::from_ref(b)))
        .ok_or_else(|| bad("bad course BCD"))?;
    let course = f32::from(course_hundreds) * 100.0 + course_rest as f32;
    let word = r.u32()?;

    let mut status = DeviceStatus {
        battery_level: battery_level(battery),
        ..DeviceStatus::default()
    };
    apply_status(word, config.dialect, config.ignition, &mut status);
    let mut attributes = Vec::new();
    if config.vendor_attributes {
        attributes.push(Attribute {
            key: "status".into(),
            value: AttrValue::Int(i64::from(word)),
        });
    }
    let fix = (lat != 0.0 || lon != 0.0)
        .then(|| LatLon::new(lat, lon).ok())
        .flatten();
    let message = match fix {
        Some(location) => {
            let speed = config.speed_unit.to_kmh(speed_digits as f64) as f32;
            let mut p = Position::new(time, location, valid, speed);
            p.course = Some(course);
            p.status = status;
            p.attributes = attributes;
            DeviceMessage::Position(p)
        }
        None => DeviceMessage::Status(StatusReport {
            time: Some(time),
            status,
            cell: None,
            attributes,
        }),
    };
    Ok(Out {
        maker: None,
        device: Some(device),
        msg_type: MsgType::new(b"V1"),
        message,
        ack: AckKind::R12,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn worked_vector() {
        let rec = hex(
            "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f",
        );
        let out = decode(&rec, 5, &H02Config::default()).unwrap();
        assert_eq!(out.device.unwrap().as_str(), "4106000826");
        let DeviceMessage::Position(p) = out.message else {
            panic!("not a position");
        };
        assert_eq!(p.time.to_rfc3339(), "2015-08-31T21:53:21+00:00");
        assert!((p.location.lat - 4.69898).abs() < 1e-5);
        assert!((p.location.lon + 74.06971).abs() < 1e-5);
        assert!(p.valid);
        assert_eq!(p.status.battery_level, Some(100));
    }

    #[test]
    fn short_and_non_bcd_records_are_errors() {
        let rec = hex(
            "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f",
        );
        assert!(decode(&rec[..20], 5, &H02Config::default()).is_err());
        let mut bad_bcd = rec.clone();
        bad_bcd[12] = 0xAB;
        assert!(decode(&bad_bcd, 5, &H02Config::default()).is_err());
        let mut bad_time = rec;
        bad_time[6] = 0x25;
        assert!(decode(&bad_time, 5, &H02Config::default()).is_err());
    }
}
