//! Device commands as the domain sees them: their kinds, the life of a command
//! ([`CommandStatus`]), the cut-off interlock's policy ([`CutPowerPolicy`]) and the reasons a
//! request is refused ([`CommandRefusal`]).

use chrono::{DateTime, Utc};
use protocol::Command;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::actor::{Actor, Forbidden};

/// What `cut_power` does while the last fix is above `cut_power_max_speed_kmh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CutPowerPolicy {
    /// Refuse the command (409 `vehicle_moving`).
    Refuse,
    /// Keep it `held` and send it once a fix shows the vehicle slow enough.
    Hold,
}

/// What kind of command (for `services::access::can_command`).
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

impl CommandKind {
    /// The kind a request's `type` names (`custom` is [`CommandKind::Raw`]).
    pub fn parse(s: &str) -> Option<CommandKind> {
        Some(match s {
            "cut_power" => CommandKind::CutPower,
            "restore_power" => CommandKind::RestorePower,
            "locate" => CommandKind::Locate,
            "set_interval" => CommandKind::SetInterval,
            "custom" => CommandKind::Raw,
            _ => return None,
        })
    }
}

/// The protocol command for a stored kind and its parameters (`None`: not a command).
pub fn protocol_command(kind: &str, params: &Value) -> Option<Command> {
    Some(match kind {
        "cut_power" => Command::CutPower,
        "restore_power" => Command::RestorePower,
        "locate" => Command::Locate,
        "set_interval" => Command::SetInterval {
            seconds: params["seconds"].as_u64()? as u32,
        },
        "custom" => Command::Custom {
            text: params["text"].as_str()?.to_owned(),
        },
        _ => return None,
    })
}

/// Where a command is in its life: `queued` (waits for the device) / `held` (a cut-off waiting
/// for the vehicle to slow down) → `sent` → `acknowledged`, or `failed` / `expired`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    /// Waiting for the device to be online (and for `not_before`).
    Queued,
    /// A cut-off held until a fix shows the vehicle slow enough.
    Held,
    /// Written to the device; waiting for its reply.
    Sent,
    /// The device confirmed it.
    Acknowledged,
    /// Refused by the device, not encodable for it, or not deliverable.
    Failed,
    /// Not delivered or not answered before `expires_at`.
    Expired,
}

impl CommandStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Queued => "queued",
            CommandStatus::Held => "held",
            CommandStatus::Sent => "sent",
            CommandStatus::Acknowledged => "acknowledged",
            CommandStatus::Failed => "failed",
            CommandStatus::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<CommandStatus> {
        [
            CommandStatus::Queued,
            CommandStatus::Held,
            CommandStatus::Sent,
            CommandStatus::Acknowledged,
            CommandStatus::Failed,
            CommandStatus::Expired,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// Whether the command's life is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CommandStatus::Acknowledged | CommandStatus::Failed | CommandStatus::Expired
        )
    }

    /// The statuses a command may move to this one from (a transition from anything else is
    /// a race lost to another transition, and does nothing).
    pub fn reached_from(self) -> &'static [CommandStatus] {
        use CommandStatus::*;
        match self {
            Sent => &[Queued],
            Queued => &[Held],
            Expired => &[Queued, Held, Sent],
            Acknowledged | Failed => &[Queued, Sent],
            Held => &[],
        }
    }
}

/// Who asked (for the audit log).
#[derive(Debug, Clone, Copy)]
pub struct Requester {
    /// User.
    pub user_id: Option<i64>,
    /// API key.
    pub api_key_id: Option<i64>,
}

impl From<&Actor> for Requester {
    fn from(a: &Actor) -> Self {
        Requester {
            user_id: Some(a.user.id),
            api_key_id: a.api_key_id(),
        }
    }
}

/// Why a command request is refused (each refusal is audited with its [`code`](Self::code)
/// as the reason; the messages are the API's).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandRefusal {
    /// `type` names no command.
    #[error("type: one of cut_power, restore_power, locate, set_interval, custom")]
    InvalidType,
    /// An API key without `commands:write`.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// A raw command from someone not an administrator.
    #[error("custom commands are for administrators only")]
    RawForAdmins,
    /// The caller may see the vehicle but not command it.
    #[error(
        "only the owner, an officer with an open alarm on this vehicle or an administrator may command it"
    )]
    NotCommander,
    /// `expires_in_secs` out of range.
    #[error("expires_in_secs: 1 to 604800")]
    InvalidExpiresIn,
    /// A `cut_power` without `confirm: true`.
    #[error("confirm: must be true to cut power")]
    ConfirmationRequired,
    /// A `cut_power` while the vehicle is faster than the limit (policy `refuse`).
    #[error("the last fix shows {speed_kmh:.0} km/h, above the {limit_kmh:.0} km/h limit")]
    VehicleMoving {
        /// Speed of the last fix, km/h.
        speed_kmh: f64,
        /// The limit, km/h.
        limit_kmh: f64,
    },
    /// `set_interval` parameters out of range (the message names which).
    #[error("{0}")]
    InvalidInterval(&'static str),
    /// A raw text that is empty or too long.
    #[error("text: 1 to 256 bytes")]
    InvalidText,
}

impl CommandRefusal {
    /// The stable code (API error code and audit reason).
    pub fn code(&self) -> &'static str {
        match self {
            CommandRefusal::InvalidType => "invalid_type",
            CommandRefusal::Forbidden(_)
            | CommandRefusal::RawForAdmins
            | CommandRefusal::NotCommander => "forbidden",
            CommandRefusal::InvalidExpiresIn => "invalid_expires_in_secs",
            CommandRefusal::ConfirmationRequired => "confirmation_required",
            CommandRefusal::VehicleMoving { .. } => "vehicle_moving",
            CommandRefusal::InvalidInterval(_) => "invalid_interval",
            CommandRefusal::InvalidText => "invalid_text",
        }
    }
}

/// A command as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommandRecord {
    /// Row id.
    pub id: i64,
    /// Target device.
    pub device_id: i64,
    /// `cut_power`, `restore_power`, `locate`, `set_interval`, `custom`.
    pub kind: String,
    /// Parameters (`seconds`, `text`, …).
    pub params: Value,
    /// Where it is in its life.
    pub status: CommandStatus,
    /// Requesting user.
    pub requested_by: Option<i64>,
    /// API key used, if any.
    pub api_key_id: Option<i64>,
    /// Request time.
    pub created_at: DateTime<Utc>,
    /// Unsent or unanswered after this: expired.
    pub expires_at: DateTime<Utc>,
    /// Not sent before this (the revert of a `set_interval`).
    pub not_before: Option<DateTime<Utc>>,
    /// When it went to the device.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was acknowledged, failed or expired.
    pub finished_at: Option<DateTime<Utc>>,
    /// What the reply is matched on.
    pub correlation: Option<Value>,
    /// The device's reply.
    pub reply: Option<Value>,
    /// Why it failed.
    pub failure: Option<String>,
}

/// One audit entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// Who (user).
    pub user_id: Option<i64>,
    /// With which API key.
    pub api_key_id: Option<i64>,
    /// Target device.
    pub device_id: Option<i64>,
    /// The command, once one was created.
    pub command_id: Option<i64>,
    /// What was asked.
    pub kind: String,
    /// `accepted`, `held`, `refused`, `sent`, `acknowledged`, `failed`, `expired`.
    pub outcome: String,
    /// Why (refusal code, failure reason).
    pub reason: String,
    /// Parameters and context.
    pub detail: Value,
}
