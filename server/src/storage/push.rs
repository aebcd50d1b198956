//! Storage of Web Push (0010): the browsers' subscriptions (`push_subscriptions`) and the
//! server's VAPID key pair (`push_vapid_keys`, one row).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::push::{PushSubscription, PushTarget};
use crate::storage::{Db, DbError, on_pool};

/// A `push_subscriptions` row as the API shows it.
#[derive(sqlx::FromRow)]
struct SubscriptionRecord {
    id: i64,
    user_id: i64,
    endpoint: String,
    created_at: DateTime<Utc>,
    last_sent_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
}

impl From<SubscriptionRecord> for PushSubscription {
    fn from(r: SubscriptionRecord) -> Self {
        PushSubscription {
            id: r.id,
            user_id: r.user_id,
            endpoint: r.endpoint,
            created_at: r.created_at,
            last_sent_at: r.last_sent_at,
            last_error: r.last_error,
            last_error_at: r.last_error_at,
        }
    }
}

/// A `push_subscriptions` row with its keys (the sender's view).
#[derive(sqlx::FromRow)]
struct TargetRecord {
    id: i64,
    user_id: i64,
    endpoint: String,
    p256dh: String,
    auth: String,
}

impl From<TargetRecord> for PushTarget {
    fn from(r: TargetRecord) -> Self {
        PushTarget {
            id: r.id,
            user_id: r.user_id,
            endpoint: r.endpoint,
            p256dh: r.p256dh,
            auth: r.auth,
        }
    }
}

const SUB_COLS: &str = "id, user_id, endpoint, created_at, last_sent_at, last_error, last_error_at";

/// Adds a subscription, or renews the one with the same endpoint (a browser re-subscribing,
/// possibly for another user who signed in on it: the endpoint follows the latest user).
pub async fn upsert(
    db: &Db,
    user_id: i64,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> Result<PushSubscription, DbError> {
    let now = Utc::now();
    let sql = format!(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, \
         auth = excluded.auth, created_at = excluded.created_at, last_error = NULL, last_error_at = NULL \
         RETURNING {SUB_COLS}"
    );
    let row: SubscriptionRecord = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user_id).bind(endpoint).bind(p256dh).bind(auth).bind(now).fetch_one(p).await?);
    Ok(row.into())
}

/// Removes the user's subscription with this endpoint; false when there is none.
pub async fn delete_for_user(db: &Db, user_id: i64, endpoint: &str) -> Result<bool, DbError> {
    let n = on_pool!(db, p => sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
        .bind(user_id).bind(endpoint).execute(p).await?.rows_affected());
    Ok(n > 0)
}

/// Removes a subscription the push service says is gone (404/410).
pub async fn delete(db: &Db, id: i64) -> Result<(), DbError> {
    on_pool!(db, p => sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
        .bind(id).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// The user's subscriptions, by id.
pub async fn of_user(db: &Db, user_id: i64) -> Result<Vec<PushSubscription>, DbError> {
    let sql = format!("SELECT {SUB_COLS} FROM push_subscriptions WHERE user_id = $1 ORDER BY id");
    let rows: Vec<SubscriptionRecord> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user_id).fetch_all(p).await?);
    Ok(rows.into_iter().map(PushSubscription::from).collect())
}

/// The subscriptions of everyone who might see an alarm of `device_id` routed to `unit_id`:
/// administrators and dispatchers, the device's owner and sharees, members of the unit. A
/// narrowing only: the caller confirms each user with the access layer.
pub async fn candidates(
    db: &Db,
    device_id: i64,
    unit_id: Option<i64>,
) -> Result<Vec<PushTarget>, DbError> {
    let rows: Vec<TargetRecord> = on_pool!(db, p => sqlx::query_as(
        "SELECT s.id, s.user_id, s.endpoint, s.p256dh, s.auth FROM push_subscriptions s \
         JOIN users u ON u.id = s.user_id \
         WHERE u.role IN ('admin', 'dispatcher') \
            OR u.id IN (SELECT owner_id FROM devices WHERE id = $1) \
            OR u.id IN (SELECT user_id FROM device_shares WHERE device_id = $1) \
            OR u.id IN (SELECT user_id FROM unit_members WHERE unit_id = $2) \
         ORDER BY s.id")
        .bind(device_id).bind(unit_id).fetch_all(p).await?);
    Ok(rows.into_iter().map(PushTarget::from).collect())
}

/// The subscriptions of the members of a unit.
pub async fn of_unit_members(db: &Db, unit_id: i64) -> Result<Vec<PushTarget>, DbError> {
    let rows: Vec<TargetRecord> = on_pool!(db, p => sqlx::query_as(
        "SELECT s.id, s.user_id, s.endpoint, s.p256dh, s.auth FROM push_subscriptions s \
         JOIN unit_members m ON m.user_id = s.user_id WHERE m.unit_id = $1 ORDER BY s.id")
        .bind(unit_id).fetch_all(p).await?);
    Ok(rows.into_iter().map(PushTarget::from).collect())
}

/// Records a delivery: `error` None for success (`last_sent_at`), else the failure.
pub async fn record(db: &Db, id: i64, error: Option<&str>) -> Result<(), DbError> {
    let now = Utc::now();
    on_pool!(db, p => match error {
        None => sqlx::query("UPDATE push_subscriptions SET last_sent_at = $2, last_error = NULL, last_error_at = NULL WHERE id = $1")
            .bind(id).bind(now).execute(p).await.map(|_| ())?,
        Some(e) => sqlx::query("UPDATE push_subscriptions SET last_error = $2, last_error_at = $3 WHERE id = $1")
            .bind(id).bind(e).bind(now).execute(p).await.map(|_| ())?,
    });
    Ok(())
}

/// The stored VAPID key pair `(private, public)`, base64url.
pub async fn vapid_keys(db: &Db) -> Result<Option<(String, String)>, DbError> {
    let row = on_pool!(db, p => sqlx::query("SELECT private_key, public_key FROM push_vapid_keys WHERE id = 1")
        .fetch_optional(p).await?
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("private_key")?, r.try_get("public_key")?)))
        .transpose()?);
    Ok(row)
}

/// Stores a VAPID key pair unless one is already there (two servers starting at once on one
/// PostgreSQL database: the first one's pair wins; read it back with [`vapid_keys`]).
pub async fn insert_vapid_keys(db: &Db, private: &str, public: &str) -> Result<(), DbError> {
    let now = Utc::now();
    on_pool!(db, p => sqlx::query("INSERT INTO push_vapid_keys (id, private_key, public_key, created_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING")
        .bind(private).bind(public).bind(now).execute(p).await.map(|_| ()))?;
    Ok(())
}
