//! Roles and the one permission layer: the [`Actor`] extractor (bearer session token or API
//! key) and the checks every list and object route uses. What a caller may not see answers
//! 404, so ids cannot be probed.

pub use crate::domain::login_throttle::{Client, LoginThrottle, Throttled};
pub use crate::domain::scope::{KeyRule, Scope};

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;

use crate::domain::{Device, Role, User};
use crate::services::auth::token_hash;
use crate::storage::{Db, DbError};
use crate::transport::http::ApiError;

/// Prefix that marks an API key in `Authorization: Bearer` (session tokens are plain hex).
pub const API_KEY_PREFIX: &str = "vk_";

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A login session (hash of its token, for logout).
    Session(String),
    /// An API key (id and scopes).
    ApiKey {
        /// Key row id.
        id: i64,
        /// Granted scopes.
        scopes: Vec<Scope>,
    },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Who.
    pub user: User,
    /// With what.
    pub credential: Credential,
}

impl Actor {
    /// Administrators see and do everything.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// Sees every device and every alarm (administrators and dispatchers).
    pub fn sees_everything(&self) -> bool {
        matches!(self.user.role, Role::Admin | Role::Dispatcher)
    }

    /// The API key id, when the caller used one.
    pub fn api_key_id(&self) -> Option<i64> {
        match &self.credential {
            Credential::ApiKey { id, .. } => Some(*id),
            Credential::Session(_) => None,
        }
    }

    /// Whether the caller holds `scope` (a login session holds every scope; its role still
    /// decides what it may do).
    pub fn has_scope(&self, scope: Scope) -> bool {
        match &self.credential {
            Credential::ApiKey { scopes, .. } => scopes.contains(&scope),
            Credential::Session(_) => true,
        }
    }

    /// 403 when an API key does not pass `rule` (sessions always pass).
    pub fn require_key_rule(&self, rule: KeyRule) -> Result<(), ApiError> {
        match &self.credential {
            Credential::ApiKey { scopes, .. } if !rule.admits(scopes) => Err(ApiError::forbidden(
                format!("this API key lacks what the route needs: {rule}"),
            )),
            _ => Ok(()),
        }
    }

