//! The device gateway: one TCP listener per protocol, one task per connection, generic over
//! [`protocol::DeviceCodec`].
//!
//! A connection reads straight into its codec's buffer (released again whenever it is empty,
//! so an idle connection holds no heap buffer), registers its session under the device once
//! identified, hands positions to the [`PositionBatcher`] and sends their acks only after the
//! batch committed (in order, with at most `max_pending_acks` in flight before it stops
//! reading). Everything else is acknowledged at once. Idle connections, slow-dripped partial
//! frames, oversized frames and garbage end that one connection only.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use chrono::Utc;
use protocol::{CodecStats, Decoded, DeviceCodec, DeviceId, DeviceMessage, Protocol};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::batcher::{CommitReceipt, PositionBatcher};
use crate::db::{Db, NewEvent, PositionRow};
use crate::registry::{SessionCommand, SessionRegistry, SessionSignal, SessionTicket};
use crate::settings::UnknownDevicePolicy;

/// Gateway behaviour shared by every protocol listener.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Close a connection silent for this long.
    pub idle_timeout: Duration,
    /// Close a connection whose partial frame has not completed within this time.
    pub frame_timeout: Duration,
    /// Unknown devices: register as unclaimed, or reject.
    pub unknown_devices: UnknownDevicePolicy,
    /// Acks awaiting their commit before the connection stops reading.
    pub max_pending_acks: usize,
    /// Longest time one write to a device may take.
    pub write_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            idle_timeout: Duration::from_secs(600),
            frame_timeout: Duration::from_secs(30),
            unknown_devices: UnknownDevicePolicy::Register,
            max_pending_acks: 64,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// What every connection shares.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Storage (devices, events).
    pub db: Db,
    /// Position writer.
    pub batcher: PositionBatcher,
    /// Live sessions.
    pub registry: SessionRegistry,
    /// Behaviour.
    pub config: GatewayConfig,
    /// The alarm stage, fed every accepted position.
    pub alarms: Option<crate::alarms::AlarmEngine>,
}

/// Server-side hooks a codec can specialise; the defaults fit protocols without
/// registration (GT06, H02).
pub trait GatewayCodec: DeviceCodec + Send + 'static {
    /// Puts the authentication code the server issued into a registration ack (JT808 0x8100).
    fn registration_ack(&mut self, ack: Self::Outbound, _auth_code: &str) -> Self::Outbound {
        ack
    }

    /// Turns the ack of an authentication into a refusal (wrong code), if the protocol has
    /// one; it is sent before the connection is closed.
    fn auth_failed_ack(&mut self, _ack: Self::Outbound) -> Option<Self::Outbound> {
        None
    }

    /// Fills the current time into an ack that carries it (JT808 0x8109).
    fn stamp_ack(&mut self, ack: Self::Outbound, _now: chrono::DateTime<Utc>) -> Self::Outbound {
        ack
    }
}

/// Accepts connections until `shutdown`, driving each with a fresh codec from `make_codec`.
/// Connection tasks are spawned on `tracker`, so the caller can wait for them to finish
/// (each one stops reading at `shutdown` and sends the acks of what was already committed).
pub async fn serve<C, F>(
    listener: TcpListener,
    make_codec: F,
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) where
    C: GatewayCodec,
    F: Fn() -> C + Send + Sync + 'static,
{
    let protocol = C::PROTOCOL;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let conn = Connection {
                    stream,
                    peer,
                    codec: make_codec(),
                    gateway: gateway.clone(),
                    shutdown: shutdown.clone(),
                    session: None,
                    pending: VecDeque::new(),
                    out: BytesMut::new(),
                    last_stats: CodecStats::default(),
                    last_touch: None,
                };
                let span = tracing::info_span!("conn", protocol = %protocol, %peer, device = tracing::field::Empty);
                tracker.spawn(conn.run().instrument(span));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%protocol, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::info!(%protocol, "listener stopped accepting");
}

async fn record_event(
    db: &Db,
    protocol: Protocol,
    peer: SocketAddr,
    kind: &'static str,
    device: Option<(i64, &str)>,
    detail: serde_json::Value,
) {
    let e = NewEvent {
        kind,
        device_id: device.map(|d| d.0),
        unique_id: device.map(|d| d.1.to_owned()),
        protocol: Some(protocol.as_str()),
        peer: Some(peer.to_string()),
        detail,
    };
    if let Err(err) = db.insert_event(&e).await {
        tracing::warn!(error = %err, kind, "could not record event");
    }
}

