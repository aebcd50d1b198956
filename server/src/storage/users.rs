//! Users and their API sessions.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::{Role, User};
use crate::storage::{Db, DbError, is_unique_violation, on_pool};

/// A `users` row as read (`id, email, name, role`), without the password hash.
#[derive(sqlx::FromRow)]
pub(super) struct UserRecord {
    id: i64,
    email: String,
    name: String,
    role: String,
}

impl From<UserRecord> for User {
    fn from(r: UserRecord) -> User {
        User {
            id: r.id,
            email: r.email,
            name: r.name,
            role: Role::parse(&r.role),
        }
    }
}

/// A user and their password hash (`id, email, name, role, password_hash`).
#[derive(sqlx::FromRow)]
struct CredentialsRecord {
    #[sqlx(flatten)]
    user: UserRecord,
    password_hash: String,
}

impl Db {
    /// Number of administrators.
    pub async fn count_admins(&self) -> Result<i64, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'")
            .fetch_one(p).await?.try_get("n")?);
        Ok(n)
    }

    /// Creates a user; [`DbError::Conflict`] if the email is taken.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, DbError> {
        let res = on_pool!(self, p => sqlx::query(
            "INSERT INTO users (email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(email).bind(name).bind(password_hash).bind(role.as_str()).bind(Utc::now())
            .fetch_one(p).await.map(|r| r.try_get::<i64, _>("id")));
        match res {
            Ok(id) => Ok(User {
                id: id?,
                email: email.into(),
                name: name.into(),
                role,
            }),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict("user")),
            Err(e) => Err(e.into()),
        }
    }

    /// A user and their password hash, by login email.
    pub async fn user_credentials(&self, email: &str) -> Result<Option<(User, String)>, DbError> {
        let row: Option<CredentialsRecord> = on_pool!(self, p => sqlx::query_as("SELECT id, email, name, role, password_hash FROM users WHERE email = $1")
            .bind(email).fetch_optional(p).await?);
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    /// Stores an API session under the hash of its token.
    pub async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("INSERT INTO api_sessions (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id).bind(token_hash).bind(Utc::now()).bind(expires_at).execute(p).await?; });
        Ok(())
    }

    /// The user owning an unexpired session.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, DbError> {
        let row: Option<UserRecord> = on_pool!(self, p => sqlx::query_as("SELECT u.id, u.email, u.name, u.role FROM api_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2")
            .bind(token_hash).bind(now).fetch_optional(p).await?);
        Ok(row.map(User::from))
    }

    /// Deletes a session; true if it existed.
    pub async fn delete_session(&self, token_hash: &str) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1")
            .bind(token_hash).execute(p).await?.rows_affected());
        Ok(n > 0)
    }
}
