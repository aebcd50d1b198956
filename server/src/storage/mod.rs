//! Storage on SQLite or PostgreSQL, chosen by the URL scheme.
//!
//! Both dialects share one logical schema (`migrations/sqlite`, `migrations/postgres`) and, where
//! the SQL text is the same, one query: `on_pool!` compiles the body once per driver. Queries
//! are plain `sqlx::query` with binds (no build-time database).
//!
//! One module per table group adds its `impl Db` methods and reads rows into private
//! `#[derive(sqlx::FromRow)]` records converted into the [`crate::domain`] types: `users`
//! (users and sessions), `devices`, `positions`, `events`, [`access`] (shares, units, keys,
//! profiles) and [`alarms`]. What only one engine speaks lives in `sqlite` (the track text
//! codec, the chunked INSERT) and `postgres` (the array track query, the UNNEST and COPY
//! INSERTs, the weekly partitions of `positions`); [`retention`] removes old rows.

pub mod access;
pub mod alarms;
pub mod commands;
mod devices;
mod events;
pub mod fences;
pub mod guards;
pub mod linkage;
mod positions;
mod postgres;
pub mod push;
pub mod retention;
pub mod sqlite;
pub mod stats;
pub mod units;
mod users;
pub mod webhooks;
pub mod writer;

pub use positions::PgInsert;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Runs `$body` with `$p` bound to the concrete pool (the body is compiled once per driver).
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite($p) => $body,
            $crate::storage::Db::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Reads the stored name of an enum (`column` holds `name`): a name `parse` does not know is a
/// decode error of that column, naming the value, not a silent default.
pub(crate) fn stored_name<T>(
    column: &str,
    name: String,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    parse(&name).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown {column} {name:?}").into(),
    })
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Driver or connection error.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique value already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database file's directory could not be created.
    #[error("cannot create database directory {path}: {source}")]
    Dir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The URL names no engine this build speaks.
    #[error("database URL must start with sqlite: or postgres://")]
    UnknownEngine,
}

/// A value the database refused as malformed or out of range: the caller's input, not a fault
/// of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidValue {
    /// Text with NUL or characters the database cannot store.
    Text,
    /// A date or time outside the database's range.
    TimeOutOfRange,
    /// Any other malformed or out-of-range value.
    Other,
}

impl DbError {
    /// The value the database refused, when that is the cause. PostgreSQL refuses some values
    /// the API lets through: NUL characters in text (22021), timestamps outside its range
    /// (22008), … — SQLSTATE class 22 "data exception" is always about a value sent to it.
    pub fn invalid_value(&self) -> Option<InvalidValue> {
        let DbError::Sqlx(sqlx::Error::Database(d)) = self else {
            return None;
        };
        let code = d.code()?;
        if !code.starts_with("22") {
            return None;
        }
        Some(match code.as_ref() {
            "22021" | "22P05" => InvalidValue::Text,
            "22008" => InvalidValue::TimeOutOfRange,
            _ => InvalidValue::Other,
        })
    }

    /// Whether the database could not be reached (pool timeout or closed, I/O error): worth
    /// a retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Sqlx(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed)
        )
    }
}

/// What storage needs to open a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// `sqlite:…` or `postgres://…` (the scheme selects the engine: [`DatabaseKind::of_url`]).
    pub url: String,
    /// Most pooled connections.
    pub max_connections: u32,
}

/// A connection pool to either engine.
#[derive(Debug, Clone)]
pub enum Db {
    /// Embedded SQLite (WAL).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// The PostgreSQL migrations (`migrations/postgres`), embedded at build time.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// The SQLite migrations (`migrations/sqlite`), embedded at build time; run them through
/// [`sqlite_migrator`].
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// The SQLite migration that must run outside a transaction: 0003 rebuilds the users table,
/// which SQLite allows only with foreign keys off, and `PRAGMA foreign_keys` does nothing
/// inside a transaction.
const SQLITE_NO_TX_MIGRATION: i64 = 3;

/// [`SQLITE_MIGRATIONS`] with [`SQLITE_NO_TX_MIGRATION`] outside a transaction. The file cannot
/// say so itself (a first line `-- no-transaction`): that would change its checksum, which
/// every database that applied it keeps in `_sqlx_migrations`.
fn sqlite_migrator() -> Migrator {
    Migrator::with_migrations(
        SQLITE_MIGRATIONS
            .iter()
            .cloned()
            .map(|mut m| {
                m.no_tx |= m.version == SQLITE_NO_TX_MIGRATION;
                m
            })
            .collect(),
    )
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Opens the database `config` names (creating a SQLite file and its directory on first
    /// run, WAL mode) and applies pending migrations.
    pub async fn connect(config: &DbConfig) -> Result<Db, DbError> {
        let url = config.url.as_str();
        let kind = DatabaseKind::of_url(url).ok_or(DbError::UnknownEngine)?;
        let db = match kind {
            DatabaseKind::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // Checkpoints (the only step that fsyncs in WAL + NORMAL) run in the
                    // background ([`Db::checkpoint`], driven by the position writer), not
                    // inside whichever commit crosses the WAL size threshold.
                    .pragma("wal_autocheckpoint", "0")
                    // 512 KiB of page cache per pooled connection (SQLite's default is 2 MB):
                    // the pool serves the API and logins, whose pages the OS caches anyway;
                    // eight 2 MB caches were ~900 B of every idle device session's share of
                    // RSS at 19,000 sessions. The position writer sets its own, larger one.
                    .pragma("cache_size", "-512")
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let file = opts.get_filename();
                if let Some(dir) = file.parent()
                    && !dir.as_os_str().is_empty()
                    && file != Path::new(":memory:")
                {
                    std::fs::create_dir_all(dir).map_err(|source| DbError::Dir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            crate::storage::writer::install_busy_handler(conn)
                                .await
                                .map_err(|e| sqlx::Error::Protocol(e.to_string()))
                        })
                    })
                    .connect_with(opts)
                    .await?;
                Db::Sqlite(pool)
            }
            DatabaseKind::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await?;
                Db::Postgres(pool)
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Which engine this is.
    pub fn kind(&self) -> DatabaseKind {
        match self {
            Db::Sqlite(_) => DatabaseKind::Sqlite,
            Db::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// Applies pending migrations of this engine's dialect.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(p) => sqlite_migrator().run(p).await?,
            Db::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// One round trip (health checks).
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    /// Copies committed WAL frames into the SQLite database file without blocking writers
    /// (`PRAGMA wal_checkpoint(PASSIVE)`) and returns the WAL's size in frames; nothing (and
    /// `None`) on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<Option<i64>, DbError> {
        if let Db::Sqlite(p) = self {
            let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(p)
                .await?;
            return Ok(Some(row.try_get::<i64, _>(1)?));
        }
        Ok(None)
    }
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl DatabaseKind {
    /// The engine a database URL's scheme selects (`sqlite:`, `postgres://` or
    /// `postgresql://`); `None` for any other.
    pub fn of_url(url: &str) -> Option<DatabaseKind> {
        if url.starts_with("sqlite:") {
            Some(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DatabaseKind::Postgres)
        } else {
            None
        }
    }
}
