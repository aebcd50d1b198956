//! `POST /api/v1/session` (log in) and `DELETE /api/v1/session` (log out). Callers are
//! authenticated by the [`crate::access::Actor`] extractor.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::users::UserView;
use super::{ApiError, AppState};
use crate::auth::{new_token, token_hash, verify_password};

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
    state.login_limiter.check(&email)?;
    let creds = state.db.user_credentials(&email).await?;
    let Some((user, hash)) = creds else {
        state.login_limiter.failed(&email);
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    if !verify_password(password, hash).await? {
        state.login_limiter.failed(&email);
        return Err(ApiError::unauthorized("wrong email or password"));
    }
    state.login_limiter.succeeded(&email);
    let token = new_token()?;
    let expires_at = Utc::now() + chrono::Duration::hours(state.settings.session_ttl_hours as i64);
    state
        .db
        .create_session(user.id, &token_hash(&token), expires_at)
        .await?;
    Ok(HttpResponse::Created().json(LoginResponse {
        token,
        token_type: "Bearer",
        expires_at,
        user: super::users::load_user_view(&state, &user).await?,
    }))
}

/// `DELETE /api/v1/session`: revokes the token used (API keys: 403, revoke them instead).
pub async fn logout(
    state: web::Data<AppState>,
    auth: crate::access::Actor,
) -> Result<HttpResponse, ApiError> {
    let hash = auth.require_session()?;
    state.db.delete_session(hash).await?;
    Ok(HttpResponse::NoContent().finish())
}
