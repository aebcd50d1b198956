//! The text form: `*<MM>,<ID>,<TYPE>,…#` sentences mapped onto the model.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::fields::{
    Fields, coordinate, ddmmyy, decimal, hex, int, is_digits, is_digits_n, is_status_word,
    lenient_seconds, seconds_of_day, trim, uint,
};
use super::status::apply_status;
use super::{H02Config, Maker, MsgType, kind_code};
use crate::{
    AttrValue, Attribute, CellTower, CommandReply, Correlation, DeviceId, DeviceMessage,
    DeviceStatus, LatLon, Position, ProtocolError, ReplyResult, StatusReport,
};

/// Which reply a decoded frame calls for (the codec decides whether its settings send it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckKind {
    /// No reply.
    None,
    /// Heartbeat echo.
    Echo,
    /// `V4,<type>` confirmation (`V1`, `NBR`).
    Confirm,
    /// `R12` acknowledgement when enabled.
    R12,
}

/// A decoded frame before the codec adds its reply.
#[derive(Debug)]
pub(crate) struct Out {
    pub maker: Option<Maker>,
    pub device: Option<DeviceId>,
    pub msg_type: Option<MsgType>,
    pub message: DeviceMessage,
    pub ack: AckKind,
}

type Result<T> = std::result::Result<T, ProtocolError>;

fn bad(what: &'static str, detail: &'static str) -> ProtocolError {
    ProtocolError::malformed(what, detail)
}

/// Decodes one `*…#` sentence. `fallback_time` stands in for an empty date field.
pub(crate) fn decode(
    frame: &[u8],
    config: &H02Config,
    fallback_time: Option<DateTime<Utc>>,
) -> Result<Out> {
    let content = frame
        .strip_prefix(b"*")
        .and_then(|f| f.strip_suffix(b"#"))
        .ok_or_else(|| bad("h02 text", "not a *…# sentence"))?;
    let f = Fields::split(content);
    let maker = Maker::new(f.at(0)).ok_or_else(|| bad("h02 text", "bad manufacturer code"))?;
    let device = match f.at(1) {
        b"" => None,
        id => Some(
            std::str::from_utf8(id)
                .ok()
                .and_then(|s| DeviceId::parse(s).ok())
                .ok_or_else(|| bad("h02 text", "bad device id"))?,
        ),
    };
    let type_field = f.at(2);
    let msg_type = MsgType::new(type_field);
    let ctx = Ctx {
        config,
        fallback_time,
    };
    let (message, ack) = match type_field {
        b"HTBT" | b"V0" => (heartbeat(&f)?, AckKind::Echo),
        b"NBR" => (nbr(&f, &ctx)?, AckKind::Confirm),
        b"LINK" => (link(&f, &ctx)?, AckKind::None),
        b"V3" => (v3(&f, &ctx)?, AckKind::None),
        b"VP1" => (vp1(&f, &ctx)?, AckKind::None),
        b"V4" => (v4(&f, &ctx)?, AckKind::R12),
        b"SMS" => (sms(&f)?, AckKind::None),
        b"V1" => (location(&f, 3, &ctx)?.into_message(), AckKind::Confirm),
        t if t.first() == Some(&b'V') => (location(&f, 3, &ctx)?.into_message(), AckKind::R12),
        t => (DeviceMessage::Other { kind: kind_code(t) }, AckKind::None),
    };
    Ok(Out {
        maker: Some(maker),
        device,
        msg_type,
        message,
        ack,
    })
}

struct Ctx<'c> {
    config: &'c H02Config,
    fallback_time: Option<DateTime<Utc>>,
}

impl Ctx<'_> {
    fn status(&self, word: u32, status: &mut DeviceStatus, attributes: &mut Vec<Attribute>) {
        apply_status(word, self.config.dialect, self.config.ignition, status);
        if self.config.vendor_attributes {
            attributes.push(attr("status", AttrValue::Int(i64::from(word))));
        }
    }
}

fn attr(key: &'static str, value: AttrValue) -> Attribute {
    Attribute {
        key: Cow::Borrowed(key),
        value,
    }
}

