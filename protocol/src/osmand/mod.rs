//! OsmAnd HTTP protocol (OsmAnd "online tracking", Traccar Client, Transistorsoft
//! background-geolocation, many DIY devices).
//!
//! Not a byte stream: every request carries one report (or one JSON batch), so this module is a
//! set of pure parsing functions that the HTTP listener (actix-web in the `server` crate) calls:
//!
//! * [`parse_request`] — the whole request: picks the shape from the query, `Content-Type` and body
//!   like Traccar does (query string; else a JSON body when `Content-Type` starts with
//!   `application/json`; else a form body).
//! * [`parse_query`] — the query/form shape (`id=…&lat=…&lon=…`).
//! * [`parse_json`] — the JSON shape (Transistorsoft / Traccar Client ≥ 9), also usable on its own
//!   for JSON positions published over MQTT.
//! * [`response_body`] — the 200 response text that delivers a queued command.
//! * [`device`] — the device side: builds the query and JSON a phone would send.
//!
//! Choices (see `shared/protocols/osmand.md` for the wire reference):
//! * `timestamp` without a zone (`yyyy-MM-dd HH:mm:ss`) is read in [`OsmandConfig::local_offset`],
//!   **UTC by default** (Traccar uses the server's zone, which is a portability trap). It is a fixed
//!   offset: no daylight-saving rules.
//! * `lat=0&lon=0` (and JSON coords 0,0) mean "no fix", as in Traccar: the report becomes a
//!   [`DeviceMessage::Status`] and the server reuses the last location.
//! * Query `speed` is in knots unless [`OsmandConfig::speed_unit`] says otherwise; JSON speed is
//!   m/s. Vigil stores km/h. Negative speeds and headings mean "unknown".
//! * The JSON `accuracy` is kept as sent (Traccar's `osmand.minAccuracy` filter is a quirk, not the
//!   format).
//! * Names Traccar gives a meaning (`ignition`, `alarm`, `charge`, `armed`, `blocked`, `door`,
//!   `power`, `battery`, `batteryLevel`, `rssi`, `sat`, `odometer`) fill the typed model fields
//!   when their value has the right type, else they stay attributes: nothing a device sends is
//!   dropped, but a phone cannot inject e.g. an alarm the model does not know (unknown alarm texts
//!   become [`AlarmSet::raw`](crate::AlarmSet) with a stable hash and the `alarm` attribute).
//! * There is no authentication in the protocol; the server must treat the id as a claim.

mod fields;
mod json;
mod query;

pub mod device;

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, FixedOffset, Offset, Utc};

use crate::model::{
    CellTower, Command, CommandError, DeviceId, DeviceMessage, ModelError, Protocol,
};

pub use json::parse_json;
pub use query::parse_query;

/// Unit of the query-string `speed` parameter (Traccar's `osmand.speed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpeedUnit {
    /// Knots — Traccar's default and what Traccar Client sends.
    #[default]
    Knots,
    /// Kilometres per hour.
    Kmh,
    /// Metres per second.
    Mps,
    /// Miles per hour.
    Mph,
}

impl SpeedUnit {
    /// Converts a speed in this unit to km/h.
    pub fn to_kmh(self, value: f64) -> f64 {
        match self {
            SpeedUnit::Knots => value * 1.852,
            SpeedUnit::Kmh => value,
            SpeedUnit::Mps => value * 3.6,
            SpeedUnit::Mph => value * 1.609_344,
        }
    }

    /// Converts km/h to this unit (the device-side builder's inverse of [`SpeedUnit::to_kmh`]).
    pub fn from_kmh(self, kmh: f64) -> f64 {
        match self {
            SpeedUnit::Knots => kmh / 1.852,
            SpeedUnit::Kmh => kmh,
            SpeedUnit::Mps => kmh / 3.6,
            SpeedUnit::Mph => kmh / 1.609_344,
        }
    }
}

/// Limits and dialect settings of the OsmAnd parser.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmandConfig {
    /// Largest request body accepted, bytes (JSON batches are the big ones).
    pub max_body_bytes: usize,
    /// Largest query string accepted, bytes.
    pub max_query_bytes: usize,
    /// Most parameters (query/form pairs, or JSON `extras` entries per location) accepted.
    pub max_params: usize,
    /// Most locations accepted in one JSON batch (`"location": [ … ]`).
    pub max_batch: usize,
    /// Unit of the query-string `speed`.
    pub speed_unit: SpeedUnit,
    /// Zone of timestamps that carry none (`yyyy-MM-dd HH:mm:ss`); UTC by default.
    pub local_offset: FixedOffset,
}

impl Default for OsmandConfig {
    fn default() -> Self {
        OsmandConfig {
            max_body_bytes: 512 * 1024,
            max_query_bytes: 16 * 1024,
            max_params: 128,
            max_batch: 1000,
            speed_unit: SpeedUnit::Knots,
            local_offset: Utc.fix(),
        }
    }
}