/// What a connection keeps of its device while it lives (not the whole row: an idle
/// connection should cost little).
struct Session {
    /// Row id.
    db_id: i64,
    /// Identifier (= the row's `unique_id`).
    device_id: DeviceId,
    /// JT808 authentication code.
    auth_code: Option<String>,
    ticket: SessionTicket,
}

struct Connection<C: GatewayCodec> {
    stream: TcpStream,
    peer: SocketAddr,
    codec: C,
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
    session: Option<Session>,
    pending: VecDeque<(CommitReceipt, Option<C::Outbound>)>,
    out: BytesMut,
    last_stats: CodecStats,
    last_touch: Option<Instant>,
}

/// Why a connection ended.
#[derive(Debug)]
enum Close {
    Eof,
    Idle,
    SlowFrame,
    Replaced,
    Shutdown,
    Rejected(&'static str),
    Decode(protocol::ProtocolError),
    Io(std::io::Error),
    WriterGone,
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::Eof => f.write_str("closed by the device"),
            Close::Idle => f.write_str("idle timeout"),
            Close::SlowFrame => f.write_str("partial frame not completed in time"),
            Close::Replaced => f.write_str("replaced by a newer session"),
            Close::Shutdown => f.write_str("server shutdown"),
            Close::Rejected(why) => write!(f, "rejected: {why}"),
            Close::Decode(e) => write!(f, "decode error: {e}"),
            Close::Io(e) => write!(f, "i/o error: {e}"),
            Close::WriterGone => f.write_str("position writer stopped"),
        }
    }
}

struct ConnGauge(Protocol);
impl ConnGauge {
    fn new(p: Protocol) -> Self {
        metrics::gauge!("vigil_connections", "protocol" => p.as_str()).increment(1.0);
        ConnGauge(p)
    }
}
impl Drop for ConnGauge {
    fn drop(&mut self) {
        metrics::gauge!("vigil_connections", "protocol" => self.0.as_str()).decrement(1.0);
    }
}

async fn session_signal(session: &Option<Session>) -> SessionSignal {
    match session {
        Some(s) => s.ticket.next().await,
        None => std::future::pending().await,
    }
}

async fn front_commit<A>(pending: &mut VecDeque<(CommitReceipt, Option<A>)>) -> bool {
    match pending.front_mut() {
        Some((receipt, _)) => receipt.await.is_ok(),
        None => std::future::pending().await,
    }
}

impl<C: GatewayCodec> Connection<C> {
    async fn run(mut self) {
        let _gauge = ConnGauge::new(C::PROTOCOL);
        tracing::debug!("connected");
        let close = self.drive().await;
        self.flush_stats();
        match &close {
            Close::Decode(e) => {
                metrics::counter!("vigil_decode_errors_total", "protocol" => C::PROTOCOL.as_str(), "kind" => e.kind()).increment(1);
                tracing::info!(reason = %close, "connection closed");
            }
            Close::Eof | Close::Shutdown => tracing::debug!(reason = %close, "connection closed"),
            _ => tracing::info!(reason = %close, "connection closed"),
        }
        if let Some(s) = self.session.take() {
            self.gateway.registry.unregister(&s.device_id, s.ticket.id);
            Box::pin(record_event(
                &self.gateway.db,
                C::PROTOCOL,
                self.peer,
                "disconnect",
                Some((s.db_id, s.device_id.as_str())),
                json!({ "reason": close.to_string() }),
            ))
            .await;
        }
        let _ = self.stream.shutdown().await;
    }

