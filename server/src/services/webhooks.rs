//! Webhooks: every alarm event on the [`Bus`] is POSTed as JSON to each subscriber's URL with
//! `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of the body keyed by the subscriber's secret>`.
//!
//! Each subscriber has its own bounded queue and task: a dead or slow endpoint fills only its
//! own queue, after which its events are dropped (and logged as `dropped`); the pipeline and
//! the other subscribers never wait. Failed deliveries are retried with exponential backoff;
//! the final outcome of every event is written to `webhook_deliveries`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use sqlx::Row;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::services::access::Actor;
use crate::services::bus::{Bus, BusEvent};
use crate::storage::on_pool;
use crate::storage::{Db, DbError};
use crate::transport::http::{ApiError, AppState};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";
/// Events queued per subscriber before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 1024;
/// Attempts per event.
pub const MAX_ATTEMPTS: u32 = 5;

/// `sha256=<hex>` of `body` keyed by `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

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

async fn insert_webhook(db: &Db, url: &str, secret: &str) -> Result<Webhook, DbError> {
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

async fn webhooks(db: &Db) -> Result<Vec<Webhook>, DbError> {
    Ok(on_pool!(db, p => {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT id, url, secret, created_at FROM webhooks ORDER BY id").fetch_all(p).await? {
            out.push(Webhook { id: r.try_get("id")?, url: r.try_get("url")?, secret: r.try_get("secret")?, created_at: r.try_get("created_at")? });
        }
        out
    }))
}

async fn log_delivery(db: &Db, hook: i64, d: &Delivery) {
    let res: Result<(), sqlx::Error> = on_pool!(db, p => sqlx::query("INSERT INTO webhook_deliveries (webhook_id, event, outcome, attempts, http_status, error, time) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(hook).bind(&d.event).bind(&d.outcome).bind(d.attempts).bind(d.http_status).bind(&d.error).bind(d.time)
        .execute(p).await.map(|_| ()));
    if let Err(e) = res {
        tracing::warn!(webhook = hook, error = %e, "webhook delivery log failed");
    }
}

async fn delete_webhook(db: &Db, id: i64) -> Result<bool, DbError> {
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

struct Job {
    event: String,
    body: Vec<u8>,
}

/// The subscribers' queues; cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    db: Db,
    client: reqwest::Client,
    queues: Arc<Mutex<HashMap<i64, mpsc::Sender<Job>>>>,
    /// First retry delay (doubles per attempt).
    pub backoff: Duration,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

impl Webhooks {
    /// A dispatcher with no subscribers yet.
    pub fn new(db: Db, backoff: Duration) -> Webhooks {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Webhooks {
            db,
            client,
            queues: Arc::default(),
            backoff,
        }
    }

    fn start(&self, hook: Webhook) {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE_CAPACITY);
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hook.id, tx);
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let d = this.deliver(&hook, &job).await;
                log_delivery(&this.db, hook.id, &d).await;
            }
        });
    }

    /// Stops a subscriber: its queue closes, so its task ends after the event in hand.
    fn stop(&self, id: i64) {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    async fn deliver(&self, hook: &Webhook, job: &Job) -> Delivery {
        let sig = signature(&hook.secret, &job.body);
        let mut backoff = self.backoff;
        let mut last_status = None;
        let mut last_error = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let r = self
                .client
                .post(&hook.url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, &sig)
                .body(job.body.clone())
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => {
                    return Delivery {
                        event: job.event.clone(),
                        outcome: "delivered".into(),
                        attempts: i64::from(attempt),
                        http_status: Some(i64::from(r.status().as_u16())),
                        error: None,
                        time: Utc::now(),
                    };
                }
                Ok(r) => last_status = Some(i64::from(r.status().as_u16())),
                Err(e) => last_error = Some(e.to_string()),
            }
            if attempt < MAX_ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
        tracing::warn!(webhook = hook.id, url = %hook.url, "webhook delivery failed");
        Delivery {
            event: job.event.clone(),
            outcome: "failed".into(),
            attempts: i64::from(MAX_ATTEMPTS),
            http_status: last_status,
            error: last_error,
            time: Utc::now(),
        }
    }

    /// Starts the stored subscribers and forwards alarm events until the bus closes.
    pub async fn run(self, bus: Bus) -> Result<(), String> {
        let mut events = bus.subscribe();
        for hook in webhooks(&self.db).await.map_err(|e| e.to_string())? {
            self.start(hook);
        }
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    metrics::counter!("vigil_bus_lagged_total", "subscriber" => "webhooks")
                        .increment(n);
                    continue;
                }
                Err(RecvError::Closed) => return Ok(()),
            };
            let BusEvent::Alarm { action, alarm } = &event else {
                continue;
            };
            let name = format!(
                "alarm.{}",
                serde_json::to_value(action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            );
            let body = json!({"event": name, "alarm": alarm, "sent_at": Utc::now()}).to_string();
            let queues: Vec<(i64, mpsc::Sender<Job>)> = self
                .queues
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            for (id, q) in queues {
                let job = Job {
                    event: name.clone(),
                    body: body.clone().into_bytes(),
                };
                if q.try_send(job).is_err() {
                    metrics::counter!("vigil_webhook_dropped_total").increment(1);
                    tracing::warn!(webhook = id, "webhook queue full; event dropped");
                    let db = self.db.clone();
                    let d = Delivery {
                        event: name.clone(),
                        outcome: "dropped".into(),
                        attempts: 0,
                        http_status: None,
                        error: Some("queue full".into()),
                        time: Utc::now(),
                    };
                    tokio::spawn(async move { log_delivery(&db, id, &d).await });
                }
            }
        }
    }
}

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
    let url = reqwest::Url::parse(&body.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| ApiError::bad_request("invalid_url", "url must be http(s)://host/…"))?;
    if body.secret.len() < 16 {
        return Err(ApiError::bad_request(
            "invalid_secret",
            "secret must be at least 16 bytes",
        ));
    }
    let hook = insert_webhook(&state.db, url.as_str(), &body.secret).await?;
    state.webhooks.start(hook.clone());
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
    let hooks = webhooks(&state.db).await?;
    Ok(HttpResponse::Ok().json(WebhookList { webhooks: hooks }))
}

/// `GET /api/v1/webhooks/{webhook_id}/deliveries`: `{deliveries}`, newest first (last 100;
/// administrators).
pub async fn list_deliveries(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !webhooks(&state.db).await?.iter().any(|h| h.id == id) {
        return Err(ApiError::not_found(format!("webhook {id} not found")));
    }
    let d = deliveries(&state.db, id, 100).await?;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries: d }))
}

/// `DELETE /api/v1/webhooks/{webhook_id}` (administrators): stops deliveries and removes the
/// subscriber with its delivery log.
pub async fn delete(
    state: web::Data<AppState>,
    _admin: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !delete_webhook(&state.db, id).await? {
        return Err(ApiError::not_found(format!("webhook {id} not found")));
    }
    state.webhooks.stop(id);
    Ok(HttpResponse::NoContent().finish())
}