fn text_value(b: &[u8]) -> AttrValue {
    AttrValue::Text(String::from_utf8_lossy(trim(b)).into_owned())
}

/// `date` plus `seconds` since its midnight (may roll over, as traccar's lenient calendar does).
fn utc(date: NaiveDate, seconds: Option<u32>) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc() + TimeDelta::seconds(i64::from(seconds.unwrap_or(0)))
}

fn time_field(b: &[u8], what: &'static str) -> Result<Option<u32>> {
    match b {
        b"" => Ok(None),
        t => lenient_seconds(t)
            .map(Some)
            .ok_or_else(|| bad(what, "bad hhmmss")),
    }
}

/// A date that is empty or all zeros means "unknown"; anything else must be a real date.
fn date_field(b: &[u8], what: &'static str) -> Result<Option<NaiveDate>> {
    match b {
        b"" | b"000000" => Ok(None),
        d => ddmmyy(d).map(Some).ok_or_else(|| bad(what, "bad ddmmyy")),
    }
}

fn status_field(b: &[u8], what: &'static str) -> Result<u32> {
    if !is_status_word(b) {
        return Err(bad(what, "bad status word"));
    }
    hex(b)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad(what, "bad status word"))
}

fn lac_cid(mcc: u64, mnc: u64, lac: u64, cid: u64) -> Option<CellTower> {
    Some(CellTower {
        mcc: u16::try_from(mcc).ok()?,
        mnc: u16::try_from(mnc).ok()?,
        lac: u32::try_from(lac).ok()?,
        cell_id: cid,
    })
}

/// The common location layout (V1 and relatives, and the tail of V4), read from field `at`.
struct Location {
    time: Option<u32>,
    valid: bool,
    lat: Option<f64>,
    lon: Option<f64>,
    speed_knots: f64,
    course: Option<f32>,
    date: Option<NaiveDate>,
    fallback_time: Option<DateTime<Utc>>,
    speed_unit: super::SpeedUnit,
    status: DeviceStatus,
    odometer_m: Option<u64>,
    altitude_m: Option<f32>,
    attributes: Vec<Attribute>,
}

impl Location {
    fn time(&self) -> Option<DateTime<Utc>> {
        match self.date {
            Some(d) => Some(utc(d, self.time)),
            None => self.fallback_time,
        }
    }

    fn position(self) -> std::result::Result<Position, StatusReport> {
        let time = self.time();
        let fix = match (self.lat, self.lon, time) {
            (Some(lat), Some(lon), Some(time)) if lat != 0.0 || lon != 0.0 => {
                LatLon::new(lat, lon).ok().map(|l| (l, time))
            }
            _ => None,
        };
        let Some((location, time)) = fix else {
            return Err(StatusReport {
                time: self.date.map(|d| utc(d, self.time)),
                status: self.status,
                cell: None,
                attributes: self.attributes,
            });
        };
        let speed = self.speed_unit.to_kmh(self.speed_knots) as f32;
        let mut p = Position::new(time, location, self.valid, speed);
        p.course = self.course;
        p.status = self.status;
        p.odometer_m = self.odometer_m;
        p.altitude_m = self.altitude_m;
        p.attributes = self.attributes;
        Ok(p)
    }

    fn into_message(self) -> DeviceMessage {
        match self.position() {
            Ok(p) => DeviceMessage::Position(p),
            Err(s) => DeviceMessage::Status(s),
        }
    }
}

const LOC: &str = "h02 location";

