//! The query-string / form-body shape: `id=…&timestamp=…&lat=…&lon=…&speed=…`.

use chrono::{DateTime, Utc};

use super::fields::{Fields, attr_value, boolean, number, quote, timestamp};
use super::{
    CellInfo, Network, OsmandConfig, OsmandError, OsmandReport, RequestShape, WifiAccessPoint,
};
use crate::model::{AttrValue, CellTower, DeviceId};

/// Parses a query string or `application/x-www-form-urlencoded` body (without the leading `?`).
///
/// Percent-decoding and `+` as space follow the URL standard (the `form_urlencoded` crate);
/// invalid UTF-8 is replaced, not rejected. Names are case-sensitive. Repeated `cell`/`wifi`
/// parameters accumulate; for any other repeated name the last one wins.
pub fn parse_query(
    query: &[u8],
    received_at: DateTime<Utc>,
    config: &OsmandConfig,
) -> Result<OsmandReport, OsmandError> {
    if query.len() > config.max_query_bytes.max(config.max_body_bytes) {
        return Err(OsmandError::QueryTooLong {
            len: query.len(),
            max: config.max_query_bytes.max(config.max_body_bytes),
        });
    }
    parse_params(query, RequestShape::Query, received_at, config)
}

pub(super) fn parse_params(
    params: &[u8],
    shape: RequestShape,
    received_at: DateTime<Utc>,
    config: &OsmandConfig,
) -> Result<OsmandReport, OsmandError> {
    let mut device: Option<DeviceId> = None;
    let mut fields = Fields::default();
    let mut network = Network::default();
    let mut notification_token = None;
    let mut count = 0usize;
    for (key, value) in form_urlencoded::parse(params) {
        if key.is_empty() && value.is_empty() {
            continue;
        }
        count += 1;
        if count > config.max_params {
            return Err(OsmandError::TooManyParameters {
                max: config.max_params,
            });
        }
        let value: &str = &value;
        match key.as_ref() {
            "id" | "deviceid" => {
                let id = value.trim();
                device = match id {
                    "" => None,
                    id => Some(DeviceId::parse(id).map_err(OsmandError::InvalidDeviceId)?),
                }
            }
            "valid" => {
                fields.valid =
                    Some(boolean(value).ok_or_else(|| invalid("valid", value, "true/false/1/0"))?)
            }
            "timestamp" => fields.time = Some(timestamp(value, config.local_offset)?),
            "lat" => fields.lat = Some(number("lat", value)?),
            "lon" => fields.lon = Some(number("lon", value)?),
            "location" => {
                let (lat, lon) = value
                    .split_once(',')
                    .ok_or_else(|| invalid("location", value, "`lat,lon`"))?;
                fields.lat = Some(number("location", lat)?);
                fields.lon = Some(number("location", lon)?);
            }
            "cell" => {
                let cell = cell(value)?;
                fields.cell.get_or_insert(cell.tower);
                network.cells.push(cell);
            }
            "wifi" => network.wifi.push(wifi(value)?),
            "speed" => fields.speed(config.speed_unit.to_kmh(number("speed", value)?)),
            "bearing" | "heading" => fields.course(number(&key, value)?),
            "altitude" => fields.altitude_m = Some(number("altitude", value)? as f32),
            "accuracy" => fields.accuracy_m = Some(number("accuracy", value)? as f32),
            "hdop" => fields.push_static("hdop", AttrValue::Float(number("hdop", value)?)),
            "batt" => fields.battery_percent(number("batt", value)?),
            "driverUniqueId" => {
                fields.push_static("driverUniqueId", AttrValue::Text(value.to_owned()))
            }
            "notificationToken" => notification_token = Some(value.to_owned()),
            _ => fields.attribute(key, attr_value(value)),
        }
    }
    let device = device.ok_or(OsmandError::MissingDeviceId)?;
    Ok(OsmandReport {
        device,
        shape,
        message: fields.finish(received_at)?,
        network,
        notification_token,
        skipped_entries: 0,
    })
}

fn invalid(field: &str, value: &str, expected: &'static str) -> OsmandError {
    OsmandError::InvalidValue {
        field: quote(field),
        value: quote(value),
        expected,
    }
}

/// `mcc,mnc,lac,cid[,rssi]`.
fn cell(value: &str) -> Result<CellInfo, OsmandError> {
    const EXPECTED: &str = "`mcc,mnc,lac,cid[,rssi]` (integers)";
    let bad = || invalid("cell", value, EXPECTED);
    let mut parts = value.split(',').map(str::trim);
    let mut next = || parts.next().ok_or_else(bad);
    let tower = CellTower {
        mcc: next()?.parse().map_err(|_| bad())?,
        mnc: next()?.parse().map_err(|_| bad())?,
        lac: next()?.parse().map_err(|_| bad())?,
        cell_id: next()?.parse().map_err(|_| bad())?,
    };
    let rssi = match parts.next() {
        None => None,
        Some(r) => Some(r.parse().map_err(|_| bad())?),
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(CellInfo { tower, rssi })
}

/// `mac,rssi`, the MAC with `-` or `:` between its six hex bytes.
fn wifi(value: &str) -> Result<WifiAccessPoint, OsmandError> {
    const EXPECTED: &str = "`mac,rssi` (MAC as six hex bytes separated by `-` or `:`)";
    let bad = || invalid("wifi", value, EXPECTED);
    let (mac_text, rssi) = value.split_once(',').ok_or_else(bad)?;
    let mut mac = [0u8; 6];
    let mut octets = mac_text.trim().split(['-', ':']);
    for byte in &mut mac {
        let octet = octets.next().ok_or_else(bad)?;
        if octet.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(octet, 16).map_err(|_| bad())?;
    }
    if octets.next().is_some() {
        return Err(bad());
    }
    Ok(WifiAccessPoint {
        mac,
        rssi: rssi.trim().parse().map_err(|_| bad())?,
    })
}
