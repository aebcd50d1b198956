//! Web Push: theft alerts that reach a locked phone. Browsers subscribe (RFC 8030 push
//! subscriptions, [`Push::subscribe`]); each alarm event that [`push_reason`] picks is sent to
//! the subscriptions of every user who may see the alarm (the access layer's
//! [`access::user_sees_alarm`], the rule of the WebSocket stream): encrypted to the
//! subscription (RFC 8291, `aes128gcm`) and signed with the server's VAPID key (RFC 8292, an
//! ES256 JWT), both by the `web-push-native` crate (pure Rust: p256, aes-gcm, hkdf).
//!
//! The alarm path never waits for a push service: the alarm worker publishes on the [`Bus`]
//! (never blocks); [`Push::run`] only picks events and `try_send`s them into a bounded queue (a
//! full queue drops the event, counted in `vigil_push_dropped_total` and logged); one sender
//! task resolves the recipients and hands each delivery to its own task, at most
//! [`PushConfig::concurrency`] at once. A delivery the push service answers 404/410 drops the
//! subscription (the browser unsubscribed or the subscription expired); 429, 5xx and network
//! errors are retried with exponential backoff (`Retry-After` honoured, at most 60 s); other
//! answers are recorded on the subscription (`last_error`) and not retried.
//!
//! The VAPID key pair is generated on first start and kept in `push_vapid_keys`: a browser's
//! subscription is bound to the public key it subscribed with.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Semaphore, mpsc};
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::{Auth, WebPushBuilder, p256};

pub use crate::domain::push::{PUSH_KINDS, PushMessage, PushReason, PushSubscription, PushTarget};

use crate::domain::alarms::AlarmView;
use crate::services::access;
use crate::services::bus::{AlarmAction, Bus, BusEvent};
use crate::storage::push as store;
use crate::storage::{Db, DbError};

/// Which alarm events are pushed: openings of the [`PUSH_KINDS`] (to whoever may see the
/// alarm). Intercept requests are pushed too, to the checkpoint's unit (see `job_of`).
pub fn push_reason(action: AlarmAction, alarm: &AlarmView) -> Option<PushReason> {
    match action {
        AlarmAction::Opened if PUSH_KINDS.contains(&alarm.kind) => Some(PushReason::AlarmOpened),
        _ => None,
    }
}

/// Who a push goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// Everyone who may see the alarm (its owner and sharees, its unit, dispatchers and
    /// administrators): the stream's rule.
    AlarmViewers,
    /// The members of one unit: a checkpoint's unit asked to intercept. The request is police
    /// data, so never owners or sharees; the officers may not be able to open the alarm
    /// itself, so the notification opens their feed.
    Unit(i64),
}

/// The push job of a bus event, if it is one.
fn job_of(event: BusEvent) -> Option<Job> {
    match event {
        BusEvent::Alarm { action, alarm } => Some(Job {
            reason: push_reason(action, &alarm)?,
            url: format!("/alarms/{}", alarm.id),
            audience: Audience::AlarmViewers,
            alarm,
        }),
        BusEvent::Intercept {
            alarm, intercept, ..
        } => Some(Job {
            reason: PushReason::InterceptRequested,
            url: "/alarms".into(),
            audience: Audience::Unit(intercept.unit_id?),
            alarm,
        }),
        BusEvent::Position(_) | BusEvent::Command(_) => None,
    }
}

/// Settings of the sender.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Alarm events queued for the sender before new ones are dropped.
    pub queue_capacity: usize,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// First retry delay (doubles per attempt, at most 60 s).
    pub backoff: Duration,
    /// Attempts per delivery.
    pub max_attempts: u32,
    /// Accept `http://` endpoints (tests and local push services only; real push services
    /// are HTTPS).
    pub allow_http: bool,
    /// The VAPID `sub` claim: how the push service reaches the operator (`mailto:` or
    /// `https:` URL).
    pub contact: String,
    /// How long the push service keeps an undelivered message (`TTL`), also the VAPID
    /// token's lifetime.
    pub ttl: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            queue_capacity: 1024,
            concurrency: 64,
            backoff: Duration::from_secs(1),
            max_attempts: 5,
            allow_http: false,
            contact: "mailto:admin@localhost".into(),
            ttl: Duration::from_secs(3600),
        }
    }
}

