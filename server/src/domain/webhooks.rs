//! Webhook subscribers and the outcome of one delivery, as the delivery service keeps them
//! and the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A subscriber.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// HMAC key (not returned by the API after creation).
    #[serde(skip)]
    pub secret: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// One delivery log row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Event type (`alarm.opened`, …).
    pub event: String,
    /// `delivered`, `failed` or `dropped`.
    pub outcome: String,
    /// Attempts made.
    pub attempts: i64,
    /// Last HTTP status.
    pub http_status: Option<i64>,
    /// Last error.
    pub error: Option<String>,
    /// When the outcome was final.
    pub time: DateTime<Utc>,
}
