//! Frame content → model: header, check code, and one decoder per message id.

use chrono::{DateTime, Utc};

use crate::read::Reader;
use crate::{
    CommandReply, Correlation, Decoded, DeviceMessage, Position, ProtocolError, Registration,
    ReplyResult, StatusReport,
};

use super::dialect::Dialect;
use super::fields::{
    Out, ascii, bcd_byte, bcd_time, blank_position, gbk, hex, java_trim, local_time,
};
use super::header::{Header, MSG_VENDOR_LOCATION_BLIND};
use super::location::{self, Ctx, coordinates};
use super::{AckResult, Outbound, OutboundBody, msg};

/// Side effects of decoding one frame that the codec records.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Verdict {
    pub checksum_mismatch: bool,
    pub length_mismatch: bool,
}

/// Decodes one complete un-escaped frame (`7E … 7E`, or a `( … )` text frame).
pub(crate) fn decode_frame(
    frame: &[u8],
    ctx: Ctx,
    enforce_checksum: bool,
    verdict: &mut Verdict,
) -> Result<(Option<Header>, Decoded<Outbound>), ProtocolError> {
    if frame.first() == Some(&b'(') {
        return Ok((None, text_frame(frame)?));
    }
    let content = match frame {
        [super::frame::FLAG, content @ .., super::frame::FLAG] => content,
        _ => return Err(ProtocolError::malformed("jt808 frame", "missing 7E flags")),
    };
    let Some((&received, checked)) = content.split_last() else {
        return Err(ProtocolError::malformed("jt808 frame", "empty frame"));
    };
    let computed = super::frame::xor(checked);
    if computed != received {
        verdict.checksum_mismatch = true;
        if enforce_checksum {
            return Err(ProtocolError::Checksum {
                computed: computed as u32,
                received: received as u32,
            });
        }
    }
    let mut r = Reader::new(checked, "jt808 header");
    let header = Header::parse(&mut r)?;
    // The body as traccar sees it: still followed by the check code and the closing flag.
    let tail = frame.get(1 + header.len..).unwrap_or_default();
    let body = checked.get(header.len..).unwrap_or_default();
    if !header.is_vendor() && header.body_len() != body.len() {
        verdict.length_mismatch = true;
    }
    let decoded = message(&header, body, tail, ctx)?;
    Ok((Some(header), decoded))
}

fn ack(header: &Header, result: AckResult) -> Option<Outbound> {
    Some(Outbound {
        terminal: header.terminal,
        serial: None,
        body: OutboundBody::GeneralResponse {
            reply_serial: header.serial,
            reply_id: header.message_id,
            result,
        },
    })
}

fn status_of(p: Position, time: Option<DateTime<Utc>>) -> DeviceMessage {
    let mut attributes = p.attributes;
    let mut out_extra = blank_position();
    {
        let mut o = Out { p: &mut out_extra };
        if let Some(odo) = p.odometer_m {
            o.num_at("odometer".into(), odo as f64);
        }
        if let Some(s) = p.satellites {
            o.num_at("sat".into(), s as f64);
        }
    }
    attributes.extend(out_extra.attributes);
    DeviceMessage::Status(StatusReport {
        time,
        status: p.status,
        cell: p.cell,
        attributes,
    })
}

fn reply_text(correlation: Correlation, answered: Option<u16>, text: String) -> DeviceMessage {
    DeviceMessage::CommandReply(CommandReply {
        correlation,
        answered_message: answered,
        result: ReplyResult::Text,
        text: Some(text),
        position: None,
    })
}

