//! The 0x0200 location body (also inside 0x0201, 0x0500, 0x0704, 0x0210) and its additional
//! items, standard and vendor.

use crate::read::Reader;
use crate::{Alarm, LatLon, Position, ProtocolError};

use super::dialect::Dialect;
use super::fields::{
    Out, ascii, bcd_time, blank_position, hex, java_trim, placeholder_time, printable,
};

/// What decoding needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub dialect: Dialect,
    pub utc_offset_minutes: i32,
}

const WHAT: &str = "jt808 location";

/// Status word bits shared by the 0x0200 body and the 0x0900 transparent reports.
pub(crate) fn apply_status(out: &mut Out<'_>, ctx: Ctx, status: u32) {
    // Typed fields are written directly: this runs for every location frame.
    let s = &mut out.p.status;
    s.ignition = Some(status & 1 != 0);
    // Oil circuit (bit 10) or electric circuit (bit 11) cut: either immobilises the vehicle.
    s.output_cut = Some(status & (3 << 10) != 0);
    s.charging = Some(status & (1 << 26) != 0);
    if ctx.dialect == Dialect::Mv710g {
        s.door_open = Some(status & (1 << 16) != 0);
    }
    if ctx.dialect == Dialect::G1cPro {
        out.flag("motion", status & (1 << 4) != 0);
    }
    out.p.valid = status & 2 != 0;
}

/// Reads status, latitude and longitude (the sign bits live in the status word).
pub(crate) fn coordinates(
    r: &mut Reader<'_>,
    out: &mut Out<'_>,
    ctx: Ctx,
) -> Result<(), ProtocolError> {
    let status = r.u32()?;
    apply_status(out, ctx, status);
    let mut lat = r.u32()? as f64 / 1_000_000.0;
    let mut lon = r.u32()? as f64 / 1_000_000.0;
    if status & 4 != 0 {
        lat = -lat;
    }
    if status & 8 != 0 {
        lon = -lon;
    }
    out.p.location =
        LatLon::new(lat, lon).map_err(|e| ProtocolError::malformed(WHAT, e.to_string()))?;
    Ok(())
}

/// Decodes one location body. `trailer` is how many bytes after the body belong to the frame
/// (check code and flag) and are still in `body`: traccar's item loop and its 20-byte vendor
/// tail check count them, and the vectors depend on that.
pub(crate) fn decode(body: &[u8], ctx: Ctx, trailer: usize) -> Result<Position, ProtocolError> {
    let mut p = blank_position();
    let mut r = Reader::new(body, WHAT);
    let mut out = Out { p: &mut p };
    let alarm = r.u32()?;
    out.p.status.alarms = ctx.dialect.alarms(alarm);
    coordinates(&mut r, &mut out, ctx)?;
    out.p.altitude_m = Some(r.i16()? as f32);
    out.p.speed_kmh = r.u16()? as f32 / 10.0;
    out.p.course = Some(r.u16()? as f32);
    match bcd_time(r.array()?, ctx.utc_offset_minutes) {
        Some(t) => out.p.time = t,
        None => {
            out.p.time = placeholder_time(ctx.utc_offset_minutes);
            out.p.valid = false;
        }
    }
    // Traccar tests for 20 bytes left *including* the trailer when there is one.
    let items_len = r.remaining().saturating_sub(trailer);
    if r.remaining() == 20 && !is_item_chain(r.rest().get(..items_len).unwrap_or_default()) {
        // A vendor layout without items: battery/mileage, odometer, battery, area, rssi.
        r.skip(4)?;
        out.num("odometer", r.u32()? as f64 * 1000.0);
        out.num("battery", r.u16()? as f64 / 10.0);
        r.skip(4)?;
        out.num("rssi", r.u8()? as f64);
        return Ok(p);
    }
    items(&mut r, &mut out, ctx, trailer);
    Ok(p)
}

/// Whether `bytes` is exactly a sequence of `id, len, value` items (then a 20-byte tail is
/// items after all, not the itemless vendor layout traccar guesses from the length alone).
fn is_item_chain(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i + 2 <= bytes.len() {
        i += 2 + bytes[i + 1] as usize;
    }
    i == bytes.len()
}

