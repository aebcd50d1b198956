//! Startup and shutdown: binds every listener, opens the database, creates the first
//! administrator, starts the workers, and stops them in order.
//!
//! Tests use exactly this path with port-0 listeners: `Application::build(settings)` then
//! `tokio::spawn(app.run())`, stopping it with [`Application::shutdown_token`].

pub mod settings;
pub mod telemetry;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::Protocol;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::settings::{Settings, SettingsError, env_name, parse_listen};
use crate::app::telemetry::metrics_handle;
use crate::services::auth::{AuthError, FirstAdmin, ensure_admin};
use crate::services::batcher::{BatchConfig, PositionBatcher};
use crate::services::device_sessions::DeviceSessions;
use crate::services::health::Health;
use crate::services::ingest::{Ingest, IngestConfig};
use crate::storage::sqlite::backup::{BackupError, ServeLock};
use crate::storage::{Db, DbError};
use crate::transport::gateway::{self, Gateway, GatewayCodec, GatewayConfig};
use crate::transport::http::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A settings value is invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A listen address is taken.
    #[error(
        "cannot listen on {addr} for {what}: address already in use; set {env} (or {key} in the config file) to a free address, or \"off\""
    )]
    PortInUse {
        /// What the listener is for.
        what: &'static str,
        /// Settings key.
        key: &'static str,
        /// Environment variable.
        env: String,
        /// The address.
        addr: SocketAddr,
    },
    /// Any other bind failure.
    #[error("cannot listen on {addr} ({env}): {source}")]
    Bind {
        /// Environment variable.
        env: String,
        /// The address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// The SQLite database is being restored (or its lock file cannot be opened).
    #[error("database: {0}")]
    Restore(#[from] BackupError),
    /// The password hashing threads or the first administrator could not be created.
    #[error("passwords: {0}")]
    Auth(#[from] AuthError),
    /// The MQTT broker could not start.
    #[error("mqtt: {0}")]
    Mqtt(crate::transport::mqtt::MqttError),
    /// The HTTP server could not start.
    #[error("http server: {0}")]
    Http(std::io::Error),
    /// Alarm state (fences) could not be loaded.
    #[error("alarms: {0}")]
    Alarms(String),
    /// The Web Push key pair could not be loaded or stored.
    #[error("push: {0}")]
    Push(#[from] crate::services::push::PushError),
}

fn bind(key: &'static str, value: &str) -> Result<Option<std::net::TcpListener>, StartError> {
    let Some(addr) = parse_listen(key, value)? else {
        return Ok(None);
    };
    let what = key.trim_end_matches("_listen");
    match std::net::TcpListener::bind(addr) {
        Ok(l) => {
            l.set_nonblocking(true).map_err(|source| StartError::Bind {
                env: env_name(key),
                addr,
                source,
            })?;
            Ok(Some(l))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(StartError::PortInUse {
            what,
            key,
            env: env_name(key),
            addr,
        }),
        Err(source) => Err(StartError::Bind {
            env: env_name(key),
            addr,
            source,
        }),
    }
}

type Worker = (&'static str, Result<(), String>);
type BoxedWorker = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A built, not yet running, server.
pub struct Application {
    settings: Arc<Settings>,
    db: Db,
    health: Health,
    sessions: DeviceSessions,
    batcher: PositionBatcher,
    gateway: Arc<Gateway>,
    first_admin: Option<FirstAdmin>,
    _serve_lock: Option<ServeLock>,
    http: Option<(SocketAddr, crate::transport::http::Server)>,
    osmand: Option<crate::transport::http::Server>,
    mqtt: Option<crate::transport::mqtt::MqttBroker>,
    addrs: BTreeMap<&'static str, SocketAddr>,
    device_listeners: Vec<(Protocol, tokio::net::TcpListener)>,
    shutdown: CancellationToken,
    accept_stop: CancellationToken,
    writer_stop: CancellationToken,
    connections: TaskTracker,
    workers: JoinSet<Worker>,
    worker_names: std::collections::HashMap<tokio::task::Id, &'static str>,
    writer: Option<tokio::task::JoinHandle<()>>,
    commands: crate::services::commands::CommandQueue,
    bus: crate::services::bus::Bus,
    alarm_worker: Option<BoxedWorker>,
    alarm_engine: crate::services::alarms::AlarmEngine,
    webhooks: Option<crate::services::webhooks::Webhooks>,
    push: Option<crate::services::push::Push>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Validates settings, binds every listener (a taken port is a one-line error naming the
    /// setting), opens and migrates the database, creates the first administrator, and
    /// prepares (but does not run) the servers.
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        settings.validate()?;
        let settings = Arc::new(settings);
        let http_listener = bind("http_listen", &settings.http_listen)?;
        let osmand_listener = bind("osmand_listen", &settings.osmand_listen)?;
        // rumqttd binds by address: check the port is free (and resolve port 0) first.
        let mqtt_addr = match bind("mqtt_listen", &settings.mqtt_listen)? {
            Some(l) => Some(l.local_addr().map_err(StartError::Http)?),
            None => None,
        };
        let mut device_std = Vec::new();
        for (key, proto) in [
            ("gt06_listen", Protocol::Gt06),
            ("jt808_listen", Protocol::Jt808),
            ("h02_listen", Protocol::H02),
        ] {
            if !crate::transport::gateway::codecs::available(proto) {
                tracing::warn!(protocol = %proto, "codec not built into this version; listener skipped");
                continue;
            }
            if let Some(l) = bind(key, settings.listen_settings_value(key))? {
                device_std.push((proto, l));
            }
        }

        // A URL of no known engine is the setting's error (naming VIGIL_DATABASE_URL).
        settings.database_kind()?;
        // Held while the server runs: `vigil restore` refuses meanwhile (SQLite only).
        let serve_lock = ServeLock::take(&settings.database_url)?;
        let db = Db::connect(&settings.db_config()).await?;
        let first_admin = ensure_admin(&db, settings.admin_credentials()).await?;

        let health = Health::default();
        let sessions = DeviceSessions::default();
        let bus = crate::services::bus::Bus::default();
        let commands = crate::services::commands::CommandQueue::new(
            db.clone(),
            sessions.clone(),
            settings.command_config(),
            bus.clone(),
        );
        let writer_stop = CancellationToken::new();
        let (batcher, writer) = PositionBatcher::new(
            db.clone(),
            BatchConfig {
                max_size: settings.batch_max_size,
                max_delay: Duration::from_millis(settings.batch_max_delay_ms),
                queue_capacity: settings.batch_queue_capacity,
                writers: settings.batch_writers,
            },
            health.clone(),
            writer_stop.clone(),
        );
        let writer = tokio::spawn(writer);
        let fences = Arc::new(
            crate::services::fences::FenceStore::load(&db)
                .await
                .map_err(|e| StartError::Alarms(e.to_string()))?,
        );
        let (alarm_engine, alarm_worker) = crate::services::alarms::AlarmEngine::new(
            db.clone(),
            bus.clone(),
            fences.clone(),
            settings.alarm_config(),
        );
        let linkage = crate::services::linkage::Linkage::load(
            db.clone(),
            settings.linkage_config(),
            bus.clone(),
            fences.clone(),
        )
        .await?;
        let webhooks = crate::services::webhooks::Webhooks::new(
            db.clone(),
            Duration::from_millis(settings.webhook_backoff_ms),
        );
        let push = crate::services::push::Push::new(db.clone(), settings.push_config()).await?;
        // The one ingest sequence, handed to every transport.
        let ingest = Ingest::new(
            db.clone(),
            batcher.clone(),
            Some(alarm_engine.clone()),
            IngestConfig {
                unknown_devices: settings.unknown_devices,
                fix_window: settings.fix_time_window(),
            },
        );
        let gateway = Arc::new(Gateway {
            ingest: ingest.clone(),
            sessions: sessions.clone(),
            config: GatewayConfig {
                idle_timeout: settings.idle_timeout(),
                frame_timeout: Duration::from_secs(settings.frame_timeout_secs),
                max_pending_acks: settings.max_pending_acks,
                ..GatewayConfig::default()
            },
        });

        // One throttle for every password and token login (HTTP and MQTT), so a client slowed
        // down on one is slowed down on the other.
        let login_throttle = crate::services::access::LoginThrottle::default();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let passwords = crate::services::auth::Passwords::start(
            match settings.password_workers {
                0 => cores,
                n => n,
            },
            settings.password_queue,
        )?;
        let mut addrs = BTreeMap::new();
        let http = match http_listener {
            Some(l) => {
                let addr = l.local_addr().map_err(StartError::Http)?;
                let state = AppState {
                    db: db.clone(),
                    health: health.clone(),
                    sessions: sessions.clone(),
                    batcher: batcher.clone(),
                    config: Arc::new(settings.http_config()),
                    metrics: metrics_handle(),
                    login_throttle: login_throttle.clone(),
                    passwords: passwords.clone(),
                    commands: commands.clone(),
                    bus: bus.clone(),
                    alarms: alarm_engine.clone(),
                    fences: fences.clone(),
                    webhooks: webhooks.clone(),
                    push: push.clone(),
                    linkage: linkage.clone(),
                };
                let server = crate::transport::http::http_server(l, state, settings.http_workers)
                    .map_err(StartError::Http)?;
                addrs.insert("http", addr);
                Some((addr, server))
            }
            None => None,
        };
        let osmand = match osmand_listener {
            Some(l) => {
                if let Ok(a) = l.local_addr() {
                    addrs.insert("osmand", a);
                }
                let state = crate::transport::http::osmand::OsmandState {
                    ingest: ingest.clone(),
                    config: protocol::osmand::OsmandConfig::default(),
                };
                Some(
                    crate::transport::http::osmand::server(l, state, settings.http_workers)
                        .map_err(StartError::Http)?,
                )
            }
            None => None,
        };
        let mqtt = match mqtt_addr {
            Some(addr) => {
                addrs.insert("mqtt", addr);
                Some(
                    crate::transport::mqtt::MqttBroker::new(
                        addr,
                        db.clone(),
                        login_throttle.clone(),
                    )
                    .map_err(StartError::Mqtt)?,
                )
            }
            None => None,
        };
        let mut device_listeners = Vec::new();
        for (proto, l) in device_std {
            let l = tokio::net::TcpListener::from_std(l).map_err(StartError::Http)?;
            if let Ok(a) = l.local_addr() {
                addrs.insert(proto.as_str(), a);
            }
            device_listeners.push((proto, l));
        }

        Ok(Application {
            commands,
            settings,
            db,
            health,
            sessions,
            batcher,
            gateway,
            first_admin,
            _serve_lock: serve_lock,
            http,
            osmand,
            mqtt,
            addrs,
            device_listeners,
            shutdown: CancellationToken::new(),
            accept_stop: CancellationToken::new(),
            writer_stop,
            connections: TaskTracker::new(),
            workers: JoinSet::new(),
            worker_names: std::collections::HashMap::new(),
            writer: Some(writer),
            bus,
            alarm_worker: Some(Box::pin(alarm_worker)),
            alarm_engine,
            webhooks: Some(webhooks),
            push: Some(push),
        })
    }

    /// Where each listener is bound (`http`, `gt06`, `jt808`, `h02`, …).
    pub fn addrs(&self) -> &BTreeMap<&'static str, SocketAddr> {
        &self.addrs
    }

    /// The HTTP API address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(a, _)| *a)
    }

    /// The administrator created at this start, if any (with the generated password).
    pub fn first_admin(&self) -> Option<&FirstAdmin> {
        self.first_admin.as_ref()
    }

    /// Cancel it to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The storage handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The health reasons.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The live sessions (to push commands).
    pub fn sessions(&self) -> &DeviceSessions {
        &self.sessions
    }

    /// The position writer handle.
    pub fn batcher(&self) -> &PositionBatcher {
        &self.batcher
    }

    /// The internal event bus.
    pub fn bus(&self) -> &crate::services::bus::Bus {
        &self.bus
    }

    /// The MQTT broker's rights table (one entry per client id with an open connection), when
    /// the broker is on and not yet running.
    pub fn mqtt_acls(&self) -> Option<crate::transport::mqtt::acl::Acls> {
        self.mqtt.as_ref().map(|m| m.acls().clone())
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs a named background worker; if it ends before shutdown, it is logged and `/health`
    /// turns degraded with `worker:<name>`.
    pub fn spawn_worker<F>(&mut self, name: &'static str, worker: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let handle = self.workers.spawn(async move { (name, worker.await) });
        self.worker_names.insert(handle.id(), name);
    }

    /// Serves a device protocol on `listener` as part of this application (stopped and
    /// drained with it). The built-in protocols are started by [`Application::run`]; this is
    /// for extra listeners (and tests).
    pub fn add_gateway<C, F>(
        &mut self,
        name: &'static str,
        listener: tokio::net::TcpListener,
        make_codec: F,
    ) where
        C: GatewayCodec,
        F: Fn() -> C + Send + Sync + 'static,
    {
        let fut = gateway::serve(
            listener,
            make_codec,
            self.gateway.clone(),
            self.accept_stop.clone(),
            self.connections.clone(),
        );
        self.spawn_worker(name, async move {
            fut.await;
            Ok(())
        });
    }

    /// Starts the gateway of a built-in `protocol` on `listener`.
    fn start_gateway(&mut self, protocol: Protocol, listener: tokio::net::TcpListener) {
        use protocol::gt06::{Gt06Codec, Gt06Config};
        use protocol::h02::H02Codec;
        use protocol::jt808::{Jt808Codec, Jt808Config};
        match protocol {
            Protocol::Gt06 => self.add_gateway("gateway:gt06", listener, || {
                Gt06Codec::new(Gt06Config::default())
            }),
            Protocol::Jt808 => self.add_gateway("gateway:jt808", listener, || {
                Jt808Codec::new(Jt808Config::default())
            }),
            Protocol::H02 => self.add_gateway("gateway:h02", listener, || {
                H02Codec::new(gateway::codecs::h02_config())
            }),
            other => {
                tracing::warn!(protocol = %other, "no stream codec for this protocol in this build")
            }
        }
    }

    /// Runs until the shutdown token is cancelled (or a worker dies and the caller decides),
    /// then stops in order: stop accepting and reading, send the acks of what was
    /// committed, flush every queued batch, close the database. Bounded by
    /// `shutdown_grace_secs`.
    pub async fn run(mut self) -> Result<(), StartError> {
        for (name, addr) in &self.addrs {
            tracing::info!(listener = name, %addr, "listening");
        }
        if let Some(w) = self.alarm_worker.take() {
            self.spawn_worker("alarms", w);
        }
        if self.settings.offline_expected_secs > 0 {
            let sweep = crate::services::alarms::offline_sweep(
                self.alarm_engine.clone(),
                self.db.clone(),
                Duration::from_millis(self.settings.offline_sweep_ms),
            );
            self.spawn_worker("offline_sweep", sweep);
        }
        if let Some(w) = self.webhooks.take() {
            self.spawn_worker("webhooks", w.run(self.bus.clone()));
        }
        if let Some(p) = self.push.take() {
            self.spawn_worker("push", p.run(self.bus.clone()));
        }
        let listeners = std::mem::take(&mut self.device_listeners);
        for (proto, l) in listeners {
            self.start_gateway(proto, l);
        }
        let http_handle = self.http.take().map(|(_, server)| {
            let handle = server.handle();
            self.workers
                .spawn(async move { ("http", server.await.map_err(|e| e.to_string())) });
            handle
        });
        let osmand_handle = self.osmand.take().map(|server| {
            let handle = server.handle();
            self.workers
                .spawn(async move { ("osmand", server.await.map_err(|e| e.to_string())) });
            handle
        });
        if let Some(mut broker) = self.mqtt.take() {
            if let Some(publisher) = broker.take_publisher(self.bus.clone(), self.db.clone()) {
                self.spawn_worker("mqtt_publisher", publisher);
            }
            let (listener, consumer) = broker.into_tasks(self.gateway.ingest.clone());
            self.spawn_worker("mqtt", listener);
            self.spawn_worker("mqtt_consumer", consumer);
        }
        let commands = self.commands.clone().run(self.shutdown.clone());
        self.spawn_worker("commands", commands);
        // PostgreSQL always needs its coming partitions; SQLite only runs retention.
        let upkeep = self.settings.retention_config();
        if matches!(self.db, Db::Postgres(_))
            || upkeep.positions.is_some()
            || upkeep.events.is_some()
        {
            let job = crate::services::retention::storage_upkeep(
                self.db.clone(),
                upkeep,
                self.shutdown.clone(),
            );
            self.spawn_worker("storage_upkeep", job);
        }
        let mut writer = self.writer.take();
        loop {
            tokio::select! {
                // Shutdown first: workers that end because of it are not failures.
                biased;
                () = self.shutdown.cancelled() => break,
                Some(done) = self.workers.join_next() => {
                    if self.shutdown.is_cancelled() && matches!(done, Ok((_, Ok(())))) {
                        break;
                    }
                    let (name, why) = match done {
                        Ok((name, Ok(()))) => (name, "returned".to_owned()),
                        Ok((name, Err(e))) => (name, e),
                        Err(e) => (
                            self.worker_names.get(&e.id()).copied().unwrap_or("unknown"),
                            e.to_string(),
                        ),
                    };
                    tracing::error!(worker = name, reason = %why, "background worker stopped");
                    self.health.degrade(&format!("worker:{name}"), format!("stopped: {why}"));
                }
                r = async { match writer.as_mut() { Some(w) => w.await, None => std::future::pending().await } } => {
                    writer = None;
                    let why = r.err().map(|e| e.to_string()).unwrap_or_else(|| "returned".into());
                    tracing::error!(worker = "position_writer", reason = %why, "background worker stopped");
                    self.health.degrade("worker:position_writer", format!("stopped: {why}"));
                }
            }
        }
        tracing::info!("shutting down: no new connections, flushing pending positions");
        let grace = Duration::from_secs(self.settings.shutdown_grace_secs);
        let connections = self.connections.clone();
        let accept_stop = self.accept_stop.clone();
        let writer_stop = self.writer_stop.clone();
        let db = self.db.clone();
        let mut workers = std::mem::take(&mut self.workers);
        let orderly = async move {
            accept_stop.cancel();
            if let Some(h) = osmand_handle {
                h.stop(true).await;
            }
            if let Some(h) = http_handle {
                h.stop(true).await;
            }
            connections.close();
            connections.wait().await;
            // What never ends by itself (the MQTT listener and consumer) is cancelled here.
            workers.abort_all();
            writer_stop.cancel();
            if let Some(w) = writer {
                let _ = w.await;
            }
            while workers.join_next().await.is_some() {}
            db.close().await;
        };
        if tokio::time::timeout(grace, orderly).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "shutdown grace expired; exiting with unflushed work (never acknowledged)"
            );
        } else {
            tracing::info!("stopped cleanly");
        }
        Ok(())
    }
}