/// Which of the three request shapes a report came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestShape {
    /// Parameters in the URI query string (`GET /?id=…`).
    Query,
    /// `application/x-www-form-urlencoded` body.
    Form,
    /// Transistorsoft JSON body.
    Json,
}

impl RequestShape {
    /// HTTP status Traccar answers when the id is not a known device: 400 for the query/form
    /// shapes, 404 for JSON.
    pub fn unknown_device_status(self) -> u16 {
        match self {
            RequestShape::Query | RequestShape::Form => 400,
            RequestShape::Json => 404,
        }
    }
}

/// A Wi-Fi access point the phone saw (`wifi=mac,rssi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WifiAccessPoint {
    /// MAC address (BSSID).
    pub mac: [u8; 6],
    /// Signal strength, dBm.
    pub rssi: i16,
}

impl fmt::Display for WifiAccessPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mac;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A GSM cell the phone saw (`cell=mcc,mnc,lac,cid[,rssi]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellInfo {
    /// The cell.
    pub tower: CellTower,
    /// Signal strength, dBm, when sent.
    pub rssi: Option<i16>,
}

/// Every cell and Wi-Fi access point of a query report, for network geolocation. The first cell
/// is also in the message's `cell` field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    /// Cells, in request order.
    pub cells: Vec<CellInfo>,
    /// Wi-Fi access points, in request order.
    pub wifi: Vec<WifiAccessPoint>,
}

impl Network {
    /// True when the request carried no cell and no Wi-Fi data.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.wifi.is_empty()
    }
}

/// What one OsmAnd request said.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmandReport {
    /// The device's unique id (`id`/`deviceid`/`device_id`) — a claim: the server looks it up and
    /// answers [`RequestShape::unknown_device_status`] when it is not registered.
    pub device: DeviceId,
    /// The request shape it came in.
    pub shape: RequestShape,
    /// A [`DeviceMessage::Position`] when the request carried a location,
    /// a [`DeviceMessage::Batch`] for a JSON `location` array, otherwise a
    /// [`DeviceMessage::Status`] with the time, state and attributes only: Traccar then reuses the
    /// device's last known location, and so must the server (the protocol crate has no state).
    pub message: DeviceMessage,
    /// All cells and Wi-Fi access points (query shape only).
    pub network: Network,
    /// The app's push-notification token (`notificationToken`), stored on the device, not on a
    /// position.
    pub notification_token: Option<String>,
    /// Entries of a JSON batch dropped because they had no `coords`.
    pub skipped_entries: usize,
}

/// Why an OsmAnd request was rejected; [`OsmandError::http_status`] says what to answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OsmandError {
    /// Neither `id`/`deviceid` (query/form) nor `device_id` (JSON) was sent.
    #[error("missing device id: send the `id` (or `deviceid`) parameter, or `device_id` in JSON")]
    MissingDeviceId,
    /// The id is not a valid device identifier.
    #[error(transparent)]
    InvalidDeviceId(ModelError),
    /// The body is larger than [`OsmandConfig::max_body_bytes`].
    #[error("request body of {len} bytes exceeds the limit of {max} bytes")]
    BodyTooLarge {
        /// Body size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The query string is longer than [`OsmandConfig::max_query_bytes`].
    #[error("query string of {len} bytes exceeds the limit of {max} bytes")]
    QueryTooLong {
        /// Query length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More parameters than [`OsmandConfig::max_params`].
    #[error("more than {max} parameters")]
    TooManyParameters {
        /// The limit.
        max: usize,
    },
    /// A JSON batch with more locations than [`OsmandConfig::max_batch`].
    #[error("batch of {len} locations exceeds the limit of {max}")]
    BatchTooLarge {
        /// Locations sent.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A JSON batch with no location at all.
    #[error("empty location batch")]
    EmptyBatch,
    /// A field that must be a finite number is not.
    #[error("field `{field}`: {value:?} is not a finite number")]
    InvalidNumber {
        /// The parameter or JSON path.
        field: String,
        /// What was sent (cut to 64 characters).
        value: String,
    },
    /// A field whose value does not have the expected form.
    #[error("field `{field}`: {value:?} is not {expected}")]
    InvalidValue {
        /// The parameter or JSON path.
        field: String,
        /// What was sent (cut to 64 characters).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A timestamp in none of the accepted forms.
    #[error(
        "bad timestamp {value:?}: expected Unix seconds or milliseconds, ISO-8601, or `yyyy-MM-dd HH:mm:ss`"
    )]
    InvalidTimestamp {
        /// What was sent (cut to 64 characters).
        value: String,
    },
    /// Latitude/longitude out of range or not finite.
    #[error(transparent)]
    InvalidCoordinates(ModelError),
    /// Only one of latitude and longitude was sent.
    #[error("incomplete location: `{missing}` is missing")]
    IncompleteLocation {
        /// The missing half.
        missing: &'static str,
    },
    /// A JSON body that does not parse or has a field of the wrong type.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
}

impl OsmandError {
    /// HTTP status the listener answers with (400, or 413/414 for oversized input).
    pub fn http_status(&self) -> u16 {
        match self {
            OsmandError::BodyTooLarge { .. } | OsmandError::BatchTooLarge { .. } => 413,
            OsmandError::QueryTooLong { .. } => 414,
            _ => 400,
        }
    }

    /// Short stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            OsmandError::MissingDeviceId => "missing_device_id",
            OsmandError::InvalidDeviceId(_) => "invalid_device_id",
            OsmandError::BodyTooLarge { .. } => "body_too_large",
            OsmandError::QueryTooLong { .. } => "query_too_long",
            OsmandError::TooManyParameters { .. } => "too_many_parameters",
            OsmandError::BatchTooLarge { .. } => "batch_too_large",
            OsmandError::EmptyBatch => "empty_batch",
            OsmandError::InvalidNumber { .. } => "invalid_number",
            OsmandError::InvalidValue { .. } => "invalid_value",
            OsmandError::InvalidTimestamp { .. } => "invalid_timestamp",
            OsmandError::InvalidCoordinates(_) => "invalid_coordinates",
            OsmandError::IncompleteLocation { .. } => "incomplete_location",
            OsmandError::InvalidJson(_) => "invalid_json",
        }
    }
}

/// Parses one OsmAnd HTTP request.
///
/// Shape selection follows Traccar: a non-empty body whose `Content-Type` starts with
/// `application/json` (or, with no `Content-Type`, that starts with `{`/`[`) is JSON, with an
/// `id`/`deviceid` in the URI query as the fallback for a missing `device_id`; otherwise
/// parameters in the URI query are used if there are any, else the body is parsed as a form.
/// `GET` bodies are ignored; `method` is otherwise not checked (devices use GET and POST alike). `received_at` is the time used when
/// the request carries none. Nothing here reads a clock.
pub fn parse_request(
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: &[u8],
    received_at: DateTime<Utc>,
    config: &OsmandConfig,
) -> Result<OsmandReport, OsmandError> {
    if body.len() > config.max_body_bytes {
        return Err(OsmandError::BodyTooLarge {
            len: body.len(),
            max: config.max_body_bytes,
        });
    }
    let query = query_of(uri);
    if query.len() > config.max_query_bytes {
        return Err(OsmandError::QueryTooLong {
            len: query.len(),
            max: config.max_query_bytes,
        });
    }
    let body = if method.eq_ignore_ascii_case("GET") {
        &[][..]
    } else {
        body
    };
    if !body.is_empty() && is_json(content_type, body) {
        // Some apps put the id in the URL of a JSON POST; the body's `device_id` still wins.
        let url_device = query_device(query, config)?;
        return json::parse_json_body(body, url_device, received_at, config);
    }
    if has_parameters(query) {
        return query::parse_params(query.as_bytes(), RequestShape::Query, received_at, config);
    }
    query::parse_params(body, RequestShape::Form, received_at, config)
}

/// The text of the 200 response that hands `command` to the app (Traccar Client shows or
/// executes it). Only [`Command::Custom`] exists in this protocol.
pub fn response_body(command: &Command) -> Result<Cow<'_, str>, CommandError> {
    match command {
        Command::Custom { text } => Ok(Cow::Borrowed(text.as_str())),
        other => Err(CommandError::Unsupported {
            protocol: Protocol::Osmand,
            command: other.name(),
        }),
    }
}

/// The query part of a request target (after `?`, before `#`).
fn query_of(uri: &str) -> &str {
    let Some((_, rest)) = uri.split_once('?') else {
        return "";
    };
    rest.split_once('#').map_or(rest, |(q, _)| q)
}

/// The `id`/`deviceid` of a query string, if it has one (the last one wins, as in the query shape).
fn query_device(query: &str, config: &OsmandConfig) -> Result<Option<DeviceId>, OsmandError> {
    let mut device = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()).take(config.max_params) {
        if (key == "id" || key == "deviceid") && !value.trim().is_empty() {
            device = Some(DeviceId::parse(value.trim()).map_err(OsmandError::InvalidDeviceId)?);
        }
    }
    Ok(device)
}

/// Whether a query string holds at least one named parameter (`?&` or `?` alone do not count).
fn has_parameters(query: &str) -> bool {
    query.split('&').any(|pair| !pair.is_empty())
}

fn is_json(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type {
        Some(ct) => {
            let ct = ct.trim_start();
            ct.get(..16)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/json"))
        }
        None => matches!(
            body.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[')
        ),
    }
}

#[cfg(test)]
mod tests;
