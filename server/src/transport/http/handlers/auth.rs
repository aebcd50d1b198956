//! `POST /api/v1/session` (log in) and `DELETE /api/v1/session` (log out). Callers are
//! authenticated by the [`crate::services::access::Actor`] extractor.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::users::UserView;
use crate::domain::User;
use crate::services::access::{Client, Throttled};
use crate::services::auth::{new_token, token_hash};
use crate::transport::http::{ApiError, AppState};

/// Login request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Login name (1..=320 bytes).
    #[schema(min_length = 1)]
    pub email: String,
    /// Password (1..=1024 bytes).
    #[schema(min_length = 1)]
    pub password: String,
}

/// Answer of `POST /api/v1/session`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// The bearer token (shown only here).
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// The account.
    pub user: UserView,
}

/// `POST /api/v1/session`: returns `{token, expires_at, user}`.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    if email.is_empty() || password.is_empty() || email.len() > 320 || password.len() > 1024 {
        return Err(ApiError::bad_request(
            "bad_request",
            "email and password are required",
        ));
    }
    let user = check_password(&state, &email, password, client_of(&req)).await?;
    let expires_at = Utc::now() + state.config.session_ttl;
    let token = start_session(&state, &user, expires_at).await?;
    Ok(HttpResponse::Created().json(LoginResponse {
        token,
        token_type: "Bearer",
        expires_at,
        user: super::users::load_user_view(&state, &user).await?,
    }))
}

/// Opens a login session of `user` until `expires_at`; returns its bearer token (stored only
/// as its hash).
pub(crate) async fn start_session(
    state: &AppState,
    user: &User,
    expires_at: DateTime<Utc>,
) -> Result<String, ApiError> {
    let token = new_token()?;
    state
        .db
        .create_session(user.id, &token_hash(&token), expires_at)
        .await?;
    Ok(token)
}

/// The throttling client of a request: its peer address.
pub(crate) fn client_of(req: &HttpRequest) -> Client {
    Client::address(
        req.peer_addr()
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.ip()),
    )
}

/// Checks a login name and password as every password login does (the API's session, and any
/// HTTP Basic surface): the attempt is reserved with the throttle before anything is looked
/// up (429 with `Retry-After` when the client must wait), an unknown login costs the same
/// argon2 check as a known one, and the password check queues for the bounded hashing threads
/// (503 with `Retry-After` when they are saturated). 401 for a wrong login or password alike.
pub(crate) async fn check_password(
    state: &AppState,
    login: &str,
    password: String,
    client: Client,
) -> Result<User, ApiError> {
    let attempt = state
        .login_throttle
        .begin(login, client, Instant::now())
        .map_err(throttled)?;
    let (user, hash) = state.db.user_credentials(login).await?.unzip();
    // A database error or a busy hasher drops the attempt unsettled: it does not count.
    if state.passwords.verify(password, hash).await?
        && let Some(user) = user
    {
        attempt.succeeded(Instant::now());
        Ok(user)
    } else {
        attempt.failed(Instant::now());
        Err(ApiError::unauthorized("wrong email or password"))
    }
}

fn throttled(t: Throttled) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many failed logins from here, try again later",
    )
    .retry_after(t.retry_after.as_secs_f64().ceil() as u64)
}

/// `DELETE /api/v1/session`: revokes the token used (API keys: 403, revoke them instead).
pub async fn logout(
    state: web::Data<AppState>,
    auth: crate::services::access::Actor,
) -> Result<HttpResponse, ApiError> {
    let hash = auth.require_session()?;
    state.db.delete_session(hash).await?;
    Ok(HttpResponse::NoContent().finish())
}
