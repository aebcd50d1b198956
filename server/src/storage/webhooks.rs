//! Storage of the webhook subscribers (`webhooks`) and their delivery log
//! (`webhook_deliveries`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::webhooks::{Delivery, Webhook};
use crate::storage::on_pool;
use crate::storage::{Db, DbError};

/// A `webhooks` row as read.
#[derive(sqlx::FromRow)]
struct WebhookRecord {
    id: i64,
    url: String,
    secret: String,
    created_at: DateTime<Utc>,
}

impl From<WebhookRecord> for Webhook {
    fn from(r: WebhookRecord) -> Self {
        Webhook {
            id: r.id,
            url: r.url,
            secret: r.secret,
            created_at: r.created_at,
        }
    }
}

/// A `webhook_deliveries` row as read.
#[derive(sqlx::FromRow)]
struct DeliveryRecord {
    event: String,
    outcome: String,
    attempts: i64,
    http_status: Option<i64>,
    error: Option<String>,
    time: DateTime<Utc>,
}

impl From<DeliveryRecord> for Delivery {
    fn from(r: DeliveryRecord) -> Self {
        Delivery {
            event: r.event,
            outcome: r.outcome,
            attempts: r.attempts,
            http_status: r.http_status,
            error: r.error,
            time: r.time,
        }
    }
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
    let rows = on_pool!(db, p => {
        sqlx::query_as::<_, WebhookRecord>("SELECT id, url, secret, created_at FROM webhooks ORDER BY id").fetch_all(p).await?
    });
    Ok(rows.into_iter().map(Webhook::from).collect())
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
    let rows = on_pool!(db, p => {
        sqlx::query_as::<_, DeliveryRecord>("SELECT event, outcome, attempts, http_status, error, time FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(hook).bind(limit).fetch_all(p).await?
    });
    Ok(rows.into_iter().map(Delivery::from).collect())
}
