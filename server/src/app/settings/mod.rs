//! Settings: a TOML file, every key overridable by a `VIGIL_<KEY>` environment variable,
//! validated once at start.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::storage::{DatabaseKind, DbConfig};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Kept here too: it is a setting (`unknown_devices`), and was named from here.
pub use crate::services::ingest::UnknownDevicePolicy;

pub use crate::domain::commands::CutPowerPolicy;
pub use crate::transport::http::static_files::TileCrs;

/// Every setting of the server. Keys are flat so that each one maps onto exactly one
/// environment variable: `database_url` ↔ `VIGIL_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://path` (created on first run) or `postgres://…`.
    pub database_url: String,
    /// Maximum database connections in the pool.
    pub database_max_connections: u32,
    /// HTTP API listen address.
    pub http_listen: String,
    /// GT06 listen address, or `off`.
    pub gt06_listen: String,
    /// JT808 listen address, or `off`.
    pub jt808_listen: String,
    /// H02 listen address, or `off`.
    pub h02_listen: String,
    /// OsmAnd HTTP listen address, or `off`.
    pub osmand_listen: String,
    /// Embedded MQTT broker listen address, or `off`.
    pub mqtt_listen: String,
    /// `register` (default) or `reject` devices the database does not know.
    pub unknown_devices: UnknownDevicePolicy,
    /// Close a device connection silent for this many seconds.
    pub idle_timeout_secs: u64,
    /// Close a device connection whose partial frame has not completed in this many seconds.
    pub frame_timeout_secs: u64,
    /// Largest number of positions written in one transaction.
    pub batch_max_size: usize,
    /// Linger: longest time a position waits for its batch to fill, milliseconds (0: group
    /// commit, the batch is whatever queued while the previous commit ran).
    pub batch_max_delay_ms: u64,
    /// Capacity of the queue between the gateway and the writer, in submissions.
    pub batch_queue_capacity: usize,
    /// Position batches committed at the same time on PostgreSQL (each on its own pooled
    /// connection, so one batch's commit round trip and fsync overlap the next one's insert).
    /// SQLite has one writer at a time whatever this says.
    pub batch_writers: usize,
    /// Acks a connection may have waiting for their commit before it stops reading.
    pub max_pending_acks: usize,
    /// Seconds allowed for a clean shutdown (flushing pending batches) before exiting anyway.
    pub shutdown_grace_secs: u64,
    /// API session lifetime, hours.
    pub session_ttl_hours: u64,
    /// Email (login) of the first administrator, used only when no administrator exists.
    pub admin_email: Option<String>,
    /// Password of the first administrator, used only when no administrator exists.
    pub admin_password: Option<String>,
    /// HTTP worker threads (0 = one per core).
    pub http_workers: usize,
    /// Password hashes computed at once, each on its own thread with 19 MiB (0 = one per core).
    pub password_workers: usize,
    /// Password checks waiting for a hashing thread before logins answer 503 (1..=10000).
    pub password_queue: usize,
    /// `cut_power` interlock: the last fix must show at most this speed, km/h.
    pub cut_power_max_speed_kmh: f64,
    /// `cut_power` above the speed limit: `refuse` it, or `hold` it until the vehicle is slow.
    pub cut_power_when_moving: CutPowerPolicy,
    /// Default lifetime of a command before it expires unsent/unanswered, seconds.
    pub command_ttl_secs: u64,
    /// Alarm de-duplication window, seconds.
    pub alarm_cooldown_secs: u64,
    /// Armed vehicles may drift this far (metres) before theft is suspected.
    pub theft_radius_m: f64,
    /// Fixes beyond a boundary needed to confirm a crossing (fences and the armed circle).
    pub fence_hold_fixes: u32,
    /// Seconds a crossing must be held before it is confirmed.
    pub fence_hold_secs: u32,
    /// Overspeed limit for devices without their own, km/h (0 = none).
    pub default_speed_limit_kmh: f64,
    /// Overspeed must last this many seconds.
    pub overspeed_hold_secs: u64,
    /// First webhook retry delay, milliseconds (doubles per attempt).
    pub webhook_backoff_ms: u64,
    /// Directory of the built web app (`index.html` + `assets/`); empty = `./web/dist`, else
    /// the source tree's `web/dist`.
    pub web_dir: String,
    /// Map tile URL template for the web app (`{z}/{x}/{y}`, optional `{s}`); empty = no tiles.
    pub web_tile_url: String,
    /// Attribution shown under the map tiles.
    pub web_tile_attribution: String,
    /// The datum of the map tiles: `wgs84` (OpenStreetMap, Tianditu) or `gcj02` (AMap,
    /// Tencent): with `gcj02` the web app converts what it draws and what is drawn on it.
    pub web_tile_crs: TileCrs,
    /// Web Push: alarm events queued for the push sender before new ones are dropped.
    pub push_queue_capacity: usize,
    /// Web Push: first retry delay of a failed delivery, milliseconds (doubles per attempt).
    pub push_backoff_ms: u64,
    /// Web Push: accept `http://` subscription endpoints (tests and local push services
    /// only; browsers' push services are HTTPS).
    pub push_allow_http: bool,
    /// Web Push: the VAPID contact (`mailto:` or `https:` URL) push services may write to.
    pub push_contact: String,
    /// Longest silence expected from an armed device, seconds (0 = no offline rule). Devices
    /// are heard from at every position and at least once a minute while connected.
    pub offline_expected_secs: u64,
    /// Extra silence tolerated beyond `offline_expected_secs` before `offline` is raised.
    pub offline_grace_secs: u64,
    /// How often the offline sweep checks armed devices, milliseconds.
    pub offline_sweep_ms: u64,
    /// Fixes dated more than this many seconds ahead of the server clock are not stored (they
    /// are acknowledged, counted and recorded as `fix_time_rejected` events); neither are
    /// fixes before 2000-01-01.
    pub max_future_secs: u64,
    /// Positions whose fix is older than this many days are removed (0 = keep forever); each
    /// device's latest position always stays. PostgreSQL drops whole weeks, so a week goes
    /// once its last day is this old.
    pub positions_retention_days: u32,
    /// Device events (connects, disconnects, rejected fixes, …) older than this many days are
    /// removed (0 = keep forever). Alarms, their lifecycle and the command audit never are.
    pub events_retention_days: u32,
    /// Video playback URL template for camera passes (`{device}`, `{channel}`, `{from}`,
    /// `{to}`, `{from_unix}`, `{to_unix}`); empty = no links.
    pub video_playback_url: String,
    /// Checkpoints reachable within this many minutes are "ahead" of a vehicle.
    pub intercept_horizon_mins: u64,
    /// Half-angle of the heading cone for checkpoints ahead, degrees.
    pub intercept_cone_deg: f64,
    /// Road distance estimate = straight distance × this (no road network in this version).
    pub route_detour_factor: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "sqlite://./data/vigil.db".into(),
            database_max_connections: 8,
            http_listen: "0.0.0.0:8082".into(),
            gt06_listen: "0.0.0.0:5023".into(),
            jt808_listen: "0.0.0.0:5015".into(),
            h02_listen: "0.0.0.0:5013".into(),
            osmand_listen: "0.0.0.0:5055".into(),
            mqtt_listen: "0.0.0.0:1883".into(),
            unknown_devices: UnknownDevicePolicy::Register,
            idle_timeout_secs: 600,
            frame_timeout_secs: 60,
            batch_max_size: 500,
            batch_max_delay_ms: 0,
            batch_queue_capacity: 4096,
            batch_writers: 3,
            max_pending_acks: 64,
            shutdown_grace_secs: 10,
            session_ttl_hours: 24 * 7,
            admin_email: None,
            admin_password: None,
            http_workers: 0,
            password_workers: 0,
            password_queue: 256,
            cut_power_max_speed_kmh: 20.0,
            cut_power_when_moving: CutPowerPolicy::Refuse,
            command_ttl_secs: 3600,
            alarm_cooldown_secs: 600,
            theft_radius_m: 100.0,
            fence_hold_fixes: 3,
            fence_hold_secs: 60,
            default_speed_limit_kmh: 0.0,
            overspeed_hold_secs: 10,
            webhook_backoff_ms: 1000,
            web_dir: String::new(),
            web_tile_url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
            web_tile_attribution: "© OpenStreetMap contributors".into(),
            web_tile_crs: TileCrs::Wgs84,
            push_queue_capacity: 1024,
            push_backoff_ms: 1000,
            push_allow_http: false,
            push_contact: "mailto:admin@localhost".into(),
            offline_expected_secs: 600,
            offline_grace_secs: 300,
            offline_sweep_ms: 30_000,
            max_future_secs: 600,
            positions_retention_days: 365,
            events_retention_days: 90,
            video_playback_url: String::new(),
            intercept_horizon_mins: 15,
            intercept_cone_deg: 60.0,
            route_detour_factor: 1.3,
        }
    }
}

