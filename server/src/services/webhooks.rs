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

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

pub use crate::domain::webhooks::{Delivery, Webhook};

use crate::services::bus::{Bus, BusEvent};
use crate::storage::webhooks as store;
use crate::storage::{Db, DbError};

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

struct Job {
    event: String,
    body: Vec<u8>,
}

/// Why a subscriber request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not `http(s)://host/…`.
    #[error("url must be http(s)://host/…")]
    InvalidUrl,
    /// The secret is shorter than 16 bytes.
    #[error("secret must be at least 16 bytes")]
    InvalidSecret,
    /// No subscriber with this id.
    #[error("webhook {0} not found")]
    NotFound(i64),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// Writes a delivery's outcome; a failure is logged, not retried (the event is gone either way).
async fn log_delivery(db: &Db, hook: i64, d: &Delivery) {
    if let Err(e) = store::log_delivery(db, hook, d).await {
        tracing::warn!(webhook = hook, error = %e, "webhook delivery log failed");
    }
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

    /// Adds a subscriber (`url` http(s) with a host, `secret` at least 16 bytes) and starts
    /// delivering to it.
    pub async fn subscribe(&self, url: &str, secret: &str) -> Result<Webhook, WebhookError> {
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or(WebhookError::InvalidUrl)?;
        if secret.len() < 16 {
            return Err(WebhookError::InvalidSecret);
        }
        let hook = store::insert_webhook(&self.db, url.as_str(), secret).await?;
        self.start(hook.clone());
        Ok(hook)
    }

    /// Every subscriber.
    pub async fn list(&self) -> Result<Vec<Webhook>, DbError> {
        store::webhooks(&self.db).await
    }

    /// The last `limit` deliveries of a subscriber, newest first.
    pub async fn deliveries(&self, id: i64, limit: i64) -> Result<Vec<Delivery>, WebhookError> {
        if !store::webhooks(&self.db).await?.iter().any(|h| h.id == id) {
            return Err(WebhookError::NotFound(id));
        }
        Ok(store::deliveries(&self.db, id, limit).await?)
    }

    /// Removes a subscriber with its delivery log and stops delivering to it.
    pub async fn unsubscribe(&self, id: i64) -> Result<(), WebhookError> {
        if !store::delete_webhook(&self.db, id).await? {
            return Err(WebhookError::NotFound(id));
        }
        self.stop(id);
        Ok(())
    }

    /// Starts the stored subscribers and forwards alarm events until the bus closes.
    pub async fn run(self, bus: Bus) -> Result<(), String> {
        let mut events = bus.subscribe();
        for hook in store::webhooks(&self.db).await.map_err(|e| e.to_string())? {
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
            let (action, alarm, intercept) = match &event {
                BusEvent::Alarm { action, alarm } => (action, alarm, None),
                BusEvent::Intercept {
                    action,
                    alarm,
                    intercept,
                } => (action, alarm, Some(intercept)),
                _ => continue,
            };
            let name = format!(
                "alarm.{}",
                serde_json::to_value(action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            );
            let mut body = json!({"event": name, "alarm": alarm, "sent_at": Utc::now()});
            if let Some(i) = intercept {
                body["intercept"] = json!(i);
            }
            let body = body.to_string();
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
