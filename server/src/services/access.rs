//! The one permission layer: who a bearer credential (session token or API key) is
//! ([`authenticate`]), and the checks every list and object route uses. What a caller may not
//! see is refused as [`AccessError::NotFound`], the same answer as for a missing id, so ids
//! cannot be probed.

pub use crate::domain::actor::{Actor, Credential, Forbidden};
pub use crate::domain::commands::CommandKind;
pub use crate::domain::login_throttle::{Client, LoginThrottle, Throttled};
pub use crate::domain::scope::{KeyRule, Scope};

use chrono::Utc;

use crate::domain::{Device, Role};
use crate::services::auth::token_hash;
use crate::storage::{Db, DbError};

/// Prefix that marks an API key in `Authorization: Bearer` (session tokens are plain hex).
pub const API_KEY_PREFIX: &str = "vk_";

/// An object the caller asked for by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// A device.
    Device(i64),
    /// An alarm.
    Alarm(i64),
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Object::Device(id) => write!(f, "device {id}"),
            Object::Alarm(id) => write!(f, "alarm {id}"),
        }
    }
}

/// Why a credential names no caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    /// An API key that is unknown or revoked.
    #[error("invalid or revoked API key")]
    ApiKey,
    /// A session token that is unknown or expired.
    #[error("invalid or expired token")]
    Session,
}

/// A refusal of the permission layer.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The object does not exist or the caller may not see it (one answer for both).
    #[error("{0} not found")]
    NotFound(Object),
    /// The caller sees the object but may not do this.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The credential names no caller.
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// Resolves a bearer token (session token or API key) to its caller;
/// [`AccessError::Unauthorized`] when unknown, expired or revoked.
pub async fn authenticate(db: &Db, token: &str) -> Result<Actor, AccessError> {
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
            None => Err(Unauthorized::ApiKey.into()),
        };
    }
    match db.session_user(&hash, Utc::now()).await? {
        Some(user) => Ok(Actor {
            user,
            credential: Credential::Session(hash),
        }),
        None => Err(Unauthorized::Session.into()),
    }
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

/// Loads a device the caller may see, else [`AccessError::NotFound`] (the same answer as for
/// a missing id).
pub async fn visible_device(db: &Db, actor: &Actor, id: i64) -> Result<Device, AccessError> {
    let not_found = || AccessError::NotFound(Object::Device(id));
    let device = db.device(id).await?.ok_or_else(not_found)?;
    if can_see_device(db, actor, &device).await? {
        Ok(device)
    } else {
        Err(not_found())
    }
}

/// Loads a device the caller may manage: not found when invisible, forbidden when only
/// visible.
pub async fn managed_device(db: &Db, actor: &Actor, id: i64) -> Result<Device, AccessError> {
    let device = visible_device(db, actor, id).await?;
    if can_manage_device(actor, &device) {
        Ok(device)
    } else {
        Err(Forbidden::NotDeviceManager.into())
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

/// Every device the caller may see, by id (administrators and dispatchers: all of them).
pub async fn visible_devices(db: &Db, actor: &Actor) -> Result<Vec<Device>, DbError> {
    let mut out = Vec::new();
    match visible_device_ids(db, actor).await? {
        Some(ids) => {
            for id in ids {
                if let Some(d) = db.device(id).await? {
                    out.push(d);
                }
            }
        }
        None => {
            let mut after = 0;
            loop {
                let page = db.list_devices(after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                out.extend(page);
            }
        }
    }
    Ok(out)
}

/// Which alarms an alarm list shows the caller (`None`: every alarm — administrators and
/// dispatchers; officers also their units' alarms; everyone their own and shared devices').
pub fn alarm_visibility(actor: &Actor) -> Option<crate::storage::alarms::AlarmVisibility> {
    (!actor.sees_everything()).then_some(crate::storage::alarms::AlarmVisibility {
        user_id: actor.user.id,
        units: actor.user.role == Role::Officer,
    })
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
    user_sees_alarm(db, &actor.user, alarm).await
}

/// [`can_see_alarm`] for a user with no request in hand (whom to notify of an alarm: Web Push).
pub async fn user_sees_alarm(
    db: &Db,
    user: &crate::domain::User,
    alarm: &crate::services::alarms::AlarmView,
) -> Result<bool, DbError> {
    if matches!(user.role, Role::Admin | Role::Dispatcher) {
        return Ok(true);
    }
    if let Some(u) = alarm.unit_id
        && user.role == Role::Officer
        && crate::storage::access::units_of(db, user.id)
            .await?
            .contains(&u)
    {
        return Ok(true);
    }
    Ok(crate::storage::access::owned_or_shared(db, user.id)
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

/// Loads an alarm the caller may see, else [`AccessError::NotFound`] (the same answer as for
/// a missing id).
pub async fn visible_alarm(
    db: &Db,
    actor: &Actor,
    id: i64,
) -> Result<crate::services::alarms::AlarmView, AccessError> {
    let not_found = || AccessError::NotFound(Object::Alarm(id));
    let alarm = crate::storage::alarms::alarm(db, id)
        .await?
        .ok_or_else(not_found)?;
    if can_see_alarm(db, actor, &alarm).await? {
        Ok(alarm)
    } else {
        Err(not_found())
    }
}

/// Loads an alarm the caller may act on: not found when invisible, forbidden when only
/// visible (owners).
pub async fn handled_alarm(
    db: &Db,
    actor: &Actor,
    id: i64,
) -> Result<crate::services::alarms::AlarmView, AccessError> {
    let alarm = visible_alarm(db, actor, id).await?;
    if can_handle_alarm(db, actor, &alarm).await? {
        Ok(alarm)
    } else {
        Err(Forbidden::NotAlarmHandler.into())
    }
}

/// Loads an alarm whose linkage (cameras passed, checkpoints ahead, intercepts: police data)
/// the caller may see and act on: administrators, dispatchers, officers of its unit. Everyone
/// else — owners and sharees included — gets [`AccessError::NotFound`].
pub async fn linkage_alarm(
    db: &Db,
    actor: &Actor,
    id: i64,
) -> Result<crate::services::alarms::AlarmView, AccessError> {
    let not_found = || AccessError::NotFound(Object::Alarm(id));
    let alarm = crate::storage::alarms::alarm(db, id)
        .await?
        .ok_or_else(not_found)?;
    if can_handle_alarm(db, actor, &alarm).await? {
        Ok(alarm)
    } else {
        Err(not_found())
    }
}

/// Loads a device whose camera passes the caller may see: administrators, dispatchers,
/// officers pursuing it (an open alarm of their unit); everyone else
/// [`AccessError::NotFound`].
pub async fn linkage_device(db: &Db, actor: &Actor, id: i64) -> Result<Device, AccessError> {
    let not_found = || AccessError::NotFound(Object::Device(id));
    let device = db.device(id).await?.ok_or_else(not_found)?;
    let sees = actor.sees_everything()
        || (actor.user.role == Role::Officer
            && officer_has_open_alarm(db, actor.user.id, device.id).await?);
    if sees { Ok(device) } else { Err(not_found()) }
}

/// Which cameras and checkpoints the caller sees: all for administrators and dispatchers,
/// an officer's units' for officers (the route guard keeps everyone else out).
pub async fn linkage_visibility(
    db: &Db,
    actor: &Actor,
) -> Result<crate::services::linkage::Visibility, DbError> {
    use crate::services::linkage::Visibility;
    if actor.sees_everything() {
        return Ok(Visibility::All);
    }
    Ok(Visibility::Units(
        officer_units(db, actor).await?.into_iter().collect(),
    ))
}
