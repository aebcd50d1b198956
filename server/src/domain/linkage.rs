//! Video patrol, ground patrol and checkpoints acting together on a theft (issue 15): the
//! county's cameras and police checkpoints as the domain sees them, the values they are made
//! of (kind, facing, codes), what an alarm's linkage shows (cameras passed, checkpoints ahead)
//! and the intercept requests sent to checkpoints. The geometry is the `geofence` crate's
//! (`linkage`, `crs`, `grid_cells`, reached through [`super::engine`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What kind of camera network a camera belongs to (the programme's four kinds plus traffic).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CameraKind {
    /// Public-security HD cameras (公安高清).
    Public,
    /// Cameras of institutions (单位).
    Institution,
    /// Social cameras (社会面).
    Social,
    /// Rural cameras (农村).
    Rural,
    /// Traffic cameras (交通).
    Traffic,
}

impl CameraKind {
    /// Every kind.
    pub const ALL: [CameraKind; 5] = [
        CameraKind::Public,
        CameraKind::Institution,
        CameraKind::Social,
        CameraKind::Rural,
        CameraKind::Traffic,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraKind::Public => "public",
            CameraKind::Institution => "institution",
            CameraKind::Social => "social",
            CameraKind::Rural => "rural",
            CameraKind::Traffic => "traffic",
        }
    }

    /// Parses a stored or imported name (case-insensitive on import).
    pub fn parse(s: &str) -> Option<CameraKind> {
        let s = s.trim();
        CameraKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// Why a value of a camera or checkpoint is refused (the message is the API's; the field is
/// named by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidField(pub String);

fn invalid(msg: impl Into<String>) -> InvalidField {
    InvalidField(msg.into())
}

/// A camera or checkpoint code: 1–64 printable characters without spaces at either end.
/// A camera code of exactly 20 digits is read as a GB/T 28181 device code and must be one
/// ([`Code::camera`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Code(String);

impl Code {
    /// A checkpoint code (or any code).
    pub fn parse(s: &str) -> Result<Code, InvalidField> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 64 {
            return Err(invalid("code must be 1 to 64 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid("code must not contain control characters"));
        }
        Ok(Code(s.to_owned()))
    }

    /// A camera code: as [`Code::parse`], and a 20-digit code must be a GB/T 28181 device
    /// code: an administrative division (province 11–82) in digits 1–2 and a device type
    /// 111–199 (front-end devices: 131 camera, 132 IPC, …) in digits 11–13.
    pub fn camera(s: &str) -> Result<Code, InvalidField> {
        let code = Code::parse(s)?;
        let c = code.0.as_bytes();
        if c.len() == 20 && c.iter().all(u8::is_ascii_digit) {
            let num = |r: std::ops::Range<usize>| -> u32 {
                c[r].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
            };
            let province = num(0..2);
            let kind = num(10..13);
            if !(11..=82).contains(&province) {
                return Err(invalid(format!(
                    "a 20-digit code is a GB/T 28181 device code: its province {province:02} is no administrative division (11–82)"
                )));
            }
            if !(111..=199).contains(&kind) {
                return Err(invalid(format!(
                    "a 20-digit code is a GB/T 28181 device code: its type {kind} (digits 11–13) is no front-end device (111–199)"
                )));
            }
        }
        Ok(code)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stored code, taken as it is.
    pub fn stored(s: String) -> Code {
        Code(s)
    }
}

/// Where a camera looks, degrees clockwise from north in [0, 360).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facing(f64);

impl Facing {
    /// Degrees, normalised into [0, 360); refused when not finite.
    pub fn degrees(d: f64) -> Result<Facing, InvalidField> {
        if !d.is_finite() {
            return Err(invalid("facing must be a number of degrees"));
        }
        Ok(Facing(d.rem_euclid(360.0)))
    }

    /// A compass point as GB/T 28181's DirectionType gives it, in letters (`N`, `NE`, `E`,
    /// `SE`, `S`, `SW`, `W`, `NW`) or Chinese (北, 东北, 东, 东南, 南, 西南, 西, 西北), or a number
    /// of degrees written as text.
    pub fn parse(s: &str) -> Result<Facing, InvalidField> {
        let s = s.trim();
        let deg = match s.to_ascii_uppercase().as_str() {
            "N" | "北" => 0.0,
            "NE" | "东北" => 45.0,
            "E" | "东" => 90.0,
            "SE" | "东南" => 135.0,
            "S" | "南" => 180.0,
            "SW" | "西南" => 225.0,
            "W" | "西" => 270.0,
            "NW" | "西北" => 315.0,
            other => other.parse::<f64>().map_err(|_| {
                invalid(format!(
                    "facing {s:?} is neither degrees nor a compass point (N, NE, E, SE, S, SW, W, NW)"
                ))
            })?,
        };
        Facing::degrees(deg)
    }

    /// GB/T 28181-2016's numeric `DirectionType` of a camera's catalogue entry: 1 east, 2
    /// west, 3 south, 4 north, 5 south-east, 6 north-east, 7 south-west, 8 north-west.
    pub fn direction_type(n: i64) -> Result<Facing, InvalidField> {
        let deg = match n {
            1 => 90.0,
            2 => 270.0,
            3 => 180.0,
            4 => 0.0,
            5 => 135.0,
            6 => 45.0,
            7 => 225.0,
            8 => 315.0,
            _ => {
                return Err(invalid(format!(
                    "direction_type {n} is not a GB/T 28181 DirectionType (1–8)"
                )));
            }
        };
        Facing::degrees(deg)
    }

    /// Degrees clockwise from north.
    pub fn deg(self) -> f64 {
        self.0
    }
}

/// Checks a WGS-84 position.
pub fn check_position(lat: f64, lon: f64) -> Result<(), (&'static str, InvalidField)> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(("lat", invalid("lat must be within ±90 degrees")));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(("lon", invalid("lon must be within ±180 degrees")));
    }
    Ok(())
}

/// Field of view, degrees: (0, 360].
pub fn check_fov(d: f64) -> Result<f64, InvalidField> {
    if d.is_finite() && d > 0.0 && d <= 360.0 {
        Ok(d)
    } else {
        Err(invalid("fov_deg must be in (0, 360]"))
    }
}

/// Range, metres: (0, 2000].
pub fn check_range(m: f64) -> Result<f64, InvalidField> {
    if m.is_finite() && m > 0.0 && m <= 2000.0 {
        Ok(m)
    } else {
        Err(invalid("range_m must be in (0, 2000] metres"))
    }
}

/// Staffed hours `HH:MM-HH:MM` (local time; may wrap past midnight, `22:00-06:00`).
pub fn check_staffed_hours(s: &str) -> Result<String, InvalidField> {
    let s = s.trim();
    let hm = |t: &str| -> Option<u32> {
        let (h, m) = t.split_once(':')?;
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h <= 24 && m < 60 && (h < 24 || m == 0) && t.len() == 5).then_some(h * 60 + m)
    };
    match s.split_once('-') {
        Some((a, b)) if hm(a).is_some() && hm(b).is_some() && a != b => Ok(s.to_owned()),
        _ => Err(invalid(format!(
            "staffed_hours {s:?} must be HH:MM-HH:MM (e.g. 08:00-20:00)"
        ))),
    }
}

/// Checks an optional free text (name, video ids): at most `max` characters, no control
/// characters.
pub fn check_text(field: &str, s: &str, max: usize) -> Result<String, InvalidField> {
    let s = s.trim();
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be at most {max} characters without control characters"
        )));
    }
    Ok(s.to_owned())
}