/// The additional-item loop.
fn items(r: &mut Reader<'_>, out: &mut Out<'_>, ctx: Ctx, trailer: usize) {
    while r.remaining() > trailer {
        let (Ok(id), Ok(len)) = (r.u8(), r.u8()) else {
            return;
        };
        let len = len as usize;
        if id == 0x80 {
            // OBD extension: one content byte, then TLVs up to the end of the body.
            let rest = r.rest();
            let end = rest.len().saturating_sub(trailer);
            if let Some(ext) = rest.get(1..end) {
                extension(ext, out);
            }
            return;
        }
        let Ok(value) = r.bytes(len) else {
            return;
        };
        // A malformed vendor item is ignored rather than losing the whole fix.
        let _ = item(id, value, out, ctx);
    }
}

fn item(id: u8, v: &[u8], out: &mut Out<'_>, ctx: Ctx) -> Result<(), ProtocolError> {
    let len = v.len();
    let mut r = Reader::new(v, "jt808 additional item");
    let aovx = ctx.dialect == Dialect::Aovx;
    match id {
        0x01 => out.p.odometer_m = Some(r.u32()? as u64 * 100),
        0x02 => {
            let fuel = r.u16()?;
            if fuel & 0x8000 != 0 {
                out.num("fuel", (fuel & 0x7FFF) as f64)
            } else {
                out.num("fuel", fuel as f64 / 10.0)
            }
        }
        0x03 => out.num("obdSpeed", r.u16()? as f64 / 10.0),
        0x06 => out.num("batteryLevel", r.u8()? as f64),
        0x0B => {
            out.num("lockCommand", r.u8()? as f64);
            if (5..=6).contains(&len) {
                out.num("lockCard", r.u32()? as f64);
            } else if len >= 7 {
                out.text("lockPassword", ascii(r.bytes(6)?));
            }
            if len.is_multiple_of(2) {
                out.num("unlockResult", r.u8()? as f64);
            }
        }
        0x14 => out.num("videoAlarm", r.u32()? as f64),
        0x25 => out.num("input", r.u32()? as f64),
        0x2A => out.num("io", r.u16()? as f64),
        0x2B | 0xA7 => {
            out.num("adc1", r.u16()? as f64 / 100.0);
            out.num("adc2", r.u16()? as f64 / 100.0);
        }
        0x30 => out.p.status.gsm_signal = Some(r.u8()?),
        0x31 => out.p.satellites = Some(r.u8()?),
        0x33 => {
            if len == 1 {
                out.num("mode", r.u8()? as f64);
            } else if v.starts_with(b"*M00") {
                let digits = v.get(10..13).and_then(|d| std::str::from_utf8(d).ok());
                if let Some(n) = digits.and_then(|d| d.parse::<u32>().ok()) {
                    out.num("battery", n as f64 / 100.0);
                }
            }
        }
        0x51 if len == 2 || len == 16 => {
            for i in 1..=len / 2 {
                let t = r.u16()?;
                if t != 0xFFFF {
                    let c = (t & 0x7FFF) as f64 / 10.0;
                    out.num_at(format!("temp{i}"), if t & 0x8000 != 0 { -c } else { c });
                }
            }
        }
        0x56 => out.num("batteryLevel", r.u8()? as f64 * 10.0),
        0x57 => {
            let a = r.u16()?;
            if a & (1 << 8) != 0 {
                out.alarm(Alarm::HardAcceleration);
            }
            if a & (1 << 9) != 0 {
                out.alarm(Alarm::HardBraking);
            }
            if a & (1 << 10) != 0 {
                out.alarm(Alarm::HardCornering);
            }
            r.skip(2)?;
            let b = r.u32()?;
            if ctx.dialect == Dialect::Mv710g && b & (1 << 16) != 0 {
                out.alarm(Alarm::Door);
            }
        }
        0x60 => {
            let event = r.u16()?;
            out.num("event", event as f64);
            if (0x61..=0x66).contains(&event) {
                r.skip(6)?;
                out.text("driverUniqueId", ascii(r.bytes(8)?));
            }
        }
        0x63 => {
            for i in 1..=len / 11 {
                out.text(format!("lock{i}Id"), hex(r.bytes(6)?));
                out.num_at(format!("lock{i}Battery"), r.u16()? as f64 / 1000.0);
                out.flag_at(format!("lock{i}Seal"), r.u8()? == 0x31);
                r.skip(2)?;
            }
        }
        0x64 | 0x65 => {
            r.skip(5)?;
            let kind = r.u8()? as f64;
            out.num(if id == 0x64 { "adasAlarm" } else { "dmsAlarm" }, kind);
            if len >= 47 {
                out.text("alarmLabel", hex(&v[len - 16..]));
            }
        }
        0x67 => out.text("password", ascii(r.bytes(8)?)),
        0x68 => out.num("batteryLevel", r.u16()? as f64 / 100.0),
        0x69 => out.num("battery", r.u16()? as f64 / 100.0),
        0x70 => {
            r.skip(5)?;
            match r.u8()? {
                0x01 => out.alarm(Alarm::HardAcceleration),
                0x02 => out.alarm(Alarm::HardBraking),
                0x03 => out.alarm(Alarm::HardCornering),
                0x16 => out.alarm(Alarm::Accident),
                _ => {}
            }
        }
        0x77 => {
            while r.remaining() > 0 {
                let i = r.u8()?;
                out.text(format!("tire{i}SensorId"), hex(r.bytes(3)?));
                out.num_at(
                    format!("tire{i}Pressure"),
                    (r.u16()? & 0x03FF) as f64 / 40.0,
                );
                out.num_at(format!("tire{i}Temp"), r.u8()? as f64 - 50.0);
                out.num_at(format!("tire{i}Status"), r.u8()? as f64);
            }
        }
        0x82 => out.num("power", r.u16()? as f64 / 10.0),
        0x91 => {
            out.num("battery", r.u16()? as f64 / 10.0);
            out.num("rpm", r.u16()? as f64);
            out.num("obdSpeed", r.u8()? as f64);
            out.num("throttle", (r.u8()? as u32 * 100 / 255) as f64);
            out.num("engineLoad", (r.u8()? as u32 * 100 / 255) as f64);
            out.num("coolantTemp", r.u8()? as f64 - 40.0);
            r.skip(2)?;
            out.num("fuelConsumption", r.u16()? as f64 / 100.0);
            r.skip(8)?;
            out.num("fuelUsed", r.u16()? as f64 / 100.0);
        }
        0x94 if len > 0 => out.text("vin", ascii(v)),
        0xAC => out.num("odometer", r.u32()? as f64),
        0xBC => out.text("driver", java_trim(&ascii(v)).to_string()),
        0xBD => out.text("driverUniqueId", ascii(v)),
        0xD0 if r.u32()? & (1 << 3) != 0 => out.alarm(Alarm::Vibration),
        0xD3 => out.num("power", r.u16()? as f64 / 10.0),
        0xD4 | 0xE1 | 0xE9 => {
            if len == 1 {
                let level = r.u8()?;
                if level == 0xFF {
                    out.flag("charge", true);
                } else {
                    out.num("batteryLevel", level as f64);
                }
            } else if id == 0xE1 && len >= 12 && (len - 4).is_multiple_of(8) {
                let mcc = r.u16()?;
                let mnc = r.u16()?;
                while r.remaining() >= 8 {
                    let lac = r.u24()?;
                    let cid = r.u32()?;
                    r.skip(1)?;
                    if lac > 0 && lac <= 0xFFFF && cid <= 0x0FFF_FFFF {
                        out.cell(mcc, mnc, lac, cid as u64);
                    }
                }
            } else if id == 0xE1 && len == 2 {
                out.num("power", r.u16()? as f64 / 10.0);
            } else {
                out.text("driverUniqueId", r.u32()?.to_string());
            }
        }
        0xD5 => {
            if len == 2 {
                out.num("battery", r.u16()? as f64 / 100.0);
            } else {
                let count = r.u8()?;
                for i in 1..=count {
                    out.text(format!("lock{i}Id"), hex(r.bytes(5)?));
                    out.text(format!("lock{i}Card"), hex(r.bytes(5)?));
                    out.num_at(format!("lock{i}Battery"), r.u8()? as f64);
                    let status = r.u16()?;
                    out.flag_at(format!("lock{i}Locked"), status & (1 << 5) == 0);
                }
            }
        }
        0xDA => {
            r.skip(2)?;
            let s = r.u8()?;
            out.flag("string", s & 1 != 0);
            out.flag("motion", s & 4 != 0);
            out.flag("cover", s & 8 != 0);
        }
        0xE2 if ctx.dialect != Dialect::Dt800 => out.num("fuel", r.u32()? as f64 / 10.0),
        0xE3 => {
            r.skip(1)?;
            out.num("batteryLevel", r.u8()? as f64);
            out.num("battery", r.u16()? as f64 / 100.0);
        }
        0xE4 => {
            if r.u8()? == 0 {
                out.flag("charge", true);
            }
            out.num("batteryLevel", r.u8()? as f64);
        }
        0xE5 if len == 1 => out.flag("motion", r.u8()? == 1),
        0xE6 => {
            if v.starts_with(b"$OBD-RT") {
                obd_rt(&String::from_utf8_lossy(v), out);
            } else if len >= 11 && len.is_multiple_of(11) {
                while r.remaining() >= 11 {
                    let i = r.u8()?;
                    r.skip(6)?;
                    out.num_at(format!("temp{i}"), custom_double(&mut r)?);
                    out.num_at(format!("humidity{i}"), custom_double(&mut r)?);
                }
            }
        }
        0xE7 if len == 8 => {
            let a = r.u16()?;
            if a & 1 != 0 {
                out.alarm(Alarm::Vibration);
            }
            if (a >> 1) & 0x07 != 0 {
                out.alarm(Alarm::Sos);
            }
        }
        0xE8 => {
            if ctx.dialect == Dialect::Jimi {
                jimi_event(&mut r, out)?;
            } else {
                out.num("lockStatus", r.u24()? as f64);
            }
        }
        0xEA if len > 2 => {
            r.skip(1)?;
            while r.remaining() >= 2 {
                let t = r.u8()?;
                let l = r.u8()? as usize;
                let Ok(x) = r.bytes(l) else { break };
                let mut x = Reader::new(x, "jt808 0xEA item");
                match t {
                    0x11 => {
                        out.num("externalAlarms", x.u16()? as f64);
                        out.num("alarmThresholdType", x.u8()? as f64);
                    }
                    0x13 => out.num("externalIlluminance", x.u16()? as f64),
                    0x14 => out.num("externalAirPressure", x.u16()? as f64),
                    0x15 => out.num("externalHumidity", x.u16()? as f64 / 10.0),
                    0x16 => out.num("externalTemp", x.u16()? as f64 / 10.0 - 50.0),
                    _ => {}
                }
            }
        }
        0xEB => container_eb(v, out)?,
        0xED => out.text("card", java_trim(&ascii(v)).to_string()),
        0xEE if len == 6 => {
            out.num("rssi", r.u8()? as f64);
            out.num("power", r.u16()? as f64 / 1000.0);
            out.num("battery", r.u16()? as f64 / 1000.0);
            out.num("sat", r.u8()? as f64);
        }
        0xF0 => {
            while r.remaining() >= 13 {
                let mcc = r.u16()?;
                let mnc = r.u16()?;
                let cid = r.u32()?;
                let lac = r.u32()?;
                r.skip(1)?;
                out.cell(mcc, mnc, lac, cid as u64);
            }
        }
        0xF1 => out.num("power", r.u32()? as f64 / 1000.0),
        0xF2 => out.text("versionFw", ascii(v)),
        0xF3 => {
            if aovx {
                aovx_tags(&mut r, out)?;
            } else {
                obd_f3(&mut r, out)?;
            }
        }
        0xF5 if len == 2 => out.num("illuminance", r.u16()? as f64),
        0xF6 => {
            if !aovx && len == 2 {
                out.num("airPressure", r.u16()? as f64);
            } else if !aovx && len == 8 {
                let h = hex(v);
                out.text("imei", h.get(1..).unwrap_or_default().to_string());
            } else {
                let event = r.u8()?;
                out.num("event", event as f64);
                if event == 2 {
                    out.flag("motion", true);
                }
                let mask = r.u8()?;
                if mask & 1 != 0 {
                    out.num("lightSensor", r.u16()? as f64);
                }
                if mask & 2 != 0 {
                    out.num("temp1", r.i16()? as f64 / 10.0);
                }
                if mask & 4 != 0 {
                    out.num("humidity", r.i16()? as f64 / 10.0);
                }
                if mask & 8 != 0 {
                    let (x, y, z) = (r.i16()?, r.i16()?, r.i16()?);
                    out.text("gSensor", format!("[{x},{y},{z}]"));
                }
                if mask & 16 != 0 {
                    r.skip(10)?;
                }
                if mask & 32 != 0 {
                    out.num("airPressure", r.u16()? as f64);
                }
            }
        }
        0xF7 => {
            if len == 2 {
                out.num("humidity", r.u16()? as f64 / 10.0);
            } else {
                out.num("battery", r.u32()? as f64 / 1000.0);
                if len >= 5 && matches!(r.u8()?, 2 | 3) {
                    out.flag("charge", true);
                }
                if len >= 6 {
                    out.num("batteryLevel", r.u8()? as f64);
                }
            }
        }
        0xF8 => {
            if aovx {
                r.skip(9)?;
                out.text("iccid", hex(r.bytes(10)?));
            } else if ctx.dialect == Dialect::C5 {
                out.num("steps", r.u16()? as f64);
            } else {
                out.num("temp2", r.u16()? as f64 / 10.0 - 50.0);
            }
        }
        0xF9 => {
            let mask = r.u16()?;
            if mask & 1 != 0 {
                r.skip(4)?;
            }
            if mask & 2 != 0 {
                r.skip(4)?;
            }
            if mask & 4 != 0 {
                out.num("hdop", r.u16()? as f64 / 10.0);
            }
            if mask & 8 != 0 {
                r.skip(6)?;
            }
            if mask & 32 != 0 {
                r.skip(8)?;
            }
            if mask & 64 != 0 {
                out.num("temp3", r.i16()? as f64 / 10.0);
            }
        }
        0xFB => out.text("container", ascii(v)),
        0xFC => out.num("geofence", r.u8()? as f64),
        0xFE => match len {
            1 => out.num("batteryLevel", r.u8()? as f64),
            2 => out.num("power", r.u16()? as f64 / 10.0),
            4 => out.num("odometer", r.u32()? as f64),
            _ => {
                if r.u8()? == 0x7C {
                    while r.remaining() > 1 {
                        let t = r.u8()?;
                        let l = r.u8()? as usize;
                        if t == 0x01 {
                            let a = r.u32()?;
                            let table = [
                                Alarm::HardAcceleration,
                                Alarm::HardBraking,
                                Alarm::HardCornering,
                                Alarm::Accident,
                                Alarm::Tampering,
                            ];
                            for (bit, alarm) in table.into_iter().enumerate() {
                                if a & (1 << bit) != 0 {
                                    out.alarm(alarm);
                                }
                            }
                        } else {
                            r.skip(l)?;
                        }
                    }
                }
                out.num("batteryLevel", r.u8()? as f64);
            }
        },
        _ => {}
    }
    Ok(())
}

