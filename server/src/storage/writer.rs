//! [`PositionSink`]: where the position writer commits its batches, and SQLite's lock waits.
//!
//! On SQLite the writer keeps one connection of its own, outside the pool: its page cache stays
//! warm (a pooled connection's cache is dropped whenever another connection wrote), no pool
//! wait sits in front of a commit, and between two batches it can let the WAL start over
//! ([`WalWatch`]). On PostgreSQL it writes through the pool.

use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use crate::domain::PositionRow;
use crate::storage::{Db, DbError};

/// WAL size, in frames (pages), at which the writer lets the log start over: 32 MiB.
pub const WAL_RESTART_FRAMES: i64 = 8192;

/// Pages of page cache for the writer's connection (64 MiB): the index leaves of every active
/// device stay in memory, so an insert reads nothing from the file.
const WRITER_CACHE_KIB: i64 = 65_536;

/// The size of the SQLite WAL as the background checkpointer last saw it.
///
/// A passive checkpoint copies committed pages into the database file but never rewinds the
/// WAL; only a writer that finds every frame copied starts it over from the beginning. Under
/// steady load the position writer commits while the checkpointer copies, so every frame is
/// never copied at once and the WAL grows without end (seen: 1.4 GB in 25 s at 4,750
/// positions/s), each commit appending to fresh file pages the kernel must zero first. The
/// writer therefore checkpoints on its own connection between two batches once the WAL is
/// large: nothing of the position path writes meanwhile, so the copy completes and the next
/// commit rewinds the log.
#[derive(Debug, Default)]
pub struct WalWatch {
    frames: AtomicI64,
}

impl WalWatch {
    /// Records the WAL size a checkpoint reported.
    pub fn observed(&self, frames: i64) {
        self.frames.store(frames, Ordering::Relaxed);
    }

    fn needs_restart(&self) -> bool {
        self.frames.load(Ordering::Relaxed) >= WAL_RESTART_FRAMES
    }
}

/// The position writer's handle on the database.
#[derive(Debug)]
pub enum PositionSink {
    /// A dedicated SQLite connection (opened on first use, reopened after an error).
    Sqlite {
        /// How to open it (the pool's options).
        options: Arc<SqliteConnectOptions>,
        /// The connection, while it works.
        conn: Option<SqliteConnection>,
        /// WAL size seen by the checkpointer.
        wal: Arc<WalWatch>,
    },
    /// PostgreSQL: the pool.
    Postgres(Db),
}

impl PositionSink {
    /// The sink for `db`; `wal` is shared with the checkpointer (unused on PostgreSQL).
    pub fn new(db: &Db, wal: Arc<WalWatch>) -> PositionSink {
        match db {
            Db::Sqlite(pool) => PositionSink::Sqlite {
                options: pool.connect_options(),
                conn: None,
                wal,
            },
            Db::Postgres(_) => PositionSink::Postgres(db.clone()),
        }
    }

    /// Inserts `rows` in one transaction (retried fixes skipped); returns how many were new.
    pub async fn insert(&mut self, rows: &[PositionRow]) -> Result<u64, DbError> {
        match self {
            PositionSink::Postgres(db) => db.insert_positions(rows).await,
            PositionSink::Sqlite { options, conn, wal } => {
                let c = match conn {
                    Some(c) => c,
                    None => conn.insert(open_writer(options).await?),
                };
                let res = crate::storage::sqlite::insert_positions(c, rows).await;
                if res.is_err() {
                    // Whatever state it is in, a fresh connection is the safe retry.
                    if let Some(c) = conn.take() {
                        let _ = c.close().await;
                    }
                    return res;
                }
                if wal.needs_restart() {
                    wal.observed(0);
                    if let Some(c) = conn.as_mut()
                        && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                            .execute(&mut *c)
                            .await
                    {
                        tracing::debug!(error = %e, "writer checkpoint failed; retried later");
                    }
                }
                res
            }
        }
    }

    /// Closes the dedicated connection, if any.
    pub async fn close(&mut self) {
        if let PositionSink::Sqlite { conn, .. } = self
            && let Some(c) = conn.take()
        {
            let _ = c.close().await;
        }
    }
}

async fn open_writer(options: &SqliteConnectOptions) -> Result<SqliteConnection, DbError> {
    let mut conn = options.connect().await?;
    install_busy_handler(&mut conn).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA cache_size = -{WRITER_CACHE_KIB}"
    )))
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

/// Longest wait for another connection's write lock.
const BUSY_LIMIT: Duration = Duration::from_secs(10);
/// Attempts polled every 100 µs before polling every millisecond.
const FAST_ATTEMPTS: c_int = 1000;

/// Replaces SQLite's busy handler on `conn` with one that polls every 100 µs, then every ms.
///
/// SQLite's own handler sleeps up to 100 ms between attempts. While the position writer
/// commits back to back, a second writer (an alarm, a device's `last_seen_at`, an API call)
/// that sleeps that long finds the lock taken again at every wake-up and can wait for seconds
/// (seen: 1.3 s for one alarm insert at 4,750 positions/s), and a position batch that meets a
/// held lock sleeps tens of milliseconds. Polling every 100 µs takes the lock in the gap
/// between two commits.
pub async fn install_busy_handler(conn: &mut SqliteConnection) -> Result<(), DbError> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the live connection handle, locked away from sqlx's worker thread for
    // the duration of this call; `busy_poll` is a plain function that never touches its
    // (null) argument, and SQLite keeps only the function pointer.
    #[allow(unsafe_code)]
    let rc =
        unsafe { libsqlite3_sys::sqlite3_busy_handler(db, Some(busy_poll), std::ptr::null_mut()) };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(DbError::Sqlx(sqlx::Error::Protocol(format!(
            "sqlite3_busy_handler failed with code {rc}"
        ))));
    }
    Ok(())
}

/// SQLite busy handler: called with the number of earlier calls for the same lock wait;
/// non-zero means "try again". Runs on sqlx's blocking worker thread, where sleeping is fine.
#[allow(unsafe_code)]
unsafe extern "C" fn busy_poll(_arg: *mut c_void, attempts: c_int) -> c_int {
    let slow_attempts = (BUSY_LIMIT.as_millis() as c_int).saturating_sub(FAST_ATTEMPTS / 10);
    if attempts < FAST_ATTEMPTS {
        std::thread::sleep(Duration::from_micros(100));
        1
    } else if attempts < FAST_ATTEMPTS + slow_attempts {
        std::thread::sleep(Duration::from_millis(1));
        1
    } else {
        0
    }
}