fn message(
    h: &Header,
    body: &[u8],
    tail: &[u8],
    ctx: Ctx,
) -> Result<Decoded<Outbound>, ProtocolError> {
    let device = Some(h.terminal.device_id()?);
    let done = |message: DeviceMessage, ack: Option<Outbound>| {
        Ok(Decoded {
            device,
            message,
            ack,
        })
    };
    if h.package.is_some() {
        // Sub-packages are acknowledged one by one and not reassembled (see the module docs).
        return done(
            DeviceMessage::Other {
                kind: h.message_id as u32,
            },
            ack(h, AckResult::Success),
        );
    }
    if h.encryption() != 0 {
        return done(
            DeviceMessage::Other {
                kind: h.message_id as u32,
            },
            ack(h, AckResult::Unsupported),
        );
    }
    let mut r = Reader::new(body, "jt808 body");
    match h.message_id {
        msg::TERMINAL_RESPONSE => {
            let reply_serial = r.u16()?;
            let reply_id = r.u16()?;
            let result = match r.u8()? {
                0 | 4 => ReplyResult::Success,
                3 => ReplyResult::Unsupported,
                _ => ReplyResult::Failure,
            };
            done(
                DeviceMessage::CommandReply(CommandReply {
                    correlation: Correlation::Serial(reply_serial),
                    answered_message: Some(reply_id),
                    result,
                    text: None,
                    position: None,
                }),
                None,
            )
        }
        msg::HEARTBEAT => {
            let mut p = blank_position();
            if body.len() >= 3 {
                let mut o = Out { p: &mut p };
                o.num("batteryLevel", r.u8()? as f64);
                o.num("rssi", r.u8()? as f64);
                o.num("status", r.u8()? as f64);
            }
            done(status_of(p, None), ack(h, AckResult::Success))
        }
        msg::REGISTER => done(
            DeviceMessage::Register(registration(body, h.terminal.version.is_some())),
            Some(Outbound {
                terminal: h.terminal,
                serial: None,
                body: OutboundBody::RegisterResponse {
                    reply_serial: h.serial,
                    result: 0,
                    auth_code: String::new(),
                },
            }),
        ),
        msg::AUTH => {
            let code = if h.terminal.version.is_some() {
                let n = r.u8()? as usize;
                gbk(r.bytes(n.min(r.remaining()))?)
            } else {
                gbk(body)
            };
            done(
                DeviceMessage::Login {
                    device: h.terminal.device_id()?,
                    utc_offset_minutes: None,
                    auth_code: Some(code),
                    model_code: None,
                },
                ack(h, AckResult::Success),
            )
        }
        msg::LOGOUT | msg::HEARTBEAT_2 | msg::PHOTO | msg::TIMEZONE_SYNC => done(
            DeviceMessage::Other {
                kind: h.message_id as u32,
            },
            ack(h, AckResult::Success),
        ),
        msg::TERMINAL_ATTRIBUTES => {
            let mut p = blank_position();
            r.skip(2 + 5 + 20 + 7)?;
            Out { p: &mut p }.text("iccid", hex(r.bytes(10)?));
            done(status_of(p, None), ack(h, AckResult::Success))
        }
        msg::LOCATION => done(
            DeviceMessage::Position(location::decode(tail, ctx, 2)?),
            ack(h, AckResult::Success),
        ),
        msg::LOCATION_QUERY_RESPONSE | msg::VEHICLE_CONTROL_RESPONSE => {
            let reply_serial = r.u16()?;
            let p = location::decode(tail.get(2..).unwrap_or_default(), ctx, 2)?;
            let answered = if h.message_id == msg::LOCATION_QUERY_RESPONSE {
                msg::LOCATION_QUERY
            } else {
                msg::VEHICLE_CONTROL
            };
            done(
                DeviceMessage::CommandReply(CommandReply {
                    correlation: Correlation::Serial(reply_serial),
                    answered_message: Some(answered),
                    result: ReplyResult::Success,
                    text: None,
                    position: Some(Box::new(p)),
                }),
                None,
            )
        }
        msg::VENDOR_LOCATION | MSG_VENDOR_LOCATION_BLIND => {
            let ack = (h.properties & 0x8000 != 0).then_some(Outbound {
                terminal: h.terminal,
                serial: None,
                body: OutboundBody::VendorResponse {
                    reply_id: h.message_id,
                },
            });
            done(
                DeviceMessage::Position(vendor_location(tail, h.message_id)?),
                ack,
            )
        }
        msg::LOCATION_BATCH_2 if h.body_len() == 7 => {
            let mut p = blank_position();
            Out { p: &mut p }.num("batteryLevel", r.u8()? as f64);
            let time = bcd_time(r.array()?, ctx.utc_offset_minutes);
            done(status_of(p, time), ack(h, AckResult::Success))
        }
        msg::LOCATION_BATCH | msg::LOCATION_BATCH_2 => {
            done(batch(tail, h.message_id, ctx)?, ack(h, AckResult::Success))
        }
        msg::TIME_SYNC_REQUEST => done(
            DeviceMessage::TimeRequest,
            Some(Outbound {
                terminal: h.terminal,
                serial: None,
                body: OutboundBody::TimeSyncResponse { utc: None },
            }),
        ),
        msg::ACCELERATION => {
            let mut p = blank_position();
            let mut text = String::from("[");
            let mut r = Reader::new(tail, "jt808 acceleration");
            while r.remaining() > 2 {
                r.skip(6)?;
                let mut w = [0i32; 3];
                for v in &mut w {
                    let raw = r.u16()?;
                    let m = (raw & 0x7FFF) as i32;
                    *v = if raw & 0x8000 != 0 { -m } else { m };
                }
                if text.len() > 1 {
                    text.push(',');
                }
                text.push_str(&format!("[{},{},{}]", w[0], w[1], w[2]));
            }
            text.push(']');
            Out { p: &mut p }.text("gSensor", text);
            done(status_of(p, None), None)
        }
        msg::TRANSPARENT => done(transparent(body, tail, ctx)?, ack(h, AckResult::Success)),
        msg::COMMAND_RESPONSE => {
            let n = r.u32()? as usize;
            let text = ascii(r.bytes(n.min(r.remaining()))?);
            done(reply_text(Correlation::None, None, text), None)
        }
        msg::DRIVER_IDENTITY => {
            let mut p = blank_position();
            let mut o = Out { p: &mut p };
            o.num("cardStatus", r.u8()? as f64);
            let time = bcd_time(r.array()?, ctx.utc_offset_minutes);
            o.num("cardResult", r.u8()? as f64);
            let n = r.u8()? as usize;
            o.text("driver", ascii(r.bytes(n)?));
            o.text("cardCode", java_trim(&ascii(r.bytes(20)?)).to_string());
            let n = r.u8()? as usize;
            o.text("cardAgency", ascii(r.bytes(n)?));
            o.text("cardValidity", hex(r.bytes(4)?));
            done(status_of(p, time), None)
        }
        msg::REPORT_TEXT_MESSAGE => {
            r.skip(1)?;
            let text = gbk(r.rest());
            done(
                reply_text(Correlation::None, None, text),
                ack(h, AckResult::Success),
            )
        }
        msg::TEXT_MESSAGE_RESPONSE => {
            let reply_serial = r.u16()?;
            let n = h.body_len().saturating_sub(2).min(r.remaining()) & !1;
            let units: Vec<u16> = r
                .bytes(n)?
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let text = java_trim(&String::from_utf16_lossy(&units)).to_string();
            done(
                reply_text(
                    Correlation::Serial(reply_serial),
                    Some(msg::TEXT_MESSAGE),
                    text,
                ),
                None,
            )
        }
        other => done(DeviceMessage::Other { kind: other as u32 }, None),
    }
}

