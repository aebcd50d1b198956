//! Passwords (argon2, hashed off the async threads), API tokens (random, stored as SHA-256)
//! and the first administrator.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

use crate::db::{Db, DbError, Role, User};
use crate::settings::Settings;

/// Authentication errors.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Hashing failed (should not happen).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The blocking task panicked or was cancelled.
    #[error("password task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The OS random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}

/// Hashes a password with argon2 on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hash(e.to_string()))
    })
    .await?
}

/// Checks a password against an argon2 hash on the blocking pool.
pub async fn verify_password(password: String, hash: String) -> Result<bool, AuthError> {
    Ok(tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await?)
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(hex(&buf))
}

/// A new API bearer token (256 random bits).
pub fn new_token() -> Result<String, AuthError> {
    random_hex(32)
}

/// What is stored for a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The first administrator created at start.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    /// The account.
    pub user: User,
    /// The generated password, when none was configured (shown once).
    pub generated_password: Option<String>,
}

/// Creates the first administrator if there is none: from `admin_email`/`admin_password`
/// when set, else `admin` with a generated password. Returns `None` if one already existed.
pub async fn ensure_admin(db: &Db, settings: &Settings) -> Result<Option<FirstAdmin>, AuthError> {
    if db.count_admins().await? > 0 {
        return Ok(None);
    }
    let (email, password, generated) = match (&settings.admin_email, &settings.admin_password) {
        (Some(e), Some(p)) => (e.clone(), p.clone(), false),
        _ => ("admin".to_owned(), random_hex(12)?, true),
    };
    let hash = hash_password(password.clone()).await?;
    let user = match db
        .create_user(&email, "Administrator", &hash, Role::Admin)
        .await
    {
        Ok(u) => u,
        // Another instance raced us to it.
        Err(DbError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(FirstAdmin {
        user,
        generated_password: generated.then_some(password),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(
            verify_password("correct horse".into(), h.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), h).await.unwrap());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_token().unwrap());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
