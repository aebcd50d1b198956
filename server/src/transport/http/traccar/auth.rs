//! Who calls the Traccar-compatible API, in Traccar's order: the `Authorization` header
//! (HTTP Basic with a login name and password, or `Bearer` with a session token from
//! `POST /api/session/token`, a login session's token or an API key), then the `JSESSIONID`
//! cookie of `POST /api/session`, then `?token=` on the routes that take it.
//!
//! A Basic password is checked exactly as `POST /api/v1/session` checks one (by the same
//! `check_password`): the same login throttle, the same bounded hashing, one 401 for a wrong
//! login or password.

use actix_web::HttpRequest;
use base64::Engine;

use crate::services::access::{self, Actor, Credential};
use crate::transport::http::handlers::auth::{check_password, client_of};
use crate::transport::http::{ApiError, AppState};

/// The session cookie's name (Traccar's servlet session cookie).
pub const COOKIE: &str = "JSESSIONID";

/// The credential of a request, found where Traccar looks for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// `Authorization: Basic` login name and password.
    Basic(String, String),
    /// `Authorization: Bearer` token or API key.
    Bearer(String),
    /// The `JSESSIONID` cookie.
    Cookie(String),
    /// `?token=`.
    Query(String),
}

/// The `Authorization: Basic` pair of a request: `None` without one, 401 when malformed.
fn basic(req: &HttpRequest) -> Result<Option<(String, String)>, ApiError> {
    let Some(v) = req.headers().get("authorization") else {
        return Ok(None);
    };
    let bad = || ApiError::unauthorized("malformed Authorization: Basic header");
    let v = v.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = v.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (login, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((login.to_owned(), password.to_owned())))
}

/// The value of the `JSESSIONID` cookie, if sent.
pub fn cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// Where the request's credential is (`None`: anonymous).
pub fn presented(req: &HttpRequest, token_in_query: bool) -> Result<Option<Presented>, ApiError> {
    if let Some((login, password)) = basic(req)? {
        return Ok(Some(Presented::Basic(login, password)));
    }
    if let Some(t) = crate::transport::http::extractors::bearer(req) {
        return Ok(Some(Presented::Bearer(t)));
    }
    if let Some(c) = cookie(req) {
        return Ok(Some(Presented::Cookie(c)));
    }
    Ok(token_in_query
        .then(|| crate::transport::http::routes::query_token(req.query_string()))
        .flatten()
        .map(Presented::Query))
}

/// The caller of a Traccar route (401 without a valid credential; 429/503 as the login
/// route answers them for a Basic password).
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    token_in_query: bool,
) -> Result<Actor, ApiError> {
    match presented(req, token_in_query)? {
        None => Err(ApiError::unauthorized(
            "missing credentials: HTTP Basic, Bearer, the JSESSIONID cookie of POST /api/session",
        )),
        Some(Presented::Basic(login, password)) => {
            if login.is_empty() || password.is_empty() || login.len() > 320 || password.len() > 1024
            {
                return Err(ApiError::unauthorized("wrong email or password"));
            }
            let user = check_password(state, &login, password, client_of(req)).await?;
            Ok(Actor {
                user,
                credential: Credential::Password,
            })
        }
        Some(Presented::Bearer(t) | Presented::Cookie(t) | Presented::Query(t)) => {
            Ok(access::authenticate(&state.db, &t).await?)
        }
    }
}

/// A `Set-Cookie` value carrying `token` (empty with `Max-Age=0`: removes the cookie).
pub fn set_cookie(token: &str) -> String {
    if token.is_empty() {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    } else {
        format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax")
    }
}