    /// The hash of the session token (logout); 403 for API keys.
    pub fn require_session(&self) -> Result<&str, ApiError> {
        match &self.credential {
            Credential::Session(h) => Ok(h),
            Credential::ApiKey { .. } => Err(ApiError::forbidden(
                "this route needs a login session, not an API key",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer` header, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Resolves a bearer token (session token or API key) to its caller; 401 when unknown,
/// expired or revoked.
pub async fn authenticate(db: &Db, token: &str) -> Result<Actor, ApiError> {
    let hash = token_hash(token);
    if token.starts_with(API_KEY_PREFIX) {
        return match crate::storage::access::key_user(db, &hash).await? {
            Some((user, key)) => Ok(Actor {
                user,
                credential: Credential::ApiKey {
                    id: key.id,
                    scopes: key.scopes,
                },
            }),
            None => Err(ApiError::unauthorized("invalid or revoked API key")),
        };
    }
    match db.session_user(&hash, Utc::now()).await? {
        Some(user) => Ok(Actor {
            user,
            credential: Credential::Session(hash),
        }),
        None => Err(ApiError::unauthorized("invalid or expired token")),
    }
}

/// Handlers take the caller the route guard ([`crate::transport::http::table`]) authenticated and admitted;
/// a handler on a route without a guard fails loudly rather than running unauthenticated.
impl FromRequest for Actor {
    type Error = ApiError;
    type Future = Ready<Result<Actor, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Actor>().cloned().ok_or_else(|| {
            ApiError::internal("a handler asked for a caller on an unguarded route")
        }))
    }
}

/// What kind of command (for [`can_command`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// Stop the engine (fuel/electricity).
    CutPower,
    /// Undo a cut-off.
    RestorePower,
    /// Ask for a fix now.
    Locate,
    /// Temporary fast reporting.
    SetInterval,
    /// Raw/custom text (administrators only).
    Raw,
}

/// Whether the caller may see the device: administrators and dispatchers all, the owner,
/// users it is shared with, officers while one of their units has an open alarm on it.
pub async fn can_see_device(db: &Db, actor: &Actor, device: &Device) -> Result<bool, DbError> {
    if actor.sees_everything() || device.owner_id == Some(actor.user.id) {
        return Ok(true);
    }
    if crate::storage::access::is_shared(db, device.id, actor.user.id).await? {
        return Ok(true);
    }
    if actor.user.role == Role::Officer {
        return officer_has_open_alarm(db, actor.user.id, device.id).await;
    }
    Ok(false)
}

/// Whether the caller may change the device (rename, share, MQTT token): its owner (not a
/// read-only share) or an administrator.
pub fn can_manage_device(actor: &Actor, device: &Device) -> bool {
    actor.is_admin() || device.owner_id == Some(actor.user.id)
}

/// Whether one of the officer's units has an open (not resolved) alarm on the device (see
/// [`crate::storage::access::officer_alarm_devices`]).
pub async fn officer_has_open_alarm(
    db: &Db,
    user_id: i64,
    device_id: i64,
) -> Result<bool, DbError> {
    Ok(crate::storage::access::officer_alarm_devices(db, user_id)
        .await?
        .contains(&device_id))
}

/// Whether the caller may send this kind of command to the device. `cut_power` and
/// `restore_power`: the owner, an officer with an open alarm on it, an administrator;
/// `locate`/`set_interval`: the same; raw: administrators only.
pub async fn can_command(
    db: &Db,
    actor: &Actor,
    device: &Device,
    kind: CommandKind,
) -> Result<bool, DbError> {
    if actor.is_admin() {
        return Ok(true);
    }
    if kind == CommandKind::Raw {
        return Ok(false);
    }
    if device.owner_id == Some(actor.user.id) {
        return Ok(true);
    }
    if actor.user.role == Role::Officer {
        return officer_has_open_alarm(db, actor.user.id, device.id).await;
    }
    Ok(false)
}

/// Loads a device the caller may see, else 404 (the same answer as for a missing id).
pub async fn visible_device(db: &Db, actor: &Actor, id: i64) -> Result<Device, ApiError> {
    let not_found = || ApiError::not_found(format!("device {id} not found"));
    let device = db.device(id).await?.ok_or_else(not_found)?;
    if can_see_device(db, actor, &device).await? {
        Ok(device)
    } else {
        Err(not_found())
    }
}

/// Loads a device the caller may manage: 404 when invisible, 403 when only visible.
pub async fn managed_device(db: &Db, actor: &Actor, id: i64) -> Result<Device, ApiError> {
    let device = visible_device(db, actor, id).await?;
    if can_manage_device(actor, &device) {
        Ok(device)
    } else {
        Err(ApiError::forbidden(
            "only the owner or an administrator may do this",
        ))
    }
}

/// Ids of the devices the caller may see, or `None` for "all".
pub async fn visible_device_ids(db: &Db, actor: &Actor) -> Result<Option<Vec<i64>>, DbError> {
    if actor.sees_everything() {
        return Ok(None);
    }
    let mut ids = crate::storage::access::owned_or_shared(db, actor.user.id).await?;
    if actor.user.role == Role::Officer {
        ids.extend(crate::storage::access::officer_alarm_devices(db, actor.user.id).await?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(Some(ids))
}

/// Creates a random API key: `(key shown once, its SHA-256 hex, a display prefix)`.
pub fn new_api_key() -> Result<(String, String, String), crate::services::auth::AuthError> {
    let key = format!("{API_KEY_PREFIX}{}", crate::services::auth::random_hex(24)?);
    let hash = token_hash(&key);
    let prefix = key[..API_KEY_PREFIX.len() + 6].to_owned();
    Ok((key, hash, prefix))
}

/// Expiry of a session from now (used by login).
pub fn session_expiry(hours: u64) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(hours as i64)
}

/// The patrol units whose alarms the caller handles (officers only; other roles none).
pub async fn officer_units(db: &Db, actor: &Actor) -> Result<Vec<i64>, DbError> {
    if actor.user.role == Role::Officer {
        crate::storage::access::units_of(db, actor.user.id).await
    } else {
        Ok(Vec::new())
    }
}

/// Whether the caller may see the alarm: administrators and dispatchers all; officers the
/// alarms of their units; everyone the alarms of devices they own or that are shared with
/// them (read-only).
pub async fn can_see_alarm(
    db: &Db,
    actor: &Actor,
    alarm: &crate::services::alarms::AlarmView,
) -> Result<bool, DbError> {
    if actor.sees_everything() {
        return Ok(true);
    }
    if let Some(u) = alarm.unit_id
        && officer_units(db, actor).await?.contains(&u)
    {
        return Ok(true);
    }
    Ok(crate::storage::access::owned_or_shared(db, actor.user.id)
        .await?
        .contains(&alarm.device_id))
}

/// Whether the caller may act on the alarm (acknowledge, assign, resolve): administrators,
/// dispatchers and officers of the alarm's unit.
pub async fn can_handle_alarm(
    db: &Db,
    actor: &Actor,
    alarm: &crate::services::alarms::AlarmView,
) -> Result<bool, DbError> {
    if actor.sees_everything() {
        return Ok(true);
    }
    Ok(match alarm.unit_id {
        Some(u) => officer_units(db, actor).await?.contains(&u),
        None => false,
    })
}

/// Loads an alarm the caller may see, else 404 (the same answer as for a missing id).
pub async fn visible_alarm(
    db: &Db,
    actor: &Actor,
    id: i64,
) -> Result<crate::services::alarms::AlarmView, ApiError> {
    let not_found = || ApiError::not_found(format!("alarm {id} not found"));
    let alarm = crate::storage::alarms::alarm(db, id)
        .await?
        .ok_or_else(not_found)?;
    if can_see_alarm(db, actor, &alarm).await? {
        Ok(alarm)
    } else {
        Err(not_found())
    }
}

/// Loads an alarm the caller may act on: 404 when invisible, 403 when only visible (owners).
pub async fn handled_alarm(
    db: &Db,
    actor: &Actor,
    id: i64,
) -> Result<crate::services::alarms::AlarmView, ApiError> {
    let alarm = visible_alarm(db, actor, id).await?;
    if can_handle_alarm(db, actor, &alarm).await? {
        Ok(alarm)
    } else {
        Err(ApiError::forbidden(
            "only administrators, dispatchers and officers of the alarm's unit may do this",
        ))
    }
}
