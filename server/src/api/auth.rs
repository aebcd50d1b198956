//! `POST /api/v1/session` (log in) and `DELETE /api/v1/session` (log out). Callers are
//! authenticated by the [`crate::access::Actor`] extractor.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::{new_token, token_hash, verify_password};

/// Login request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Login name.
    pub email: String,
    /// Password.
    pub password: String,
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
    Ok(HttpResponse::Created().json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_at": expires_at,
        "user": super::users::load_user_json(&state, &user).await?,
    })))
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