/// Why a push request or start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A subscription field is malformed (`field` names it as the request spells it).
    #[error("{field}: {reason}")]
    Invalid {
        /// `endpoint`, `keys.p256dh` or `keys.auth`.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The caller has no subscription with this endpoint.
    #[error("push subscription not found")]
    NotFound,
    /// The stored VAPID key cannot be read.
    #[error("stored VAPID key is invalid: {0}")]
    BadKey(String),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
}

fn invalid(field: &'static str, reason: &'static str) -> PushError {
    PushError::Invalid { field, reason }
}

/// Decodes base64url as browsers send it (unpadded; padding and the standard alphabet are
/// tolerated).
fn b64(s: &str) -> Option<Vec<u8>> {
    let s: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// A subscription's keys, checked: a P-256 point and a 16-byte secret.
fn parse_keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, Auth), PushError> {
    let point = b64(p256dh).ok_or(invalid("keys.p256dh", "must be base64url"))?;
    let key = p256::PublicKey::from_sec1_bytes(&point).map_err(|_| {
        invalid(
            "keys.p256dh",
            "must be an uncompressed P-256 point (65 bytes)",
        )
    })?;
    let auth = b64(auth).ok_or(invalid("keys.auth", "must be base64url"))?;
    if auth.len() != 16 {
        return Err(invalid("keys.auth", "must be 16 bytes"));
    }
    let mut secret = Auth::default();
    secret.copy_from_slice(&auth);
    Ok((key, secret))
}

struct Shared {
    db: Db,
    keys: ES256KeyPair,
    public_key: String,
    config: PushConfig,
    client: reqwest::Client,
}

struct Job {
    reason: PushReason,
    alarm: AlarmView,
    /// The page the notification opens.
    url: String,
    audience: Audience,
}

/// The push sender; cheap to clone.
#[derive(Clone)]
pub struct Push {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Job>,
    rx: Arc<std::sync::Mutex<Option<mpsc::Receiver<Job>>>>,
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("public_key", &self.shared.public_key)
            .finish_non_exhaustive()
    }
}