/// A camera as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Camera {
    /// Id.
    pub id: i64,
    /// Code (GB/T 28181 device code where there is one).
    #[schema(value_type = String)]
    pub code: Code,
    /// Name.
    pub name: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Degrees clockwise from north; null = unknown (any direction counts).
    pub facing_deg: Option<f64>,
    /// Field of view, degrees.
    pub fov_deg: f64,
    /// Range, metres.
    pub range_m: f64,
    /// Network.
    pub kind: CameraKind,
    /// Responsible patrol unit.
    pub unit_id: Option<i64>,
    /// Video platform device id (GB/T 28181).
    pub video_device_id: Option<String>,
    /// Video platform channel id.
    pub video_channel_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A camera to create, update or import (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCamera {
    /// Code.
    pub code: Code,
    /// Name.
    pub name: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Facing (None: unknown).
    pub facing: Option<Facing>,
    /// Field of view, degrees (default 90).
    pub fov_deg: f64,
    /// Range, metres (default 60).
    pub range_m: f64,
    /// Kind.
    pub kind: CameraKind,
    /// Unit.
    pub unit_id: Option<i64>,
    /// Video device id.
    pub video_device_id: Option<String>,
    /// Video channel id.
    pub video_channel_id: Option<String>,
}

/// Default field of view, degrees.
pub const DEFAULT_FOV_DEG: f64 = 90.0;
/// Default range, metres.
pub const DEFAULT_RANGE_M: f64 = 60.0;

/// A police checkpoint as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Id.
    pub id: i64,
    /// Code.
    #[schema(value_type = String)]
    pub code: Code,
    /// Name.
    pub name: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// The patrol unit that staffs it (receives intercept requests).
    pub unit_id: Option<i64>,
    /// `HH:MM-HH:MM` local time; null = always / unknown.
    pub staffed_hours: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A checkpoint to create, update or import (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCheckpoint {
    /// Code.
    pub code: Code,
    /// Name.
    pub name: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Unit.
    pub unit_id: Option<i64>,
    /// Staffed hours.
    pub staffed_hours: Option<String>,
}

/// A camera the vehicle passed, with the window to look at in the recording.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CameraPassed {
    /// Camera id.
    pub camera_id: i64,
    /// Camera code.
    #[schema(value_type = String)]
    pub code: Code,
    /// Camera name.
    pub name: String,
    /// Camera latitude.
    pub lat: f64,
    /// Camera longitude.
    pub lon: f64,
    /// Start of the window the vehicle was in view (widened by the fix gap).
    pub from: DateTime<Utc>,
    /// End of the window.
    pub to: DateTime<Utc>,
    /// Interpolated time of the closest approach inside the view.
    pub at: DateTime<Utc>,
    /// Closest distance inside the view, metres.
    pub distance_m: f64,
    /// The recording of that window (`video_playback_url`); null without a template or a
    /// video reference.
    pub playback_url: Option<String>,
}

/// A checkpoint the vehicle can reach, by estimated arrival.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CheckpointAheadView {
    /// Checkpoint id.
    pub checkpoint_id: i64,
    /// Code.
    #[schema(value_type = String)]
    pub code: Code,
    /// Name.
    pub name: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// The unit that staffs it.
    pub unit_id: Option<i64>,
    /// Straight distance from the latest fix, metres.
    pub distance_m: f64,
    /// Estimated arrival: distance × detour factor / max(speed, 20 km/h), seconds.
    pub eta_secs: f64,
}