/// Sign and magnitude from the first byte, fraction in 1/255 from the second.
fn custom_double(r: &mut Reader<'_>) -> Result<f64, ProtocolError> {
    let whole = r.u8()? as i8;
    let frac = r.u8()? as f64 / 255.0;
    let sign = if whole < 0 { -1.0 } else { 1.0 };
    Ok(sign * ((whole as i32).abs() as f64 + frac))
}

/// Jimi (JC371 …) typed events in item 0xE8.
fn jimi_event(r: &mut Reader<'_>, out: &mut Out<'_>) -> Result<(), ProtocolError> {
    let kind = r.u16()?;
    match kind {
        0x2002 => {
            r.skip(1)?;
            out.num("uploadMode", r.u8()? as f64);
            out.flag("buffered", r.u8()? == 1);
        }
        0x2003 => {
            r.skip(1)?;
            out.flag("charge", r.u8()? == 1);
            let level = r.u8()?;
            if (1..=6).contains(&level) {
                out.num("batteryLevel", (level as u32 * 100 / 6) as f64);
            }
            out.num("battery", r.u16()? as f64 / 100.0);
            out.num("rssi", r.u8()? as f64);
            out.num("power", r.u16()? as f64 / 100.0);
        }
        0x2005 => {
            r.skip(1)?;
            while r.remaining() >= 3 {
                let sid = r.u16()?;
                let l = r.u8()? as usize;
                let Ok(x) = r.bytes(l) else { break };
                let mut x = Reader::new(x, "jt808 0xE8 status");
                match sid {
                    0x0001 => out.num("battery", x.u16()? as f64 / 100.0),
                    0x0002 => out.num("dataUsage", x.u32()? as f64),
                    0x0003 => out.num("batteryLevel", x.u8()? as f64),
                    0x0004 => out.flag("charge", x.u8()? == 0),
                    0x0005 => {
                        let h = hex(x.bytes(10)?);
                        out.text("iccid", h.get(..19).unwrap_or_default().to_string());
                    }
                    0x0007 => out.num("hdop", x.u16()? as f64 / 10.0),
                    0x2001 => out.num("power", x.u16()? as f64 / 10.0),
                    _ => {}
                }
            }
        }
        0x0001 => out.alarm(Alarm::Fault),
        0x0400 | 0x0412 => out.alarm(Alarm::HardAcceleration),
        0x0401 | 0x0413 => out.alarm(Alarm::HardBraking),
        0x0402 | 0x0414 => out.alarm(Alarm::HardCornering),
        0x0403 => out.alarm(Alarm::Overspeed),
        0x0405 | 0x0416 | 0x0417 => out.alarm(Alarm::Accident),
        0x0406 => out.alarm(Alarm::Vibration),
        0x0407 => out.alarm(Alarm::Tow),
        0x0408 => out.alarm(Alarm::GeofenceEnter),
        0x0409 => out.alarm(Alarm::GeofenceExit),
        0x040C => out.alarm(Alarm::Door),
        0x0C01 => out.alarm(Alarm::Sos),
        0x0C02 => out.alarm(Alarm::LowPower),
        0x0C03 => out.flag("ignition", true),
        0x0C04 => out.flag("ignition", false),
        0x0C05 => out.alarm(Alarm::General),
        0x0C0E => out.alarm(Alarm::PowerCut),
        0x0C0F => out.alarm(Alarm::LowBattery),
        0x0C10 => out.alarm(Alarm::PowerOff),
        0x0C12 => out.alarm(Alarm::Tampering),
        _ => {}
    }
    Ok(())
}

