//! Passwords (argon2, hashed off the async threads), API tokens (random, stored as SHA-256)
//! and the first administrator.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::oneshot;

use crate::domain::{Role, User};
use crate::storage::{Db, DbError};

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
    /// Every hashing thread is busy and the queue is full: retry shortly.
    #[error("password checks are busy")]
    Busy,
    /// The hashing threads have stopped (the server is shutting down).
    #[error("password hashing stopped")]
    Stopped,
}

/// Hashes a password with argon2 on the blocking pool. For start-up and tools; request paths
/// use [`Passwords`], which bounds how many hashes run at once.
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

fn hash_now(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Password hashing for request paths, on a few dedicated threads.
///
/// Each argon2 hash (the crate's defaults: 19 MiB, 2 passes) needs 19 MiB of working memory.
/// On the tokio blocking pool, 100 concurrent logins ran 100 hashes on up to 100 threads, each
/// allocating its own 19 MiB, and glibc kept the freed chunks: RSS went from 46 MiB to 9.0 GB
/// over five rounds and stayed at 6.9 GB after idling (`vigil-loadtest logins`). On dedicated
/// threads that still allocated per hash, it plateaued at 410 MiB (each hash took a fresh
/// 19 MiB chunk until ~18 were held). Here at most `workers` hashes run at once (one per core:
/// more would not finish sooner), each on its own long-lived thread that owns one reusable
/// block buffer ([`Argon2::hash_password_into_with_memory`]), so password checks hold
/// `workers` × 19 MiB and allocate nothing more; at most `queue` more wait; past that a
/// request is refused at once with [`AuthError::Busy`] (the API answers 503 with
/// `Retry-After`) instead of queueing without bound.
///
/// [`Passwords::verify`] of an unknown login checks the password against a hash of a random
/// password made at start-up, so an unknown and a known login cost the same (no enumeration
/// by timing).
#[derive(Debug, Clone)]
pub struct Passwords {
    jobs: std::sync::mpsc::SyncSender<Job>,
    dummy: Arc<str>,
}

enum Job {
    Hash(String, oneshot::Sender<Result<String, AuthError>>),
    Verify(String, Arc<str>, oneshot::Sender<bool>),
}

impl Passwords {
    /// Starts `workers` hashing threads (at least one) with room for `queue` waiting requests.
    pub fn start(workers: usize, queue: usize) -> Result<Passwords, AuthError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("vigil-passwords-{i}"))
                .spawn(move || {
                    let mut memory = Memory::default();
                    loop {
                        // The lock is held only while taking a job; the channel closes when
                        // the last `Passwords` is dropped.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(Job::Hash(p, reply)) => {
                                let _ = reply.send(memory.hash(&p));
                            }
                            Ok(Job::Verify(p, h, reply)) => {
                                let _ = reply.send(memory.verify(&p, &h));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| AuthError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        let dummy = hash_now(&random_hex(16)?)?;
        Ok(Passwords {
            jobs: tx,
            dummy: dummy.into(),
        })
    }

    fn submit(&self, job: Job) -> Result<(), AuthError> {
        self.jobs.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => {
                metrics::counter!("vigil_password_busy_total").increment(1);
                AuthError::Busy
            }
            std::sync::mpsc::TrySendError::Disconnected(_) => AuthError::Stopped,
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Hash(password, tx))?;
        rx.await.map_err(|_| AuthError::Stopped)?
    }

    /// Whether `password` matches `hash`; with no hash (unknown login) it checks against the
    /// start-up dummy and answers `false`, at the same cost.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AuthError> {
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| self.dummy.clone(), Arc::from);
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Verify(password, hash, tx))?;
        let ok = rx.await.map_err(|_| AuthError::Stopped)?;
        Ok(ok && known)
    }
}

/// One hashing thread's argon2 working memory, kept between hashes (grown to the largest
/// parameters it has met: a stored hash made with other parameters still verifies).
#[derive(Default)]
struct Memory {
    blocks: Vec<argon2::Block>,
}

