//! Storage on SQLite or PostgreSQL, chosen by the URL scheme.
//!
//! Both dialects share one logical schema (`migrations/sqlite`, `migrations/postgres`) and, where
//! the SQL text is the same, one query: `on_pool!` compiles the body once per driver. Queries
//! are plain `sqlx::query` with binds (no build-time database).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Connection, QueryBuilder, Row, SqlSafeStr};

use crate::settings::{DatabaseKind, Settings};

/// Runs `$body` with `$p` bound to the concrete pool (the body is compiled once per driver).
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            Db::Sqlite($p) => $body,
            Db::Postgres($p) => $body,
        }
    };
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
    /// The settings do not name a usable database.
    #[error("{0}")]
    Settings(#[from] crate::settings::SettingsError),
}

/// A connection pool to either engine.
#[derive(Debug, Clone)]
pub enum Db {
    /// Embedded SQLite (WAL).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and manages everything.
    Admin,
    /// Sees what is shared with them (before roles; migrated to `owner`).
    User,
    /// Sees every alarm and every vehicle, dispatches units.
    Dispatcher,
    /// Member of a patrol unit: sees the alarms of the unit and their vehicles.
    Officer,
    /// Owns vehicles; may share one read-only.
    Owner,
    /// Reaches the API with scoped API keys.
    Integrator,
}

impl Role {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Dispatcher => "dispatcher",
            Role::Officer => "officer",
            Role::Owner => "owner",
            Role::Integrator => "integrator",
        }
    }
    /// Parses the database spelling (unknown text: the least privileged [`Role::User`]).
    pub fn parse(s: &str) -> Role {
        match s {
            "admin" => Role::Admin,
            "dispatcher" => Role::Dispatcher,
            "officer" => Role::Officer,
            "owner" => Role::Owner,
            "integrator" => Role::Integrator,
            _ => Role::User,
        }
    }
}

/// A user account (never carries the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name (an email address, or `admin` for the generated first administrator).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// A tracker as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Device {
    /// Row id.
    pub id: i64,
    /// The identifier the device reports (IMEI, phone number, …).
    pub unique_id: String,
    /// Protocol it last spoke, if it ever connected.
    pub protocol: Option<String>,
    /// Display name.
    pub name: String,
    /// Whether an owner or administrator created or claimed it (false: auto-registered).
    pub claimed: bool,
    /// Owning user (later issues).
    pub owner_id: Option<i64>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// Last time the device said anything.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// JT808 authentication code issued on registration.
    #[serde(skip)]
    pub auth_code: Option<String>,
    /// Per-device MQTT password.
    #[serde(skip)]
    pub mqtt_token: Option<String>,
    /// Command texts for this device family.
    pub command_profile: Value,
}

/// A device to create.
#[derive(Debug, Clone, Default)]
pub struct NewDevice {
    /// The identifier the device reports.
    pub unique_id: String,
    /// Display name.
    pub name: String,
    /// Protocol, if known.
    pub protocol: Option<String>,
    /// Created by a person (true) or auto-registered (false).
    pub claimed: bool,
}

/// One position row ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionRow {
    /// Device row id.
    pub device_id: i64,
    /// Fix time.
    pub fix_time: DateTime<Utc>,
    /// When the server received it.
    pub server_time: DateTime<Utc>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// GNSS fix valid.
    pub valid: bool,
    /// km/h.
    pub speed_kmh: f64,
    /// Degrees.
    pub course: Option<f64>,
    /// Metres.
    pub altitude_m: Option<f64>,
    /// Satellites used.
    pub satellites: Option<i64>,
    /// Metres.
    pub accuracy_m: Option<f64>,
    /// Metres.
    pub odometer_m: Option<i64>,
    /// Re-sent from the device's buffer.
    pub archived: bool,
    /// Ignition.
    pub ignition: Option<bool>,
    /// Anti-theft armed.
    pub armed: Option<bool>,
    /// Charging / external power.
    pub charging: Option<bool>,
    /// Battery percent.
    pub battery_level: Option<i64>,
    /// Battery volts.
    pub battery_voltage: Option<f64>,
    /// Comma-separated alarm names.
    pub alarms: String,
    /// Everything else (cell, vendor attributes, other status fields).
    pub attributes: Value,
}