/// An intercept request: a checkpoint asked to stop the vehicle of an alarm.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Intercept {
    /// Id.
    pub id: i64,
    /// The alarm.
    pub alarm_id: i64,
    /// The checkpoint.
    pub checkpoint_id: i64,
    /// Checkpoint code.
    #[schema(value_type = String)]
    pub checkpoint_code: Code,
    /// Checkpoint name.
    pub checkpoint_name: String,
    /// Checkpoint latitude.
    pub lat: f64,
    /// Checkpoint longitude.
    pub lon: f64,
    /// The unit notified (the checkpoint's).
    pub unit_id: Option<i64>,
    /// Who asked.
    pub requested_by: Option<i64>,
    /// Estimated arrival when asked, seconds (null: no fix).
    pub eta_secs: Option<f64>,
    /// Straight distance when asked, metres.
    pub distance_m: Option<f64>,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// The playback link of a camera pass: `template` with `{device}`, `{channel}`, `{from}`,
/// `{to}` (ISO-8601 UTC, `2026-12-03T10:00:00Z`) and `{from_unix}`, `{to_unix}` (seconds)
/// replaced; none for an empty template or a camera without a video device id.
pub fn playback_url(
    template: &str,
    device: Option<&str>,
    channel: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<String> {
    let device = device.filter(|d| !d.is_empty())?;
    if template.is_empty() {
        return None;
    }
    let iso = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Some(
        template
            .replace("{device}", &url_part(device))
            .replace("{channel}", &url_part(channel.unwrap_or(device)))
            .replace("{from_unix}", &from.timestamp().to_string())
            .replace("{to_unix}", &to.timestamp().to_string())
            .replace("{from}", &iso(from))
            .replace("{to}", &iso(to)),
    )
}

/// Percent-encodes what is not unreserved in a URL.
fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The placeholders a playback template may use.
pub const PLAYBACK_PLACEHOLDERS: [&str; 6] =
    ["device", "channel", "from", "to", "from_unix", "to_unix"];

/// Checks a playback template: empty, or an http(s) URL whose `{…}` are known placeholders.
pub fn check_playback_template(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Ok(());
    }
    if !(t.starts_with("http://") || t.starts_with("https://")) {
        return Err("must be empty or an http:// or https:// URL".into());
    }
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('}') else {
            return Err("has a { without }".into());
        };
        let name = &after[..j];
        if !PLAYBACK_PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; use {PLAYBACK_PLACEHOLDERS:?}"
            ));
        }
        rest = &after[j + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(Code::camera("34020000001320000001").is_ok());
        // Type 500 is no front-end device; province 99 no division.
        assert!(Code::camera("34020000005000000001").is_err());
        assert!(Code::camera("99020000001320000001").is_err());
        // Other codes are free text.
        assert!(Code::camera("CAM-001").is_ok());
        assert!(Code::camera("1234").is_ok());
        assert!(Code::parse("").is_err());
        assert!(Code::parse("a\u{7}").is_err());
    }

    #[test]
    fn facings() {
        assert_eq!(Facing::parse("NE").unwrap().deg(), 45.0);
        assert_eq!(Facing::parse("西北").unwrap().deg(), 315.0);
        assert_eq!(Facing::parse("-90").unwrap().deg(), 270.0);
        assert_eq!(Facing::direction_type(1).unwrap().deg(), 90.0);
        assert_eq!(Facing::direction_type(4).unwrap().deg(), 0.0);
        assert!(Facing::parse("up").is_err());
        assert!(Facing::direction_type(9).is_err());
    }

    #[test]
    fn hours_and_templates() {
        assert!(check_staffed_hours("22:00-06:00").is_ok());
        assert!(check_staffed_hours("8:00-20:00").is_err());
        assert!(check_staffed_hours("08:00-24:00").is_ok());
        assert!(check_playback_template("").is_ok());
        assert!(
            check_playback_template(
                "http://wvp/api/playback/start/{device}/{channel}?startTime={from}&endTime={to}"
            )
            .is_ok()
        );
        assert!(check_playback_template("http://wvp/{camera}").is_err());
        let t = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        assert_eq!(
            playback_url(
                "http://v/{device}/{channel}?s={from}&e={to_unix}",
                Some("34020000001320000001"),
                Some("ch 1"),
                t,
                t
            )
            .unwrap(),
            "http://v/34020000001320000001/ch%201?s=2024-01-01T00:00:00Z&e=1704067200"
        );
        assert_eq!(playback_url("", Some("d"), None, t, t), None);
        assert_eq!(playback_url("http://v/{device}", None, None, t, t), None);
    }
}