/// Registration body; short (2011) bodies and missing fields leave text empty rather than
/// failing, because refusing a registration only makes the terminal retry forever.
fn registration(body: &[u8], v2019: bool) -> Registration {
    let (maker, model, id) = if v2019 {
        (11, 30, 30)
    } else if body.len() < 37 {
        (5, 8, 7)
    } else {
        (5, 20, 7)
    };
    let mut r2 = Reader::new(body, "jt808 register");
    let province = r2.u16().unwrap_or(0);
    let city = r2.u16().unwrap_or(0);
    let mut field = |n: usize| {
        let take = n.min(r2.remaining());
        r2.bytes(take).map(gbk).unwrap_or_default()
    };
    let manufacturer = field(maker);
    let model = field(model);
    let terminal_id = field(id);
    let plate_color = r2.u8().unwrap_or(0);
    let plate = gbk(r2.rest());
    Registration {
        province,
        city,
        manufacturer,
        model,
        terminal_id,
        plate_color,
        plate,
    }
}

fn batch(tail: &[u8], id: u16, ctx: Ctx) -> Result<DeviceMessage, ProtocolError> {
    let mut r = Reader::new(tail, "jt808 batch");
    let mut archived = false;
    if id == msg::LOCATION_BATCH {
        r.skip(2)?;
        archived = r.u8()? > 0;
    }
    let mut positions = Vec::new();
    while r.remaining() > 2 {
        let len = if id == msg::LOCATION_BATCH_2 {
            r.u8()? as usize
        } else {
            r.u16()? as usize
        };
        let Ok(fragment) = r.bytes(len) else { break };
        // One bad record does not cost the others.
        if let Ok(mut p) = location::decode(fragment, ctx, 0) {
            p.archived = archived;
            positions.push(p);
        }
    }
    if positions.is_empty() {
        return Err(ProtocolError::malformed(
            "jt808 batch",
            "no decodable record",
        ));
    }
    Ok(DeviceMessage::Batch(positions))
}

