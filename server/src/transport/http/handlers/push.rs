//! Web Push: `/api/v1/push/vapid-public-key` and the caller's browser subscriptions,
//! `/api/v1/push-subscriptions` (see [`crate::services::push`]).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::services::access::Actor;
use crate::services::push::PushSubscription;
use crate::transport::http::{ApiError, AppState};

/// The subscription's keys, as `PushSubscription.toJSON()` gives them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key: uncompressed point, base64url (65 bytes).
    pub p256dh: String,
    /// The browser's auth secret, base64url (16 bytes).
    pub auth: String,
}

/// Body of `POST /api/v1/push-subscriptions`: a browser's `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// The push service's URL for this browser (`https://`).
    pub endpoint: String,
    /// Ignored (browsers send `null`; the push service's 404/410 ends a subscription).
    #[serde(rename = "expirationTime")]
    #[schema(value_type = Option<f64>)]
    pub expiration_time: Option<serde_json::Value>,
    /// Its keys.
    pub keys: SubscriptionKeys,
}

/// Body of `DELETE /api/v1/push-subscriptions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveSubscription {
    /// The endpoint of the subscription to remove.
    pub endpoint: String,
}

/// Answer of `GET /api/v1/push/vapid-public-key`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VapidKey {
    /// The server's VAPID public key (uncompressed P-256 point, base64url): the browser's
    /// `applicationServerKey`.
    pub public_key: String,
}

/// Answer of `GET /api/v1/push-subscriptions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    /// The caller's subscriptions (one per browser).
    pub subscriptions: Vec<PushSubscription>,
}

/// `GET /api/v1/push/vapid-public-key` (public: the key is what every browser needs to
/// subscribe).
pub async fn vapid_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(VapidKey {
        public_key: state.push.public_key().to_owned(),
    })
}

/// `GET /api/v1/push-subscriptions`: the caller's own subscriptions.
pub async fn list(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, ApiError> {
    let subscriptions = state.push.list(actor.user.id).await?;
    Ok(HttpResponse::Ok().json(SubscriptionList { subscriptions }))
}

/// `POST /api/v1/push-subscriptions` `{endpoint, keys: {p256dh, auth}}`: alarm notifications
/// for the caller on this browser (201; the same endpoint again renews it). A malformed field
/// answers 400 naming it (`endpoint`, `keys.p256dh`, `keys.auth`).
pub async fn subscribe(
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<NewSubscription>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .push
        .subscribe(
            actor.user.id,
            &body.endpoint,
            &body.keys.p256dh,
            &body.keys.auth,
        )
        .await?;
    Ok(HttpResponse::Created().json(s))
}

/// `DELETE /api/v1/push-subscriptions` `{endpoint}`: no more notifications on that browser
/// (204; 404 when the caller has no subscription with that endpoint).
pub async fn unsubscribe(
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<RemoveSubscription>,
) -> Result<HttpResponse, ApiError> {
    state
        .push
        .unsubscribe(actor.user.id, &body.endpoint)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
