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

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use protocol::{Command, CommandProfile, DeviceId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::types::Json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::settings::Settings;
use crate::domain::Device;
use crate::services::access::{self, Actor, CommandKind, KeyRule, Scope};
use crate::services::bus::{Bus, BusEvent};
use crate::services::device_sessions::{SendCommandError, SessionRegistry};
use crate::storage::on_pool;
use crate::storage::{Db, DbError};
use crate::transport::http::ApiError;

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

const CMD_COLS: &str = "id, device_id, kind, params, status, requested_by, api_key_id, created_at, expires_at, not_before, sent_at, finished_at, correlation, reply, failure";

macro_rules! command_from_row {
    ($r:expr) => {{
        let r = $r;
        (|| -> Result<CommandRecord, sqlx::Error> {
            Ok(CommandRecord {
                id: r.try_get("id")?,
                device_id: r.try_get("device_id")?,
                kind: r.try_get("kind")?,
                params: r.try_get::<Json<Value>, _>("params")?.0,
                status: crate::storage::stored_name(
                    "status",
                    r.try_get("status")?,
                    CommandStatus::parse,
                )?,
                requested_by: r.try_get("requested_by")?,
                api_key_id: r.try_get("api_key_id")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                not_before: r.try_get("not_before")?,
                sent_at: r.try_get("sent_at")?,
                finished_at: r.try_get("finished_at")?,
                correlation: r
                    .try_get::<Option<Json<Value>>, _>("correlation")?
                    .map(|j| j.0),
                reply: r.try_get::<Option<Json<Value>>, _>("reply")?.map(|j| j.0),
                failure: r.try_get("failure")?,
            })
        })()
    }};
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

/// The queue (cheap to clone).
#[derive(Debug, Clone)]
pub struct CommandQueue {
    db: Db,
    registry: SessionRegistry,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    bus: Bus,
}

fn kind_of(s: &str) -> Option<CommandKind> {
    Some(match s {
        "cut_power" => CommandKind::CutPower,
        "restore_power" => CommandKind::RestorePower,
        "locate" => CommandKind::Locate,
        "set_interval" => CommandKind::SetInterval,
        "custom" => CommandKind::Raw,
        _ => return None,
    })
}

/// The protocol command for a stored row.
fn protocol_command(kind: &str, params: &Value) -> Option<Command> {
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

impl CommandQueue {
    /// A queue over this storage and these live sessions, publishing status changes on `bus`.
    pub fn new(
        db: Db,
        registry: SessionRegistry,
        settings: Arc<Settings>,
        bus: Bus,
    ) -> CommandQueue {
        CommandQueue {
            db,
            registry,
            settings,
            wake: Arc::new(Notify::new()),
            bus,
        }
    }

    /// Publishes a command's current state on the bus.
    fn publish(&self, c: &CommandRecord) {
        self.bus.publish(BusEvent::Command(json!({ "command": c })));
    }

    /// Appends to the audit log.
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        who: Requester,
        device_id: Option<i64>,
        command_id: Option<i64>,
        kind: &str,
        outcome: &str,
        reason: &str,
        detail: Value,
    ) -> Result<(), DbError> {
        on_pool!(&self.db, p => { sqlx::query("INSERT INTO command_audit (time, user_id, api_key_id, device_id, command_id, kind, outcome, reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(Utc::now()).bind(who.user_id).bind(who.api_key_id).bind(device_id).bind(command_id)
            .bind(kind).bind(outcome).bind(reason).bind(Json(detail)).execute(p).await?; });
        Ok(())
    }

    async fn refuse(
        &self,
        who: Requester,
        device: &Device,
        req: &CommandRequest,
        err: ApiError,
    ) -> ApiError {
        let kind: String = req.kind.chars().take(40).collect();
        let detail = json!({ "confirm": req.confirm, "message": err.message });
        self.bus.publish(BusEvent::Command(json!({ "command": {
            "id": null, "device_id": device.id, "kind": kind, "status": "refused",
            "reason": err.code, "requested_by": who.user_id, "api_key_id": who.api_key_id,
            "created_at": Utc::now(),
        }})));
        if let Err(e) = self
            .audit(
                who,
                Some(device.id),
                None,
                &kind,
                "refused",
                err.code,
                detail,
            )
            .await
        {
            return ApiError::from(e);
        }
        err
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
        self.audit(
            Requester::from(actor),
            None,
            None,
            &kind,
            "refused",
            "not_found",
            json!({ "requested_device_id": requested_device }),
        )
        .await
    }

    /// Validates, authorises and queues a command; every refusal is audited. The device must
    /// already be visible to the caller (the route answers 404 otherwise).
    #[tracing::instrument(skip(self, actor, req), fields(device = device.id, kind = %req.kind))]
    pub async fn submit(
        &self,
        actor: &Actor,
        device: &Device,
        req: CommandRequest,
    ) -> Result<CommandRecord, ApiError> {
        let who = Requester::from(actor);
        let Some(kind) = kind_of(&req.kind) else {
            let e = ApiError::bad_request(
                "invalid_type",
                "type: one of cut_power, restore_power, locate, set_interval, custom",
            );
            return Err(self.refuse(who, device, &req, e).await);
        };
        if let Err(e) = actor.require_key_rule(KeyRule::Needs(Scope::CommandsWrite)) {
            return Err(self.refuse(who, device, &req, e).await);
        }
        if !access::can_command(&self.db, actor, device, kind).await? {
            let e = ApiError::forbidden(match kind {
                CommandKind::Raw => "custom commands are for administrators only",
                _ => {
                    "only the owner, an officer with an open alarm on this vehicle or an administrator may command it"
                }
            });
            return Err(self.refuse(who, device, &req, e).await);
        }
        let ttl = req
            .expires_in_secs
            .unwrap_or(self.settings.command_ttl_secs);
        if !(1..=7 * 86400).contains(&ttl) {
            let e =
                ApiError::bad_request("invalid_expires_in_secs", "expires_in_secs: 1 to 604800");
            return Err(self.refuse(who, device, &req, e).await);
        }
        let mut params = json!({});
        let mut status = CommandStatus::Queued;
        match kind {
            CommandKind::CutPower => {
                if !req.confirm {
                    let e = ApiError::bad_request(
                        "confirmation_required",
                        "confirm: must be true to cut power",
                    );
                    return Err(self.refuse(who, device, &req, e).await);
                }
                if let Some(speed) = self.moving_speed(device.id).await? {
                    if self.settings.cut_power_when_moving
                        == crate::app::settings::CutPowerPolicy::Hold
                    {
                        status = CommandStatus::Held;
                    } else {
                        let e = ApiError::new(
                            StatusCode::CONFLICT,
                            "vehicle_moving",
                            format!(
                                "the last fix shows {speed:.0} km/h, above the {:.0} km/h limit",
                                self.settings.cut_power_max_speed_kmh
                            ),
                        );
                        return Err(self.refuse(who, device, &req, e).await);
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
                    let e = ApiError::bad_request("invalid_interval", msg);
                    return Err(self.refuse(who, device, &req, e).await);
                }
                params = json!({ "seconds": seconds, "duration_secs": duration, "revert_to_seconds": revert });
            }
            CommandKind::Raw => {
                let text = req.text.clone().unwrap_or_default();
                if text.is_empty() || text.len() > 256 {
                    let e = ApiError::bad_request("invalid_text", "text: 1 to 256 bytes");
                    return Err(self.refuse(who, device, &req, e).await);
                }
                params = json!({ "text": text });
            }
            CommandKind::RestorePower | CommandKind::Locate => {}
        }
        let now = Utc::now();
        let expires = now + chrono::Duration::seconds(ttl as i64);
        let cmd = self
            .insert(
                device.id, &req.kind, &params, status, who, now, expires, None,
            )
            .await?;
        self.audit(
            who,
            Some(device.id),
            Some(cmd.id),
            &req.kind,
            if status == CommandStatus::Held {
                "held"
            } else {
                "accepted"
            },
            "",
            params.clone(),
        )
        .await?;
        self.publish(&cmd);
        if kind == CommandKind::SetInterval {
            // The return to normal reporting, sent when the fast period is over.
            let duration = params["duration_secs"].as_i64().unwrap_or(600);
            let at = now + chrono::Duration::seconds(duration);
            let revert = json!({ "seconds": params["revert_to_seconds"], "revert_of": cmd.id });
            let r = self
                .insert(
                    device.id,
                    "set_interval",
                    &revert,
                    CommandStatus::Queued,
                    who,
                    now,
                    at + chrono::Duration::seconds(ttl as i64),
                    Some(at),
                )
                .await?;
            self.audit(
                who,
                Some(device.id),
                Some(r.id),
                "set_interval",
                "accepted",
                "revert",
                revert,
            )
            .await?;
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
            .filter(|&s| s > self.settings.cut_power_max_speed_kmh))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert(
        &self,
        device_id: i64,
        kind: &str,
        params: &Value,
        status: CommandStatus,
        who: Requester,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<CommandRecord, DbError> {
        let sql = format!(
            "INSERT INTO commands (device_id, kind, params, status, requested_by, api_key_id, created_at, expires_at, not_before) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {CMD_COLS}"
        );
        on_pool!(&self.db, p => {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).bind(kind).bind(Json(params))
                .bind(status.as_str()).bind(who.user_id).bind(who.api_key_id).bind(now).bind(expires).bind(not_before)
                .fetch_one(p).await?;
            Ok(command_from_row!(&r)?)
        })
    }

    /// One command.
    pub async fn get(&self, id: i64) -> Result<Option<CommandRecord>, DbError> {
        let sql = format!("SELECT {CMD_COLS} FROM commands WHERE id = $1");
        on_pool!(&self.db, p => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await? {
                None => Ok(None),
                Some(r) => Ok(Some(command_from_row!(&r)?)),
            }
        })
    }

    /// Commands of a device, newest first, ids below `before`.
    pub async fn list(
        &self,
        device_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CommandRecord>, DbError> {
        let sql = format!(
            "SELECT {CMD_COLS} FROM commands WHERE device_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        on_pool!(&self.db, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows { out.push(command_from_row!(r)?); }
            Ok(out)
        })
    }

    /// Audit entries (of one device, or all), newest first, ids below `before`.
    pub async fn audit_log(
        &self,
        device_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DbError> {
        let before = before.unwrap_or(i64::MAX);
        on_pool!(&self.db, p => {
            let rows = match device_id {
                Some(d) => sqlx::query("SELECT id, time, user_id, api_key_id, device_id, command_id, kind, outcome, reason, detail FROM command_audit WHERE device_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
                    .bind(d).bind(before).bind(limit).fetch_all(p).await?,
                None => sqlx::query("SELECT id, time, user_id, api_key_id, device_id, command_id, kind, outcome, reason, detail FROM command_audit WHERE id < $1 ORDER BY id DESC LIMIT $2")
                    .bind(before).bind(limit).fetch_all(p).await?,
            };
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(AuditEntry {
                    id: r.try_get("id")?,
                    time: r.try_get("time")?,
                    user_id: r.try_get("user_id")?,
                    api_key_id: r.try_get("api_key_id")?,
                    device_id: r.try_get("device_id")?,
                    command_id: r.try_get("command_id")?,
                    kind: r.try_get("kind")?,
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    detail: r.try_get::<Json<Value>, _>("detail")?.0,
                });
            }
            Ok(out)
        })
    }

    async fn set_status(
        &self,
        id: i64,
        to: CommandStatus,
        failure: Option<&str>,
        reply: Option<&Value>,
        correlation: Option<&Value>,
    ) -> Result<bool, DbError> {
        let now = Utc::now();
        let finished = to.is_final().then_some(now);
        let sent = (to == CommandStatus::Sent).then_some(now);
        let list = to
            .reached_from()
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE commands SET status = $1, failure = COALESCE($2, failure), reply = COALESCE($3, reply), correlation = COALESCE($4, correlation), finished_at = COALESCE($5, finished_at), sent_at = COALESCE($6, sent_at) WHERE id = $7 AND status IN ({list})"
        );
        let n = on_pool!(&self.db, p => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to.as_str()).bind(failure)
            .bind(reply.map(Json)).bind(correlation.map(Json)).bind(finished).bind(sent).bind(id)
            .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    async fn by_status(&self, status: CommandStatus) -> Result<Vec<CommandRecord>, DbError> {
        let sql =
            format!("SELECT {CMD_COLS} FROM commands WHERE status = $1 ORDER BY id LIMIT 1000");
        on_pool!(&self.db, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(status.as_str()).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows { out.push(command_from_row!(r)?); }
            Ok(out)
        })
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
        if self
            .set_status(c.id, to, failure, reply, correlation)
            .await?
        {
            let who = Requester {
                user_id: c.requested_by,
                api_key_id: c.api_key_id,
            };
            let detail = json!({ "reply": reply, "correlation": correlation });
            self.audit(
                who,
                Some(c.device_id),
                Some(c.id),
                &c.kind,
                to.as_str(),
                reason,
                detail,
            )
            .await?;
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
            let Ok(id) = DeviceId::parse(&device.unique_id) else {
                continue;
            };
            if !self.registry.is_online(&id) {
                continue;
            }
            let Some(command) = protocol_command(&c.kind, &c.params) else {
                self.finish(&c, CommandStatus::Failed, "invalid_command", None, None)
                    .await?;
                continue;
            };
            let profile: CommandProfile =
                serde_json::from_value(device.command_profile.clone()).unwrap_or_default();
            match self.registry.send_command(&id, command, profile).await {
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
        let replies: Vec<(i64, Option<i64>, Value)> = on_pool!(&self.db, p => {
            let rows = sqlx::query("SELECT id, device_id, detail FROM events WHERE kind = 'command_reply' AND id > $1 ORDER BY id LIMIT 500")
                .bind(*last_event).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get("id")?, r.try_get("device_id")?, r.try_get::<Json<Value>, _>("detail")?.0));
            }
            out
        });
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
        let mut last_event: i64 = on_pool!(&self.db, p => sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM events")
            .fetch_one(p).await.and_then(|r| r.try_get::<i64, _>("m")).unwrap_or(0));
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
