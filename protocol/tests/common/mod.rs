//! Shared harness for the real-device vectors in `../shared/vectors/*.tsv` (see its README).
//!
//! Each protocol's test file loads its TSV with [`load`], feeds `frame`/`decode`/`encode` rows to
//! its codec, and judges decoded messages with [`check_decode`], which speaks Traccar's
//! vocabulary (attribute names, knots, alarm names) so that every row can be checked as written.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use protocol::{Alarm, AttrValue, DeviceMessage, DeviceStatus, FixTimeWindow, Position};

/// One row of a vectors file.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// `frame`, `decode` or `encode`.
    pub kind: String,
    /// The raw `input` column.
    pub input: String,
    /// `expected` as ordered key/value pairs (unescaped).
    pub expected: Vec<(String, String)>,
    /// `note` items.
    pub note: BTreeMap<String, String>,
}

impl Row {
    /// The `src=` of the note: `Class.method#n`.
    pub fn src(&self) -> &str {
        self.note.get("src").map(String::as_str).unwrap_or("?")
    }

    /// The test method the row belongs to (rows of one method share a decoder instance upstream).
    pub fn method(&self) -> &str {
        self.src().split('#').next().unwrap_or("?")
    }

    /// Value of an expected key.
    pub fn expect(&self, key: &str) -> Option<&str> {
        self.expected
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `check=` value of a decode row.
    pub fn check(&self) -> &str {
        self.expect("check").unwrap_or("")
    }

    /// The `fmt=` of the note.
    pub fn fmt(&self) -> &str {
        self.note.get("fmt").map(String::as_str).unwrap_or("")
    }

    /// Input bytes: hex decoded for `fmt=hex`, unescaped text for `fmt=text`, raw otherwise.
    pub fn input_bytes(&self) -> Vec<u8> {
        match self.fmt() {
            "hex" => hex(&self.input),
            "text" => unescape(&self.input).into_bytes(),
            _ => self.input.clone().into_bytes(),
        }
    }

    /// A short label for failure messages.
    pub fn label(&self) -> String {
        format!("line {} ({})", self.line, self.src())
    }
}

/// Directory holding the vectors: `$VECTORS_DIR`, else `../shared/vectors` from the repo root.
pub fn vectors_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("VECTORS_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

/// Loads `<name>.tsv`; panics with a clear message when the shared folder is missing, because a
/// silently empty run would prove nothing.
pub fn load(name: &str) -> Vec<Row> {
    let path = vectors_dir().join(format!("{name}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (the vectors live in ../shared/vectors beside the repo; set VECTORS_DIR to override)",
            path.display()
        )
    });
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            cols.len(),
            4,
            "{}:{} has {} columns",
            path.display(),
            i + 1,
            cols.len()
        );
        rows.push(Row {
            line: i + 1,
            kind: cols[0].to_string(),
            input: cols[1].to_string(),
            expected: parse_expected(cols[2]),
            note: parse_note(cols[3]),
        });
    }
    assert!(!rows.is_empty(), "{} holds no rows", path.display());
    rows
}

fn parse_expected(s: &str) -> Vec<(String, String)> {
    // Pairs are joined with ';', a literal ';' is written '\;'.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut parts = Vec::new();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&';') {
            cur.push_str("\\;");
            chars.next();
        } else if c == ';' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    for p in parts {
        if p.is_empty() {
            continue;
        }
        let (k, v) = p.split_once('=').unwrap_or((p.as_str(), ""));
        out.push((k.to_string(), unescape(v)));
    }
    out
}

fn parse_note(s: &str) -> BTreeMap<String, String> {
    s.split("; ")
        .filter_map(|item| item.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Decodes a hex string (either case); panics on bad hex since the vectors are trusted input.
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s}")))
        .collect()
}

