//! `POST /api/v1/session` (log in), `DELETE /api/v1/session` (log out) and the
//! [`AuthUser`] extractor every protected handler takes.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::{new_token, token_hash, verify_password};
use crate::db::{Role, User};

/// The authenticated caller of a request (from `Authorization: Bearer <token>`).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Who.
    pub user: User,
    /// Hash of the token used (for logout).
    pub token_hash: String,
}

impl AuthUser {
    /// Fails with 403 unless the caller is an administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("administrators only"))
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<AuthUser, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("state missing"))?;
            let token = token.ok_or_else(|| {
                ApiError::unauthorized("missing Authorization: Bearer <token> header")
            })?;
            let hash = token_hash(&token);
            match state.db.session_user(&hash, Utc::now()).await? {
                Some(user) => Ok(AuthUser {
                    user,
                    token_hash: hash,
                }),
                None => Err(ApiError::unauthorized("invalid or expired token")),
            }
        })
    }
}

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
        "user": user,
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
