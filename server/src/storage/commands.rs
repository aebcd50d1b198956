//! Storage of the command queue: `commands` (one row per command and its life) and
//! `command_audit` (every request, refusal and state change), and the device replies the
//! queue reads from `events`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::types::Json;

use crate::domain::commands::{AuditEntry, CommandRecord, CommandStatus, Requester};
use crate::storage::on_pool;
use crate::storage::{Db, DbError};

/// An audit entry to append.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    /// Who asked.
    pub who: Requester,
    /// Target device (none when the caller may not see it).
    pub device_id: Option<i64>,
    /// The command, once one was created.
    pub command_id: Option<i64>,
    /// What was asked.
    pub kind: &'a str,
    /// What happened.
    pub outcome: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Parameters and context.
    pub detail: Value,
}

/// A command to insert.
#[derive(Debug, Clone)]
pub struct NewCommand<'a> {
    /// Target device.
    pub device_id: i64,
    /// Stored kind.
    pub kind: &'a str,
    /// Parameters.
    pub params: &'a Value,
    /// First status (`queued` or `held`).
    pub status: CommandStatus,
    /// Who asked.
    pub who: Requester,
    /// Request time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Not sent before this.
    pub not_before: Option<DateTime<Utc>>,
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

/// Appends to the audit log.
pub async fn audit(db: &Db, a: NewAudit<'_>) -> Result<(), DbError> {
    on_pool!(db, p => { sqlx::query("INSERT INTO command_audit (time, user_id, api_key_id, device_id, command_id, kind, outcome, reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(Utc::now()).bind(a.who.user_id).bind(a.who.api_key_id).bind(a.device_id).bind(a.command_id)
        .bind(a.kind).bind(a.outcome).bind(a.reason).bind(Json(a.detail)).execute(p).await?; });
    Ok(())
}

/// Inserts a command and returns it as stored.
pub async fn insert(db: &Db, c: NewCommand<'_>) -> Result<CommandRecord, DbError> {
    let sql = format!(
        "INSERT INTO commands (device_id, kind, params, status, requested_by, api_key_id, created_at, expires_at, not_before) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {CMD_COLS}"
    );
    on_pool!(db, p => {
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(c.device_id).bind(c.kind).bind(Json(c.params))
            .bind(c.status.as_str()).bind(c.who.user_id).bind(c.who.api_key_id).bind(c.created_at).bind(c.expires_at).bind(c.not_before)
            .fetch_one(p).await?;
        Ok(command_from_row!(&r)?)
    })
}

/// One command.
pub async fn get(db: &Db, id: i64) -> Result<Option<CommandRecord>, DbError> {
    let sql = format!("SELECT {CMD_COLS} FROM commands WHERE id = $1");
    on_pool!(db, p => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await? {
            None => Ok(None),
            Some(r) => Ok(Some(command_from_row!(&r)?)),
        }
    })
}

/// Commands of a device, newest first, ids below `before`.
pub async fn list(
    db: &Db,
    device_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<CommandRecord>, DbError> {
    let sql = format!(
        "SELECT {CMD_COLS} FROM commands WHERE device_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    on_pool!(db, p => {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows { out.push(command_from_row!(r)?); }
        Ok(out)
    })
}

/// Audit entries (of one device, or all), newest first, ids below `before`.
pub async fn audit_log(
    db: &Db,
    device_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, DbError> {
    let before = before.unwrap_or(i64::MAX);
    on_pool!(db, p => {
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

/// Moves a command to `to` if it is in a status `to` may be reached from; whether it moved
/// (false: another transition won the race).
pub async fn set_status(
    db: &Db,
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
    let n = on_pool!(db, p => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to.as_str()).bind(failure)
        .bind(reply.map(Json)).bind(correlation.map(Json)).bind(finished).bind(sent).bind(id)
        .execute(p).await?.rows_affected());
    Ok(n > 0)
}

/// Commands in `status`, oldest first (at most 1000).
pub async fn by_status(db: &Db, status: CommandStatus) -> Result<Vec<CommandRecord>, DbError> {
    let sql = format!("SELECT {CMD_COLS} FROM commands WHERE status = $1 ORDER BY id LIMIT 1000");
    on_pool!(db, p => {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(status.as_str()).fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows { out.push(command_from_row!(r)?); }
        Ok(out)
    })
}

/// The `command_reply` events after event `after`, oldest first (at most 500): `(event id,
/// device id, detail)`.
pub async fn replies_after(db: &Db, after: i64) -> Result<Vec<(i64, Option<i64>, Value)>, DbError> {
    Ok(on_pool!(db, p => {
        let rows = sqlx::query("SELECT id, device_id, detail FROM events WHERE kind = 'command_reply' AND id > $1 ORDER BY id LIMIT 500")
            .bind(after).fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push((r.try_get("id")?, r.try_get("device_id")?, r.try_get::<Json<Value>, _>("detail")?.0));
        }
        out
    }))
}

/// The id of the newest event (0 when there is none, or when it cannot be read: the queue
/// then starts from the beginning).
pub async fn last_event_id(db: &Db) -> i64 {
    on_pool!(db, p => sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM events")
        .fetch_one(p).await.and_then(|r| r.try_get::<i64, _>("m")).unwrap_or(0))
}
