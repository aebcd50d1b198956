//! Storage of the webhook subscribers (`webhooks`) and their delivery log
//! (`webhook_deliveries`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::storage::on_pool;
use crate::storage::{Db, DbError};

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

/// Adds a subscriber.
pub async fn insert_webhook(db: &Db, url: &str, secret: &str) -> Result<Webhook, DbError> {
    let now = Utc::now();
    let id: i64 = on_pool!(db, p => sqlx::query("INSERT INTO webhooks (url, secret, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(url).bind(secret).bind(now).fetch_one(p).await?.try_get("id")?);
    Ok(Webhook {
        id,
        url: url.to_owned(),
        secret: secret.to_owned(),
        created_at: now,
    })
}

/// Every subscriber, by id.
pub async fn webhooks(db: &Db) -> Result<Vec<Webhook>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT id, url, secret, created_at FROM webhooks ORDER BY id").fetch_all(p).await? {
            out.push(Webhook { id: r.try_get("id")?, url: r.try_get("url")?, secret: r.try_get("secret")?, created_at: r.try_get("created_at")? });
        }
        out
    }))
}

/// Appends the final outcome of one event to a subscriber's delivery log.
pub async fn log_delivery(db: &Db, hook: i64, d: &Delivery) -> Result<(), DbError> {
    on_pool!(db, p => sqlx::query("INSERT INTO webhook_deliveries (webhook_id, event, outcome, attempts, http_status, error, time) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(hook).bind(&d.event).bind(&d.outcome).bind(d.attempts).bind(d.http_status).bind(&d.error).bind(d.time)
        .execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Removes a subscriber (and, by cascade, its delivery log); whether it existed.
pub async fn delete_webhook(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(
        on_pool!(db, p => sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id).execute(p).await?.rows_affected() > 0),
    )
}

/// Delivery log of one subscriber, newest first.
pub async fn deliveries(db: &Db, hook: i64, limit: i64) -> Result<Vec<Delivery>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT event, outcome, attempts, http_status, error, time FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(hook).bind(limit).fetch_all(p).await? {
            out.push(Delivery {
                event: r.try_get("event")?, outcome: r.try_get("outcome")?, attempts: r.try_get("attempts")?,
                http_status: r.try_get("http_status")?, error: r.try_get("error")?, time: r.try_get("time")?,
            });
        }
        out
    }))
}