/// Lower-case hex of bytes.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Undoes the vectors' escaping: `\r`, `\n`, `\t`, `\\`, `\;`, `\uXXXX`.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(';') => out.push(';'),
            Some('u') => {
                let code: String = chars.by_ref().take(4).collect();
                let v = u32::from_str_radix(&code, 16).expect("bad \\u escape");
                out.push(char::from_u32(v).expect("bad code point"));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// An HTTP request row (`fmt=http`).
#[derive(Debug, Clone)]
pub struct HttpRow {
    /// `GET` or `POST`.
    pub method: String,
    /// Request target (path and query).
    pub uri: String,
    /// Body (empty for GET).
    pub body: String,
    /// Headers from the note's `headers=` item.
    pub headers: Vec<(String, String)>,
}

/// Splits an `fmt=http` input.
pub fn http(row: &Row) -> HttpRow {
    let (method, rest) = match row.input.split_once(' ') {
        Some((m, rest)) if m == "GET" || m == "POST" => (m.to_string(), rest.to_string()),
        _ => ("GET".to_string(), row.input.clone()),
    };
    let (uri, body) = match rest.split_once(' ') {
        Some((u, b)) => (u.to_string(), b.to_string()),
        None => (rest, String::new()),
    };
    let headers = row
        .note
        .get("headers")
        .map(|h| {
            h.split(", ")
                .filter_map(|kv| kv.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    HttpRow {
        method,
        uri,
        body,
        headers,
    }
}

/// Traccar alarm name → Vigil alarm.
pub fn traccar_alarm(name: &str) -> Option<Alarm> {
    Alarm::from_traccar_name(name)
}

/// A value seen through Traccar's eyes.
#[derive(Debug, Clone, PartialEq)]
pub enum TValue {
    /// Number (all numeric kinds compare as f64).
    Num(f64),
    /// Boolean.
    Bool(bool),
    /// Text.
    Text(String),
    /// A set of alarms.
    Alarms(Vec<Alarm>),
}

fn attr_to_t(v: &AttrValue) -> TValue {
    match v {
        AttrValue::Bool(b) => TValue::Bool(*b),
        AttrValue::Int(i) => TValue::Num(*i as f64),
        AttrValue::Float(f) => TValue::Num(*f),
        AttrValue::Text(s) => TValue::Text(s.clone()),
    }
}

fn status_value(s: &DeviceStatus, key: &str) -> Option<TValue> {
    let b = |v: Option<bool>| v.map(TValue::Bool);
    let f = |v: Option<f32>| v.map(|x| TValue::Num(round6(x as f64)));
    match key {
        "ignition" => b(s.ignition),
        "armed" => b(s.armed),
        "charge" => b(s.charging),
        "blocked" => b(s.output_cut),
        "door" => b(s.door_open),
        "battery" => f(s.battery_voltage),
        "power" => f(s.power_voltage),
        "batteryLevel" => s.battery_level.map(|x| TValue::Num(x as f64)),
        "rssi" => s.gsm_signal.map(|x| TValue::Num(x as f64)),
        "alarm" => {
            if s.alarms.is_empty() {
                None
            } else {
                Some(TValue::Alarms(s.alarms.iter().collect()))
            }
        }
        _ => None,
    }
}

// f32 fields carry about 7 significant digits; compare them rounded.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn position_value(p: &Position, key: &str) -> Option<TValue> {
    match key {
        "speed" => Some(TValue::Num(p.speed_kmh as f64 / 1.852)),
        "course" => p.course.map(|c| TValue::Num(c as f64)),
        "altitude" => p.altitude_m.map(|a| TValue::Num(a as f64)),
        "sat" => p.satellites.map(|s| TValue::Num(s as f64)),
        "odometer" => p.odometer_m.map(|o| TValue::Num(o as f64)),
        "valid" => Some(TValue::Bool(p.valid)),
        "lat" => Some(TValue::Num(p.location.lat)),
        "lon" => Some(TValue::Num(p.location.lon)),
        "archive" if p.archived => Some(TValue::Bool(true)),
        _ => status_value(&p.status, key).or_else(|| p.attribute(key).map(attr_to_t)),
    }
}

/// Looks `key` up in a message the way Traccar names it.
pub fn value_of(msg: &DeviceMessage, key: &str) -> Option<TValue> {
    match msg {
        DeviceMessage::Position(p) => position_value(p, key),
        DeviceMessage::Batch(ps) => ps.iter().find_map(|p| position_value(p, key)),
        DeviceMessage::Status(s) => status_value(&s.status, key).or_else(|| {
            s.attributes
                .iter()
                .find(|a| a.key == key)
                .map(|a| attr_to_t(&a.value))
        }),
        DeviceMessage::CommandReply(r) => match key {
            "result" => r.text.clone().map(TValue::Text),
            _ => r.position.as_deref().and_then(|p| position_value(p, key)),
        },
        _ => None,
    }
}

/// Whether a message is what Traccar would have returned as a position (or list of them).
pub fn is_position_like(msg: &DeviceMessage) -> bool {
    match msg {
        DeviceMessage::Position(_) | DeviceMessage::Batch(_) => true,
        DeviceMessage::CommandReply(r) => r.position.is_some(),
        _ => false,
    }
}

/// Whether a message carries anything Traccar would have reported as attributes.
pub fn has_attributes(msg: &DeviceMessage) -> bool {
    let status_has = |s: &DeviceStatus| *s != DeviceStatus::default();
    match msg {
        DeviceMessage::Position(_) | DeviceMessage::Batch(_) => true,
        DeviceMessage::Status(s) => {
            status_has(&s.status) || !s.attributes.is_empty() || s.cell.is_some()
        }
        DeviceMessage::CommandReply(r) => r.text.is_some() || r.position.is_some(),
        _ => false,
    }
}

fn sane(p: &Position) -> Result<(), String> {
    in_fix_window(p)?;
    let knots = p.speed_kmh as f64 / 1.852;
    if !(0.0..=869.0).contains(&knots) {
        return Err(format!("speed {knots} kn out of range"));
    }
    if let Some(c) = p.course
        && !(0.0..=360.0).contains(&c)
    {
        return Err(format!("course {c} out of range"));
    }
    if let Some(a) = p.altitude_m
        && !(-12262.0..=18000.0).contains(&a)
    {
        return Err(format!("altitude {a} out of range"));
    }
    Ok(())
}

/// The server stores a fix only inside the default [`FixTimeWindow`] (from 2000-01-01 to ten
/// minutes ahead of its clock): every fix a real device sent must be inside it.
fn in_fix_window(p: &Position) -> Result<(), String> {
    FixTimeWindow::default()
        .check(p.time, Utc::now())
        .map_err(|e| e.to_string())
}

fn positions_of(msg: &DeviceMessage) -> Vec<&Position> {
    match msg {
        DeviceMessage::Position(p) => vec![p],
        DeviceMessage::Batch(ps) => ps.iter().collect(),
        DeviceMessage::CommandReply(r) => r.position.as_deref().into_iter().collect(),
        _ => vec![],
    }
}

fn compare(expected: &str, got: Option<TValue>) -> Result<(), String> {
    if expected == "null" {
        return match got {
            None => Ok(()),
            Some(v) => Err(format!("expected absent, got {v:?}")),
        };
    }
    let got = got.ok_or_else(|| format!("expected {expected:?}, attribute absent"))?;
    match &got {
        TValue::Num(n) => {
            let e: f64 = expected
                .parse()
                .map_err(|_| format!("expected {expected:?}, got number {n}"))?;
            let tol = 1e-5_f64.max(e.abs() * 1e-6);
            if (e - n).abs() <= tol {
                Ok(())
            } else {
                Err(format!("expected {e}, got {n}"))
            }
        }
        TValue::Bool(b) => match expected {
            "true" if *b => Ok(()),
            "false" if !*b => Ok(()),
            _ => Err(format!("expected {expected}, got {b}")),
        },
        TValue::Text(t) => {
            if t == expected {
                Ok(())
            } else {
                Err(format!("expected {expected:?}, got {t:?}"))
            }
        }
        TValue::Alarms(got) => {
            let mut want: Vec<Alarm> = Vec::new();
            for name in expected.split(',') {
                want.push(
                    traccar_alarm(name)
                        .ok_or_else(|| format!("no Vigil alarm for Traccar's {name:?}"))?,
                );
            }
            let mut g = got.clone();
            g.sort();
            want.sort();
            if g == want {
                Ok(())
            } else {
                Err(format!("expected alarms {want:?}, got {g:?}"))
            }
        }
    }
}

/// Judges one `decode` row against what the decoder produced for it (`None` = nothing, or only
/// messages that are not positions, e.g. a login; pass the most relevant message).
pub fn check_decode(row: &Row, msg: Option<&DeviceMessage>) -> Result<(), String> {
    let check = row.check();
    // Whatever the row checks, and even where it skips the location checks.
    for p in msg.map(positions_of).unwrap_or_default() {
        in_fix_window(p)?;
    }
    match check {
        "null" => match msg {
            Some(m) if is_position_like(m) => Err(format!("expected no position, got {m:?}")),
            _ => Ok(()),
        },
        "notnull" => match msg {
            Some(m) if is_position_like(m) || has_attributes(m) => Ok(()),
            other => Err(format!("expected something, got {other:?}")),
        },
        "attributes" => match msg {
            Some(m) if has_attributes(m) => Ok(()),
            other => Err(format!("expected attributes, got {other:?}")),
        },
        "attribute" => {
            let (key, val) = row
                .expected
                .get(1)
                .ok_or_else(|| "attribute row without a key".to_string())?;
            let m = msg.ok_or_else(|| format!("expected {key}={val}, got nothing"))?;
            compare(val, value_of(m, key)).map_err(|e| format!("{key}: {e}"))
        }
        "position" | "positions" => {
            let m = msg.ok_or_else(|| "expected a position, got nothing".to_string())?;
            let ps = positions_of(m);
            if ps.is_empty() {
                return Err(format!("expected a position, got {m:?}"));
            }
            if check == "position" && ps.len() != 1 {
                return Err(format!("expected one position, got {}", ps.len()));
            }
            let check_location = row.note.get("checkLocation").map(String::as_str) != Some("false");
            for p in &ps {
                if check_location {
                    sane(p)?;
                }
            }
            let p = ps[0];
            for (k, v) in row.expected.iter().skip(1) {
                match k.as_str() {
                    "time" => {
                        let want = DateTime::parse_from_rfc3339(v)
                            .map_err(|e| format!("bad expected time {v}: {e}"))?
                            .with_timezone(&Utc);
                        if p.time != want {
                            return Err(format!("time: expected {want}, got {}", p.time));
                        }
                    }
                    "lat" | "lon" => {
                        let want: f64 = v.parse().map_err(|_| format!("bad {k} {v}"))?;
                        let got = if k == "lat" {
                            p.location.lat
                        } else {
                            p.location.lon
                        };
                        if (want - got).abs() > 0.00001 {
                            return Err(format!("{k}: expected {want}, got {got}"));
                        }
                    }
                    "valid" => {
                        let want = v == "true";
                        if p.valid != want {
                            return Err(format!("valid: expected {want}, got {}", p.valid));
                        }
                    }
                    other => {
                        compare(v, position_value(p, other)).map_err(|e| format!("{other}: {e}"))?
                    }
                }
            }
            Ok(())
        }
        other => Err(format!("unknown check {other:?}")),
    }
}

/// Tally of a vectors run, printed at the end so the figures show in the test log.
#[derive(Debug, Default)]
pub struct Tally {
    /// Rows that passed, by kind.
    pub passed: BTreeMap<String, usize>,
    /// Rows skipped, with the written reason.
    pub skipped: Vec<(String, String)>,
    /// Failures.
    pub failed: Vec<String>,
}

impl Tally {
    /// Records a row's outcome.
    pub fn record(&mut self, row: &Row, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => *self.passed.entry(row.kind.clone()).or_default() += 1,
            Err(e) => self
                .failed
                .push(format!("{}: {e}\n    input: {}", row.label(), row.input)),
        }
    }

    /// Records a row skipped for a written reason.
    pub fn skip(&mut self, row: &Row, reason: &str) {
        self.skipped.push((row.label(), reason.to_string()));
    }

    /// Prints the summary and panics if any row failed.
    pub fn finish(self, file: &str, total: usize) {
        let passed: usize = self.passed.values().sum();
        println!(
            "{file}: {passed}/{total} rows passed {:?}, {} skipped, {} failed",
            self.passed,
            self.skipped.len(),
            self.failed.len()
        );
        for (label, why) in &self.skipped {
            println!("  skipped {label}: {why}");
        }
        assert_eq!(
            passed + self.skipped.len() + self.failed.len(),
            total,
            "every row must be accounted for"
        );
        if !self.failed.is_empty() {
            panic!(
                "{file}: {} rows failed:\n{}",
                self.failed.len(),
                self.failed.join("\n")
            );
        }
    }
}
