//! Online backup and restore of the embedded database (`vigil backup FILE`, `vigil restore
//! FILE`). PostgreSQL has its own tools (`pg_dump`, `pg_restore`); these refuse it.
//!
//! A backup is `VACUUM INTO` on a connection of its own: one read transaction, so the copy is
//! the database as of one commit while the server goes on writing (WAL mode: the reader blocks
//! no writer, and no writer blocks it). Everything acknowledged before the backup started is in
//! it. The copy is written beside the destination, checked (`PRAGMA integrity_check`) and only
//! then renamed into place, so a half-written file never carries the destination's name.
//!
//! A restore replaces the database file while no server uses it: every `vigil serve` on a
//! SQLite database holds a shared lock on `<database>.lock` ([`ServeLock`]); the restore takes
//! it exclusively (so it refuses while a server runs, and a server cannot start during it),
//! checks the backup, copies it beside the database, removes the old WAL and shared-memory
//! files and renames the copy into place.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use crate::storage::DatabaseKind;

/// Why a backup or restore did not happen (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is not SQLite.
    #[error(
        "backup and restore are for the embedded SQLite database; for PostgreSQL use pg_dump and pg_restore"
    )]
    NotSqlite,
    /// The backup destination exists already.
    #[error("{0} exists already; back up to a new file")]
    Exists(PathBuf),
    /// A server holds the database.
    #[error("a vigil server is using {0}; stop it before restoring")]
    Serving(PathBuf),
    /// A restore holds the database.
    #[error("{0} is being restored; start the server when the restore has finished")]
    Restoring(PathBuf),
    /// The file to restore is not a usable backup.
    #[error("{path} is not a usable Vigil backup: {reason}")]
    NotABackup {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be read or the copy checked.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A file could not be written, synced or renamed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What a backup or restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The file written (the backup, or the restored database).
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Positions it holds.
    pub positions: i64,
}

/// The database file a `sqlite://` URL names.
fn database_file(url: &str) -> Result<PathBuf, BackupError> {
    if DatabaseKind::of_url(url) != Some(DatabaseKind::Sqlite) {
        return Err(BackupError::NotSqlite);
    }
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `path` with `suffix` appended to its file name (`vigil.db` → `vigil.db.lock`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn lock_file(db: &Path) -> Result<File, BackupError> {
    let path = beside(db, ".lock");
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))
}

/// A running server's claim on its SQLite database: a shared lock on `<database>.lock`,
/// released when dropped. Several servers may hold it; a restore may not run meanwhile.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

impl ServeLock {
    /// Takes the claim for the database of `url` (`Ok(None)` for PostgreSQL); refused while a
    /// restore runs.
    pub fn take(url: &str) -> Result<Option<ServeLock>, BackupError> {
        let db = match database_file(url) {
            Ok(db) => db,
            Err(BackupError::NotSqlite) => return Ok(None),
            Err(e) => return Err(e),
        };
        if db.as_os_str().is_empty() || db.to_string_lossy().contains(":memory:") {
            return Ok(None);
        }
        let file = lock_file(&db)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(ServeLock { _file: file })),
            Err(TryLockError::WouldBlock) => Err(BackupError::Restoring(db)),
            Err(TryLockError::Error(e)) => Err(io(&beside(&db, ".lock"))(e)),
        }
    }
}

/// Opens `file` (existing) on a connection of its own.
async fn open(file: &Path, read_only: bool) -> Result<SqliteConnection, BackupError> {
    Ok(SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(false)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await?)
}

/// Checks that `file` is an intact Vigil database and counts its positions.
async fn check(file: &Path) -> Result<i64, BackupError> {
    let not = |reason: String| BackupError::NotABackup {
        path: file.to_path_buf(),
        reason,
    };
    let mut c = open(file, true)
        .await
        .map_err(|e| not(format!("cannot open it ({e})")))?;
    let integrity: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .map_err(|e| not(e.to_string()))?
        .try_get(0)?;
    if integrity != "ok" {
        return Err(not(format!("integrity check: {integrity}")));
    }
    let migrated: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
        .fetch_one(&mut c)
        .await
        .map_err(|_| not("no Vigil schema in it".into()))?
        .try_get(0)?;
    if migrated == 0 {
        return Err(not("no Vigil schema in it".into()));
    }
    let positions: i64 = sqlx::query("SELECT COUNT(*) FROM positions")
        .fetch_one(&mut c)
        .await
        .map_err(|e| not(e.to_string()))?
        .try_get(0)?;
    c.close().await?;
    Ok(positions)
}

/// Writes, fsyncs and renames: the file at `to` is complete or absent.
fn sync_and_rename(from: &Path, to: &Path) -> Result<u64, BackupError> {
    let f = File::open(from).map_err(io(from))?;
    f.sync_all().map_err(io(from))?;
    let bytes = f.metadata().map_err(io(from))?.len();
    std::fs::rename(from, to).map_err(io(to))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(bytes)
}

/// Backs the database of `url` up into the new file `dest`, while a server may be using it.
pub async fn backup(url: &str, dest: &Path) -> Result<BackupReport, BackupError> {
    let db = database_file(url)?;
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_path_buf()));
    }
    let partial = beside(dest, ".partial");
    let _ = std::fs::remove_file(&partial);
    let mut c = open(&db, false).await?;
    let result = sqlx::query("VACUUM INTO $1")
        .bind(partial.to_string_lossy().into_owned())
        .execute(&mut c)
        .await;
    c.close().await?;
    let written = async {
        result?;
        let positions = check(&partial).await?;
        let bytes = sync_and_rename(&partial, dest)?;
        Ok(BackupReport {
            path: dest.to_path_buf(),
            bytes,
            positions,
        })
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Replaces the database of `url` by the backup `src`; refused while a server uses it.
pub async fn restore(src: &Path, url: &str) -> Result<BackupReport, BackupError> {
    let db = database_file(url)?;
    let lock = lock_file(&db)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(BackupError::Serving(db)),
        Err(TryLockError::Error(e)) => return Err(io(&beside(&db, ".lock"))(e)),
    }
    let positions = check(src).await?;
    let copy = beside(&db, ".restoring");
    std::fs::copy(src, &copy).map_err(io(&copy))?;
    if db.exists() {
        // Fold the old WAL into its database first: if anything below fails, the old database
        // is whole without its WAL file, and the new one never meets the old WAL.
        let mut c = open(&db, false).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut c)
            .await?;
        c.close().await?;
    }
    for stale in [beside(&db, "-wal"), beside(&db, "-shm")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&stale)(e)),
        }
    }
    let bytes = sync_and_rename(&copy, &db)?;
    drop(lock);
    Ok(BackupReport {
        path: db,
        bytes,
        positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_beside_the_database() {
        let db = Path::new("/var/lib/vigil/vigil.db");
        assert_eq!(
            beside(db, ".lock"),
            Path::new("/var/lib/vigil/vigil.db.lock")
        );
        assert_eq!(beside(db, "-wal"), Path::new("/var/lib/vigil/vigil.db-wal"));
        assert_eq!(
            database_file("sqlite://./data/vigil.db").expect("sqlite"),
            Path::new("./data/vigil.db")
        );
        assert!(matches!(
            database_file("postgres://postgres@127.0.0.1/vigil"),
            Err(BackupError::NotSqlite)
        ));
    }
}