impl Push {
    /// Loads the VAPID key pair (generating and storing it on first start) and prepares the
    /// sender (run it with [`Push::run`]).
    pub async fn new(db: Db, config: PushConfig) -> Result<Push, PushError> {
        let keys = match store::vapid_keys(&db).await? {
            Some(k) => k,
            None => {
                let kp = ES256KeyPair::generate();
                let private = URL_SAFE_NO_PAD.encode(kp.to_bytes());
                let public =
                    URL_SAFE_NO_PAD.encode(kp.public_key().public_key().to_bytes_uncompressed());
                store::insert_vapid_keys(&db, &private, &public).await?;
                tracing::info!("generated the Web Push (VAPID) key pair");
                store::vapid_keys(&db)
                    .await?
                    .ok_or_else(|| PushError::BadKey("not stored".into()))?
            }
        };
        let private = b64(&keys.0).ok_or_else(|| PushError::BadKey("not base64url".into()))?;
        let kp =
            ES256KeyPair::from_bytes(&private).map_err(|e| PushError::BadKey(e.to_string()))?;
        let public_key =
            URL_SAFE_NO_PAD.encode(kp.public_key().public_key().to_bytes_uncompressed());
        if public_key != keys.1.trim_end_matches('=') {
            return Err(PushError::BadKey("public key does not match".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .https_only(!config.allow_http)
            .build()
            .unwrap_or_default();
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        Ok(Push {
            shared: Arc::new(Shared {
                db,
                keys: kp,
                public_key,
                config,
                client,
            }),
            tx,
            rx: Arc::new(std::sync::Mutex::new(Some(rx))),
        })
    }

    /// The VAPID public key (uncompressed P-256 point, base64url): the browser's
    /// `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.shared.public_key
    }

    /// Adds (or renews) a subscription of `user_id` after checking every field.
    pub async fn subscribe(
        &self,
        user_id: i64,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<PushSubscription, PushError> {
        let url =
            reqwest::Url::parse(endpoint).map_err(|_| invalid("endpoint", "must be a URL"))?;
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => self.shared.config.allow_http,
            _ => false,
        };
        if !scheme_ok {
            return Err(invalid("endpoint", "must be an https:// URL"));
        }
        if url.host().is_none() || endpoint.len() > 2048 {
            return Err(invalid(
                "endpoint",
                "must name a host and be at most 2048 bytes",
            ));
        }
        parse_keys(p256dh, auth)?;
        Ok(store::upsert(&self.shared.db, user_id, endpoint, p256dh, auth).await?)
    }

    /// Removes the user's subscription with this endpoint.
    pub async fn unsubscribe(&self, user_id: i64, endpoint: &str) -> Result<(), PushError> {
        if store::delete_for_user(&self.shared.db, user_id, endpoint).await? {
            Ok(())
        } else {
            Err(PushError::NotFound)
        }
    }

    /// The user's subscriptions.
    pub async fn list(&self, user_id: i64) -> Result<Vec<PushSubscription>, PushError> {
        Ok(store::of_user(&self.shared.db, user_id).await?)
    }

    /// Picks the pushed alarm events off the bus into the bounded queue, and runs the sender,
    /// until the bus closes.
    pub async fn run(self, bus: Bus) -> Result<(), String> {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or("push sender already running")?;
        let mut events = bus.subscribe();
        let sender = tokio::spawn(send_loop(self.shared.clone(), rx));
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    metrics::counter!("vigil_bus_lagged_total", "subscriber" => "push")
                        .increment(n);
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            let Some(job) = job_of(event) else {
                continue;
            };
            let id = job.alarm.id;
            if self.tx.try_send(job).is_err() {
                metrics::counter!("vigil_push_dropped_total").increment(1);
                tracing::warn!(alarm = id, "push queue full; alarm notification dropped");
            }
        }
        sender.abort();
        Ok(())
    }
}

/// Resolves each queued alarm's recipients and starts one delivery task per subscription.
async fn send_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let slots = Arc::new(Semaphore::new(shared.config.concurrency.max(1)));
    while let Some(job) = rx.recv().await {
        let targets = match recipients(&shared.db, &job.alarm, job.audience).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(alarm = job.alarm.id, error = %e, "push recipients lookup failed");
                continue;
            }
        };
        if targets.is_empty() {
            continue;
        }
        let device_name = match shared.db.device(job.alarm.device_id).await {
            Ok(Some(d)) => d.name,
            _ => String::new(),
        };
        let message = PushMessage {
            reason: job.reason,
            url: job.url,
            alarm: job.alarm,
            device_name,
            sent_at: Utc::now(),
        };
        let body = match serde_json::to_vec(&message) {
            Ok(b) => Arc::new(b),
            Err(e) => {
                tracing::error!(error = %e, "push message not serialisable");
                continue;
            }
        };
        for target in targets {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let shared = shared.clone();
            let body = body.clone();
            tokio::spawn(async move {
                deliver(&shared, &target, &body).await;
                drop(permit);
            });
        }
    }
}

/// The subscriptions the job goes to: the users who may see the alarm, or one unit's members.
async fn recipients(
    db: &Db,
    alarm: &AlarmView,
    audience: Audience,
) -> Result<Vec<PushTarget>, DbError> {
    if let Audience::Unit(unit_id) = audience {
        return store::of_unit_members(db, unit_id).await;
    }
    let candidates = store::candidates(db, alarm.device_id, alarm.unit_id).await?;
    let mut verdicts: std::collections::HashMap<i64, bool> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(candidates.len());
    for t in candidates {
        let sees = match verdicts.get(&t.user_id) {
            Some(v) => *v,
            None => {
                let v = match crate::storage::access::user(db, t.user_id).await? {
                    Some(user) => access::user_sees_alarm(db, &user, alarm).await?,
                    None => false,
                };
                verdicts.insert(t.user_id, v);
                v
            }
        };
        if sees {
            out.push(t);
        }
    }
    Ok(out)
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    Gone(u16),
    Retry(String, Option<Duration>),
    Failed(String),
}

async fn attempt(shared: &Shared, target: &PushTarget, body: &[u8]) -> Attempt {
    let (key, auth) = match parse_keys(&target.p256dh, &target.auth) {
        Ok(k) => k,
        Err(e) => return Attempt::Failed(e.to_string()),
    };
    let uri = match target.endpoint.parse() {
        Ok(u) => u,
        Err(e) => return Attempt::Failed(format!("endpoint: {e}")),
    };
    let request = WebPushBuilder::new(uri, key, auth)
        .with_valid_duration(shared.config.ttl)
        .with_vapid(&shared.keys, &shared.config.contact)
        .build(body.to_vec());
    let (parts, payload) = match request {
        Ok(r) => r.into_parts(),
        Err(e) => return Attempt::Failed(format!("encrypt: {e}")),
    };
    let sent = shared
        .client
        .post(target.endpoint.as_str())
        .headers(parts.headers)
        // RFC 8030 §5.3: wake the device now (theft, SOS, power cut, tampering).
        .header("Urgency", "high")
        .body(payload)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Attempt::Delivered,
        Ok(r) if matches!(r.status().as_u16(), 404 | 410) => Attempt::Gone(r.status().as_u16()),
        Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
            let after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Attempt::Retry(format!("HTTP {}", r.status().as_u16()), after)
        }
        Ok(r) => Attempt::Failed(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Attempt::Retry(e.to_string(), None),
    }
}

