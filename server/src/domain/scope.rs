//! API-key scopes: what an integration's key may do on top of its user's role. A key is never
//! more than its user (an officer's key with `alarms:write` still handles only its units'
//! alarms); the scopes narrow it. Administrative scopes (`admin:…`) can only be granted by an
//! administrator to their own keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One grant an API key carries.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    /// Read devices, their guard state, commands and the device audit.
    #[serde(rename = "devices:read")]
    DevicesRead,
    /// Change devices: create (administrators), owner, shares, MQTT token, arm/disarm, speed limit.
    #[serde(rename = "devices:write")]
    DevicesWrite,
    /// Read positions, trajectories, trips and summaries.
    #[serde(rename = "positions:read")]
    PositionsRead,
    /// Read device events.
    #[serde(rename = "events:read")]
    EventsRead,
    /// Send commands to devices (cut-off with its interlock, locate, interval).
    #[serde(rename = "commands:write")]
    CommandsWrite,
    /// Read alarms.
    #[serde(rename = "alarms:read")]
    AlarmsRead,
    /// Acknowledge, assign and resolve alarms.
    #[serde(rename = "alarms:write")]
    AlarmsWrite,
    /// Read the patrol units visible to the key's user.
    #[serde(rename = "units:read")]
    UnitsRead,
    /// Read the fences visible to the key's user.
    #[serde(rename = "fences:read")]
    FencesRead,
    /// Read police linkage data: cameras, checkpoints, an alarm's cameras passed and
    /// checkpoints ahead, intercept requests, the hot-spot and unit statistics (with the
    /// alarm or position scope those routes also need).
    #[serde(rename = "linkage:read")]
    LinkageRead,
    /// Administer accounts: list and create users, set unit memberships.
    #[serde(rename = "admin:users")]
    AdminUsers,
    /// Administer configuration: patrol units, fences and their assignment, webhooks and their
    /// deliveries.
    #[serde(rename = "admin:config")]
    AdminConfig,
    /// Read the global audit log.
    #[serde(rename = "admin:audit")]
    AdminAudit,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 13] = [
        Scope::DevicesRead,
        Scope::DevicesWrite,
        Scope::PositionsRead,
        Scope::EventsRead,
        Scope::CommandsWrite,
        Scope::AlarmsRead,
        Scope::AlarmsWrite,
        Scope::UnitsRead,
        Scope::FencesRead,
        Scope::LinkageRead,
        Scope::AdminUsers,
        Scope::AdminConfig,
        Scope::AdminAudit,
    ];

    /// The wire name (`devices:read`, `admin:users`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DevicesRead => "devices:read",
            Scope::DevicesWrite => "devices:write",
            Scope::PositionsRead => "positions:read",
            Scope::EventsRead => "events:read",
            Scope::CommandsWrite => "commands:write",
            Scope::AlarmsRead => "alarms:read",
            Scope::AlarmsWrite => "alarms:write",
            Scope::UnitsRead => "units:read",
            Scope::FencesRead => "fences:read",
            Scope::LinkageRead => "linkage:read",
            Scope::AdminUsers => "admin:users",
            Scope::AdminConfig => "admin:config",
            Scope::AdminAudit => "admin:audit",
        }
    }

    /// Whether only an administrator may hold it.
    pub fn is_administrative(self) -> bool {
        matches!(
            self,
            Scope::AdminUsers | Scope::AdminConfig | Scope::AdminAudit
        )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Scope, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// What a route asks of an API key (sessions carry every right of their role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    /// Any key (the route reveals nothing beyond the key's own user).
    AnyKey,
    /// A key holding this scope.
    Needs(Scope),
    /// A key holding at least one of these (the route filters what it gives by scope).
    AnyOf(&'static [Scope]),
    /// A key holding every one of these (police data about alarms or positions).
    AllOf(&'static [Scope]),
    /// No key: the route needs a login session (account management, key management).
    NoKey,
}

impl KeyRule {
    /// Whether a key with `scopes` passes.
    pub fn admits(self, scopes: &[Scope]) -> bool {
        match self {
            KeyRule::AnyKey => true,
            KeyRule::Needs(s) => scopes.contains(&s),
            KeyRule::AnyOf(any) => any.iter().any(|s| scopes.contains(s)),
            KeyRule::AllOf(all) => all.iter().all(|s| scopes.contains(s)),
            KeyRule::NoKey => false,
        }
    }
}

impl fmt::Display for KeyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRule::AnyKey => f.write_str("any API key"),
            KeyRule::Needs(s) => write!(f, "the scope {s}"),
            KeyRule::AnyOf(any) => {
                f.write_str("one of the scopes ")?;
                for (i, s) in any.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(s.as_str())?;
                }
                Ok(())
            }
            KeyRule::AllOf(all) => {
                f.write_str("the scopes ")?;
                for (i, s) in all.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    f.write_str(s.as_str())?;
                }
                Ok(())
            }
            KeyRule::NoKey => f.write_str("a login session, not an API key"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("admin".parse::<Scope>().is_err());
        assert!("DEVICES:READ".parse::<Scope>().is_err());
    }

    #[test]
    fn rules() {
        let read = [Scope::PositionsRead];
        assert!(KeyRule::AnyKey.admits(&[]));
        assert!(KeyRule::Needs(Scope::PositionsRead).admits(&read));
        assert!(!KeyRule::Needs(Scope::AdminUsers).admits(&read));
        assert!(KeyRule::AnyOf(&[Scope::AlarmsRead, Scope::PositionsRead]).admits(&read));
        assert!(!KeyRule::AnyOf(&[Scope::AlarmsRead]).admits(&read));
        assert!(!KeyRule::NoKey.admits(&Scope::ALL));
        let both = KeyRule::AllOf(&[Scope::AlarmsRead, Scope::LinkageRead]);
        assert!(!both.admits(&[Scope::AlarmsRead]));
        assert!(both.admits(&[Scope::LinkageRead, Scope::AlarmsRead]));
    }
}
