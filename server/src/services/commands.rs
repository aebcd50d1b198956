//! The command queue: `cut_power`, `restore_power`, `locate`, `set_interval` (temporary fast
//! reporting that reverts by itself) and raw text for administrators.
//!
//! Lifecycle, persisted in `commands`: `queued` (or `held` while a `cut_power` waits for the
//! vehicle to slow down) → `sent` → `acknowledged` / `failed`, or `expired`. One worker
//! ([`CommandQueue::run`]) is the only sender: it delivers queued commands to connected
//! devices (so an offline device gets them when it reconnects), matches device replies (the
//! gateway's `command_reply` events, by [`protocol::Correlation`]) and expires what is late.
//! Every request, refusal and state change is appended to `command_audit` and published on
//! the [`Bus`] as `{"type":"command","command":{id, device_id, kind, status, …}}` (a refusal
//! has `id: null`, `status: "refused"` and the `reason`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use protocol::CommandProfile;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use crate::domain::commands::{AuditEntry, CommandRecord};
pub use crate::domain::commands::{
    CommandKind, CommandRefusal, CommandStatus, CutPowerPolicy, Requester,
};

use crate::domain::Device;
use crate::domain::commands::protocol_command;
use crate::services::access::{self, Actor, KeyRule, Scope};
use crate::services::bus::{Bus, BusEvent};
use crate::services::device_sessions::{DeviceSessions, SendCommandError};
use crate::storage::commands::{self as store, NewAudit, NewCommand};
use crate::storage::{Db, DbError};

/// The settings the queue works with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommandConfig {
    /// Lifetime of a command whose request names none.
    pub default_ttl: Duration,
    /// `cut_power` interlock: the last fix must show at most this speed, km/h.
    pub cut_power_max_speed_kmh: f64,
    /// `cut_power` above the speed limit: refuse it, or hold it until the vehicle is slow.
    pub cut_power_when_moving: CutPowerPolicy,
}

/// Why a command request failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Refused (and audited).
    #[error(transparent)]
    Refused(#[from] CommandRefusal),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// Body of `POST /api/v1/devices/{id}/commands`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// `cut_power`, `restore_power`, `locate`, `set_interval`, `custom`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(cut_power|restore_power|locate|set_interval|custom)$")]
    pub kind: String,
    /// Must be `true` for `cut_power`.
    #[serde(default)]
    pub confirm: bool,
    /// `set_interval`: fast reporting interval, seconds (5..=3600).
    #[schema(minimum = 5, maximum = 3600)]
    pub seconds: Option<u32>,
    /// `set_interval`: how long the fast mode lasts, seconds (60..=86400, default 600).
    #[schema(minimum = 60, maximum = 86400)]
    pub duration_secs: Option<u32>,
    /// `set_interval`: interval restored afterwards, seconds (5..=86400, default 60).
    #[schema(minimum = 5, maximum = 86400)]
    pub revert_to_seconds: Option<u32>,
    /// `custom`: the raw text (administrators only, 1..=256 bytes).
    #[schema(min_length = 1, max_length = 256)]
    pub text: Option<String>,
    /// Lifetime before the command expires, seconds (default `command_ttl_secs`, max 7 days).
    #[schema(minimum = 1, maximum = 604800)]
    pub expires_in_secs: Option<u64>,
}

/// The queue (cheap to clone).
#[derive(Debug, Clone)]
pub struct CommandQueue {
    db: Db,
    sessions: DeviceSessions,
    config: CommandConfig,
    wake: Arc<Notify>,
    bus: Bus,
}

impl CommandQueue {
    /// A queue over this storage and these live sessions, publishing status changes on `bus`.
    pub fn new(db: Db, sessions: DeviceSessions, config: CommandConfig, bus: Bus) -> CommandQueue {
        CommandQueue {
            db,
            sessions,
            config,
            wake: Arc::new(Notify::new()),
            bus,
        }
    }

    /// Publishes a command's current state on the bus.
    fn publish(&self, c: &CommandRecord) {
        self.bus.publish(BusEvent::Command(json!({ "command": c })));
    }