impl PositionRow {
    /// Maps a decoded position of `device_id` onto its row.
    pub fn from_position(
        device_id: i64,
        p: &protocol::Position,
        server_time: DateTime<Utc>,
    ) -> PositionRow {
        let s = &p.status;
        let mut attrs = serde_json::Map::new();
        if let Some(v) = s.output_cut {
            attrs.insert("output_cut".into(), v.into());
        }
        if let Some(v) = s.door_open {
            attrs.insert("door_open".into(), v.into());
        }
        if let Some(v) = s.power_voltage {
            attrs.insert("power_voltage".into(), f64::from(v).into());
        }
        if let Some(v) = s.gsm_signal {
            attrs.insert("gsm_signal".into(), v.into());
        }
        if let Some(raw) = s.alarms.raw
            && let Ok(v) = serde_json::to_value(raw)
        {
            attrs.insert("raw_alarm".into(), v);
        }
        if let Some(cell) = p.cell
            && let Ok(v) = serde_json::to_value(cell)
        {
            attrs.insert("cell".into(), v);
        }
        for a in &p.attributes {
            if let Ok(v) = serde_json::to_value(&a.value) {
                attrs.insert(a.key.to_string(), v);
            }
        }
        let alarms = s
            .alarms
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",");
        PositionRow {
            device_id,
            fix_time: p.time,
            server_time,
            lat: p.location.lat,
            lon: p.location.lon,
            valid: p.valid,
            speed_kmh: f64::from(p.speed_kmh),
            course: p.course.map(f64::from),
            altitude_m: p.altitude_m.map(f64::from),
            satellites: p.satellites.map(i64::from),
            accuracy_m: p.accuracy_m.map(f64::from),
            odometer_m: p.odometer_m.and_then(|v| i64::try_from(v).ok()),
            archived: p.archived,
            ignition: s.ignition,
            armed: s.armed,
            charging: s.charging,
            battery_level: s.battery_level.map(i64::from),
            battery_voltage: s.battery_voltage.map(f64::from),
            alarms,
            attributes: Value::Object(attrs),
        }
    }
}

/// The columns of a stored position a trajectory needs (`GET …/trajectory` JSON points).
/// Serialised with the keys in the order the API has always used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrackPoint {
    /// Metres.
    pub altitude_m: Option<f64>,
    /// Degrees.
    pub course: Option<f64>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// km/h.
    pub speed_kmh: f64,
    /// Fix time.
    #[serde(rename = "time")]
    pub fix_time: DateTime<Utc>,
    /// GPS fix valid.
    pub valid: bool,
}

type TrackTuple = (DateTime<Utc>, f64, f64, f64, Option<f64>, Option<f64>, bool);

impl TrackPoint {
    fn from_tuple(t: TrackTuple) -> TrackPoint {
        let (fix_time, lat, lon, speed_kmh, course, altitude_m, valid) = t;
        TrackPoint {
            altitude_m,
            course,
            lat,
            lon,
            speed_kmh,
            fix_time,
            valid,
        }
    }
}

/// A stored position as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredPosition {
    /// Row id.
    pub id: i64,
    /// Device row id.
    pub device_id: i64,
    /// Fix time.
    pub fix_time: DateTime<Utc>,
    /// Server receive time.
    pub server_time: DateTime<Utc>,
    /// Latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// GNSS fix valid.
    pub valid: bool,
    /// km/h.
    #[schema(minimum = 0)]
    pub speed_kmh: f64,
    /// Degrees.
    pub course: Option<f64>,
    /// Metres.
    pub altitude_m: Option<f64>,
    /// Satellites.
    pub satellites: Option<i64>,
    /// Metres.
    pub accuracy_m: Option<f64>,
    /// Metres.
    pub odometer_m: Option<i64>,
    /// Re-sent from the device's buffer.
    pub archived: bool,
    /// Ignition.
    pub ignition: Option<bool>,
    /// Anti-theft armed.
    pub armed: Option<bool>,
    /// Charging.
    pub charging: Option<bool>,
    /// Battery percent.
    pub battery_level: Option<i64>,
    /// Battery volts.
    pub battery_voltage: Option<f64>,
    /// Alarm names.
    pub alarms: Vec<String>,
    /// Other attributes.
    pub attributes: Value,
}

