//! Who calls: a user account ([`User`], with its [`Role`]) and the [`Actor`] of a request (the user and
//! the [`Credential`] it authenticated with). What an actor may do to which object is decided
//! in `services::access`; the refusals that need no storage are here ([`Forbidden`]).

use crate::domain::scope::{KeyRule, Scope};
use crate::domain::users::{Role, User};

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A login session (hash of its token, for logout).
    Session(String),
    /// A login name and password sent with the request itself (HTTP Basic on the
    /// Traccar-compatible API): the rights of a login session, with nothing to revoke.
    Password,
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

/// Why an authenticated caller may not do something (answered 403; the messages are the
/// API's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// An API key does not pass the route's rule.
    #[error("this API key lacks what the route needs: {0}")]
    KeyLacks(KeyRule),
    /// The route needs a login session (logout, password change, …).
    #[error("this route needs a login session, not an API key")]
    SessionRequired,
    /// The route is for administrators.
    #[error("administrators only")]
    AdminOnly,
    /// Changing a device is for its owner or an administrator.
    #[error("only the owner or an administrator may do this")]
    NotDeviceManager,
    /// Acting on an alarm is for administrators, dispatchers and the alarm's unit.
    #[error("only administrators, dispatchers and officers of the alarm's unit may do this")]
    NotAlarmHandler,
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
            Credential::Session(_) | Credential::Password => None,
        }
    }

    /// Whether the caller holds `scope` (a login session holds every scope; its role still
    /// decides what it may do).
    pub fn has_scope(&self, scope: Scope) -> bool {
        match &self.credential {
            Credential::ApiKey { scopes, .. } => scopes.contains(&scope),
            Credential::Session(_) | Credential::Password => true,
        }
    }

    /// Refused when an API key does not pass `rule` (sessions always pass).
    pub fn require_key_rule(&self, rule: KeyRule) -> Result<(), Forbidden> {
        match &self.credential {
            Credential::ApiKey { scopes, .. } if !rule.admits(scopes) => {
                Err(Forbidden::KeyLacks(rule))
            }
            _ => Ok(()),
        }
    }

    /// The hash of the session token (logout); refused for API keys (and for a password
    /// sent with the request, which has no session to end).
    pub fn require_session(&self) -> Result<&str, Forbidden> {
        match &self.credential {
            Credential::Session(h) => Ok(h),
            Credential::ApiKey { .. } | Credential::Password => Err(Forbidden::SessionRequired),
        }
    }

    /// Refused for API keys: the caller logged in as a person (a session, or a password sent
    /// with the request).
    pub fn require_login(&self) -> Result<(), Forbidden> {
        match &self.credential {
            Credential::Session(_) | Credential::Password => Ok(()),
            Credential::ApiKey { .. } => Err(Forbidden::SessionRequired),
        }
    }
}