impl Memory {
    fn compute(
        &mut self,
        argon: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let n = argon.params().block_count();
        if self.blocks.len() < n {
            self.blocks.resize(n, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut self.blocks[..n])
    }

    /// A PHC string exactly as `Argon2::default().hash_password` makes it.
    fn hash(&mut self, password: &str) -> Result<String, AuthError> {
        use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
        let hash_err = |e: &dyn std::fmt::Display| AuthError::Hash(e.to_string());
        let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| AuthError::Random(e.to_string()))?;
        let argon = Argon2::default();
        let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
        self.compute(&argon, password.as_bytes(), &salt, &mut out)
            .map_err(|e| hash_err(&e))?;
        let phc = PasswordHash {
            algorithm: argon2::Algorithm::default().ident(),
            version: Some(argon2::Version::default().into()),
            params: ParamsString::try_from(argon.params()).map_err(|e| hash_err(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| hash_err(&e))?),
            hash: Some(Output::new(&out).map_err(|e| hash_err(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `hash` (any argon2 variant and parameters).
    fn verify(&mut self, password: &str, hash: &str) -> bool {
        use argon2::password_hash::phc::PasswordHash;
        let Ok(h) = PasswordHash::new(hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&h.salt, &h.hash) else {
            return false;
        };
        let Ok(algorithm) = argon2::Algorithm::try_from(h.algorithm.as_str()) else {
            return false;
        };
        let Ok(version) = h
            .version
            .map(argon2::Version::try_from)
            .transpose()
            .map(Option::unwrap_or_default)
        else {
            return false;
        };
        let Ok(params) = argon2::Params::try_from(&h) else {
            return false;
        };
        let argon = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        self.compute(&argon, password.as_bytes(), salt, &mut out)
            .is_ok()
            && constant_time_eq(&out, expected.as_bytes())
    }
}

/// Equality that takes as long for every pair of equal-length inputs.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// The first administrator's login, when configured (`admin_email` + `admin_password`).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    /// Login.
    pub email: String,
    /// Password (hashed before it is stored).
    pub password: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Creates the first administrator if there is none: from `configured` credentials when
/// given, else `admin` with a generated password. Returns `None` if one already existed.
pub async fn ensure_admin(
    db: &Db,
    configured: Option<AdminCredentials>,
) -> Result<Option<FirstAdmin>, AuthError> {
    if db.count_admins().await? > 0 {
        return Ok(None);
    }
    let (email, password, generated) = match configured {
        Some(c) => (c.email, c.password, false),
        None => ("admin".to_owned(), random_hex(12)?, true),
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
    use argon2::password_hash::PasswordVerifier;

    /// The crate's own verifier, to check ours against.
    fn verify_now(password: &str, hash: &str) -> bool {
        Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
    }

    #[tokio::test]
    async fn passwords_hash_verify_and_refuse_when_full() {
        let p = Passwords::start(1, 1).unwrap();
        let h = p.hash("correct horse".into()).await.unwrap();
        assert!(
            p.verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!p.verify("wrong".into(), Some(h)).await.unwrap());
        // An unknown login never verifies, whatever the password (the dummy's own is random).
        assert!(!p.verify("".into(), None).await.unwrap());
        // One running, one queued, the rest refused at once.
        let p2 = p.clone();
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let p = p2.clone();
                tokio::spawn(async move { p.verify("x".into(), None).await })
            })
            .collect();
        let mut busy = 0;
        for c in checks {
            if matches!(c.await.unwrap(), Err(AuthError::Busy)) {
                busy += 1;
            }
        }
        assert!(busy >= 1, "{busy}");
    }

    #[test]
    fn reused_memory_hashes_exactly_as_argon2_does() {
        let mut m = Memory::default();
        // Ours verifies with the crate's verifier and the crate's with ours, repeatedly on the
        // same memory; wrong passwords and garbage never verify.
        for i in 0..3 {
            let pw = format!("password {i}");
            let ours = m.hash(&pw).unwrap();
            assert!(
                ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{ours}"
            );
            assert!(verify_now(&pw, &ours));
            let theirs = hash_now(&pw).unwrap();
            assert!(m.verify(&pw, &theirs));
            assert!(m.verify(&pw, &ours));
            assert!(!m.verify("wrong", &theirs));
        }
        assert!(!m.verify("x", "not a hash"));
        assert!(!m.verify("x", ""));
        // A hash made with other parameters (smaller memory, argon2i) still verifies.
        let other = Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 3, 1, None).unwrap(),
        )
        .hash_password(b"old password")
        .unwrap()
        .to_string();
        assert!(m.verify("old password", &other));
        assert!(!m.verify("old passwore", &other));
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_now("correct horse", &h));
        assert!(!verify_now("wrong", &h));
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