fn location(f: &Fields<'_>, at: usize, ctx: &Ctx<'_>) -> Result<Location> {
    if f.len() < at + 8 {
        return Err(bad(LOC, "too few fields"));
    }
    let time = time_field(f.at(at), LOC)?;
    let valid = match trim(f.at(at + 1)) {
        b"A" | b"B" => true,
        b"V" | b"" => false,
        // Traccar reads a number here as a "coding scheme" of a valid fix.
        d if is_digits(d) => true,
        _ => return Err(bad(LOC, "bad validity")),
    };
    let lat = coordinate(f.at(at + 2), f.at(at + 3), true).map_err(|_| bad(LOC, "bad latitude"))?;
    let lon =
        coordinate(f.at(at + 4), f.at(at + 5), false).map_err(|_| bad(LOC, "bad longitude"))?;
    let speed_knots = match trim(f.at(at + 6)) {
        b"" => 0.0,
        s => decimal(s)
            .filter(|v| *v >= 0.0)
            .ok_or_else(|| bad(LOC, "bad speed"))?,
    };
    let course = match trim(f.at(at + 7)) {
        b"" => None,
        c => Some(decimal(c).ok_or_else(|| bad(LOC, "bad course"))? as f32),
    };
    // Some firmwares put a battery field between course and date.
    let mut i = at + 8;
    let is_date = |b: &[u8]| b.is_empty() || is_digits_n(b, 6);
    if !is_date(f.at(i)) && is_date(f.at(i + 1)) && f.get(i + 1).is_some() {
        i += 1;
    }
    let date = date_field(f.at(i), LOC)?;
    i += 1;

    let mut loc = Location {
        time,
        valid,
        lat,
        lon,
        speed_knots,
        course,
        date,
        fallback_time: ctx.fallback_time,
        speed_unit: ctx.config.speed_unit,
        status: DeviceStatus::default(),
        odometer_m: None,
        altitude_m: None,
        attributes: Vec::new(),
    };

    // The status word follows the date, or three SIM-info fields later (V19).
    let status_at = if is_status_word(f.at(i)) {
        Some(i)
    } else if f.get(i).is_some() && is_status_word(f.at(i + 3)) {
        Some(i + 3)
    } else {
        None
    };
    let extras_from = match status_at {
        Some(s) => {
            let word = status_field(f.at(s), LOC)?;
            ctx.status(word, &mut loc.status, &mut loc.attributes);
            s + 1
        }
        None => i,
    };
    extras(f, extras_from, ctx, &mut loc);
    Ok(loc)
}

/// Fields after the status word: traccar's odometer form, else kept as `io1..ioN`.
fn extras(f: &Fields<'_>, from: usize, ctx: &Ctx<'_>, loc: &mut Location) {
    if f.get(from).is_none() {
        return;
    }
    let six = f.len() == from + 6;
    let odometer = six.then(|| uint(f.at(from))).flatten();
    let temp = six.then(|| int(f.at(from + 1))).flatten();
    let fuel = six
        .then(|| decimal(f.at(from + 2)).filter(|_| f.at(from + 2).contains(&b'.')))
        .flatten();
    let altitude = six.then(|| int(f.at(from + 3))).flatten();
    let hex_ok = |b: &[u8]| hex(b).is_some();
    if let (Some(odo), Some(temp), Some(fuel), Some(alt), true, true) = (
        odometer,
        temp,
        fuel,
        altitude,
        hex_ok(f.at(from + 4)),
        hex_ok(f.at(from + 5)),
    ) {
        loc.odometer_m = Some(odo);
        loc.altitude_m = Some(alt as f32);
        if ctx.config.vendor_attributes {
            loc.attributes.push(attr("temp1", AttrValue::Int(temp)));
            loc.attributes.push(attr("fuel", AttrValue::Float(fuel)));
        }
        return;
    }
    if !ctx.config.vendor_attributes {
        return;
    }
    const IO_KEYS: [&str; 16] = [
        "io1", "io2", "io3", "io4", "io5", "io6", "io7", "io8", "io9", "io10", "io11", "io12",
        "io13", "io14", "io15", "io16",
    ];
    for (n, key) in IO_KEYS.iter().enumerate() {
        match f.get(from + n) {
            Some(v) => loc.attributes.push(attr(key, text_value(v))),
            None => break,
        }
    }
}

fn heartbeat(f: &Fields<'_>) -> Result<DeviceMessage> {
    let mut status = DeviceStatus::default();
    if let Some(b) = f.get(3) {
        status.battery_level = Some(
            uint(b)
                .and_then(|v| u8::try_from(v).ok())
                .filter(|v| *v <= 100)
                .ok_or_else(|| bad("h02 heartbeat", "bad battery level"))?,
        );
    }
    Ok(DeviceMessage::Status(StatusReport {
        time: None,
        status,
        cell: None,
        attributes: Vec::new(),
    }))
}

