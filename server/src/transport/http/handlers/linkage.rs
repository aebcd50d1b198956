//! An alarm's linkage (`GET /api/v1/alarms/{id}/linkage`: cameras passed, checkpoints ahead,
//! intercept requests), intercept requests (`POST /api/v1/alarms/{id}/intercepts`) and the
//! cameras any stretch of a track passed (`GET /api/v1/devices/{id}/cameras-passed`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::linkage::{CameraPassed, Intercept};
use crate::services::access::{self, Actor};
use crate::services::linkage::LinkageError;
use crate::transport::http::{ApiError, AppState};

/// Longest stretch `cameras-passed` reads at once.
pub const MAX_RANGE_DAYS: i64 = 7;

/// `GET /api/v1/alarms/{id}/linkage`: computed now from the stored fixes (administrators,
/// dispatchers, officers of the alarm's unit; everyone else 404).
pub async fn alarm_linkage(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let alarm = access::linkage_alarm(&state.db, &auth, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.linkage.alarm_linkage(&alarm).await?))
}

/// Body of `POST /api/v1/alarms/{id}/intercepts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterceptBody {
    /// The checkpoint asked to intercept.
    pub checkpoint_id: i64,
}

/// Answer of `POST /api/v1/alarms/{id}/intercepts`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InterceptAnswer {
    /// The request (the existing one when it was already asked for).
    pub intercept: Intercept,
    /// False when this checkpoint had already been asked for this alarm (nobody notified
    /// again).
    pub created: bool,
}

/// `POST /api/v1/alarms/{id}/intercepts {checkpoint_id}`: 201 the first time (recorded in the
/// lifecycle, the checkpoint's unit notified), 200 with the existing request after that.
pub async fn request_intercept(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    body: web::Json<InterceptBody>,
) -> Result<HttpResponse, ApiError> {
    let alarm = access::linkage_alarm(&state.db, &auth, id.into_inner()).await?;
    match state
        .linkage
        .request_intercept(&alarm, body.checkpoint_id, auth.user.id)
        .await
    {
        Ok((intercept, true)) => Ok(HttpResponse::Created().json(InterceptAnswer {
            intercept,
            created: true,
        })),
        Ok((intercept, false)) => Ok(HttpResponse::Ok().json(InterceptAnswer {
            intercept,
            created: false,
        })),
        Err(LinkageError::CheckpointNotFound(c)) => {
            let mut e = ApiError::bad_request("invalid_checkpoint", format!("no checkpoint {c}"));
            e.detail = Some(serde_json::Map::from_iter([(
                "field".to_owned(),
                "checkpoint_id".into(),
            )]));
            Err(e)
        }
        Err(e) => Err(e.into()),
    }
}

/// Query of `GET /api/v1/devices/{id}/cameras-passed`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PassedQuery {
    /// Start (ISO-8601 UTC), inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive; at most 7 days after `from`.
    pub to: DateTime<Utc>,
}

/// Answer of `GET /api/v1/devices/{id}/cameras-passed`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CamerasPassed {
    /// By time.
    pub cameras_passed: Vec<CameraPassed>,
    /// When this was computed.
    pub computed_at: DateTime<Utc>,
}

/// `GET /api/v1/devices/{id}/cameras-passed?from&to` (administrators, dispatchers, officers
/// pursuing the vehicle; everyone else 404).
pub async fn cameras_passed(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    q: web::Query<PassedQuery>,
) -> Result<HttpResponse, ApiError> {
    let dev = access::linkage_device(&state.db, &auth, id.into_inner()).await?;
    if q.from >= q.to || q.to - q.from > chrono::Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::bad_request(
            "invalid_range",
            format!("from must be before to, at most {MAX_RANGE_DAYS} days apart"),
        ));
    }
    let cameras_passed = state.linkage.cameras_passed(dev.id, q.from, q.to).await?;
    Ok(HttpResponse::Ok().json(CamerasPassed {
        cameras_passed,
        computed_at: Utc::now(),
    }))
}
