//! Web Push as the domain sees it: a browser's subscription ([`PushSubscription`]), which alarm
//! kinds wake a locked phone ([`PUSH_KINDS`]), and what the notification carries
//! ([`PushMessage`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::alarms::{AlarmKind, AlarmView};

/// The alarm kinds whose opening is pushed: a patrol or the owner must act now. (Other kinds
/// reach the open page through the WebSocket stream only.)
pub const PUSH_KINDS: [AlarmKind; 4] = [
    AlarmKind::Theft,
    AlarmKind::Sos,
    AlarmKind::PowerCut,
    AlarmKind::Tampering,
];

/// Why an event is pushed (the notification's `reason`; the service worker words it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushReason {
    /// A new alarm of one of the [`PUSH_KINDS`].
    AlarmOpened,
    /// Someone asked a patrol to intercept the vehicle of an open alarm.
    InterceptRequested,
}

/// A browser's push subscription, as stored and as the API shows it (the keys are not shown
/// back).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PushSubscription {
    /// Row id.
    pub id: i64,
    /// The user it notifies.
    pub user_id: i64,
    /// The push service's URL for this browser (RFC 8030 push resource).
    pub endpoint: String,
    /// When it was added (or last renewed).
    pub created_at: DateTime<Utc>,
    /// Last successful delivery.
    pub last_sent_at: Option<DateTime<Utc>>,
    /// Why the last delivery failed (status or error), if it did.
    pub last_error: Option<String>,
    /// When the last delivery failed.
    pub last_error_at: Option<DateTime<Utc>>,
}

/// A subscription with its keys (the sender's view; never serialised to the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// Row id.
    pub id: i64,
    /// The user it notifies.
    pub user_id: i64,
    /// The push service's URL.
    pub endpoint: String,
    /// The subscription's P-256 public key (uncompressed point, base64url).
    pub p256dh: String,
    /// The subscription's 16-byte auth secret (base64url).
    pub auth: String,
}

/// What one push message carries (JSON, encrypted to the subscription; at most a few hundred
/// bytes, well under the 4 KiB push services accept).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PushMessage {
    /// Why it was sent.
    pub reason: PushReason,
    /// The alarm.
    pub alarm: AlarmView,
    /// The vehicle's name.
    pub device_name: String,
    /// The page the notification opens.
    pub url: String,
    /// When the server sent it (delivery latency is measured against this and the alarm).
    pub sent_at: DateTime<Utc>,
}