/// Item 0xEB: a cell list, a printable zone text, or a container of `len WORD | type WORD`
/// sub-items.
fn container_eb(v: &[u8], out: &mut Out<'_>) -> Result<(), ProtocolError> {
    let len = v.len();
    let mut r = Reader::new(v, "jt808 0xEB item");
    let first = v.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if first.is_some_and(|f| f > 200) && len >= 3 && (len - 3).is_multiple_of(5) {
        let mcc = r.u16()?;
        let mnc = r.u8()? as u16;
        if r.remaining() >= 5 {
            let lac = r.u16()? as u32;
            let cid = r.u16()? as u64;
            out.cell(mcc, mnc, lac, cid);
        }
        return Ok(());
    }
    if printable(v) {
        out.text("timezone", ascii(v));
        return Ok(());
    }
    while r.remaining() >= 4 {
        let l = r.u16()? as usize;
        let Ok(x) = r.bytes(l) else { break };
        let mut x = Reader::new(x, "jt808 0xEB sub-item");
        let t = x.u16()?;
        let _ = eb_sub(t, l, &mut x, out);
    }
    Ok(())
}

fn eb_sub(t: u16, l: usize, x: &mut Reader<'_>, out: &mut Out<'_>) -> Result<(), ProtocolError> {
    match t {
        0x0001 => out.num("fuel1", x.u16()? as f64 / 10.0),
        0x0023 => {
            let s = ascii(x.bytes(6)?);
            if let Ok(f) = s.trim().parse::<f64>() {
                out.num("fuel2", f);
            }
        }
        0x002D => {
            if l == 6 {
                out.num("power", x.u32()? as f64 / 1000.0)
            } else {
                out.num("battery", x.u16()? as f64 / 1000.0)
            }
        }
        0x0089 => {
            let a = x.u32()?;
            if a & 1 == 0 {
                out.alarm(Alarm::PowerCut);
            }
            if a & (1 << 12) == 0 {
                out.alarm(Alarm::Removing);
            }
        }
        0x00B2 => {
            let h = hex(x.bytes(10)?);
            out.text("iccid", h.trim_end_matches('f').to_string());
        }
        0x00C5 => {
            let a = x.u32()?;
            if a & (1 << 6) == 0 {
                out.alarm(Alarm::Vibration);
            }
            match (a >> 23) & 0x03 {
                0 => out.flag("motion", true),
                1 => out.flag("motion", false),
                _ => {}
            }
        }
        0x00C6 => {
            let b = x.u8()?;
            if b == 0x03 || b == 0x04 {
                out.alarm(Alarm::LowBattery);
            }
            out.num("batteryAlarm", b as f64);
        }
        0x00CE => out.num("power", x.u16()? as f64 / 100.0),
        0x00D8 => {
            let mcc = x.u16()?;
            let mnc = x.u8()? as u16;
            let lac = x.u16()? as u32;
            let cid = x.u32()? as u64;
            out.cell(mcc, mnc, lac, cid);
        }
        0x00A8 | 0x00E1 => out.num("batteryLevel", x.u8()? as f64),
        _ => {}
    }
    Ok(())
}