    async fn drive(&mut self) -> Close {
        // The shared settings, not a copy of them in every connection's future.
        let gateway = self.gateway.clone();
        let config = &gateway.config;
        let mut buf = BytesMut::new();
        let mut idle_deadline = Instant::now() + config.idle_timeout;
        let mut partial_since: Option<Instant> = None;
        let mut stopping = false;
        let mut eof = false;
        loop {
            if (stopping || eof) && self.pending.is_empty() {
                return if eof { Close::Eof } else { Close::Shutdown };
            }
            let can_read = !stopping && !eof && self.pending.len() < config.max_pending_acks;
            let deadline = match partial_since {
                Some(t) => idle_deadline.min(t + config.frame_timeout),
                None => idle_deadline,
            };
            tokio::select! {
                () = self.shutdown.cancelled(), if !stopping => { stopping = true; }
                ok = front_commit(&mut self.pending) => {
                    let Some((_, ack)) = self.pending.pop_front() else { continue };
                    if !ok {
                        return Close::WriterGone;
                    }
                    // Every ack whose batch committed goes out in one write (one commit
                    // usually releases several of a connection's pipelined positions).
                    self.out.clear();
                    if let Some(ack) = ack
                        && let Err(e) = self.codec.encode(ack, &mut self.out) {
                        return Close::Decode(e);
                    }
                    while let Some((receipt, _)) = self.pending.front_mut() {
                        match receipt.try_committed() {
                            // A failed one is handled as the front on the next turn, after
                            // the acks of what did commit are out.
                            None | Some(Err(_)) => break,
                            Some(Ok(())) => {}
                        }
                        if let Some((_, Some(ack))) = self.pending.pop_front()
                            && let Err(e) = self.codec.encode(ack, &mut self.out) {
                            return Close::Decode(e);
                        }
                    }
                    // Boxed: the write (and its timer) is not part of the idle state.
                    if let Err(c) = Box::pin(self.write_out()).await {
                        return c;
                    }
                }
                sig = session_signal(&self.session) => match sig {
                    SessionSignal::Replaced => return Close::Replaced,
                    SessionSignal::Command(cmd) => {
                        if let Err(c) = Box::pin(self.command(cmd)).await {
                            return c;
                        }
                    }
                },
                () = tokio::time::sleep_until(deadline), if !stopping => {
                    return if partial_since.is_some_and(|t| t + config.frame_timeout <= Instant::now()) {
                        Close::SlowFrame
                    } else {
                        Close::Idle
                    };
                }
                r = self.stream.readable(), if can_read => {
                    if let Err(e) = r {
                        return Close::Io(e);
                    }
                    // Read straight into the codec buffer; it is released again below
                    // whenever it is empty, so an idle connection holds no buffer.
                    buf.reserve(2048);
                    let n = match self.stream.try_read_buf(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            if buf.is_empty() {
                                buf = BytesMut::new();
                            }
                            continue;
                        }
                        Err(e) => return Close::Io(e),
                    };
                    if n == 0 {
                        eof = true;
                    } else {
                        idle_deadline = Instant::now() + config.idle_timeout;
                    }
                    // Boxed: decoded frames and their handling (database calls included)
                    // are not part of the idle connection's own state.
                    if let Err(c) = Box::pin(self.decode_all(&mut buf, eof)).await {
                        return c;
                    }
                    self.flush_stats();
                    if buf.is_empty() {
                        // Give the memory back while the device is quiet.
                        buf = BytesMut::new();
                        partial_since = None;
                    } else if partial_since.is_none() {
                        partial_since = Some(Instant::now());
                    }
                    if eof {
                        buf.clear();
                    }
                }
            }
        }
    }

    /// Decodes and handles every complete frame in `buf`.
    async fn decode_all(&mut self, buf: &mut BytesMut, eof: bool) -> Result<(), Close> {
        loop {
            let frame = if eof {
                self.codec.decode_eof(buf)
            } else {
                self.codec.decode(buf)
            };
            match frame {
                Ok(Some(frame)) => self.handle(frame).await?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Close::Decode(e)),
            }
        }
    }

    fn flush_stats(&mut self) {
        let now = self.codec.stats();
        let last = self.last_stats;
        let p = C::PROTOCOL.as_str();
        if now.frames > last.frames {
            metrics::counter!("vigil_frames_total", "protocol" => p)
                .increment(now.frames - last.frames);
        }
        for (kind, a, b) in [
            ("malformed", now.malformed, last.malformed),
            (
                "checksum",
                now.checksum_mismatches,
                last.checksum_mismatches,
            ),
            ("length", now.length_mismatches, last.length_mismatches),
            ("resync", now.resyncs, last.resyncs),
        ] {
            if a > b {
                metrics::counter!("vigil_decode_errors_total", "protocol" => p, "kind" => kind)
                    .increment(a - b);
            }
        }
        self.last_stats = now;
    }

    async fn send(&mut self, msg: C::Outbound) -> Result<(), Close> {
        self.out.clear();
        self.codec
            .encode(msg, &mut self.out)
            .map_err(Close::Decode)?;
        self.write_out().await
    }

    /// Writes `out` (encoded frames) to the device.
    async fn write_out(&mut self) -> Result<(), Close> {
        if self.out.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(
            self.gateway.config.write_timeout,
            self.stream.write_all(&self.out),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Close::Io(e)),
            Err(_) => return Err(Close::Io(std::io::ErrorKind::TimedOut.into())),
        }
        if self.out.capacity() > 4096 || self.pending.is_empty() {
            // Nothing more to answer soon: an idle connection keeps no write buffer.
            self.out = BytesMut::new();
        }
        Ok(())
    }

    async fn command(&mut self, cmd: Box<SessionCommand>) -> Result<(), Close> {
        let Some(session) = &self.session else {
            return Ok(());
        };
        let device = session.device_id;
        match self
            .codec
            .command(&device, &cmd.command, &cmd.profile, Utc::now())
        {
            Ok((frame, corr)) => {
                self.send(frame).await?;
                let _ = cmd.reply.send(Ok(corr));
            }
            Err(e) => {
                let _ = cmd.reply.send(Err(e));
            }
        }
        Ok(())
    }

    /// Finds (or registers) the device and makes this connection its session.
    async fn identify(&mut self, id: DeviceId) -> Result<(), Close> {
        if self.session.as_ref().is_some_and(|s| s.device_id == id) {
            return Ok(());
        }
        let db = &self.gateway.db;
        let device = match db.device_by_unique_id(id.as_str()).await {
            Ok(Some(d)) => d,
            Ok(None) => match self.gateway.config.unknown_devices {
                UnknownDevicePolicy::Reject => {
                    let e = NewEvent {
                        kind: "unknown_device",
                        unique_id: Some(id.to_string()),
                        protocol: Some(C::PROTOCOL.as_str()),
                        peer: Some(self.peer.to_string()),
                        detail: json!({ "action": "rejected" }),
                        ..NewEvent::default()
                    };
                    let _ = db.insert_event(&e).await;
                    return Err(Close::Rejected("unknown device"));
                }
                UnknownDevicePolicy::Register => {
                    match db.register_device(id.as_str(), C::PROTOCOL.as_str()).await {
                        Ok((d, created)) => {
                            if created {
                                record_event(
                                    &self.gateway.db,
                                    C::PROTOCOL,
                                    self.peer,
                                    "unknown_device",
                                    Some((d.id, d.unique_id.as_str())),
                                    json!({ "action": "registered" }),
                                )
                                .await;
                            }
                            d
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "device registration failed");
                            return Err(Close::Rejected("database unavailable"));
                        }
                    }
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "device lookup failed");
                return Err(Close::Rejected("database unavailable"));
            }
        };
        if let Some(old) = self.session.take() {
            self.gateway
                .registry
                .unregister(&old.device_id, old.ticket.id);
        }
        tracing::Span::current().record("device", id.as_str());
        let ticket = self.gateway.registry.register(id, C::PROTOCOL, self.peer);
        let _ = db
            .touch_device(device.id, C::PROTOCOL.as_str(), Utc::now())
            .await;
        self.last_touch = Some(Instant::now());
        record_event(
            &self.gateway.db,
            C::PROTOCOL,
            self.peer,
            "connect",
            Some((device.id, device.unique_id.as_str())),
            serde_json::Value::Null,
        )
        .await;
        tracing::info!(device_id = device.id, "device identified");
        self.session = Some(Session {
            db_id: device.id,
            device_id: id,
            auth_code: device.auth_code,
            ticket,
        });
        Ok(())
    }

    async fn handle(&mut self, frame: Decoded<C::Outbound>) -> Result<(), Close> {
        let Decoded {
            device,
            message,
            mut ack,
        } = frame;
        let claimed = match (&message, device) {
            (DeviceMessage::Login { device, .. }, _) => Some(*device),
            (_, d) => d,
        };
        // JT808 registration: issue (and persist) an authentication code.
        if let DeviceMessage::Register(_) = &message {
            let Some(id) = claimed else {
                return Ok(());
            };
            self.identify(id).await?;
            if let Some(s) = &mut self.session {
                let code = match &s.auth_code {
                    Some(c) => c.clone(),
                    None => {
                        let c = crate::auth::random_hex(8).unwrap_or_else(|_| id.to_string());
                        if let Err(e) = self.gateway.db.set_auth_code(s.db_id, &c).await {
                            tracing::warn!(error = %e, "cannot store auth code");
                            return Err(Close::Rejected("database unavailable"));
                        }
                        s.auth_code = Some(c.clone());
                        c
                    }
                };
                ack = ack.map(|a| self.codec.registration_ack(a, &code));
            }
            if let Some(a) = ack {
                self.send(a).await?;
            }
            return Ok(());
        }
        // Check an authentication code before the session is registered, so that a wrong
        // code cannot displace the device's genuine session.
        if let (
            DeviceMessage::Login {
                auth_code: Some(code),
                ..
            },
            Some(id),
        ) = (&message, claimed)
        {
            let known = self
                .gateway
                .db
                .device_by_unique_id(id.as_str())
                .await
                .map_err(|_| Close::Rejected("database unavailable"))?;
            if let Some(device) = known {
                match &device.auth_code {
                    Some(expected) if expected != code => {
                        if let Some(refusal) =
                            ack.take().and_then(|a| self.codec.auth_failed_ack(a))
                        {
                            let _ = self.send(refusal).await;
                        }
                        record_event(
                            &self.gateway.db,
                            C::PROTOCOL,
                            self.peer,
                            "auth_failed",
                            Some((device.id, device.unique_id.as_str())),
                            serde_json::Value::Null,
                        )
                        .await;
                        return Err(Close::Rejected("wrong authentication code"));
                    }
                    Some(_) => {}
                    None => {
                        // A device registered elsewhere before: adopt its code.
                        let _ = self.gateway.db.set_auth_code(device.id, code).await;
                    }
                }
            }
        }
        if let Some(id) = claimed {
            self.identify(id).await?;
        }
        // `last_seen_at`, at most once a minute per connection.
        if let Some(s) = &self.session
            && self
                .last_touch
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.last_touch = Some(Instant::now());
            let _ = self
                .gateway
                .db
                .touch_device(s.db_id, C::PROTOCOL.as_str(), Utc::now())
                .await;
        }
        let positions = match message {
            DeviceMessage::Position(p) => vec![p],
            DeviceMessage::Batch(ps) => ps,
            DeviceMessage::CommandReply(reply) => {
                if let Some(s) = &self.session {
                    let detail = serde_json::to_value(&reply).unwrap_or_default();
                    record_event(
                        &self.gateway.db,
                        C::PROTOCOL,
                        self.peer,
                        "command_reply",
                        Some((s.db_id, s.device_id.as_str())),
                        detail,
                    )
                    .await;
                }
                match reply.position {
                    Some(p) => vec![*p],
                    None => Vec::new(),
                }
            }
            DeviceMessage::TimeRequest => {
                if let Some(a) = ack {
                    let a = self.codec.stamp_ack(a, Utc::now());
                    self.send(a).await?;
                }
                if let Some(r) = self.codec.time_response(Utc::now()) {
                    self.send(r).await?;
                }
                return Ok(());
            }
            DeviceMessage::Status(report) => {
                // Heartbeats carry battery, charging, ignition and alarm flags: alarm rules.
                if let (Some(alarms), Some(s)) = (&self.gateway.alarms, &self.session) {
                    alarms.observe_status(s.db_id, report).await;
                }
                if let Some(a) = ack {
                    self.send(a).await?;
                }
                return Ok(());
            }
            _ => {
                if let Some(a) = ack {
                    self.send(a).await?;
                }
                return Ok(());
            }
        };
        let Some(session) = &self.session else {
            // A fix before the device said who it is: nothing to file it under.
            metrics::counter!("vigil_decode_errors_total", "protocol" => C::PROTOCOL.as_str(), "kind" => "unidentified").increment(1);
            return Ok(());
        };
        if positions.is_empty() {
            if let Some(a) = ack {
                self.send(a).await?;
            }
            return Ok(());
        }
        let now = Utc::now();
        let rows = positions
            .iter()
            .map(|p| PositionRow::from_position(session.db_id, p, now))
            .collect();
        let receipt = self
            .gateway
            .batcher
            .submit(rows)
            .await
            .map_err(|_| Close::WriterGone)?;
        if let Some(alarms) = &self.gateway.alarms {
            alarms
                .observe(session.db_id, session.device_id.as_str(), positions)
                .await;
        }
        self.pending.push_back((receipt, ack));
        Ok(())
    }
}