/// Sends one message to one subscription, retrying what may pass later.
async fn deliver(shared: &Shared, target: &PushTarget, body: &[u8]) {
    let mut backoff = shared.config.backoff;
    let attempts = shared.config.max_attempts.max(1);
    for n in 1..=attempts {
        let error = match attempt(shared, target, body).await {
            Attempt::Delivered => {
                metrics::counter!("vigil_push_total", "outcome" => "delivered").increment(1);
                if let Err(e) = store::record(&shared.db, target.id, None).await {
                    tracing::warn!(subscription = target.id, error = %e, "push record failed");
                }
                return;
            }
            Attempt::Gone(status) => {
                metrics::counter!("vigil_push_total", "outcome" => "gone").increment(1);
                tracing::info!(
                    subscription = target.id,
                    status,
                    "push subscription gone; removed"
                );
                if let Err(e) = store::delete(&shared.db, target.id).await {
                    tracing::warn!(subscription = target.id, error = %e, "push subscription removal failed");
                }
                return;
            }
            Attempt::Failed(e) => {
                metrics::counter!("vigil_push_total", "outcome" => "failed").increment(1);
                tracing::warn!(subscription = target.id, error = %e, "push refused");
                let _ = store::record(&shared.db, target.id, Some(&e)).await;
                return;
            }
            Attempt::Retry(e, after) => {
                if n == attempts {
                    e
                } else {
                    let wait = after.unwrap_or(backoff).min(Duration::from_secs(60));
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    continue;
                }
            }
        };
        metrics::counter!("vigil_push_total", "outcome" => "failed").increment(1);
        tracing::warn!(subscription = target.id, error = %error, "push delivery failed after retries");
        let _ = store::record(&shared.db, target.id, Some(&error)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alarms::{AlarmKind, AlarmStatus, Severity};

    fn alarm(kind: AlarmKind) -> AlarmView {
        let now = Utc::now();
        AlarmView {
            id: 1,
            device_id: 1,
            kind,
            severity: Severity::High,
            status: AlarmStatus::Open,
            unit_id: None,
            count: 1,
            first_time: now,
            last_time: now,
            lat: None,
            lon: None,
            evidence: Vec::new(),
            outcome: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn only_openings_of_the_urgent_kinds_are_pushed() {
        for kind in AlarmKind::ALL {
            let pushed = push_reason(AlarmAction::Opened, &alarm(kind)).is_some();
            assert_eq!(
                pushed,
                matches!(
                    kind,
                    AlarmKind::Theft | AlarmKind::Sos | AlarmKind::PowerCut | AlarmKind::Tampering
                ),
                "{kind:?}"
            );
            for action in [
                AlarmAction::Updated,
                AlarmAction::Acknowledged,
                AlarmAction::Assigned,
                AlarmAction::Resolved,
            ] {
                assert_eq!(
                    push_reason(action, &alarm(kind)),
                    None,
                    "{kind:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn keys_are_checked_and_named() {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let point = URL_SAFE_NO_PAD.encode(
            p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                &secret.public_key(),
                false,
            )
            .as_bytes(),
        );
        let auth = URL_SAFE_NO_PAD.encode([1u8; 16]);
        assert!(parse_keys(&point, &auth).is_ok());
        let field = |r: Result<_, PushError>| match r {
            Err(PushError::Invalid { field, .. }) => field,
            _ => "ok",
        };
        assert_eq!(field(parse_keys("AAAA", &auth)), "keys.p256dh");
        assert_eq!(field(parse_keys("!!", &auth)), "keys.p256dh");
        assert_eq!(field(parse_keys(&point, "AAAA")), "keys.auth");
        // Padded and standard-alphabet input as some clients send it.
        let padded = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert!(parse_keys(&point, &padded).is_ok());
    }
}