/// Vendor 0x5501/0x5502: BCD date `DD MM YY hh mm ss` (UTC), BCD `DDMM.MMMM` coordinates.
fn vendor_location(tail: &[u8], id: u16) -> Result<Position, ProtocolError> {
    let mut r = Reader::new(tail, "jt808 0x5501 location");
    let mut p = blank_position();
    let mut f = [0u32; 6];
    for slot in &mut f {
        *slot = bcd_byte(r.u8()?).unwrap_or(99);
    }
    let time = local_time([f[2], f[1], f[0], f[3], f[4], f[5]], 0);
    let lat_raw = r.bytes(4)?;
    let lon_raw = r.bytes(5)?;
    let digits = |raw: &[u8], n: usize| -> Option<u64> {
        let mut v = 0u64;
        for i in 0..n {
            let b = raw.get(i / 2)?;
            let d = if i % 2 == 0 { b >> 4 } else { b & 0x0F };
            if d > 9 {
                return None;
            }
            v = v * 10 + d as u64;
        }
        Some(v)
    };
    let coord = |v: u64| (v / 1_000_000) as f64 + (v % 1_000_000) as f64 / 10_000.0 / 60.0;
    let bad = || ProtocolError::malformed("jt808 0x5501 location", "invalid BCD coordinate");
    let mut lat = coord(digits(lat_raw, 8).ok_or_else(bad)?);
    let mut lon = coord(digits(lon_raw, 9).ok_or_else(bad)?);
    let flags = lon_raw.get(4).copied().unwrap_or(0);
    if flags & 2 == 0 {
        lat = -lat;
    }
    if flags & 4 == 0 {
        lon = -lon;
    }
    p.location = crate::LatLon::new(lat, lon)
        .map_err(|e| ProtocolError::malformed("jt808 0x5501 location", e.to_string()))?;
    p.valid = id != MSG_VENDOR_LOCATION_BLIND;
    p.archived = id == MSG_VENDOR_LOCATION_BLIND;
    match time {
        Some(t) => p.time = t,
        None => {
            p.time = super::fields::placeholder_time(0);
            p.valid = false;
        }
    }
    // The speed byte is BCD knots in this layout.
    p.speed_kmh = (bcd_byte(r.u8()?).unwrap_or(0) as f64 * 1.852) as f32;
    p.course = Some(r.u8()? as f32 * 2.0);
    let mut o = Out { p: &mut p };
    o.num("rssi", r.u8()? as f64);
    o.num("sat", r.u8()? as f64);
    o.num("odometer", r.u32()? as f64 * 1000.0);
    let battery = r.u8()?;
    if battery <= 100 {
        o.num("batteryLevel", battery as f64);
    } else if battery == 0xAA || battery == 0xAB {
        o.flag("charge", true);
    }
    r.skip(6)?; // cell id and LAC: without MCC/MNC they do not make a usable cell
    let product = r.u8()?;
    let status = r.u16()?;
    let alarm = r.u16()?;
    use crate::Alarm::*;
    if product == 1 || product == 2 {
        if alarm & 1 != 0 {
            o.alarm(LowPower);
        }
    } else if product == 3 {
        o.flag("blocked", status & (1 << 5) != 0);
        for (bit, a) in [
            (0, Overspeed),
            (1, LowPower),
            (2, Vibration),
            (3, LowBattery),
            (5, GeofenceEnter),
            (6, GeofenceExit),
        ] {
            if alarm & (1 << bit) != 0 {
                o.alarm(a);
            }
        }
    }
    o.num("status", status as f64);
    while r.remaining() > 2 {
        let id = r.u8()?;
        let len = r.u8()? as usize;
        let Ok(v) = r.bytes(len) else { break };
        let mut x = Reader::new(v, "jt808 0x5501 item");
        let _ = (|| -> Result<(), ProtocolError> {
            match id {
                0x02 => o.p.altitude_m = Some(x.i16()? as f32),
                0x10 => o.num("wakeSource", x.u8()? as f64),
                0x0B => {
                    o.num("lockCommand", x.u8()? as f64);
                    if (5..=6).contains(&len) {
                        o.num("lockCard", x.u32()? as f64);
                    } else if len >= 7 {
                        o.text("lockPassword", ascii(x.bytes(6)?));
                    }
                    if len.is_multiple_of(2) {
                        o.num("unlockResult", x.u8()? as f64);
                    }
                }
                0x0C => {
                    let (a, b, c) = (x.i16()?, x.i16()?, x.i16()?);
                    o.text("tilt", format!("[{a},{b},{c}]"));
                }
                0xFC => o.num("geofence", x.u8()? as f64),
                _ => {}
            }
            Ok(())
        })();
    }
    Ok(p)
}