/// AOVX Bluetooth tags in item 0xF3.
fn aovx_tags(r: &mut Reader<'_>, out: &mut Out<'_>) -> Result<(), ProtocolError> {
    let mask = r.u8()?;
    let mut i = 0;
    while r.remaining() > 0 {
        i += 1;
        out.text(format!("tag{i}Mac"), hex(r.bytes(6)?));
        out.num_at(format!("tag{i}Rssi"), r.u8()? as i8 as f64);
        if mask & 1 != 0 {
            out.text(
                format!("tag{i}Name"),
                java_trim(&ascii(r.bytes(10)?)).to_string(),
            );
        }
        if mask & 2 != 0 {
            r.skip(2)?;
        }
        if mask & 4 != 0 {
            out.num_at(format!("tag{i}Battery"), r.u16()? as f64 / 1000.0);
        }
        if mask & 8 != 0 {
            out.num_at(format!("tag{i}Temp"), r.i16()? as f64 / 10.0);
        }
        if mask & 16 != 0 {
            out.num_at(format!("tag{i}Humidity"), r.i16()? as f64 / 10.0);
        }
        if mask & 32 != 0 {
            r.skip(6)?;
        }
        if mask & 64 != 0 {
            r.skip(2)?;
        }
        if mask & 128 != 0 {
            r.skip(2)?;
        }
    }
    Ok(())
}

