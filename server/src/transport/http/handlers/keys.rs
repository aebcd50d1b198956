//! `/api/v1/keys`: the caller's API keys (integrations). The key is shown once; only its
//! SHA-256 is stored. A key carries its owner's rights narrowed to its scopes.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::domain::ApiKey;
use crate::services::access::{self, Actor, Scope};
use crate::storage::access as store;
use crate::transport::http::{ApiError, AppState};

/// Answer of `GET /api/v1/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    /// The caller's keys, newest first (revoked ones too).
    pub keys: Vec<ApiKey>,
}

/// Answer of `POST /api/v1/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewKey {
    /// The key itself (`vk_…`), shown only here.
    pub key: String,
    /// The stored key.
    pub api_key: ApiKey,
}

/// `GET /api/v1/keys`: `{keys}` of the caller, newest first.
pub async fn list(state: web::Data<AppState>, auth: Actor) -> Result<HttpResponse, ApiError> {
    let keys = store::keys_of(&state.db, auth.user.id).await?;
    Ok(HttpResponse::Ok().json(KeyList { keys }))
}

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Label (1..=200 bytes).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Scopes ([`Scope`]); `admin:…` scopes only for administrators.
    pub scopes: Vec<String>,
}

/// `POST /api/v1/keys`: `201 {key, api_key}`; `key` is shown only here.
pub async fn create(
    state: web::Data<AppState>,
    auth: Actor,
    body: web::Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name: 1 to 200 characters",
        ));
    }
    let mut scopes = Vec::with_capacity(body.scopes.len());
    for name in &body.scopes {
        let scope: Scope = name.parse().map_err(|_| {
            ApiError::bad_request("invalid_scopes", format!("scopes: unknown scope {name:?}"))
        })?;
        // A key is never more than its user; an administrative scope on a key of a user who
        // is not an administrator would grant nothing and mislead whoever reads the key list.
        if scope.is_administrative() && !auth.is_admin() {
            return Err(ApiError::bad_request(
                "invalid_scopes",
                format!("scopes: {scope} is for administrators' keys only"),
            ));
        }
        scopes.push(scope);
    }
    scopes.sort();
    scopes.dedup();
    let (key, hash, prefix) = access::new_api_key()?;
    let api_key = store::create_key(
        &state.db,
        auth.user.id,
        body.name.trim(),
        &prefix,
        &hash,
        &scopes,
    )
    .await?;
    Ok(HttpResponse::Created().json(NewKey { key, api_key }))
}

/// `DELETE /api/v1/keys/{key_id}`: revokes one of the caller's keys (administrators: any).
pub async fn revoke(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match store::key(&state.db, id).await? {
        Some(k) if k.user_id == auth.user.id || auth.is_admin() => {
            store::revoke_key(&state.db, id).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(ApiError::not_found(format!("API key {id} not found"))),
    }
}
