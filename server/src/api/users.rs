//! `/api/v1/users`: accounts and roles (administrators), the caller's own account.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::access::{Actor, store};
use crate::db::Role;

/// `GET /api/v1/users/me`: the caller, with role and patrol units.
pub async fn me(state: web::Data<AppState>, auth: Actor) -> Result<HttpResponse, ApiError> {
    let units = store::units_of(&state.db, auth.user.id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "user": auth.user,
        "unit_ids": units,
        "api_key_id": auth.api_key_id(),
    })))
}

/// Paging of `GET /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Users with id greater than this (the previous page's `next_after`).
    pub after: Option<i64>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<i64>,
}

/// `GET /api/v1/users` (administrators): `{users, next_after}`.
pub async fn list(
    state: web::Data<AppState>,
    auth: Actor,
    q: web::Query<UsersQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require_admin()?;
    let limit = super::page_limit(q.limit)?;
    let users = store::list_users(&state.db, q.after.unwrap_or(0), limit).await?;
    let next = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| u.id))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "users": users, "next_after": next })))
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name.
    pub email: String,
    /// Password (8..=1024 characters).
    pub password: String,
    /// Display name.
    pub name: Option<String>,
    /// `admin`, `dispatcher`, `officer`, `owner` or `integrator`.
    pub role: Role,
    /// Patrol units (officers).
    #[serde(default)]
    pub unit_ids: Vec<i64>,
}

/// `POST /api/v1/users` (administrators): `201 {user, unit_ids}`.
pub async fn create(
    state: web::Data<AppState>,
    auth: Actor,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    auth.require_admin()?;
    let body = body.into_inner();
    let email = body.email.trim().to_owned();
    if email.is_empty() || email.len() > 320 {
        return Err(ApiError::bad_request(
            "invalid_email",
            "email: 1 to 320 characters",
        ));
    }
    if body.password.chars().count() < 8 || body.password.len() > 1024 {
        return Err(ApiError::bad_request(
            "invalid_password",
            "password: 8 to 1024 characters",
        ));
    }
    if body.role == Role::User {
        return Err(ApiError::bad_request(
            "invalid_role",
            "role: admin, dispatcher, officer, owner or integrator",
        ));
    }
    let name = body.name.unwrap_or_default();
    if name.len() > 200 {
        return Err(ApiError::bad_request("invalid_name", "name: too long"));
    }
    let hash = crate::auth::hash_password(body.password).await?;
    let user = state
        .db
        .create_user(&email, &name, &hash, body.role)
        .await?;
    store::set_units(&state.db, user.id, &body.unit_ids).await?;
    Ok(HttpResponse::Created().json(json!({ "user": user, "unit_ids": body.unit_ids })))
}

/// Body of `PUT /api/v1/users/{id}/units`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetUnits {
    /// The patrol units the user belongs to (replaces the previous list).
    pub unit_ids: Vec<i64>,
}

/// `PUT /api/v1/users/{id}/units` (administrators).
pub async fn set_units(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<SetUnits>,
) -> Result<HttpResponse, ApiError> {
    auth.require_admin()?;
    let id = id.into_inner();
    if store::user(&state.db, id).await?.is_none() {
        return Err(ApiError::not_found(format!("user {id} not found")));
    }
    let mut units = body.into_inner().unit_ids;
    units.sort_unstable();
    units.dedup();
    store::set_units(&state.db, id, &units).await?;
    Ok(HttpResponse::Ok().json(json!({ "user_id": id, "unit_ids": units })))
}
