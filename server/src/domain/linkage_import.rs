//! Reading cameras and checkpoints from what vendors and administrators have: a GeoJSON
//! FeatureCollection of Points or a CSV file with a header row, positions in WGS-84, GCJ-02 or
//! BD-09 (converted to WGS-84 here). Every row is checked before anything is stored; the
//! first bad one is an [`ImportError`] naming its CSV line or feature index and the field.
//! The same field rules serve a single JSON object (create and update).
//!
//! Fields (CSV columns / GeoJSON properties; unknown ones are ignored, names are
//! case-insensitive): `code`, `name`, `lat`/`latitude`, `lon`/`lng`/`longitude` (GeoJSON: the
//! Point), cameras: `facing` (degrees or N/NE/…/北/东北…), `direction_type` (GB/T 28181 1–8),
//! `fov_deg`, `range_m`, `kind`, `unit_id`, `video_device_id`, `video_channel_id`;
//! checkpoints: `unit_id`, `staffed_hours`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::engine::crs::Crs;
use super::linkage::{
    CameraKind, Code, DEFAULT_FOV_DEG, DEFAULT_RANGE_M, Facing, InvalidField, NewCamera,
    NewCheckpoint, check_fov, check_position, check_range, check_staffed_hours, check_text,
};

/// Rows one import may hold.
pub const MAX_ROWS: usize = 200_000;

/// The file formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row (RFC 4180 quoting; `,` separated; UTF-8, a BOM is skipped).
    Csv,
    /// A GeoJSON FeatureCollection of Points.
    GeoJson,
}

/// Where a bad value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// CSV line (1-based; the header is line 1).
    Line(usize),
    /// GeoJSON feature index (0-based).
    Feature(usize),
}

/// Why an import (or a create/update body) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    /// Line or feature (none for a single object or the file as a whole).
    pub at: Option<Location>,
    /// The field (none for the row or file as a whole).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(Location::Line(n)) => write!(f, "line {n}: ")?,
            Some(Location::Feature(n)) => write!(f, "feature {n}: ")?,
            None => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

fn file_error(message: impl Into<String>) -> ImportError {
    ImportError {
        at: None,
        field: None,
        message: message.into(),
    }
}

/// One row: its fields by lower-case name, and where it is.
#[derive(Debug, Clone)]
pub struct Record {
    fields: HashMap<String, Value>,
    at: Option<Location>,
}

impl Record {
    /// A JSON object (a create or update body; a GeoJSON feature's properties).
    pub fn from_object(obj: &serde_json::Map<String, Value>, at: Option<Location>) -> Record {
        Record {
            fields: obj
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            at,
        }
    }

