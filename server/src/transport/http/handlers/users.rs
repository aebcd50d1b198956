//! `/api/v1/users`: accounts and roles (administrators), the caller's own account.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::domain::{Role, User};
use crate::services::access::Actor;
use crate::storage::access as store;
use crate::transport::http::{ApiError, AppState};

/// A user as the API shows it: the account plus `display_name` (the `name`, null when empty)
/// and `phone`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The account.
    #[serde(flatten)]
    pub user: User,
    /// The name, null when empty.
    pub display_name: Option<String>,
    /// Contact phone.
    pub phone: Option<String>,
}

/// [`UserView`] of an account with the given phone.
pub fn user_view(user: &User, phone: Option<&str>) -> UserView {
    UserView {
        user: user.clone(),
        display_name: (!user.name.is_empty()).then(|| user.name.clone()),
        phone: phone.map(str::to_owned),
    }
}

/// [`user_view`] with the phone read from the database.
pub async fn load_user_view(state: &AppState, user: &User) -> Result<UserView, ApiError> {
    let phone = store::profile(&state.db, user.id)
        .await?
        .and_then(|p| p.phone);
    Ok(user_view(user, phone.as_deref()))
}

/// Answer of `GET /api/v1/users/me`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The caller.
    pub user: UserView,
    /// Patrol units the caller belongs to.
    pub unit_ids: Vec<i64>,
    /// The API key used, if the call was made with one.
    pub api_key_id: Option<i64>,
}

/// An account with its patrol units (`PUT /api/v1/users/me`, `POST /api/v1/users`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserWithUnits {
    /// The account.
    pub user: UserView,
    /// Patrol units it belongs to.
    pub unit_ids: Vec<i64>,
}

/// Answer of `GET /api/v1/users`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// The page, by id.
    pub users: Vec<UserView>,
    /// Pass as `after` for the next page (null: last page).
    pub next_after: Option<i64>,
}

/// Answer of `PUT /api/v1/users/{id}/units`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitMembership {
    /// The user.
    pub user_id: i64,
    /// Its patrol units, sorted.
    pub unit_ids: Vec<i64>,
}

/// `GET /api/v1/users/me`: the caller, with role, profile and patrol units.
pub async fn me(state: web::Data<AppState>, auth: Actor) -> Result<HttpResponse, ApiError> {
    let units = store::units_of(&state.db, auth.user.id).await?;
    Ok(HttpResponse::Ok().json(Me {
        user: load_user_view(&state, &auth.user).await?,
        unit_ids: units,
        api_key_id: auth.api_key_id(),
    }))
}

/// Checks a display name (at most 200 bytes).
fn valid_display_name(n: &str) -> Result<&str, ApiError> {
    let n = n.trim();
    if n.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            "display_name: at most 200 bytes",
        ));
    }
    Ok(n)
}

/// Checks a phone number: empty (clears it) or 3..=32 characters of digits, spaces and
/// `+ - ( ) .`, with at least three digits.
fn valid_phone(p: &str) -> Result<&str, ApiError> {
    let p = p.trim();
    let ok = p.is_empty()
        || ((3..=32).contains(&p.chars().count())
            && p.chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            && p.chars().filter(char::is_ascii_digit).count() >= 3);
    if ok {
        Ok(p)
    } else {
        Err(ApiError::bad_request(
            "invalid_phone",
            "phone: 3 to 32 characters, digits, spaces and + - ( ) .",
        ))
    }
}

/// Body of `PUT /api/v1/users/me` (each field optional; an empty string clears it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// Display name.
    pub display_name: Option<String>,
    /// Contact phone, shown to those handling an alarm on your vehicle.
    pub phone: Option<String>,
}

/// `PUT /api/v1/users/me` (login sessions): sets the caller's display name and phone.
pub async fn update_me(
    state: web::Data<AppState>,
    auth: Actor,
    body: web::Json<UpdateMe>,
) -> Result<HttpResponse, ApiError> {
    let name = body
        .display_name
        .as_deref()
        .map(valid_display_name)
        .transpose()?;
    let phone = body.phone.as_deref().map(valid_phone).transpose()?;
    store::set_profile(&state.db, auth.user.id, name, phone).await?;
    let mut user = auth.user.clone();
    if let Some(n) = name {
        user.name = n.to_owned();
    }
    let units = store::units_of(&state.db, auth.user.id).await?;
    Ok(HttpResponse::Ok().json(UserWithUnits {
        user: load_user_view(&state, &user).await?,
        unit_ids: units,
    }))
}

/// Paging of `GET /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Users with id greater than this (the previous page's `next_after`).
    pub after: Option<i64>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/users` (administrators): `{users, next_after}`.
pub async fn list(
    state: web::Data<AppState>,
    _admin: Actor,
    q: web::Query<UsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::transport::http::page_limit(q.limit)?;
    let after = q.after.unwrap_or(0);
    let users = store::list_users(&state.db, after, limit).await?;
    let phones: std::collections::HashMap<i64, Option<String>> =
        store::phones(&state.db, after, limit)
            .await?
            .into_iter()
            .collect();
    let next = crate::transport::http::next_cursor(&users, limit, |u| u.id);
    let users: Vec<_> = users
        .iter()
        .map(|u| user_view(u, phones.get(&u.id).and_then(|p| p.as_deref())))
        .collect();
    Ok(HttpResponse::Ok().json(UserList {
        users,
        next_after: next,
    }))
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name.
    #[schema(min_length = 1, max_length = 320)]
    pub email: String,
    /// Password (8..=1024 characters).
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// Display name (`display_name` is accepted as a synonym).
    #[serde(alias = "display_name")]
    pub name: Option<String>,
    /// Contact phone.
    pub phone: Option<String>,
    /// `admin`, `dispatcher`, `officer`, `owner` or `integrator`.
    pub role: Role,
    /// Patrol units (officers).
    #[serde(default)]
    pub unit_ids: Vec<i64>,
}

/// `POST /api/v1/users` (administrators): `201 {user, unit_ids}`.
pub async fn create(
    state: web::Data<AppState>,
    _admin: Actor,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
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
    let phone = body.phone.as_deref().map(valid_phone).transpose()?;
    let hash = state.passwords.hash(body.password).await?;
    let user = state
        .db
        .create_user(&email, &name, &hash, body.role)
        .await?;
    store::set_units(&state.db, user.id, &body.unit_ids).await?;
    if phone.is_some() {
        store::set_profile(&state.db, user.id, None, phone).await?;
    }
    let phone = phone.filter(|p| !p.is_empty());
    Ok(HttpResponse::Created().json(UserWithUnits {
        user: user_view(&user, phone),
        unit_ids: body.unit_ids,
    }))
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
    _admin: Actor,
    id: web::Path<i64>,
    body: web::Json<SetUnits>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if store::user(&state.db, id).await?.is_none() {
        return Err(ApiError::not_found(format!("user {id} not found")));
    }
    let mut units = body.into_inner().unit_ids;
    units.sort_unstable();
    units.dedup();
    store::set_units(&state.db, id, &units).await?;
    Ok(HttpResponse::Ok().json(UnitMembership {
        user_id: id,
        unit_ids: units,
    }))
}