    /// Audits and publishes a refusal; the refusal, or the storage error that kept it from
    /// the audit log.
    async fn refuse(
        &self,
        who: Requester,
        device: &Device,
        req: &CommandRequest,
        refusal: CommandRefusal,
    ) -> CommandError {
        let kind: String = req.kind.chars().take(40).collect();
        let detail = json!({ "confirm": req.confirm, "message": refusal.to_string() });
        self.bus.publish(BusEvent::Command(json!({ "command": {
            "id": null, "device_id": device.id, "kind": kind, "status": "refused",
            "reason": refusal.code(), "requested_by": who.user_id, "api_key_id": who.api_key_id,
            "created_at": Utc::now(),
        }})));
        let audit = NewAudit {
            who,
            device_id: Some(device.id),
            command_id: None,
            kind: &kind,
            outcome: "refused",
            reason: refusal.code(),
            detail,
        };
        if let Err(e) = store::audit(&self.db, audit).await {
            return e.into();
        }
        refusal.into()
    }

    /// Audits a command request for a device the caller may not see (answered 404). The
    /// device id goes into `detail` only, so an owner's audit view does not list strangers.
    pub async fn audit_invisible(
        &self,
        actor: &Actor,
        requested_device: i64,
        kind: &str,
    ) -> Result<(), DbError> {
        let kind: String = kind.chars().take(40).collect();
        let audit = NewAudit {
            who: Requester::from(actor),
            device_id: None,
            command_id: None,
            kind: &kind,
            outcome: "refused",
            reason: "not_found",
            detail: json!({ "requested_device_id": requested_device }),
        };
        store::audit(&self.db, audit).await
    }

    /// Validates, authorises and queues a command; every refusal is audited. The device must
    /// already be visible to the caller (the route answers 404 otherwise).
    #[tracing::instrument(skip(self, actor, req), fields(device = device.id, kind = %req.kind))]
    pub async fn submit(
        &self,
        actor: &Actor,
        device: &Device,
        req: CommandRequest,
    ) -> Result<CommandRecord, CommandError> {
        let who = Requester::from(actor);
        let Some(kind) = CommandKind::parse(&req.kind) else {
            return Err(self
                .refuse(who, device, &req, CommandRefusal::InvalidType)
                .await);
        };
        if let Err(e) = actor.require_key_rule(KeyRule::Needs(Scope::CommandsWrite)) {
            return Err(self.refuse(who, device, &req, e.into()).await);
        }
        if !access::can_command(&self.db, actor, device, kind).await? {
            let refusal = match kind {
                CommandKind::Raw => CommandRefusal::RawForAdmins,
                _ => CommandRefusal::NotCommander,
            };
            return Err(self.refuse(who, device, &req, refusal).await);
        }
        let ttl = req
            .expires_in_secs
            .unwrap_or(self.config.default_ttl.as_secs());
        if !(1..=7 * 86400).contains(&ttl) {
            let refusal = CommandRefusal::InvalidExpiresIn;
            return Err(self.refuse(who, device, &req, refusal).await);
        }
        let mut params = json!({});
        let mut status = CommandStatus::Queued;
        match kind {
            CommandKind::CutPower => {
                if !req.confirm {
                    let refusal = CommandRefusal::ConfirmationRequired;
                    return Err(self.refuse(who, device, &req, refusal).await);
                }
                if let Some(speed) = self.moving_speed(device.id).await? {
                    if self.config.cut_power_when_moving == CutPowerPolicy::Hold {
                        status = CommandStatus::Held;
                    } else {
                        let refusal = CommandRefusal::VehicleMoving {
                            speed_kmh: speed,
                            limit_kmh: self.config.cut_power_max_speed_kmh,
                        };
                        return Err(self.refuse(who, device, &req, refusal).await);
                    }
                }
            }
            CommandKind::SetInterval => {
                let seconds = req.seconds.unwrap_or(0);
                let duration = req.duration_secs.unwrap_or(600);
                let revert = req.revert_to_seconds.unwrap_or(60);
                let bad = if !(5..=3600).contains(&seconds) {
                    Some("seconds: 5 to 3600")
                } else if !(60..=86400).contains(&duration) {
                    Some("duration_secs: 60 to 86400")
                } else if !(5..=86400).contains(&revert) {
                    Some("revert_to_seconds: 5 to 86400")
                } else {
                    None
                };
                if let Some(msg) = bad {
                    let refusal = CommandRefusal::InvalidInterval(msg);
                    return Err(self.refuse(who, device, &req, refusal).await);
                }
                params = json!({ "seconds": seconds, "duration_secs": duration, "revert_to_seconds": revert });
            }
            CommandKind::Raw => {
                let text = req.text.clone().unwrap_or_default();
                if text.is_empty() || text.len() > 256 {
                    let refusal = CommandRefusal::InvalidText;
                    return Err(self.refuse(who, device, &req, refusal).await);
                }
                params = json!({ "text": text });
            }
            CommandKind::RestorePower | CommandKind::Locate => {}
        }
        let now = Utc::now();
        let expires = now + chrono::Duration::seconds(ttl as i64);
        let cmd = store::insert(
            &self.db,
            NewCommand {
                device_id: device.id,
                kind: &req.kind,
                params: &params,
                status,
                who,
                created_at: now,
                expires_at: expires,
                not_before: None,
            },
        )
        .await?;
        let audit = NewAudit {
            who,
            device_id: Some(device.id),
            command_id: Some(cmd.id),
            kind: &req.kind,
            outcome: if status == CommandStatus::Held {
                "held"
            } else {
                "accepted"
            },
            reason: "",
            detail: params.clone(),
        };
        store::audit(&self.db, audit).await?;
        self.publish(&cmd);
        if kind == CommandKind::SetInterval {
            // The return to normal reporting, sent when the fast period is over.
            let duration = params["duration_secs"].as_i64().unwrap_or(600);
            let at = now + chrono::Duration::seconds(duration);
            let revert = json!({ "seconds": params["revert_to_seconds"], "revert_of": cmd.id });
            let r = store::insert(
                &self.db,
                NewCommand {
                    device_id: device.id,
                    kind: "set_interval",
                    params: &revert,
                    status: CommandStatus::Queued,
                    who,
                    created_at: now,
                    expires_at: at + chrono::Duration::seconds(ttl as i64),
                    not_before: Some(at),
                },
            )
            .await?;
            let audit = NewAudit {
                who,
                device_id: Some(device.id),
                command_id: Some(r.id),
                kind: "set_interval",
                outcome: "accepted",
                reason: "revert",
                detail: revert,
            };
            store::audit(&self.db, audit).await?;
            self.publish(&r);
        }
        self.wake.notify_one();
        Ok(cmd)
    }

