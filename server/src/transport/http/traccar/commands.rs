//! `POST /api/commands/send` and `GET /api/commands/types`: Traccar's command names on Vigil's
//! command queue ([`crate::services::commands`]), with its rights, audit, `cut_power`
//! confirmation and speed interlock unchanged. `engineStop` is `cut_power` and needs
//! `attributes.confirm: true` (Traccar's own clients confirm on screen before sending);
//! `engineResume` is `restore_power`, `positionSingle` `locate`, `positionPeriodic`
//! `set_interval` (`attributes.frequency`, seconds), `custom` raw text (`attributes.data`,
//! administrators). 200 when the device is online (sent now), 202 when the command waits.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::services::access::{self, Actor};
use crate::services::commands::{CommandRequest, CommandStatus};
use crate::transport::http::{ApiError, AppState};

/// Traccar's command names and Vigil's, in the order `GET /api/commands/types` lists them.
pub const TYPES: [(&str, &str); 5] = [
    ("engineStop", "cut_power"),
    ("engineResume", "restore_power"),
    ("positionSingle", "locate"),
    ("positionPeriodic", "set_interval"),
    ("custom", "custom"),
];

/// Traccar's `Command` (what is sent; unknown fields are ignored, as Traccar does).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TraccarCommand)]
pub struct TraccarCommand {
    /// The command's id (in answers; ignored in requests).
    #[serde(default)]
    pub id: i64,
    /// Device row id.
    pub device_id: i64,
    /// `engineStop`, `engineResume`, `positionSingle`, `positionPeriodic`, `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text (echoed).
    #[serde(default)]
    pub description: Option<String>,
    /// Always false (no SMS channel).
    #[serde(default)]
    pub text_channel: bool,
    /// `confirm` (engineStop), `frequency` (positionPeriodic), `data` (custom).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// The Vigil request of a Traccar command (400 `invalid_type` for a name it does not know).
pub fn vigil_request(c: &TraccarCommand) -> Result<CommandRequest, ApiError> {
    let Some((_, kind)) = TYPES.iter().find(|(t, _)| *t == c.kind) else {
        return Err(ApiError::bad_request(
            "invalid_type",
            format!(
                "type: one of {:?}",
                TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>()
            ),
        ));
    };
    let a = &c.attributes;
    let seconds = match a.get("frequency") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|s| u32::try_from(s).ok())
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_interval", "attributes.frequency: whole seconds")
                })?,
        ),
    };
    Ok(CommandRequest {
        kind: (*kind).to_owned(),
        confirm: a.get("confirm").and_then(Value::as_bool).unwrap_or(false),
        seconds,
        duration_secs: None,
        revert_to_seconds: None,
        text: a.get("data").and_then(Value::as_str).map(str::to_owned),
        expires_in_secs: None,
    })
}

/// `POST /api/commands/send`.
pub async fn send(
    state: web::Data<AppState>,
    auth: Actor,
    body: web::Json<TraccarCommand>,
) -> Result<HttpResponse, ApiError> {
    let mut c = body.into_inner();
    let device = match access::visible_device(&state.db, &auth, c.device_id).await {
        Ok(d) => d,
        Err(e) => {
            state
                .commands
                .audit_invisible(&auth, c.device_id, &c.kind)
                .await?;
            return Err(e.into());
        }
    };
    let request = vigil_request(&c)?;
    let online = state.sessions.is_online(&device.unique_id);
    let record = state.commands.submit(&auth, &device, request).await?;
    c.id = record.id;
    Ok(if online && record.status == CommandStatus::Queued {
        HttpResponse::Ok().json(c)
    } else {
        HttpResponse::Accepted().json(c)
    })
}

/// One entry of `GET /api/commands/types`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TraccarCommandType)]
pub struct CommandType {
    /// Traccar's command name.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `GET /api/commands/types?deviceId`: the commands the caller may send (to that device).
pub async fn types(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Actor,
) -> Result<HttpResponse, ApiError> {
    let q = super::query_pairs(&req);
    let device = match super::ids(&q, "deviceId")?.first() {
        Some(&id) => Some(access::visible_device(&state.db, &auth, id).await?),
        None => None,
    };
    let mut out = Vec::new();
    for (traccar, vigil) in TYPES {
        let Some(kind) = access::CommandKind::parse(vigil) else {
            continue;
        };
        let allowed = match &device {
            Some(d) => access::can_command(&state.db, &auth, d, kind).await?,
            None => kind != access::CommandKind::Raw || auth.is_admin(),
        };
        if allowed {
            out.push(CommandType { kind: traccar });
        }
    }
    Ok(HttpResponse::Ok().json(out))
}