    fn err(&self, field: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            at: self.at,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    fn bad(&self, field: &str, e: InvalidField) -> ImportError {
        self.err(field, e.0)
    }

    /// The first present, non-empty value among `names`, with the name it had.
    fn get(&self, names: &[&'static str]) -> Option<(&'static str, &Value)> {
        names.iter().find_map(|n| {
            self.fields
                .get(*n)
                .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
                .map(|v| (*n, v))
        })
    }

    fn text(&self, name: &'static str) -> Result<Option<String>, ImportError> {
        match self.get(&[name]) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some((_, Value::Number(n))) => Ok(Some(n.to_string())),
            Some(_) => Err(self.err(name, "must be text")),
        }
    }

    fn number(&self, names: &[&'static str]) -> Result<Option<(&'static str, f64)>, ImportError> {
        match self.get(names) {
            None => Ok(None),
            Some((n, Value::Number(x))) => x
                .as_f64()
                .map(|x| Some((n, x)))
                .ok_or_else(|| self.err(n, "must be a number")),
            Some((n, Value::String(s))) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(|x| Some((n, x)))
                .ok_or_else(|| self.err(n, format!("{s:?} is not a number"))),
            Some((n, _)) => Err(self.err(n, "must be a number")),
        }
    }

    fn integer(&self, name: &'static str) -> Result<Option<i64>, ImportError> {
        match self.number(&[name])? {
            None => Ok(None),
            Some((_, x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
            Some(_) => Err(self.err(name, "must be a whole number")),
        }
    }

    fn required_text(&self, name: &'static str) -> Result<String, ImportError> {
        self.text(name)?
            .ok_or_else(|| self.err(name, "is required"))
    }

    /// The position, converted from `crs` to WGS-84.
    fn position(&self, crs: Crs) -> Result<(f64, f64), ImportError> {
        let lat = self
            .number(&["lat", "latitude"])?
            .ok_or_else(|| self.err("lat", "is required"))?
            .1;
        let lon = self
            .number(&["lon", "lng", "longitude"])?
            .ok_or_else(|| self.err("lon", "is required"))?
            .1;
        check_position(lat, lon).map_err(|(f, e)| self.bad(f, e))?;
        let (lat, lon) = crs.to_wgs84(lat, lon);
        check_position(lat, lon).map_err(|(f, e)| self.bad(f, e))?;
        Ok((lat, lon))
    }

    fn code(&self, camera: bool) -> Result<Code, ImportError> {
        let s = self.required_text("code")?;
        if camera {
            Code::camera(&s)
        } else {
            Code::parse(&s)
        }
        .map_err(|e| self.bad("code", e))
    }

    fn opt_text(&self, name: &'static str, max: usize) -> Result<Option<String>, ImportError> {
        match self.text(name)? {
            None => Ok(None),
            Some(s) => check_text(name, &s, max)
                .map(Some)
                .map_err(|e| self.bad(name, e)),
        }
    }

    /// A camera from this record.
    pub fn camera(&self, crs: Crs) -> Result<NewCamera, ImportError> {
        let code = self.code(true)?;
        let (lat, lon) = self.position(crs)?;
        let facing = match (
            self.get(&["facing", "facing_deg"]),
            self.integer("direction_type")?,
        ) {
            (Some((n, Value::Number(x))), _) => {
                Some(Facing::degrees(x.as_f64().unwrap_or(f64::NAN)).map_err(|e| self.bad(n, e))?)
            }
            (Some((n, Value::String(s))), _) => Some(Facing::parse(s).map_err(|e| self.bad(n, e))?),
            (Some((n, _)), _) => return Err(self.err(n, "must be degrees or a compass point")),
            (None, Some(d)) => {
                Some(Facing::direction_type(d).map_err(|e| self.bad("direction_type", e))?)
            }
            (None, None) => None,
        };
        let fov_deg = match self.number(&["fov_deg", "fov"])? {
            Some((n, x)) => check_fov(x).map_err(|e| self.bad(n, e))?,
            None => DEFAULT_FOV_DEG,
        };
        let range_m = match self.number(&["range_m", "range"])? {
            Some((n, x)) => check_range(x).map_err(|e| self.bad(n, e))?,
            None => DEFAULT_RANGE_M,
        };
        let kind = self.required_text("kind")?;
        let kind = CameraKind::parse(&kind).ok_or_else(|| {
            self.err(
                "kind",
                format!(
                    "{kind:?} is not one of {:?}",
                    CameraKind::ALL.map(|k| k.as_str())
                ),
            )
        })?;
        Ok(NewCamera {
            code,
            name: self.opt_text("name", 200)?.unwrap_or_default(),
            lat,
            lon,
            facing,
            fov_deg,
            range_m,
            kind,
            unit_id: self.integer("unit_id")?,
            video_device_id: self.opt_text("video_device_id", 64)?,
            video_channel_id: self.opt_text("video_channel_id", 64)?,
        })
    }

    /// A checkpoint from this record.
    pub fn checkpoint(&self, crs: Crs) -> Result<NewCheckpoint, ImportError> {
        let code = self.code(false)?;
        let (lat, lon) = self.position(crs)?;
        let staffed_hours = match self.text("staffed_hours")? {
            Some(s) => Some(check_staffed_hours(&s).map_err(|e| self.bad("staffed_hours", e))?),
            None => None,
        };
        Ok(NewCheckpoint {
            code,
            name: self.opt_text("name", 200)?.unwrap_or_default(),
            lat,
            lon,
            unit_id: self.integer("unit_id")?,
            staffed_hours,
        })
    }

    /// Where the record is.
    pub fn at(&self) -> Option<Location> {
        self.at
    }

    /// Names the unit id field as unknown (the caller checks units against storage).
    pub fn unknown_unit(at: Option<Location>, unit: i64) -> ImportError {
        ImportError {
            at,
            field: Some("unit_id".into()),
            message: format!("no patrol unit {unit}"),
        }
    }
}

/// The records of a file.
pub fn records(bytes: &[u8], format: Format) -> Result<Vec<Record>, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| file_error(format!("not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let out = match format {
        Format::Csv => csv_records(text)?,
        Format::GeoJson => geojson_records(text)?,
    };
    if out.len() > MAX_ROWS {
        return Err(file_error(format!("more than {MAX_ROWS} rows")));
    }
    Ok(out)
}

fn geojson_records(text: &str) -> Result<Vec<Record>, ImportError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| file_error(format!("invalid JSON: {e}")))?;
    if v["type"] != "FeatureCollection" {
        return Err(ImportError {
            at: None,
            field: Some("type".into()),
            message: "must be a GeoJSON FeatureCollection".into(),
        });
    }
    let features = v["features"].as_array().ok_or_else(|| ImportError {
        at: None,
        field: Some("features".into()),
        message: "must be an array".into(),
    })?;
    let mut out = Vec::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        let at = Some(Location::Feature(i));
        let err = |field: &str, message: &str| ImportError {
            at,
            field: Some(field.to_owned()),
            message: message.to_owned(),
        };
        if f["type"] != "Feature" {
            return Err(err("type", "must be a Feature"));
        }
        let g = &f["geometry"];
        if g["type"] != "Point" {
            return Err(err("geometry", "must be a Point"));
        }
        let c = g["coordinates"].as_array().filter(|c| c.len() >= 2);
        let (Some(lon), Some(lat)) = (c.and_then(|c| c[0].as_f64()), c.and_then(|c| c[1].as_f64()))
        else {
            return Err(err("geometry", "coordinates must be [lon, lat]"));
        };
        let mut rec = match &f["properties"] {
            Value::Object(o) => Record::from_object(o, at),
            Value::Null => Record::from_object(&serde_json::Map::new(), at),
            _ => return Err(err("properties", "must be an object")),
        };
        // The geometry is the position; properties cannot override it.
        for k in ["latitude", "longitude", "lng"] {
            rec.fields.remove(k);
        }
        rec.fields.insert("lat".into(), lat.into());
        rec.fields.insert("lon".into(), lon.into());
        out.push(rec);
    }
    Ok(out)
}

/// RFC 4180 CSV: fields separated by `,`, quoted with `"` (doubled inside), rows by CRLF or LF
/// (also inside quotes). Returns each row's fields and its first line number.
fn csv_rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, ImportError> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut row_line = 1;
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                was_quoted = false;
                if !(row.len() == 1 && row[0].trim().is_empty()) {
                    rows.push((row_line, std::mem::take(&mut row)));
                }
                row.clear();
                line += 1;
                row_line = line;
            }
            '"' => {
                return Err(ImportError {
                    at: Some(Location::Line(line)),
                    field: None,
                    message: "a quote inside an unquoted field".into(),
                });
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(ImportError {
            at: Some(Location::Line(row_line)),
            field: None,
            message: "a quoted field is not closed".into(),
        });
    }
    row.push(field);
    if !(row.len() == 1 && row[0].trim().is_empty()) {
        rows.push((row_line, row));
    }
    Ok(rows)
}