const NBR: &str = "h02 NBR";

/// `NBR,hhmmss,mcc,mnc,delay,count,(lac,cid,rssi)×count,ddmmyy,status[,…]`
fn nbr(f: &Fields<'_>, ctx: &Ctx<'_>) -> Result<DeviceMessage> {
    let time = lenient_seconds(f.at(3)).ok_or_else(|| bad(NBR, "bad hhmmss"))?;
    let mcc = uint(f.at(4)).ok_or_else(|| bad(NBR, "bad mcc"))?;
    let mnc = uint(f.at(5)).ok_or_else(|| bad(NBR, "bad mnc"))?;
    let count = uint(f.at(7)).ok_or_else(|| bad(NBR, "bad cell count"))? as usize;
    let tail_at = |d: usize| is_digits_n(f.at(d), 6) && is_status_word(f.at(d + 1));
    let by_count = 8usize.saturating_add(count.saturating_mul(3));
    let date_at = if tail_at(by_count) {
        by_count
    } else {
        (8..f.len())
            .find(|&d| tail_at(d))
            .ok_or_else(|| bad(NBR, "no date and status"))?
    };
    let date = ddmmyy(f.at(date_at)).ok_or_else(|| bad(NBR, "bad ddmmyy"))?;
    let cell = (date_at >= 11)
        .then(|| Some((uint(f.at(8))?, uint(f.at(9))?)))
        .flatten()
        .and_then(|(lac, cid)| lac_cid(mcc, mnc, lac, cid));
    let mut report = StatusReport {
        time: Some(utc(date, Some(time))),
        status: DeviceStatus::default(),
        cell,
        attributes: Vec::new(),
    };
    let word = status_field(f.at(date_at + 1), NBR)?;
    ctx.status(word, &mut report.status, &mut report.attributes);
    Ok(DeviceMessage::Status(report))
}

const LINK: &str = "h02 LINK";

/// `LINK,hhmmss,rssi,satellites,battery,steps,turnovers,ddmmyy,status`
fn link(f: &Fields<'_>, ctx: &Ctx<'_>) -> Result<DeviceMessage> {
    let time = lenient_seconds(f.at(3)).ok_or_else(|| bad(LINK, "bad hhmmss"))?;
    let num = |i: usize| uint(f.at(i)).ok_or_else(|| bad(LINK, "bad number"));
    let (rssi, sat, battery, steps, turnovers) = (num(4)?, num(5)?, num(6)?, num(7)?, num(8)?);
    let date = ddmmyy(f.at(9)).ok_or_else(|| bad(LINK, "bad ddmmyy"))?;
    let mut report = StatusReport {
        time: Some(utc(date, Some(time))),
        status: DeviceStatus {
            gsm_signal: u8::try_from(rssi).ok(),
            battery_level: u8::try_from(battery).ok().filter(|b| *b <= 100),
            ..DeviceStatus::default()
        },
        cell: None,
        attributes: vec![
            attr("sat", AttrValue::Int(sat as i64)),
            attr("steps", AttrValue::Int(steps as i64)),
            attr("turnovers", AttrValue::Int(turnovers as i64)),
        ],
    };
    let word = status_field(f.at(10), LINK)?;
    ctx.status(word, &mut report.status, &mut report.attributes);
    Ok(DeviceMessage::Status(report))
}

const V3: &str = "h02 V3";

