//! The Traccar-compatible API under `/api`: the subset Home Assistant's Traccar integration
//! (the `pytraccar` client), Traccar scripts and dashboards use, answered from Vigil's own
//! services with Vigil's rights.
//!
//! Every route is in the route table ([`super::routes::ROUTES`], surface
//! [`super::routes::Surface::Traccar`]) with the same access classes and API-key scopes as its
//! `/api/v1` counterpart; the guard authenticates the caller with [`auth::authenticate`] (HTTP
//! Basic, the `JSESSIONID` cookie, `Authorization: Bearer`, `?token=` where allowed). What a
//! caller may not see is left out of lists, and a named device they may not see answers 404.
//!
//! One file per Traccar resource; the shapes and the mapping of Vigil's values onto Traccar's
//! names (knots, attribute and alarm names, WKT areas, event types) are in [`model`].

pub mod auth;
pub mod commands;
pub mod devices;
pub mod events;
pub mod geofences;
pub mod model;
pub mod positions;
pub mod server;
pub mod session;
pub mod socket;

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};

use crate::transport::http::ApiError;

/// The query of a request as name/value pairs: Traccar repeats a parameter for a list
/// (`deviceId=1&deviceId=2`), which a typed query struct cannot take.
pub(crate) fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Every value of the integer parameter `name` (400 `invalid_<name>` naming it otherwise).
pub(crate) fn ids(pairs: &[(String, String)], name: &str) -> Result<Vec<i64>, ApiError> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_query", format!("{name}: not an integer: {v:?}"))
            })
        })
        .collect()
}

/// The last value of the text parameter `name`.
pub(crate) fn text<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The time parameter `name` (ISO 8601 with an offset, as Traccar takes it; 400 naming it
/// otherwise).
pub(crate) fn time(
    pairs: &[(String, String)],
    name: &str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    text(pairs, name)
        .map(|v| {
            // An unescaped `+` of an offset arrives as a space.
            DateTime::parse_from_rfc3339(&v.trim().replace(' ', "+"))
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("{name}: not an ISO 8601 time with offset ({e}): {v:?}"),
                    )
                })
        })
        .transpose()
}