    /// The speed of the last fix when it is above the cut-off limit.
    async fn moving_speed(&self, device_id: i64) -> Result<Option<f64>, DbError> {
        Ok(self
            .db
            .latest_position(device_id)
            .await?
            .map(|p| p.speed_kmh)
            .filter(|&s| s > self.config.cut_power_max_speed_kmh))
    }

    /// One command.
    pub async fn get(&self, id: i64) -> Result<Option<CommandRecord>, DbError> {
        store::get(&self.db, id).await
    }

    /// Commands of a device, newest first, ids below `before`.
    pub async fn list(
        &self,
        device_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CommandRecord>, DbError> {
        store::list(&self.db, device_id, before, limit).await
    }

    /// Audit entries (of one device, or all), newest first, ids below `before`.
    pub async fn audit_log(
        &self,
        device_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DbError> {
        store::audit_log(&self.db, device_id, before, limit).await
    }

    async fn by_status(&self, status: CommandStatus) -> Result<Vec<CommandRecord>, DbError> {
        store::by_status(&self.db, status).await
    }

    async fn finish(
        &self,
        c: &CommandRecord,
        to: CommandStatus,
        reason: &str,
        reply: Option<&Value>,
        correlation: Option<&Value>,
    ) -> Result<(), DbError> {
        let failure = (!reason.is_empty()).then_some(reason);
        if store::set_status(&self.db, c.id, to, failure, reply, correlation).await? {
            let who = Requester {
                user_id: c.requested_by,
                api_key_id: c.api_key_id,
            };
            let audit = NewAudit {
                who,
                device_id: Some(c.device_id),
                command_id: Some(c.id),
                kind: &c.kind,
                outcome: to.as_str(),
                reason,
                detail: json!({ "reply": reply, "correlation": correlation }),
            };
            store::audit(&self.db, audit).await?;
            if let Some(now) = self.get(c.id).await? {
                self.publish(&now);
            }
        }
        Ok(())
    }

    /// One pass: release held cut-offs of slow vehicles, expire, deliver, match replies.
    async fn tick(&self, last_event: &mut i64) -> Result<(), DbError> {
        let now = Utc::now();
        for c in self.by_status(CommandStatus::Held).await? {
            if c.expires_at > now && self.moving_speed(c.device_id).await?.is_none() {
                self.finish(&c, CommandStatus::Queued, "", None, None)
                    .await?;
            }
        }
        for status in [
            CommandStatus::Queued,
            CommandStatus::Held,
            CommandStatus::Sent,
        ] {
            for c in self.by_status(status).await? {
                if c.expires_at <= now {
                    let why = if status == CommandStatus::Sent {
                        "no_reply"
                    } else {
                        "not_delivered"
                    };
                    self.finish(&c, CommandStatus::Expired, why, None, None)
                        .await?;
                }
            }
        }
        for c in self.by_status(CommandStatus::Queued).await? {
            if c.not_before.is_some_and(|t| t > now) {
                continue;
            }
            let Some(device) = self.db.device(c.device_id).await? else {
                continue;
            };
            if !self.sessions.is_online(&device.unique_id) {
                continue;
            }
            let Some(command) = protocol_command(&c.kind, &c.params) else {
                self.finish(&c, CommandStatus::Failed, "invalid_command", None, None)
                    .await?;
                continue;
            };
            let profile: CommandProfile =
                serde_json::from_value(device.command_profile.clone()).unwrap_or_default();
            match self
                .sessions
                .send_command(&device.unique_id, command, profile)
                .await
            {
                Ok(corr) => {
                    let corr = serde_json::to_value(corr).unwrap_or(Value::Null);
                    self.finish(&c, CommandStatus::Sent, "", None, Some(&corr))
                        .await?;
                }
                Err(SendCommandError::Command(e)) => {
                    self.finish(&c, CommandStatus::Failed, &e.to_string(), None, None)
                        .await?;
                }
                // Went offline meanwhile: stays queued for the next connection.
                Err(SendCommandError::Offline(_) | SendCommandError::Closed(_)) => {}
            }
        }
        let replies = store::replies_after(&self.db, *last_event).await?;
        for (id, device_id, reply) in replies {
            *last_event = id;
            let Some(device_id) = device_id else { continue };
            self.match_reply(device_id, &reply).await?;
        }
        Ok(())
    }

    /// Matches a device reply to the command it answers and finishes that command.
    async fn match_reply(&self, device_id: i64, reply: &Value) -> Result<(), DbError> {
        let sent: Vec<CommandRecord> = self
            .by_status(CommandStatus::Sent)
            .await?
            .into_iter()
            .filter(|c| c.device_id == device_id)
            .collect();
        let corr = &reply["correlation"];
        let target = if corr["kind"] == "none" || corr.is_null() {
            sent.first()
        } else {
            sent.iter().find(|c| c.correlation.as_ref() == Some(corr))
        };
        let Some(c) = target else {
            tracing::debug!(device_id, %reply, "reply matches no command in flight");
            return Ok(());
        };
        match reply["result"].as_str() {
            Some("failure") => {
                self.finish(
                    c,
                    CommandStatus::Failed,
                    "device_refused",
                    Some(reply),
                    None,
                )
                .await
            }
            Some("unsupported") => {
                self.finish(
                    c,
                    CommandStatus::Failed,
                    "device_unsupported",
                    Some(reply),
                    None,
                )
                .await
            }
            _ => {
                self.finish(c, CommandStatus::Acknowledged, "", Some(reply), None)
                    .await
            }
        }
    }

    /// The worker: a pass when woken by a new command, and every 200 ms (device connections
    /// and replies are seen through the database), until `stop`.
    pub async fn run(self, stop: CancellationToken) -> Result<(), String> {
        let mut last_event = store::last_event_id(&self.db).await;
        loop {
            if let Err(e) = self.tick(&mut last_event).await {
                tracing::warn!(error = %e, "command queue pass failed; retrying");
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }
}