/// 0x0900 transparent data: the first byte says what follows.
fn transparent(body: &[u8], tail: &[u8], ctx: Ctx) -> Result<DeviceMessage, ProtocolError> {
    let mut r = Reader::new(tail, "jt808 0x0900");
    let kind = r.u8()?;
    let data = body.get(1..).unwrap_or_default();
    let mut p = blank_position();
    match kind {
        0x40 => {
            let text = ascii(data);
            let text = java_trim(&text);
            let mut o = Out { p: &mut p };
            if text.starts_with("GTSL") {
                if let Some(id) = text.split('|').nth(4) {
                    o.text("driverUniqueId", id.to_string());
                }
            } else {
                o.text("data", text.to_string());
            }
            Ok(status_of(p, None))
        }
        0x41 => {
            let text = ascii(data);
            location::obd_rt(java_trim(&text), &mut Out { p: &mut p });
            Ok(status_of(p, None))
        }
        0xF0 => {
            let time = bcd_time(r.array()?, ctx.utc_offset_minutes);
            if r.u8()? > 0 {
                p.archived = true;
            }
            r.skip(1)?;
            let sub = r.u8()?;
            let mut o = Out { p: &mut p };
            let has_fix = match sub {
                0x01 => {
                    let count = r.u8()?;
                    for _ in 0..count {
                        let id = r.u16()?;
                        let len = r.u8()? as usize;
                        let v = r.bytes(len)?;
                        let _ = obd_f0(id, v, &mut o);
                    }
                    true
                }
                0x02 => {
                    let mut codes = Vec::new();
                    let count = r.u16()?;
                    for _ in 0..count {
                        r.skip(4)?;
                        let n = r.u16()?;
                        for _ in 0..n {
                            r.skip(8)?;
                            let l = r.u16()? as usize;
                            codes.push(java_trim(&ascii(r.bytes(l)?)).to_string());
                        }
                    }
                    o.text("dtcs", codes.join(" "));
                    true
                }
                0x03 => {
                    let count = r.u8()?;
                    for _ in 0..count {
                        let id = r.u8()?;
                        let len = r.u8()? as usize;
                        use crate::Alarm::*;
                        let a = match id {
                            0x02 => Some(PowerCut),
                            0x0E => Some(Idle),
                            0x1A => Some(HardAcceleration),
                            0x1B => Some(HardBraking),
                            0x1C => Some(HardCornering),
                            0x23 => Some(Fatigue),
                            0x25 => Some(Overspeed),
                            0x26..=0x28 => Some(Accident),
                            0x31 | 0x32 => Some(Door),
                            _ => None,
                        };
                        if let Some(a) = a {
                            o.alarm(a);
                        }
                        r.skip(len)?;
                    }
                    true
                }
                0x04 => {
                    let property = r.u8()?;
                    o.num("tripNumber", r.u32()? as f64);
                    r.skip(6)?;
                    if property == 0x02 {
                        r.skip(6 + 8 + 8 + 1)?;
                        o.num("idlingCount", r.u16()? as f64);
                        o.num("idlingTime", r.u16()? as f64);
                        o.num("tripOdometer", r.u16()? as f64 * 100.0);
                        o.num("tripFuel", r.u16()? as f64 / 100.0);
                    }
                    false
                }
                0x0B => {
                    if r.u8()? > 0 {
                        o.text("vin", ascii(r.bytes(17)?));
                    }
                    false
                }
                0x15 => {
                    let event = r.i32()?;
                    use crate::Alarm::*;
                    match event {
                        51 => o.alarm(HardAcceleration),
                        52 => o.alarm(HardBraking),
                        53 => o.alarm(HardCornering),
                        56 => o.alarm(Accident),
                        _ => o.num("event", event as f64),
                    }
                    false
                }
                _ => return Ok(DeviceMessage::Other { kind: 0x0900 }),
            };
            if has_fix {
                coordinates(&mut r, &mut o, ctx)?;
                match time {
                    Some(t) => p.time = t,
                    None => return Ok(status_of(p, None)),
                }
                Ok(DeviceMessage::Position(p))
            } else {
                Ok(status_of(p, time))
            }
        }
        0xFF => {
            let time = bcd_time(r.array()?, ctx.utc_offset_minutes)
                .ok_or_else(|| ProtocolError::malformed("jt808 0x0900", "invalid time"))?;
            let lat = r.i32()? as f64 / 1e6;
            let lon = r.i32()? as f64 / 1e6;
            p.location = crate::LatLon::new(lat, lon)
                .map_err(|e| ProtocolError::malformed("jt808 0x0900", e.to_string()))?;
            p.valid = true;
            p.time = time;
            p.altitude_m = Some(r.i16()? as f32);
            p.speed_kmh = r.u16()? as f32 / 10.0;
            p.course = Some(r.u16()? as f32);
            Ok(DeviceMessage::Position(p))
        }
        0xF3 => {
            let mut time = None;
            while r.remaining() > 4 {
                let sub = r.u16()?;
                let len = r.u16()? as usize;
                let Ok(v) = r.bytes(len) else { break };
                let mut x = Reader::new(v, "jt808 0x0900 F3");
                match sub {
                    0x0002 => Out { p: &mut p }.num("collision", x.u16()? as f64 / 256.0 / 100.0),
                    0x0006 => time = bcd_time(x.array()?, ctx.utc_offset_minutes),
                    _ => {}
                }
            }
            Ok(status_of(p, time))
        }
        0x53 | 0x54 => {
            let mut o = Out { p: &mut p };
            coordinates(&mut r, &mut o, ctx)?;
            o.p.altitude_m = Some(r.i16()? as f32);
            o.p.speed_kmh = r.u16()? as f32 / 10.0;
            o.p.course = Some(r.u16()? as f32);
            match bcd_time(r.array()?, ctx.utc_offset_minutes) {
                Some(t) => o.p.time = t,
                None => {
                    o.p.time = super::fields::placeholder_time(ctx.utc_offset_minutes);
                    o.p.valid = false;
                }
            }
            if kind == 0x53 {
                r.skip(1)?;
                while r.remaining() > 2 {
                    let i = r.u8()? as u32 + 1;
                    o.text(format!("tag{i}Mac"), hex(r.bytes(6)?));
                    o.num_at(format!("tag{i}Rssi"), r.u8()? as i8 as f64);
                    let n = r.u8()? as usize;
                    o.text(format!("tag{i}Data"), hex(r.bytes(n)?));
                }
            } else {
                while r.remaining() > 2 {
                    let mask = r.u16()?;
                    r.skip(6)?;
                    if mask & 1 != 0 {
                        o.num("lightSensor", r.u16()? as f64);
                    }
                    if mask & 2 != 0 {
                        o.num("deviceTemp", r.i16()? as f64 / 10.0);
                        o.num("humidity", r.i16()? as f64 / 10.0);
                    }
                    if mask & 4 != 0 {
                        o.num("temp3", r.i16()? as f64 / 10.0);
                    }
                    if mask & 8 != 0 {
                        r.skip(6)?;
                    }
                    if mask & 16 != 0 {
                        o.num("airPressure", r.u16()? as f64);
                    }
                }
            }
            Ok(DeviceMessage::Position(p))
        }
        _ => Ok(DeviceMessage::Other { kind: 0x0900 }),
    }
}