/// `V3,hhmmss,<mcc><mnc>,count,(lac,cid,rssi,…)×count,battery(hex),reboot,X,ddmmyy,status`
fn v3(f: &Fields<'_>, ctx: &Ctx<'_>) -> Result<DeviceMessage> {
    let time = lenient_seconds(f.at(3)).ok_or_else(|| bad(V3, "bad hhmmss"))?;
    let operator = f.at(4);
    let mcc = operator
        .get(..3)
        .and_then(uint)
        .ok_or_else(|| bad(V3, "bad mcc"))?;
    let mnc = operator
        .get(3..)
        .and_then(uint)
        .ok_or_else(|| bad(V3, "bad mnc"))?;
    let x = (6..f.len())
        .find(|&i| f.at(i) == b"X" && is_digits_n(f.at(i + 1), 6) && is_status_word(f.at(i + 2)))
        .ok_or_else(|| bad(V3, "no X,date,status tail"))?;
    let battery = x
        .checked_sub(2)
        .and_then(|i| hex(f.at(i)))
        .ok_or_else(|| bad(V3, "bad battery"))?;
    let date = ddmmyy(f.at(x + 1)).ok_or_else(|| bad(V3, "bad ddmmyy"))?;
    let cell = (x >= 10)
        .then(|| Some((uint(f.at(6))?, uint(f.at(7))?)))
        .flatten()
        .and_then(|(lac, cid)| lac_cid(mcc, mnc, lac, cid));
    let mut report = StatusReport {
        time: Some(utc(date, Some(time))),
        status: DeviceStatus::default(),
        cell,
        // Unit unknown (traccar stores the raw number as "battery"); kept raw, not as volts.
        attributes: vec![attr("batteryRaw", AttrValue::Int(battery as i64))],
    };
    let word = status_field(f.at(x + 2), V3)?;
    ctx.status(word, &mut report.status, &mut report.attributes);
    Ok(DeviceMessage::Status(report))
}

const VP1: &str = "h02 VP1";

/// `VP1,V,mcc,mnc,lac,cid,rssiYlac,cid,rssi…` (cells) or `VP1,A,lat,N,lon,E,speed,course,ddmmyy`.
fn vp1(f: &Fields<'_>, ctx: &Ctx<'_>) -> Result<DeviceMessage> {
    match f.at(3) {
        b"V" => {
            let mcc = uint(f.at(4)).ok_or_else(|| bad(VP1, "bad mcc"))?;
            let mnc = uint(f.at(5)).ok_or_else(|| bad(VP1, "bad mnc"))?;
            let cell = match (uint(f.at(6)), uint(f.at(7))) {
                (Some(lac), Some(cid)) => lac_cid(mcc, mnc, lac, cid),
                _ => None,
            };
            Ok(DeviceMessage::Status(StatusReport {
                time: None,
                status: DeviceStatus::default(),
                cell,
                attributes: Vec::new(),
            }))
        }
        b"A" | b"B" => {
            let lat = coordinate(f.at(4), f.at(5), true).map_err(|_| bad(VP1, "bad latitude"))?;
            let lon = coordinate(f.at(6), f.at(7), false).map_err(|_| bad(VP1, "bad longitude"))?;
            let speed = decimal(f.at(8)).ok_or_else(|| bad(VP1, "bad speed"))?;
            let course = decimal(f.at(9)).ok_or_else(|| bad(VP1, "bad course"))?;
            let date = ddmmyy(f.at(10)).ok_or_else(|| bad(VP1, "bad ddmmyy"))?;
            let (Some(lat), Some(lon)) = (lat, lon) else {
                return Err(bad(VP1, "no coordinates"));
            };
            let location =
                LatLon::new(lat, lon).map_err(|_| bad(VP1, "coordinates out of range"))?;
            let speed = ctx.config.speed_unit.to_kmh(speed) as f32;
            let mut p = Position::new(utc(date, None), location, true, speed);
            p.course = Some(course as f32);
            Ok(DeviceMessage::Position(p))
        }
        _ => Err(bad(VP1, "unknown variant")),
    }
}

const V4: &str = "h02 V4";

