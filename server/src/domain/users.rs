//! Users: who signs in and what their role lets them see.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::scope::Scope;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and manages everything.
    Admin,
    /// Sees what is shared with them (before roles; migrated to `owner`).
    User,
    /// Sees every alarm and every vehicle, dispatches units.
    Dispatcher,
    /// Member of a patrol unit: sees the alarms of the unit and their vehicles.
    Officer,
    /// Owns vehicles; may share one read-only.
    Owner,
    /// Reaches the API with scoped API keys.
    Integrator,
}

impl Role {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Dispatcher => "dispatcher",
            Role::Officer => "officer",
            Role::Owner => "owner",
            Role::Integrator => "integrator",
        }
    }
    /// Parses the database spelling (unknown text: the least privileged [`Role::User`]).
    pub fn parse(s: &str) -> Role {
        match s {
            "admin" => Role::Admin,
            "dispatcher" => Role::Dispatcher,
            "officer" => Role::Officer,
            "owner" => Role::Owner,
            "integrator" => Role::Integrator,
            _ => Role::User,
        }
    }
}

/// A user account (never carries the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name (an email address, or `admin` for the generated first administrator).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Row id.
    pub id: i64,
    /// Owning user.
    pub user_id: i64,
    /// Label.
    pub name: String,
    /// First characters of the key, to recognise it.
    pub prefix: String,
    /// Granted scopes (a stored name that is no longer a scope is left out).
    pub scopes: Vec<Scope>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A user's contact details (the display name is `users.name`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Profile {
    /// Display name (`None` when empty).
    pub display_name: Option<String>,
    /// Contact phone.
    pub phone: Option<String>,
}