fn obd_f0(id: u16, v: &[u8], o: &mut Out<'_>) -> Result<(), ProtocolError> {
    let mut x = Reader::new(v, "jt808 0x0900 F0 item");
    match id {
        0x0102 | 0x0528 | 0x0546 => o.num("odometer", x.u32()? as f64 * 100.0),
        0x0103 => o.num("fuel", x.u32()? as f64 / 100.0),
        0x0111 => o.num("fuelTemp", x.u8()? as f64 - 40.0),
        0x012E => o.num("oilLevel", x.u16()? as f64 / 10.0),
        0x052A => o.num("fuel", x.u16()? as f64 / 100.0),
        0x0105 | 0x052C => o.num("fuelUsed", x.u32()? as f64 / 100.0),
        0x014A | 0x0537..=0x0539 => o.num("fuelConsumption", x.u16()? as f64 / 100.0),
        0x052B => o.num("fuel", x.u8()? as f64),
        0x052D => o.num("coolantTemp", x.u8()? as f64 - 40.0),
        0x052E => o.num("airTemp", x.u8()? as f64 - 40.0),
        0x0530 => o.num("power", x.u16()? as f64 / 1000.0),
        0x0535 => o.num("obdSpeed", x.u16()? as f64 / 10.0),
        0x0536 => o.num("rpm", x.u16()? as f64),
        0x053D => o.num("intakePressure", x.u16()? as f64 / 10.0),
        0x0544 => o.num("liquidLevel", x.u8()? as f64),
        0x0547 | 0x0548 => o.num("throttle", x.u8()? as f64),
        0xFEEC => o.text("vin", ascii(v)),
        _ => match v.len() {
            1 => o.num_at(format!("io{id}"), x.u8()? as f64),
            2 => o.num_at(format!("io{id}"), x.u16()? as f64),
            4 => o.num_at(format!("io{id}"), x.u32()? as f64),
            _ => {}
        },
    }
    Ok(())
}

/// ASCII e-lock frames in parentheses, e.g. `(740190311185,1,001,ELOCK,3,529439)`.
fn text_frame(frame: &[u8]) -> Result<Decoded<Outbound>, ProtocolError> {
    if !super::fields::printable(frame) {
        return Err(ProtocolError::malformed(
            "jt808 text frame",
            "not printable ASCII",
        ));
    }
    let sentence = ascii(frame);
    let device = sentence
        .trim_start_matches('(')
        .split(',')
        .next()
        .and_then(|id| crate::DeviceId::parse(id).ok());
    // "BASE,2" asks for the time; the answer needs a clock, which a pure codec does not read
    // (the server may answer it; see the module docs).
    let message = if sentence.contains("BASE,2") {
        DeviceMessage::TimeRequest
    } else {
        reply_text(Correlation::None, None, sentence)
    };
    Ok(Decoded {
        device,
        message,
        ack: None,
    })
}

impl Dialect {
    /// Whether custom text commands go out as 0x8900 transparent data (Jimi models).
    pub(crate) fn custom_as_transparent(self) -> bool {
        self == Dialect::Jimi
    }
}
