//! `/api/session`: Traccar's login (`POST`, form `email` and `password`: a Vigil login session
//! in the `JSESSIONID` cookie), the current user (`GET`, also `?token=` which then sets the
//! cookie), logout (`DELETE`: ends the cookie's session) and `POST /api/session/token` (form
//! `expiration`: a bearer token, a Vigil session token valid until then).

use actix_web::http::header::{CONTENT_TYPE, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

use super::auth::{self, Presented};
use super::model::TraccarUser;
use crate::services::access::Actor;
use crate::services::auth::token_hash;
use crate::transport::http::handlers::auth::{check_password, client_of, start_session};
use crate::transport::http::{ApiError, AppState};

/// Longest lifetime of a token from `POST /api/session/token`.
pub const TOKEN_MAX_DAYS: i64 = 366;

/// The fields of a form body.
fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `POST /api/session` (form `email`, `password`): Traccar's `User` and a session cookie.
/// Throttled and checked as `POST /api/v1/session` is.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let f = form(&body);
    let email = super::text(&f, "email").unwrap_or_default().to_owned();
    let password = super::text(&f, "password").unwrap_or_default().to_owned();
    if email.is_empty() || password.is_empty() || email.len() > 320 || password.len() > 1024 {
        return Err(ApiError::bad_request(
            "bad_request",
            "email and password (form fields) are required",
        ));
    }
    let user = check_password(&state, &email, password, client_of(&req)).await?;
    let token = start_session(&state, &user, Utc::now() + state.config.session_ttl).await?;
    Ok(HttpResponse::Ok()
        .insert_header((SET_COOKIE, auth::set_cookie(&token)))
        .json(TraccarUser::new(&user)))
}

/// `GET /api/session`: the caller as Traccar's `User`; a credential given as `?token=` is
/// also set as the session cookie (the same credential: same expiry, same API-key scopes).
pub async fn get(req: HttpRequest, auth: Actor) -> Result<HttpResponse, ApiError> {
    let mut r = HttpResponse::Ok();
    if let Some(Presented::Query(t)) = auth::presented(&req, true)? {
        r.insert_header((SET_COOKIE, auth::set_cookie(&t)));
    }
    Ok(r.json(TraccarUser::new(&auth.user)))
}

/// `DELETE /api/session`: ends the session of the `JSESSIONID` cookie, if any, and removes the
/// cookie (a Basic password or bearer token has no session to end here).
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    _auth: Actor,
) -> Result<HttpResponse, ApiError> {
    if let Some(c) = auth::cookie(&req) {
        state.db.delete_session(&token_hash(&c)).await?;
    }
    Ok(HttpResponse::NoContent()
        .insert_header((SET_COOKIE, auth::set_cookie("")))
        .finish())
}

/// `POST /api/session/token` (form `expiration`, ISO 8601, default the session lifetime,
/// at most [`TOKEN_MAX_DAYS`] days): a bearer token as plain text. Not for API keys.
pub async fn token(
    state: web::Data<AppState>,
    auth: Actor,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let f = form(&body);
    let expires = match super::text(&f, "expiration").filter(|v| !v.trim().is_empty()) {
        None => now + state.config.session_ttl,
        Some(v) => DateTime::parse_from_rfc3339(v.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_expiration",
                    format!("expiration: not an ISO 8601 time with offset ({e})"),
                )
            })?,
    };
    if expires <= now || expires > now + chrono::Duration::days(TOKEN_MAX_DAYS) {
        return Err(ApiError::bad_request(
            "invalid_expiration",
            format!("expiration: in the future, at most {TOKEN_MAX_DAYS} days ahead"),
        ));
    }
    let token = start_session(&state, &auth.user, expires).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(token))
}