/// A server event to record.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    /// `connect`, `disconnect`, `unknown_device`, `rejected_device`, ….
    pub kind: &'static str,
    /// Device row id, when known.
    pub device_id: Option<i64>,
    /// The identifier the device gave.
    pub unique_id: Option<String>,
    /// Protocol.
    pub protocol: Option<&'static str>,
    /// Remote address.
    pub peer: Option<String>,
    /// Anything else.
    pub detail: Value,
}

/// A stored server event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Row id (increasing).
    pub id: i64,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Kind.
    pub kind: String,
    /// Device row id.
    pub device_id: Option<i64>,
    /// The identifier the device gave.
    pub unique_id: Option<String>,
    /// Protocol.
    pub protocol: Option<String>,
    /// Remote address.
    pub peer: Option<String>,
    /// Details.
    pub detail: Value,
}

const DEVICE_COLS: &str = "id, unique_id, protocol, name, claimed, owner_id, mqtt_token, auth_code, command_profile, created_at, last_seen_at";
const POSITION_COLS: &str = "id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes";
/// Most rows per SQLite INSERT statement (20 binds each: below SQLite's 32766), a power of two.
const INSERT_CHUNK: usize = 1024;

macro_rules! device_from_row {
    ($row:expr) => {{
        let r = $row;
        Device {
            id: r.try_get("id")?,
            unique_id: r.try_get("unique_id")?,
            protocol: r.try_get("protocol")?,
            name: r.try_get("name")?,
            claimed: r.try_get("claimed")?,
            owner_id: r.try_get("owner_id")?,
            mqtt_token: r.try_get("mqtt_token")?,
            auth_code: r.try_get("auth_code")?,
            command_profile: r.try_get::<Json<Value>, _>("command_profile")?.0,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
        }
    }};
}

macro_rules! position_from_row {
    ($row:expr) => {{
        let r = $row;
        let alarms: String = r.try_get("alarms")?;
        StoredPosition {
            id: r.try_get("id")?,
            device_id: r.try_get("device_id")?,
            fix_time: r.try_get("fix_time")?,
            server_time: r.try_get("server_time")?,
            lat: r.try_get("lat")?,
            lon: r.try_get("lon")?,
            valid: r.try_get("valid")?,
            speed_kmh: r.try_get("speed_kmh")?,
            course: r.try_get("course")?,
            altitude_m: r.try_get("altitude_m")?,
            satellites: r.try_get("satellites")?,
            accuracy_m: r.try_get("accuracy_m")?,
            odometer_m: r.try_get("odometer_m")?,
            archived: r.try_get("archived")?,
            ignition: r.try_get("ignition")?,
            armed: r.try_get("armed")?,
            charging: r.try_get("charging")?,
            battery_level: r.try_get("battery_level")?,
            battery_voltage: r.try_get("battery_voltage")?,
            alarms: alarms
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            attributes: r.try_get::<Json<Value>, _>("attributes")?.0,
        }
    }};
}

macro_rules! event_from_row {
    ($row:expr) => {{
        let r = $row;
        Event {
            id: r.try_get("id")?,
            time: r.try_get("time")?,
            kind: r.try_get("kind")?,
            device_id: r.try_get("device_id")?,
            unique_id: r.try_get("unique_id")?,
            protocol: r.try_get("protocol")?,
            peer: r.try_get("peer")?,
            detail: r.try_get::<Json<Value>, _>("detail")?.0,
        }
    }};
}

