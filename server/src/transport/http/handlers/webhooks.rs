//! The webhook subscribers (administrators): `/api/v1/webhooks`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::services::access::Actor;
use crate::services::webhooks::{Delivery, Webhook};
use crate::transport::http::{ApiError, AppState};

/// Body of `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http://` or `https://` URL.
    #[schema(pattern = "^https?://[^/?#]+")]
    pub url: String,
    /// HMAC key (at least 16 bytes).
    #[schema(min_length = 16)]
    pub secret: String,
}

/// `POST /api/v1/webhooks` `{url, secret}` (administrators: a subscriber receives every alarm).
pub async fn create(
    state: web::Data<AppState>,
    _admin: Actor,
    body: web::Json<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let hook = state.webhooks.subscribe(&body.url, &body.secret).await?;
    Ok(HttpResponse::Created().json(hook))
}

/// Answer of `GET /api/v1/webhooks`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// Every subscriber.
    pub webhooks: Vec<Webhook>,
}

/// Answer of `GET /api/v1/webhooks/{webhook_id}/deliveries`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    /// The last deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}

/// `GET /api/v1/webhooks`: `{webhooks}` (administrators).
pub async fn list(state: web::Data<AppState>, _admin: Actor) -> Result<HttpResponse, ApiError> {
    let hooks = state.webhooks.list().await?;
    Ok(HttpResponse::Ok().json(WebhookList { webhooks: hooks }))
}

/// `GET /api/v1/webhooks/{webhook_id}/deliveries`: `{deliveries}`, newest first (last 100;
/// administrators).
pub async fn list_deliveries(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let d = state.webhooks.deliveries(id.into_inner(), 100).await?;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries: d }))
}

/// `DELETE /api/v1/webhooks/{webhook_id}` (administrators): stops deliveries and removes the
/// subscriber with its delivery log.
pub async fn delete(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.webhooks.unsubscribe(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