/// OBD values in item 0xF3 (`type WORD | len BYTE | value`).
fn obd_f3(r: &mut Reader<'_>, out: &mut Out<'_>) -> Result<(), ProtocolError> {
    while r.remaining() >= 3 {
        let t = r.u16()?;
        let l = r.u8()? as usize;
        let x = r.bytes(l)?;
        let mut x = Reader::new(x, "jt808 0xF3 item");
        let _ = (|| -> Result<(), ProtocolError> {
            match t {
                0x0002 => out.num("obdSpeed", x.u16()? as f64 / 10.0),
                0x0003 => out.num("rpm", x.u16()? as f64),
                0x0004 => out.num("power", x.u16()? as f64 / 1000.0),
                0x0005 => out.num("obdOdometer", x.u32()? as f64 * 100.0),
                0x0007 => out.num("fuelConsumption", x.u16()? as f64 / 10.0),
                0x0008 => out.num("engineLoad", x.u16()? as f64 / 10.0),
                0x0009 => out.num("coolantTemp", x.u16()? as f64 - 40.0),
                0x000B => out.num("intakePressure", x.u16()? as f64),
                0x000C => out.num("intakeTemp", x.u16()? as f64 - 40.0),
                0x000D => out.num("intakeFlow", x.u16()? as f64),
                0x000E => out.num("throttle", (x.u16()? as u32 * 100 / 255) as f64),
                0x0050 => out.text(
                    "vin",
                    ascii(x.bytes(17)?).trim_end_matches('\0').to_string(),
                ),
                0x0051 if l > 0 => out.text("cvn", hex(x.rest())),
                0x0052 if l > 0 => {
                    out.text("calid", ascii(x.rest()).trim_end_matches('\0').to_string())
                }
                0x0100 => out.num("tripOdometer", x.u16()? as f64 / 10.0),
                0x0102 => out.num("tripFuel", x.u16()? as f64 / 10.0),
                0x0112 => out.num("hardAccelerationCount", x.u16()? as f64),
                0x0113 => out.num("hardDecelerationCount", x.u16()? as f64),
                0x0114 => out.num("hardCorneringCount", x.u16()? as f64),
                _ => {}
            }
            Ok(())
        })();
    }
    Ok(())
}