fn migrator(kind: DatabaseKind) -> Migrator {
    let (desc, sql) = match kind {
        DatabaseKind::Sqlite => (
            "initial",
            include_str!("../../migrations/sqlite/0001_initial.sql"),
        ),
        DatabaseKind::Postgres => (
            "initial",
            include_str!("../../migrations/postgres/0001_initial.sql"),
        ),
    };
    let alarms = match kind {
        DatabaseKind::Sqlite => include_str!("../../migrations/sqlite/0002_alarms.sql"),
        DatabaseKind::Postgres => include_str!("../../migrations/postgres/0002_alarms.sql"),
    };
    let track = match kind {
        DatabaseKind::Sqlite => include_str!("../../migrations/sqlite/0005_track_index.sql"),
        DatabaseKind::Postgres => include_str!("../../migrations/postgres/0005_track_index.sql"),
    };
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            desc.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "alarms".into(),
            MigrationType::Simple,
            alarms.into_sql_str(),
            false,
        ),
        crate::access::migration(kind),
        crate::access::profiles_migration(kind),
        Migration::new(
            5,
            "track index".into(),
            MigrationType::Simple,
            track.into_sql_str(),
            false,
        ),
        crate::alarms::store::migration(kind),
    ])
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Opens the database named by the settings (creating a SQLite file and its directory on
    /// first run, WAL mode) and applies pending migrations.
    pub async fn connect(settings: &Settings) -> Result<Db, DbError> {
        let url = settings.database_url.as_str();
        let db = match settings.database_kind()? {
            DatabaseKind::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // Checkpoints (the only step that fsyncs in WAL + NORMAL) run in the
                    // background ([`Db::checkpoint`], driven by the position writer), not
                    // inside whichever commit crosses the WAL size threshold.
                    .pragma("wal_autocheckpoint", "0")
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
                    .max_connections(settings.database_max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            crate::sink::install_busy_handler(conn)
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
                    .max_connections(settings.database_max_connections)
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
        let m = migrator(self.kind());
        on_pool!(self, p => m.run(p).await?);
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

    // ---- users and sessions ----

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
        on_pool!(self, p => {
            let row = sqlx::query("SELECT id, email, name, role, password_hash FROM users WHERE email = $1")
                .bind(email).fetch_optional(p).await?;
            match row {
                None => Ok(None),
                Some(r) => Ok(Some((User {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    name: r.try_get("name")?,
                    role: Role::parse(r.try_get("role")?),
                }, r.try_get("password_hash")?))),
            }
        })
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
        on_pool!(self, p => {
            let row = sqlx::query("SELECT u.id, u.email, u.name, u.role FROM api_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2")
                .bind(token_hash).bind(now).fetch_optional(p).await?;
            match row {
                None => Ok(None),
                Some(r) => Ok(Some(User {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    name: r.try_get("name")?,
                    role: Role::parse(r.try_get("role")?),
                })),
            }
        })
    }

    /// Deletes a session; true if it existed.
    pub async fn delete_session(&self, token_hash: &str) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1")
            .bind(token_hash).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    // ---- devices ----

    /// Creates a device; [`DbError::Conflict`] if the unique id is taken.
    pub async fn create_device(&self, d: &NewDevice) -> Result<Device, DbError> {
        let sql = format!(
            "INSERT INTO devices (unique_id, name, protocol, claimed, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {DEVICE_COLS}"
        );
        let res: Result<Device, sqlx::Error> = on_pool!(self, p => {
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&d.unique_id).bind(&d.name).bind(&d.protocol).bind(d.claimed).bind(Utc::now())
                .fetch_one(p).await {
                Ok(r) => (|| Ok(device_from_row!(&r)))(),
                Err(e) => Err(e),
            }
        });
        match res {
            Ok(d) => Ok(d),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict("device")),
            Err(e) => Err(e.into()),
        }
    }

    /// Returns the device, creating it as unclaimed if it does not exist (auto-registration).
    /// The bool is true when it was created now.
    pub async fn register_device(
        &self,
        unique_id: &str,
        protocol: &str,
    ) -> Result<(Device, bool), DbError> {
        let n = on_pool!(self, p => sqlx::query("INSERT INTO devices (unique_id, name, protocol, claimed, created_at) VALUES ($1, $1, $2, FALSE, $3) ON CONFLICT (unique_id) DO NOTHING")
            .bind(unique_id).bind(protocol).bind(Utc::now()).execute(p).await?.rows_affected());
        let dev = self
            .device_by_unique_id(unique_id)
            .await?
            .ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))?;
        Ok((dev, n > 0))
    }

    /// A device by the identifier it reports.
    pub async fn device_by_unique_id(&self, unique_id: &str) -> Result<Option<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE unique_id = $1");
        on_pool!(self, p => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(unique_id).fetch_optional(p).await? {
                None => Ok(None),
                Some(r) => Ok(Some(device_from_row!(&r))),
            }
        })
    }

    /// A device by row id.
    pub async fn device(&self, id: i64) -> Result<Option<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1");
        on_pool!(self, p => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await? {
                None => Ok(None),
                Some(r) => Ok(Some(device_from_row!(&r))),
            }
        })
    }

    /// Devices ordered by id, after `after_id`, at most `limit`.
    pub async fn list_devices(&self, after_id: i64, limit: i64) -> Result<Vec<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id > $1 ORDER BY id LIMIT $2");
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after_id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(device_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Stores the JT808 authentication code issued to a device.
    pub async fn set_auth_code(&self, device_id: i64, code: &str) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET auth_code = $1 WHERE id = $2")
            .bind(code).bind(device_id).execute(p).await?; });
        Ok(())
    }

    /// Sets (or with `None` clears) a device's MQTT password.
    pub async fn set_mqtt_token(&self, device_id: i64, token: Option<&str>) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET mqtt_token = $1 WHERE id = $2")
            .bind(token).bind(device_id).execute(p).await?; });
        Ok(())
    }

    /// Records that a device spoke now, in `protocol`.
    pub async fn touch_device(
        &self,
        device_id: i64,
        protocol: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET last_seen_at = $1, protocol = $2 WHERE id = $3")
            .bind(now).bind(protocol).bind(device_id).execute(p).await?; });
        Ok(())
    }

    // ---- positions ----

    /// Inserts positions in one transaction; a row whose `(device, fix_time)` is already
    /// stored is skipped (a retried frame). Returns the rows actually inserted.
    pub async fn insert_positions(&self, rows: &[PositionRow]) -> Result<u64, DbError> {
        match self {
            Db::Postgres(p) => insert_positions_unnest(p, rows).await,
            Db::Sqlite(p) => insert_positions_sqlite(&mut *p.acquire().await?, rows).await,
        }
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

    /// The position with the latest fix time of a device.
    pub async fn latest_position(&self, device_id: i64) -> Result<Option<StoredPosition>, DbError> {
        let sql = format!(
            "SELECT {POSITION_COLS} FROM positions WHERE device_id = $1 ORDER BY fix_time DESC LIMIT 1"
        );
        on_pool!(self, p => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).fetch_optional(p).await? {
                None => Ok(None),
                Some(r) => Ok(Some(position_from_row!(&r))),
            }
        })
    }

    /// Positions of a device with `from <= fix_time < to` and `fix_time > after` (keyset
    /// paging), oldest first, at most `limit`.
    pub async fn positions(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<StoredPosition>, DbError> {
        let sql = format!(
            "SELECT {POSITION_COLS} FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5"
        );
        let after = after
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
            .max(from - chrono::Duration::microseconds(1));
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).bind(from).bind(to).bind(after).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(position_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The track columns of [`Db::positions`]' rows (same range, paging and order), read
    /// from the covering index alone (migration 4) and decoded without the rest of the row.
    pub async fn track(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<TrackPoint>, DbError> {
        let after = after
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
            .max(from - chrono::Duration::microseconds(1));
        match self {
            Db::Sqlite(p) => {
                // Forced: the planner cannot tell that the narrow index covers the query
                // better than the unique one without statistics.
                let rows = sqlx::query_as::<_, TrackTuple>(
                    "SELECT fix_time, lat, lon, speed_kmh, course, altitude_m, valid FROM positions INDEXED BY positions_track \
                     WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5",
                )
                .bind(device_id)
                .bind(from)
                .bind(to)
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?;
                Ok(rows.into_iter().map(TrackPoint::from_tuple).collect())
            }
            Db::Postgres(p) => {
                let rows = sqlx::query_as::<_, TrackTuple>(
                    "SELECT fix_time, lat, lon, speed_kmh, course, altitude_m, valid FROM positions \
                     WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 AND fix_time > $4 ORDER BY fix_time LIMIT $5",
                )
                .bind(device_id)
                .bind(from)
                .bind(to)
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?;
                Ok(rows.into_iter().map(TrackPoint::from_tuple).collect())
            }
        }
    }

    /// Number of stored positions of a device.
    pub async fn count_positions(&self, device_id: i64) -> Result<i64, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query("SELECT COUNT(*) AS n FROM positions WHERE device_id = $1")
            .bind(device_id).fetch_one(p).await?.try_get("n")?);
        Ok(n)
    }

    // ---- events ----

    /// Records a server event.
    pub async fn insert_event(&self, e: &NewEvent) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("INSERT INTO events (time, kind, device_id, unique_id, protocol, peer, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(Utc::now()).bind(e.kind).bind(e.device_id).bind(&e.unique_id).bind(e.protocol).bind(&e.peer).bind(Json(&e.detail))
            .execute(p).await?; });
        Ok(())
    }

    /// Events newest first, optionally of one device, with `id < before_id`, at most `limit`.
    pub async fn events(
        &self,
        device_id: Option<i64>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Event>, DbError> {
        let before = before_id.unwrap_or(i64::MAX);
        on_pool!(self, p => {
            let rows = match device_id {
                Some(d) => sqlx::query("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE device_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
                    .bind(d).bind(before).bind(limit).fetch_all(p).await?,
                None => sqlx::query("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE id < $1 ORDER BY id DESC LIMIT $2")
                    .bind(before).bind(limit).fetch_all(p).await?,
            };
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(event_from_row!(r));
            }
            Ok(out)
        })
    }
}

