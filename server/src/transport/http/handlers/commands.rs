//! `/api/v1/devices/{id}/commands`, `/api/v1/commands/{command_id}` and the command audit log.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::services::access::{self, Actor};
use crate::services::commands::{AuditEntry, CommandRecord, CommandRequest};
use crate::transport::http::{ApiError, AppState};

/// Paging of command and audit lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Entries with id below this (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Answer of `POST /api/v1/devices/{id}/commands` and `GET /api/v1/commands/{command_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandEnvelope {
    /// The command.
    pub command: CommandRecord,
}

/// Answer of `GET /api/v1/devices/{id}/commands`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandList {
    /// The page, newest first.
    pub commands: Vec<CommandRecord>,
    /// Pass as `before` for the next page (null: last page).
    pub next_before: Option<i64>,
}

/// Answer of the audit routes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The page, newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page (null: last page).
    pub next_before: Option<i64>,
}

/// `POST /api/v1/devices/{id}/commands`: `201 {command}`; refusals are audited.
pub async fn create(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<CommandRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let device = match access::visible_device(&state.db, &auth, id).await {
        Ok(d) => d,
        Err(e) => {
            state
                .commands
                .audit_invisible(&auth, id, &body.kind)
                .await?;
            return Err(e.into());
        }
    };
    let cmd = state
        .commands
        .submit(&auth, &device, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(CommandEnvelope { command: cmd }))
}

/// `GET /api/v1/devices/{id}/commands`: `{commands, next_before}`, newest first.
pub async fn list(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::transport::http::page_limit(q.limit)?;
    let device = access::visible_device(&state.db, &auth, id.into_inner()).await?;
    let cmds = state.commands.list(device.id, q.before, limit).await?;
    let next = crate::transport::http::next_cursor(&cmds, limit, |c| c.id);
    Ok(HttpResponse::Ok().json(CommandList {
        commands: cmds,
        next_before: next,
    }))
}

/// `GET /api/v1/commands/{command_id}`: one command of a device the caller may see.
pub async fn get(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let not_found = || ApiError::not_found(format!("command {id} not found"));
    let cmd = state.commands.get(id).await?.ok_or_else(not_found)?;
    access::visible_device(&state.db, &auth, cmd.device_id)
        .await
        .map_err(|_| not_found())?;
    Ok(HttpResponse::Ok().json(CommandEnvelope { command: cmd }))
}

/// `GET /api/v1/devices/{id}/audit` (owner or administrator): `{entries, next_before}`.
pub async fn device_audit(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::transport::http::page_limit(q.limit)?;
    let device = access::managed_device(&state.db, &auth, id.into_inner()).await?;
    let entries = state
        .commands
        .audit_log(Some(device.id), q.before, limit)
        .await?;
    let next = crate::transport::http::next_cursor(&entries, limit, |c| c.id);
    Ok(HttpResponse::Ok().json(AuditPage {
        entries,
        next_before: next,
    }))
}

/// `GET /api/v1/audit` (administrators): the whole command audit log, newest first.
pub async fn audit(
    state: web::Data<AppState>,
    _admin: Actor,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::transport::http::page_limit(q.limit)?;
    let entries = state.commands.audit_log(None, q.before, limit).await?;
    let next = crate::transport::http::next_cursor(&entries, limit, |c| c.id);
    Ok(HttpResponse::Ok().json(AuditPage {
        entries,
        next_before: next,
    }))
}