/// OBD extension TLVs after item 0x80.
fn extension(ext: &[u8], out: &mut Out<'_>) {
    let mut r = Reader::new(ext, "jt808 0x80 extension");
    while r.remaining() >= 2 {
        let (Ok(t), Ok(l)) = (r.u8(), r.u8()) else {
            return;
        };
        let Ok(v) = r.bytes(l as usize) else { return };
        let mut x = Reader::new(v, "jt808 0x80 item");
        let _ = (|| -> Result<(), ProtocolError> {
            match t {
                0x01 => out.num("odometer", x.u32()? as f64 * 100.0),
                0x02 => out.num("fuel", x.u16()? as f64 / 10.0),
                0x03 => out.num("obdSpeed", x.u16()? as f64 / 10.0),
                0x56 => {
                    x.skip(1)?;
                    out.num("batteryLevel", x.u8()? as f64)
                }
                0x61 => out.num("power", x.u16()? as f64 / 100.0),
                0x69 => out.num("battery", x.u16()? as f64 / 100.0),
                0x80 => out.num("obdSpeed", x.u8()? as f64),
                0x81 => out.num("rpm", x.u16()? as f64),
                0x82 => out.num("power", x.u16()? as f64 / 10.0),
                0x83 => out.num("engineLoad", x.u8()? as f64),
                0x84 => out.num("coolantTemp", x.u8()? as f64 - 40.0),
                0x85 => out.num("fuelConsumption", x.u16()? as f64),
                0x86 => out.num("intakeTemp", x.u8()? as f64 - 40.0),
                0x87 => out.num("intakeFlow", x.u16()? as f64),
                0x88 => out.num("intakePressure", x.u8()? as f64),
                0x89 => out.num("throttle", x.u8()? as f64),
                0x8B => out.text("vin", ascii(x.bytes(17)?)),
                0x8C => out.num("obdOdometer", x.u32()? as f64 * 100.0),
                0x8D => out.num("tripOdometer", x.u16()? as f64 * 1000.0),
                0x8E => out.num("fuel", x.u8()? as f64),
                0xA0 => out.text("dtcs", ascii(v).replace(',', " ")),
                0xCC => out.text("iccid", ascii(x.bytes(20)?)),
                _ => {}
            }
            Ok(())
        })();
    }
}

/// `$OBD-RT,power,rpm,speed,throttle,load,coolant,instant,average,trip,odometer,tripFuel,fuelUsed`.
pub(crate) fn obd_rt(data: &str, out: &mut Out<'_>) {
    let keys: [&'static str; 11] = [
        "power",
        "rpm",
        "obdSpeed",
        "throttle",
        "engineLoad",
        "coolantTemp",
        "fuelConsumption",
        "fuelConsumption",
        "tripOdometer",
        "obdOdometer",
        "tripFuelUsed",
    ];
    let mut fields = data.split(',').skip(1);
    for key in keys.into_iter().chain(std::iter::once("fuelUsed")) {
        let Some(f) = fields.next() else { return };
        if let Ok(n) = f.trim().parse::<f64>() {
            out.num(key, n);
        }
    }
}