/// `V4,<CMD>,<result…>,<command hhmmss>,<device hhmmss>,<A|V>,<lat>,…` — a command
/// confirmation; the command's stamp correlates it.
fn v4(f: &Fields<'_>, ctx: &Ctx<'_>) -> Result<DeviceMessage> {
    let is_validity = |b: &[u8]| matches!(b, b"A" | b"B" | b"V" | b"") || is_digits(b);
    let stamp_at = (4..f.len()).find(|&i| {
        is_digits_n(f.at(i), 6)
            && (f.at(i + 1).is_empty() || is_digits_n(f.at(i + 1), 6))
            && f.get(i + 2).is_some_and(is_validity)
    });
    let (text, correlation, position) = match stamp_at {
        Some(i) => {
            let text = f
                .span(3, i - 1)
                .ok_or_else(|| bad(V4, "empty confirmation"))?;
            let stamp = seconds_of_day(f.at(i)).ok_or_else(|| bad(V4, "bad command time"))?;
            // A reply whose position cannot be read is still a reply.
            let position = location(f, i + 1, ctx)
                .ok()
                .and_then(|l| l.position().ok())
                .map(Box::new);
            (text, Correlation::TimeStamp(stamp), position)
        }
        None => (
            f.rest(3).ok_or_else(|| bad(V4, "empty confirmation"))?,
            Correlation::None,
            None,
        ),
    };
    let failed = text.split(|&b| b == b',').skip(1).any(|w| {
        [&b"ERROR"[..], b"FAIL", b"FAILED", b"ERR"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    });
    Ok(DeviceMessage::CommandReply(CommandReply {
        correlation,
        answered_message: None,
        result: if failed {
            ReplyResult::Failure
        } else {
            ReplyResult::Success
        },
        text: Some(String::from_utf8_lossy(text).into_owned()),
        position,
    }))
}

/// `SMS,<free text>`: the device's answer to an SMS-style command.
fn sms(f: &Fields<'_>) -> Result<DeviceMessage> {
    let text = f.rest(3).unwrap_or(b"");
    Ok(DeviceMessage::CommandReply(CommandReply {
        correlation: Correlation::None,
        answered_message: None,
        result: ReplyResult::Text,
        text: Some(String::from_utf8_lossy(text).into_owned()),
        position: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Result<Out> {
        decode(s.as_bytes(), &H02Config::default(), None)
    }

    #[test]
    fn malformed_sentences_are_errors() {
        for s in [
            "*HQ,1,V1,1,A#",
            "*HQ,1,V1,25xx00,A,0956.3869,N,08406.7068,W,0,0,221215,FFFFFBFF#",
            "*HQ,1,V1,164549,A,09x6.3869,N,08406.7068,W,0,0,221215,FFFFFBFF#",
            "*HQ,1,V1,164549,A,0956.3869,N,08406.7068,W,fast,0,221215,FFFFFBFF#",
            "*HQ,1,V1,164549,A,0956.3869,N,08406.7068,W,0,0,321315,FFFFFBFF#",
            "*HQ,1,HTBT,200#",
            "*HQ,1,NBR,102403#",
            "*H,1,V1#",
            "*HQ,a b,V1#",
            "HQ,1,V1#",
        ] {
            assert!(run(s).is_err(), "{s}");
        }
    }

    #[test]
    fn v4_reply_carries_stamp_result_and_position() {
        let out = run("*TH,2020916012,V4,S20,DONE,130305,050316,A,2212.8745,N,11346.6574,E,14.28,028,220902,F7FFFBFF#")
            .unwrap();
        let DeviceMessage::CommandReply(r) = out.message else {
            panic!("not a reply");
        };
        assert_eq!(
            r.correlation,
            Correlation::TimeStamp(13 * 3600 + 3 * 60 + 5)
        );
        assert_eq!(r.text.as_deref(), Some("S20,DONE"));
        assert_eq!(r.result, ReplyResult::Success);
        let p = r.position.unwrap();
        assert_eq!(p.status.output_cut, Some(true));
        assert_eq!(p.time.to_rfc3339(), "2002-09-22T05:03:16+00:00");
        let out = run("*HQ,1,V4,S20,ERROR,010203,,V,,N,,E,0,0,,FFFFFBFF#").unwrap();
        let DeviceMessage::CommandReply(r) = out.message else {
            panic!("not a reply");
        };
        assert_eq!(r.result, ReplyResult::Failure);
        assert_eq!(r.correlation, Correlation::TimeStamp(3723));
        assert!(r.position.is_none());
    }

    #[test]
    fn speed_is_converted_from_knots() {
        let out =
            run("*HQ,1,V1,164549,A,0956.3869,N,08406.7068,W,10.00,000,221215,FFFFFBFF#").unwrap();
        let DeviceMessage::Position(p) = out.message else {
            panic!("not a position");
        };
        assert!((p.speed_kmh - 18.52).abs() < 1e-4);
        assert_eq!(p.status.ignition, Some(false));
    }
}