impl Settings {
    /// What the Web Push sender needs.
    pub fn push_config(&self) -> crate::services::push::PushConfig {
        crate::services::push::PushConfig {
            queue_capacity: self.push_queue_capacity,
            backoff: Duration::from_millis(self.push_backoff_ms),
            allow_http: self.push_allow_http,
            contact: self.push_contact.clone(),
            ..crate::services::push::PushConfig::default()
        }
    }

    /// What the HTTP layer needs (web app, session lifetime).
    pub fn http_config(&self) -> crate::transport::http::HttpConfig {
        crate::transport::http::HttpConfig {
            web_dir: self.web_dir.clone(),
            tile_url: self.web_tile_url.clone(),
            tile_attribution: self.web_tile_attribution.clone(),
            tile_crs: self.web_tile_crs,
            cut_power_max_speed_kmh: self.cut_power_max_speed_kmh,
            session_ttl: chrono::Duration::hours(
                i64::try_from(self.session_ttl_hours).unwrap_or(i64::MAX / 3_600_000),
            ),
        }
    }

    /// The first administrator's account, when both are set (else one is generated).
    pub fn admin_credentials(&self) -> Option<crate::services::auth::AdminCredentials> {
        match (&self.admin_email, &self.admin_password) {
            (Some(email), Some(password)) => Some(crate::services::auth::AdminCredentials {
                email: email.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }

    /// The command queue's settings.
    pub fn command_config(&self) -> crate::services::commands::CommandConfig {
        crate::services::commands::CommandConfig {
            default_ttl: Duration::from_secs(self.command_ttl_secs),
            cut_power_max_speed_kmh: self.cut_power_max_speed_kmh,
            cut_power_when_moving: self.cut_power_when_moving,
        }
    }

    /// The linkage settings (cameras passed, checkpoints ahead).
    pub fn linkage_config(&self) -> crate::services::linkage::LinkageConfig {
        crate::services::linkage::LinkageConfig {
            playback_url: self.video_playback_url.clone(),
            horizon: Duration::from_secs(self.intercept_horizon_mins.saturating_mul(60)),
            cone_half_deg: self.intercept_cone_deg,
            detour_factor: self.route_detour_factor,
        }
    }

    /// The alarm rules' settings.
    pub fn alarm_config(&self) -> crate::services::alarms::AlarmConfig {
        let defaults = crate::services::alarms::AlarmConfig::default();
        crate::services::alarms::AlarmConfig {
            cooldown: std::time::Duration::from_secs(self.alarm_cooldown_secs),
            theft_radius_m: self.theft_radius_m,
            tracker: geofence::TrackerConfig {
                hold_fixes: self.fence_hold_fixes,
                hold_secs: self.fence_hold_secs,
                ..defaults.tracker
            },
            default_speed_limit_kmh: (self.default_speed_limit_kmh > 0.0)
                .then_some(self.default_speed_limit_kmh),
            overspeed_hold: std::time::Duration::from_secs(self.overspeed_hold_secs),
            offline_after: (self.offline_expected_secs > 0).then(|| {
                std::time::Duration::from_secs(
                    self.offline_expected_secs
                        .saturating_add(self.offline_grace_secs),
                )
            }),
            ..defaults
        }
    }
}

/// Why the settings could not be loaded or are not usable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file or an environment variable could not be read or parsed.
    #[error("cannot read settings: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is present but not valid.
    #[error("invalid setting {key} (env {env}): {reason}")]
    Invalid {
        /// Settings key.
        key: &'static str,
        /// Environment variable that sets it.
        env: String,
        /// What is wrong.
        reason: String,
    },
}

impl Settings {
    /// Defaults, then the TOML file (if given), then `VIGIL_*` environment variables; validated.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(SettingsError::Invalid {
                    key: "config",
                    env: "--config".into(),
                    reason: format!("file {} does not exist", file.display()),
                });
            }
            fig = fig.merge(Toml::file(file));
        }
        let settings: Settings = fig
            .merge(Env::prefixed("VIGIL_"))
            .extract()
            .map_err(|e| SettingsError::Load(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every value; the error names the setting and its environment variable.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.database_kind()?;
        for (key, value) in self.listen_settings() {
            parse_listen(key, value)?;
        }
        let positive = [
            ("batch_max_size", self.batch_max_size as u64),
            ("batch_queue_capacity", self.batch_queue_capacity as u64),
            ("batch_writers", self.batch_writers as u64),
            ("max_pending_acks", self.max_pending_acks as u64),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("frame_timeout_secs", self.frame_timeout_secs),
            ("session_ttl_hours", self.session_ttl_hours),
            ("command_ttl_secs", self.command_ttl_secs),
            ("password_queue", self.password_queue as u64),
            ("push_queue_capacity", self.push_queue_capacity as u64),
            (
                "database_max_connections",
                self.database_max_connections as u64,
            ),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if !(self.push_contact.starts_with("mailto:") || self.push_contact.starts_with("https:")) {
            return Err(invalid(
                "push_contact",
                "must be a mailto: or https: URL (the VAPID subject)",
            ));
        }
        if self.password_queue > 10_000 {
            return Err(invalid("password_queue", "at most 10000"));
        }
        if self.password_workers > 64 {
            return Err(invalid(
                "password_workers",
                "at most 64 (each holds 19 MiB while it hashes)",
            ));
        }
        if self.cut_power_max_speed_kmh.is_nan() || self.cut_power_max_speed_kmh < 0.0 {
            return Err(invalid("cut_power_max_speed_kmh", "must be 0 or more"));
        }
        if self.batch_writers >= self.database_max_connections as usize {
            return Err(invalid(
                "batch_writers",
                "must be below database_max_connections (the API and the alarms need connections too)",
            ));
        }
        if self.batch_max_size > 5000 {
            return Err(invalid("batch_max_size", "must be at most 5000"));
        }
        if self.admin_email.is_some() != self.admin_password.is_some() {
            return Err(invalid(
                "admin_password",
                "admin_email and admin_password must be set together",
            ));
        }
        if let Some(pw) = &self.admin_password
            && pw.len() < 8
        {
            return Err(invalid("admin_password", "must be at least 8 characters"));
        }
        crate::domain::linkage::check_playback_template(&self.video_playback_url)
            .map_err(|e| invalid("video_playback_url", e))?;
        if !(1..=240).contains(&self.intercept_horizon_mins) {
            return Err(invalid(
                "intercept_horizon_mins",
                "must be 1 to 240 minutes",
            ));
        }
        if !(self.intercept_cone_deg > 0.0 && self.intercept_cone_deg <= 180.0) {
            return Err(invalid(
                "intercept_cone_deg",
                "must be in (0, 180] degrees (half-angle of the heading cone)",
            ));
        }
        if !(1.0..=5.0).contains(&self.route_detour_factor) {
            return Err(invalid("route_detour_factor", "must be 1 to 5"));
        }
        if self.max_future_secs > MAX_FUTURE_SECS_LIMIT {
            return Err(invalid(
                "max_future_secs",
                format!(
                    "must be at most {MAX_FUTURE_SECS_LIMIT} (a year); a wider window lets a broken device clock pin the latest position"
                ),
            ));
        }
        for (key, days) in [
            ("positions_retention_days", self.positions_retention_days),
            ("events_retention_days", self.events_retention_days),
        ] {
            if days > MAX_RETENTION_DAYS {
                return Err(invalid(
                    key,
                    format!("must be at most {MAX_RETENTION_DAYS} (100 years; 0 keeps forever)"),
                ));
            }
        }
        Ok(())
    }

    /// The storage upkeep job's settings (retention; PostgreSQL partitions ahead).
    pub fn retention_config(&self) -> crate::services::retention::RetentionConfig {
        let days = |d: u32| (d > 0).then(|| chrono::Duration::days(i64::from(d)));
        crate::services::retention::RetentionConfig {
            positions: days(self.positions_retention_days),
            events: days(self.events_retention_days),
            ..Default::default()
        }
    }

    /// The engine selected by [`Settings::database_url`]'s scheme.
    pub fn database_kind(&self) -> Result<DatabaseKind, SettingsError> {
        DatabaseKind::of_url(&self.database_url)
            .ok_or_else(|| invalid("database_url", "must start with sqlite: or postgres://"))
    }

    /// What storage needs to open the database ([`Settings::database_url`],
    /// [`Settings::database_max_connections`]).
    pub fn db_config(&self) -> DbConfig {
        DbConfig {
            url: self.database_url.clone(),
            max_connections: self.database_max_connections,
        }
    }

    /// `(key, value)` of every listener setting.
    pub fn listen_settings(&self) -> [(&'static str, &str); 6] {
        [
            ("http_listen", self.http_listen.as_str()),
            ("gt06_listen", self.gt06_listen.as_str()),
            ("jt808_listen", self.jt808_listen.as_str()),
            ("h02_listen", self.h02_listen.as_str()),
            ("osmand_listen", self.osmand_listen.as_str()),
            ("mqtt_listen", self.mqtt_listen.as_str()),
        ]
    }

    /// The value of one listen setting by key (empty for an unknown key).
    pub fn listen_settings_value(&self, key: &str) -> &str {
        self.listen_settings()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .unwrap_or("")
    }

    /// The window of fix times stored (see [`protocol::FixTimeWindow`]).
    pub fn fix_time_window(&self) -> protocol::FixTimeWindow {
        protocol::FixTimeWindow::new(Duration::from_secs(self.max_future_secs))
    }

    /// Idle timeout of device connections.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// A configuration for tests: a given database, every listener on `127.0.0.1:0`,
    /// MQTT off, a short shutdown grace.
    pub fn for_tests(database_url: impl Into<String>) -> Settings {
        Settings {
            database_url: database_url.into(),
            http_listen: "127.0.0.1:0".into(),
            gt06_listen: "127.0.0.1:0".into(),
            jt808_listen: "127.0.0.1:0".into(),
            h02_listen: "127.0.0.1:0".into(),
            osmand_listen: "127.0.0.1:0".into(),
            mqtt_listen: "off".into(),
            shutdown_grace_secs: 5,
            http_workers: 1,
            // Tests store fixes of 2024: keep them.
            positions_retention_days: 0,
            events_retention_days: 0,
            ..Settings::default()
        }
    }
}

/// Upper bound of `max_future_secs`: 366 days.
const MAX_FUTURE_SECS_LIMIT: u64 = 366 * 86_400;

/// Upper bound of the retention settings: 100 years.
const MAX_RETENTION_DAYS: u32 = 36_525;

/// The environment variable that sets `key`.
pub fn env_name(key: &str) -> String {
    format!("VIGIL_{}", key.to_ascii_uppercase())
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        env: env_name(key),
        reason: reason.into(),
    }
}

/// Parses a listen setting: `None` for `off` (or empty), else a socket address.
pub fn parse_listen(key: &'static str, value: &str) -> Result<Option<SocketAddr>, SettingsError> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse::<SocketAddr>().map(Some).map_err(|_| {
        invalid(
            key,
            format!("{value:?} is not an address like 0.0.0.0:5023 (or \"off\")"),
        )
    })
}

#[cfg(test)]
mod tests;
