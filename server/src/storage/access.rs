//! Storage of the access tables (0003/0004): shares, unit members, API keys, profiles, and the
//! officer's view of the alarms table.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::scope::Scope;
use crate::domain::{ApiKey, Profile, Role, User};
use crate::storage::users::UserRecord;
use crate::storage::{Db, DbError, on_pool};

/// An `api_keys` row as read ([`KEY_COLS`]).
#[derive(sqlx::FromRow)]
struct KeyRecord {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    /// Space-separated scope names.
    scopes: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyRecord> for ApiKey {
    fn from(r: KeyRecord) -> ApiKey {
        ApiKey {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            prefix: r.prefix,
            scopes: r
                .scopes
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect(),
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

const KEY_COLS: &str = "id, user_id, name, prefix, scopes, created_at, revoked_at";

/// Users by id order, after `after`, at most `limit`.
pub async fn list_users(db: &Db, after: i64, limit: i64) -> Result<Vec<User>, DbError> {
    let rows: Vec<UserRecord> = on_pool!(db, p => sqlx::query_as("SELECT id, email, name, role FROM users WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(after).bind(limit).fetch_all(p).await?);
    Ok(rows.into_iter().map(User::from).collect())
}

/// One user by id.
pub async fn user(db: &Db, id: i64) -> Result<Option<User>, DbError> {
    let row: Option<UserRecord> = on_pool!(db, p => sqlx::query_as("SELECT id, email, name, role FROM users WHERE id = $1")
        .bind(id).fetch_optional(p).await?);
    Ok(row.map(User::from))
}

/// Replaces the patrol units a user belongs to.
pub async fn set_units(db: &Db, user_id: i64, units: &[i64]) -> Result<(), DbError> {
    on_pool!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query("DELETE FROM unit_members WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        for u in units {
            sqlx::query("INSERT INTO unit_members (unit_id, user_id) VALUES ($1, $2)")
                .bind(u).bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The patrol units a user belongs to.
pub async fn units_of(db: &Db, user_id: i64) -> Result<Vec<i64>, DbError> {
    on_pool!(db, p => {
        let rows = sqlx::query("SELECT unit_id FROM unit_members WHERE user_id = $1 ORDER BY unit_id")
            .bind(user_id).fetch_all(p).await?;
        rows.iter().map(|r| r.try_get::<i64, _>("unit_id").map_err(DbError::from)).collect()
    })
}

/// Sets (or clears) a device's owner.
pub async fn set_owner(db: &Db, device_id: i64, owner: Option<i64>) -> Result<(), DbError> {
    // Giving an auto-registered device an owner is claiming it.
    on_pool!(db, p => { sqlx::query("UPDATE devices SET owner_id = $1, claimed = (claimed OR $1 IS NOT NULL) WHERE id = $2")
        .bind(owner).bind(device_id).execute(p).await?; });
    Ok(())
}

/// Shares a device read-only with a user (idempotent).
pub async fn share(db: &Db, device_id: i64, user_id: i64) -> Result<(), DbError> {
    on_pool!(db, p => { sqlx::query("INSERT INTO device_shares (device_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(device_id).bind(user_id).bind(Utc::now()).execute(p).await?; });
    Ok(())
}

/// Removes a share (idempotent).
pub async fn unshare(db: &Db, device_id: i64, user_id: i64) -> Result<(), DbError> {
    on_pool!(db, p => { sqlx::query("DELETE FROM device_shares WHERE device_id = $1 AND user_id = $2")
        .bind(device_id).bind(user_id).execute(p).await?; });
    Ok(())
}

/// Users a device is shared with.
pub async fn shares_of(db: &Db, device_id: i64) -> Result<Vec<i64>, DbError> {
    on_pool!(db, p => {
        let rows = sqlx::query("SELECT user_id FROM device_shares WHERE device_id = $1 ORDER BY user_id")
            .bind(device_id).fetch_all(p).await?;
        rows.iter().map(|r| r.try_get::<i64, _>("user_id").map_err(DbError::from)).collect()
    })
}

/// Whether `device_id` is shared with `user_id`.
pub async fn is_shared(db: &Db, device_id: i64, user_id: i64) -> Result<bool, DbError> {
    let n: i64 = on_pool!(db, p => sqlx::query("SELECT COUNT(*) AS n FROM device_shares WHERE device_id = $1 AND user_id = $2")
        .bind(device_id).bind(user_id).fetch_one(p).await?.try_get("n")?);
    Ok(n > 0)
}

/// Ids of devices owned by or shared with a user.
pub async fn owned_or_shared(db: &Db, user_id: i64) -> Result<Vec<i64>, DbError> {
    on_pool!(db, p => {
        let rows = sqlx::query("SELECT id FROM devices WHERE owner_id = $1 UNION SELECT device_id AS id FROM device_shares WHERE user_id = $1")
            .bind(user_id).fetch_all(p).await?;
        rows.iter().map(|r| r.try_get::<i64, _>("id").map_err(DbError::from)).collect()
    })
}

/// Ids of the devices that have an open (not resolved) alarm routed or assigned to one of the
/// officer's patrol units: what the officer may see and pursue (positions, trajectory) and,
/// for `cut_power`, command.
pub async fn officer_alarm_devices(db: &Db, user_id: i64) -> Result<Vec<i64>, DbError> {
    on_pool!(db, p => {
        let rows = sqlx::query("SELECT DISTINCT a.device_id AS id FROM alarms a JOIN unit_members m ON m.unit_id = a.unit_id WHERE m.user_id = $1 AND a.status <> 'resolved' ORDER BY a.device_id")
            .bind(user_id).fetch_all(p).await?;
        rows.iter().map(|r| r.try_get::<i64, _>("id").map_err(DbError::from)).collect()
    })
}

/// The profile of a user (`None`: no such user).
pub async fn profile(db: &Db, user_id: i64) -> Result<Option<Profile>, DbError> {
    let row: Option<(String, Option<String>)> = on_pool!(db, p => sqlx::query_as("SELECT name, phone FROM users WHERE id = $1")
        .bind(user_id).fetch_optional(p).await?);
    Ok(row.map(|(name, phone)| Profile {
        display_name: (!name.is_empty()).then_some(name),
        phone,
    }))
}

/// Sets a user's display name and phone (`None` leaves a field unchanged; an empty string
/// clears it).
pub async fn set_profile(
    db: &Db,
    user_id: i64,
    display_name: Option<&str>,
    phone: Option<&str>,
) -> Result<(), DbError> {
    on_pool!(db, p => {
        if let Some(n) = display_name {
            sqlx::query("UPDATE users SET name = $1 WHERE id = $2").bind(n).bind(user_id).execute(p).await?;
        }
        if let Some(ph) = phone {
            let ph = (!ph.is_empty()).then_some(ph);
            sqlx::query("UPDATE users SET phone = $1 WHERE id = $2").bind(ph).bind(user_id).execute(p).await?;
        }
    });
    Ok(())
}

/// Phones of users by id (for lists).
pub async fn phones(
    db: &Db,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, Option<String>)>, DbError> {
    on_pool!(db, p => {
        let rows = sqlx::query("SELECT id, phone FROM users WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after).bind(limit).fetch_all(p).await?;
        rows.iter().map(|r| Ok((r.try_get::<i64, _>("id")?, r.try_get::<Option<String>, _>("phone")?))).collect()
    })
}

/// Stores a new API key (its hash).
pub async fn create_key(
    db: &Db,
    user_id: i64,
    name: &str,
    prefix: &str,
    key_hash: &str,
    scopes: &[Scope],
) -> Result<ApiKey, DbError> {
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let sql = format!(
        "INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLS}"
    );
    let row: KeyRecord = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(name).bind(prefix).bind(key_hash)
        .bind(scopes.join(" ")).bind(Utc::now()).fetch_one(p).await?);
    Ok(row.into())
}

/// Keys of a user, newest first.
pub async fn keys_of(db: &Db, user_id: i64) -> Result<Vec<ApiKey>, DbError> {
    let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE user_id = $1 ORDER BY id DESC");
    let rows: Vec<KeyRecord> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id).fetch_all(p).await?);
    Ok(rows.into_iter().map(ApiKey::from).collect())
}

/// One key by id.
pub async fn key(db: &Db, id: i64) -> Result<Option<ApiKey>, DbError> {
    let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1");
    let row: Option<KeyRecord> = on_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id).fetch_optional(p).await?);
    Ok(row.map(ApiKey::from))
}

/// Revokes a key (keeps the row for the audit trail).
pub async fn revoke_key(db: &Db, id: i64) -> Result<(), DbError> {
    on_pool!(db, p => { sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(Utc::now()).bind(id).execute(p).await?; });
    Ok(())
}

/// An unrevoked key with its user's columns (`u.email, u.name AS user_name, u.role`).
#[derive(sqlx::FromRow)]
struct KeyUserRecord {
    #[sqlx(flatten)]
    key: KeyRecord,
    email: String,
    user_name: String,
    role: String,
}

/// The user and key behind an unrevoked key hash.
pub async fn key_user(db: &Db, key_hash: &str) -> Result<Option<(User, ApiKey)>, DbError> {
    let sql = "SELECT k.id, k.user_id, k.name, k.prefix, k.scopes, k.created_at, k.revoked_at, u.email, u.name AS user_name, u.role FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL";
    let row: Option<KeyUserRecord> =
        on_pool!(db, p => sqlx::query_as(sql).bind(key_hash).fetch_optional(p).await?);
    Ok(row.map(|r| {
        let user = User {
            id: r.key.user_id,
            email: r.email,
            name: r.user_name,
            role: Role::parse(&r.role),
        };
        (user, r.key.into())
    }))
}