fn csv_records(text: &str) -> Result<Vec<Record>, ImportError> {
    let mut rows = csv_rows(text)?.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(file_error("empty file: a header row is required"));
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut seen = HashSet::new();
    for h in &header {
        if !h.is_empty() && !seen.insert(h) {
            return Err(ImportError {
                at: Some(Location::Line(1)),
                field: Some(h.clone()),
                message: "column appears twice".into(),
            });
        }
    }
    let mut out = Vec::new();
    for (line, fields) in rows {
        if fields.len() != header.len() {
            return Err(ImportError {
                at: Some(Location::Line(line)),
                field: None,
                message: format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    header.len()
                ),
            });
        }
        out.push(Record {
            fields: header
                .iter()
                .cloned()
                .zip(fields.into_iter().map(Value::String))
                .collect(),
            at: Some(Location::Line(line)),
        });
    }
    Ok(out)
}

/// Refuses a code that appears twice in one import (naming the second).
pub fn check_unique_codes<'a>(
    codes: impl Iterator<Item = (Option<Location>, &'a Code)>,
) -> Result<(), ImportError> {
    let mut seen = HashSet::new();
    for (at, code) in codes {
        if !seen.insert(code) {
            return Err(ImportError {
                at,
                field: Some("code".into()),
                message: format!("code {:?} appears twice in the file", code.as_str()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_line_numbers() {
        let csv = "code,name,lat,lon,kind\r\nA,\"North, gate\",22.5,114.0,public\n\nB,\"two\nlines\",22.6,114.1,rural\nC,x,95,114,public\n";
        let recs = records(csv.as_bytes(), Format::Csv).unwrap();
        assert_eq!(recs.len(), 3);
        let a = recs[0].camera(Crs::Wgs84).unwrap();
        assert_eq!(a.name, "North, gate");
        // A quoted field may span lines (it is one field of the row on line 4); a name with a
        // line break is refused, naming that line.
        let e = recs[1].camera(Crs::Wgs84).unwrap_err();
        assert_eq!(
            (e.at, e.field.as_deref()),
            (Some(Location::Line(4)), Some("name"))
        );
        let e = recs[2].camera(Crs::Wgs84).unwrap_err();
        assert_eq!(e.at, Some(Location::Line(6)));
        assert_eq!(e.field.as_deref(), Some("lat"));
        assert!(e.to_string().starts_with("line 6: lat:"), "{e}");
    }

    #[test]
    fn geojson_features() {
        let g = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[114.0,22.5]},"properties":{"code":"A","kind":"social","facing":"NE"}},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[114.0,22.5]},"properties":{"code":"B","kind":"moon"}}]}"#;
        let recs = records(g.as_bytes(), Format::GeoJson).unwrap();
        let a = recs[0].camera(Crs::Wgs84).unwrap();
        assert_eq!(a.facing.map(|f| f.deg()), Some(45.0));
        assert_eq!((a.fov_deg, a.range_m), (90.0, 60.0));
        let e = recs[1].camera(Crs::Wgs84).unwrap_err();
        assert_eq!(
            (e.at, e.field.as_deref()),
            (Some(Location::Feature(1)), Some("kind"))
        );
    }

    #[test]
    fn duplicate_codes_and_columns() {
        let csv = "code,lat,lon,kind\nA,1,1,public\nA,1,1,public\n";
        let recs = records(csv.as_bytes(), Format::Csv).unwrap();
        let cams: Vec<_> = recs
            .iter()
            .map(|r| (r.at(), r.camera(Crs::Wgs84).unwrap()))
            .collect();
        let e = check_unique_codes(cams.iter().map(|(at, c)| (*at, &c.code))).unwrap_err();
        assert_eq!(e.at, Some(Location::Line(3)));
        assert!(records(b"code,code\n1,2\n", Format::Csv).is_err());
        assert!(records(b"code,lat\n1\n", Format::Csv).is_err());
    }
}