/// SQLite: `rows` in one transaction, retried fixes skipped; returns how many were new.
///
/// A multi-row INSERT is one statement per row count, and preparing one with thousands of
/// placeholders costs more than running it; so the rows go in chunks whose sizes are powers
/// of two (at most one statement of each size per batch), which stay in the connection's
/// statement cache.
pub(crate) async fn insert_positions_sqlite(
    conn: &mut sqlx::SqliteConnection,
    rows: &[PositionRow],
) -> Result<u64, DbError> {
    let mut chunks = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let n = if rest.len() >= INSERT_CHUNK {
            INSERT_CHUNK
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(n);
        chunks.push(chunk);
        rest = tail;
    }
    match chunks.as_slice() {
        [] => Ok(0),
        // One statement is atomic on its own: no BEGIN/COMMIT round trips.
        [one] => Ok(positions_insert(one)
            .build()
            .execute(&mut *conn)
            .await?
            .rows_affected()),
        _ => {
            let mut inserted = 0u64;
            let mut tx = conn.begin().await?;
            for chunk in chunks {
                inserted += positions_insert(chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(inserted)
        }
    }
}

/// SQLite: one multi-row INSERT of `rows` (at most [`INSERT_CHUNK`]), retried frames skipped.
fn positions_insert(rows: &[PositionRow]) -> QueryBuilder<sqlx::Sqlite> {
    let mut qb = QueryBuilder::new(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes) ",
    );
    qb.push_values(rows, |mut b, r| {
        b.push_bind(r.device_id)
            .push_bind(r.fix_time)
            .push_bind(r.server_time)
            .push_bind(r.lat)
            .push_bind(r.lon)
            .push_bind(r.valid)
            .push_bind(r.speed_kmh)
            .push_bind(r.course)
            .push_bind(r.altitude_m)
            .push_bind(r.satellites)
            .push_bind(r.accuracy_m)
            .push_bind(r.odometer_m)
            .push_bind(r.archived)
            .push_bind(r.ignition)
            .push_bind(r.armed)
            .push_bind(r.charging)
            .push_bind(r.battery_level)
            .push_bind(r.battery_voltage)
            .push_bind(r.alarms.clone())
            .push_bind(Json(r.attributes.clone()));
    });
    qb.push(" ON CONFLICT (device_id, fix_time) DO NOTHING");
    qb
}

/// PostgreSQL: one prepared statement whatever the batch size, the rows bound as 20 arrays.
async fn insert_positions_unnest(pool: &PgPool, rows: &[PositionRow]) -> Result<u64, DbError> {
    let n = rows.len();
    let mut device_id = Vec::with_capacity(n);
    let mut fix_time = Vec::with_capacity(n);
    let mut server_time = Vec::with_capacity(n);
    let mut lat = Vec::with_capacity(n);
    let mut lon = Vec::with_capacity(n);
    let mut valid = Vec::with_capacity(n);
    let mut speed = Vec::with_capacity(n);
    let mut course = Vec::with_capacity(n);
    let mut altitude = Vec::with_capacity(n);
    let mut satellites = Vec::with_capacity(n);
    let mut accuracy = Vec::with_capacity(n);
    let mut odometer = Vec::with_capacity(n);
    let mut archived = Vec::with_capacity(n);
    let mut ignition = Vec::with_capacity(n);
    let mut armed = Vec::with_capacity(n);
    let mut charging = Vec::with_capacity(n);
    let mut battery_level = Vec::with_capacity(n);
    let mut battery_voltage = Vec::with_capacity(n);
    let mut alarms = Vec::with_capacity(n);
    let mut attributes = Vec::with_capacity(n);
    for r in rows {
        device_id.push(r.device_id);
        fix_time.push(r.fix_time);
        server_time.push(r.server_time);
        lat.push(r.lat);
        lon.push(r.lon);
        valid.push(r.valid);
        speed.push(r.speed_kmh);
        course.push(r.course);
        altitude.push(r.altitude_m);
        satellites.push(r.satellites);
        accuracy.push(r.accuracy_m);
        odometer.push(r.odometer_m);
        archived.push(r.archived);
        ignition.push(r.ignition);
        armed.push(r.armed);
        charging.push(r.charging);
        battery_level.push(r.battery_level);
        battery_voltage.push(r.battery_voltage);
        alarms.push(r.alarms.as_str());
        attributes.push(Json(&r.attributes));
    }
    // One statement, atomic on its own: no BEGIN/COMMIT round trips.
    let done = sqlx::query(
        "INSERT INTO positions (device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes) \
         SELECT * FROM UNNEST($1::int8[], $2::timestamptz[], $3::timestamptz[], $4::float8[], $5::float8[], $6::bool[], $7::float8[], $8::float8[], $9::float8[], $10::int8[], $11::float8[], $12::int8[], $13::bool[], $14::bool[], $15::bool[], $16::bool[], $17::int8[], $18::float8[], $19::text[], $20::jsonb[]) \
         ON CONFLICT (device_id, fix_time) DO NOTHING",
    )
    .bind(device_id)
    .bind(fix_time)
    .bind(server_time)
    .bind(lat)
    .bind(lon)
    .bind(valid)
    .bind(speed)
    .bind(course)
    .bind(altitude)
    .bind(satellites)
    .bind(accuracy)
    .bind(odometer)
    .bind(archived)
    .bind(ignition)
    .bind(armed)
    .bind(charging)
    .bind(battery_level)
    .bind(battery_voltage)
    .bind(alarms)
    .bind(attributes)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
