//! The device gateway: one TCP listener per protocol, one task per connection, generic over
//! [`protocol::DeviceCodec`].
//!
//! A connection reads straight into its codec's buffer (released again whenever it is empty,
//! so an idle connection holds no heap buffer), registers its session under the device once
//! identified, hands positions to the [`PositionBatcher`] and sends their acks only after the
//! batch committed (in order, with at most `max_pending_acks` in flight before it stops
//! reading). Everything else is acknowledged at once. Idle connections, slow-dripped partial
//! frames, oversized frames and garbage end that one connection only.

pub mod codecs;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use chrono::Utc;
use protocol::{
    CodecStats, Decoded, DeviceCodec, DeviceId, DeviceMessage, FixTimeWindow, Protocol,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::app::settings::UnknownDevicePolicy;
use crate::domain::{NewEvent, PositionRow};
use crate::services::batcher::{CommitReceipt, PositionBatcher};
use crate::services::device_sessions::{
    SessionCommand, SessionRegistry, SessionSignal, SessionTicket,
};
use crate::storage::Db;

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
    /// Connections of one listener that may handle frames before they are identified (a
    /// login's database work), or record their disconnection, at the same time; the others
    /// wait with just their bytes, not with a login in progress each (a reconnect storm
    /// would otherwise leave hundreds of them queued on the database pool, and their memory
    /// in the heap).
    pub max_concurrent_logins: usize,
    /// Fixes dated outside this window are acknowledged but not stored (see [`crate::ingest`]).
    pub fix_window: FixTimeWindow,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            idle_timeout: Duration::from_secs(600),
            frame_timeout: Duration::from_secs(30),
            unknown_devices: UnknownDevicePolicy::Register,
            max_pending_acks: 64,
            write_timeout: Duration::from_secs(30),
            max_concurrent_logins: 32,
            fix_window: FixTimeWindow::default(),
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
    pub alarms: Option<crate::services::alarms::AlarmEngine>,
}

/// Where a frame stands in a protocol's authentication handshake (see
/// [`GatewayCodec::AUTHENTICATES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A registration (JT808 0x0100): identifies the session and hands out the code.
    Register,
    /// An authentication with the code (JT808 0x0102).
    Authenticate,
    /// A heartbeat (JT808 0x0002): answered before authentication too, so that the terminal
    /// keeps its link, but it identifies nobody: no device is created or touched by it.
    Heartbeat,
    /// Anything else: refused until the session authenticated.
    None,
}

/// Why a frame was refused before it reached storage
/// (`vigil_ingest_refused_total{protocol,reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The identifier is not of the protocol's form (the connection is closed).
    InvalidDeviceId,
    /// A protocol that authenticates, before the session did.
    Unauthenticated,
    /// A protocol that authenticates: another identifier than the session's.
    OtherDevice,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::InvalidDeviceId => "invalid_device_id",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::OtherDevice => "other_device",
        }
    }
}

/// Server-side hooks a codec can specialise; the defaults fit protocols without
/// registration (GT06, H02).
pub trait GatewayCodec: DeviceCodec + Send + 'static {
    /// Sessions must authenticate ([`Handshake::Authenticate`] with the code the server
    /// issued) before anything but the handshake is accepted, and keep the identifier they
    /// first gave for the connection's life: a frame of another device is refused. JT808:
    /// its frames all carry a phone number, and anyone can send anyone's.
    const AUTHENTICATES: bool = false;

    /// Where `frame` stands in the handshake (asked only when [`Self::AUTHENTICATES`]).
    fn handshake(&self, _frame: &Decoded<Self::Outbound>) -> Handshake {
        Handshake::None
    }

    /// Puts the authentication code the server issued into a registration ack (JT808 0x8100).
    fn registration_ack(&mut self, ack: Self::Outbound, _auth_code: &str) -> Self::Outbound {
        ack
    }

    /// Turns the ack of a frame into its refusal (a wrong authentication code, a frame before
    /// authentication or of another device), if the protocol has one (JT808: 0x8001 with
    /// result 1); `None` sends nothing.
    fn refusal_ack(&mut self, _ack: Self::Outbound) -> Option<Self::Outbound> {
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
    let sweeper = Arc::new(Sweeper::new(&gateway.config));
    tracker.spawn(sweeper.clone().run(shutdown.clone()));
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
                    timer: Sweeper::slot(&sweeper),
                    session: None,
                    pending: VecDeque::new(),
                    last_touch: u64::MAX,
                    refusals: 0,
                };
                let span = tracing::info_span!("conn", protocol = %protocol, %peer, device = tracing::field::Empty);
                // Without a span when it is filtered out: it would still take its place in
                // every connection's future.
                if span.is_disabled() {
                    spawn_connection(&tracker, conn.run());
                } else {
                    spawn_connection(&tracker, conn.run().instrument(span));
                }
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

fn spawn_connection<F: Future<Output = ()> + Send + 'static>(tracker: &TaskTracker, task: F) {
    tracing::trace!(bytes = std::mem::size_of_val(&task), "connection task");
    tracker.spawn(task);
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
    auth_code: Option<Box<str>>,
    /// The session authenticated with its code (only asked of protocols that
    /// [authenticate](GatewayCodec::AUTHENTICATES)).
    authenticated: bool,
    ticket: SessionTicket,
}

/// Idle and partial-frame deadlines of every connection of one listener, and the listener's
/// shutdown, served by one task: a connection keeps a slot here (a due time and its task's
/// waker) instead of a timer and a shutdown future in its own state, which an idle
/// connection would hold for hours.
struct Sweeper {
    epoch: Instant,
    /// How often due slots are looked for: deadlines fire up to this late.
    tick: Duration,
    /// The listener shut down: connections stop reading.
    stopping: AtomicBool,
    slots: Mutex<Slots>,
    /// See [`GatewayConfig::max_concurrent_logins`].
    logins: Arc<tokio::sync::Semaphore>,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

struct Slot {
    /// Milliseconds since `epoch` at which to wake the connection (`u64::MAX`: not armed).
    due: u64,
    waker: Option<Waker>,
}

impl Sweeper {
    fn new(config: &GatewayConfig) -> Self {
        Sweeper {
            epoch: Instant::now(),
            tick: (config.idle_timeout.min(config.frame_timeout) / 8)
                .clamp(Duration::from_millis(10), Duration::from_secs(1)),
            stopping: AtomicBool::new(false),
            slots: Mutex::new(Slots::default()),
            logins: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_logins.max(1),
            )),
        }
    }

    /// Milliseconds since the epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A slot for a new connection.
    fn slot(this: &Arc<Sweeper>) -> TimerSlot {
        let idx = match this.slots.lock() {
            Ok(mut s) => {
                let fresh = Slot {
                    due: u64::MAX,
                    waker: None,
                };
                match s.free.pop() {
                    Some(i) => {
                        s.slots[i as usize] = fresh;
                        i
                    }
                    None => {
                        s.slots.push(fresh);
                        u32::try_from(s.slots.len() - 1).unwrap_or(u32::MAX)
                    }
                }
            }
            Err(_) => u32::MAX,
        };
        TimerSlot {
            sweeper: this.clone(),
            idx,
            armed: u64::MAX,
        }
    }

    /// Wakes connections whose slot is due, every tick, until `shutdown`; then tells every
    /// connection to stop.
    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = self.now();
            if let Ok(mut s) = self.slots.lock() {
                for slot in s.slots.iter_mut().filter(|s| s.due <= now) {
                    slot.due = u64::MAX;
                    if let Some(w) = &slot.waker {
                        w.wake_by_ref();
                    }
                }
            }
        }
        // Before the wake-ups: a connection registers its waker, then reads the flag.
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(s) = self.slots.lock() {
            for w in s.slots.iter().filter_map(|s| s.waker.as_ref()) {
                w.wake_by_ref();
            }
        }
    }
}

/// A connection's slot in its [`Sweeper`].
struct TimerSlot {
    sweeper: Arc<Sweeper>,
    idx: u32,
    /// The due time last written to the slot. The slot is only rewritten when the deadline
    /// moves earlier or the slot fired: a deadline pushed back by traffic costs nothing until
    /// the sweeper wakes the connection at the old one.
    armed: u64,
}

impl TimerSlot {
    fn now(&self) -> u64 {
        self.sweeper.now()
    }

    /// Ready once `due` (milliseconds on the sweeper's clock) has passed; otherwise makes
    /// sure the sweeper wakes `cx` by then, and at shutdown.
    fn poll_due(&mut self, cx: &mut Context<'_>, due: u64) -> Poll<()> {
        let now = self.now();
        if due <= now {
            return Poll::Ready(());
        }
        if due < self.armed || self.armed <= now {
            if let Ok(mut s) = self.sweeper.slots.lock()
                && let Some(slot) = s.slots.get_mut(self.idx as usize)
            {
                slot.due = due;
                match &mut slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => *w = Some(cx.waker().clone()),
                }
            }
            self.armed = due;
        }
        Poll::Pending
    }

    /// The listener shut down (read after [`TimerSlot::poll_due`] registered the waker).
    fn stopping(&self) -> bool {
        self.sweeper.stopping.load(Ordering::SeqCst)
    }
}

impl Drop for TimerSlot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.sweeper.slots.lock()
            && let Some(slot) = s.slots.get_mut(self.idx as usize)
        {
            slot.due = u64::MAX;
            slot.waker = None;
            s.free.push(self.idx);
        }
    }
}

struct Connection<C: GatewayCodec> {
    stream: TcpStream,
    peer: SocketAddr,
    codec: C,
    gateway: Arc<Gateway>,
    /// Idle/frame deadlines and shutdown.
    timer: TimerSlot,
    session: Option<Session>,
    pending: VecDeque<(CommitReceipt, Option<C::Outbound>)>,
    /// When `last_seen_at` was last written (sweeper clock; `u64::MAX`: never).
    last_touch: u64,
    /// Frames refused so far (only the first is logged at warn).
    refusals: u32,
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

/// What woke an idle connection.
enum Event {
    Shutdown,
    /// The front pending ack's batch committed (`false`: the writer stopped without it).
    Committed(bool),
    Signal(SessionSignal),
    Timeout,
    Readable(std::io::Result<()>),
}

impl<C: GatewayCodec> Connection<C> {
    // Not an `async fn`: that would keep its argument twice in the future (the parameter
    // and the local it is moved into); the async block uses the captured one in place.
    #[allow(clippy::manual_async_fn)]
    fn run(mut self) -> impl Future<Output = ()> + Send {
        async move {
            let _gauge = ConnGauge::new(C::PROTOCOL);
            tracing::debug!("connected");
            let close = self.drive().await;
            // Boxed: the closing steps are not part of the state the connection lives in.
            Box::pin(self.finish(close)).await;
        }
    }

    /// Logs why the connection closed, ends its session and closes the socket.
    async fn finish(mut self, close: Close) {
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
            // Through the login gate too: when thousands of devices drop at once, their
            // disconnect records would otherwise all wait on the database pool together,
            // each with its event and query in memory.
            let _permit = self.timer.sweeper.logins.clone().acquire_owned().await.ok();
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

    /// Waits for the next event, polled by hand rather than with `select!` over futures:
    /// the state of an idle connection is then this struct and nothing else (no readiness,
    /// timer, shutdown or inbox futures, which made up most of its size).
    fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        stopping: bool,
        can_read: bool,
        deadline: u64,
    ) -> Poll<Event> {
        let mut timed_out = false;
        if !stopping {
            timed_out = self.timer.poll_due(cx, deadline).is_ready();
            if self.timer.stopping() {
                return Poll::Ready(Event::Shutdown);
            }
        }
        if let Some((receipt, _)) = self.pending.front_mut()
            && let Poll::Ready(r) = Pin::new(receipt).poll(cx)
        {
            return Poll::Ready(Event::Committed(r.is_ok()));
        }
        if let Some(s) = &self.session
            && let Poll::Ready(sig) = s.ticket.poll_next(cx)
        {
            return Poll::Ready(Event::Signal(sig));
        }
        if timed_out {
            return Poll::Ready(Event::Timeout);
        }
        if can_read && let Poll::Ready(r) = self.stream.poll_read_ready(cx) {
            return Poll::Ready(Event::Readable(r));
        }
        Poll::Pending
    }

    async fn drive(&mut self) -> Close {
        // The shared settings, not a copy of them in every connection's future.
        let gateway = self.gateway.clone();
        let config = &gateway.config;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (idle_ms, frame_ms) = (ms(config.idle_timeout), ms(config.frame_timeout));
        let mut buf = BytesMut::new();
        let mut idle_deadline = self.timer.now().saturating_add(idle_ms);
        // When the partial frame in `buf` started (sweeper clock; `u64::MAX`: none).
        let mut partial_since = u64::MAX;
        let mut stopping = false;
        let mut eof = false;
        loop {
            if (stopping || eof) && self.pending.is_empty() {
                return if eof { Close::Eof } else { Close::Shutdown };
            }
            let can_read = !stopping && !eof && self.pending.len() < config.max_pending_acks;
            let deadline = idle_deadline.min(partial_since.saturating_add(frame_ms));
            let event =
                std::future::poll_fn(|cx| self.poll_event(cx, stopping, can_read, deadline)).await;
            match event {
                Event::Shutdown => stopping = true,
                Event::Committed(ok) => {
                    if !ok {
                        return Close::WriterGone;
                    }
                    // Boxed: the write (and its timer) is not part of the idle state.
                    if let Err(c) = Box::pin(self.write_acks()).await {
                        return c;
                    }
                }
                Event::Signal(SessionSignal::Replaced) => return Close::Replaced,
                Event::Signal(SessionSignal::Command(cmd)) => {
                    if let Err(c) = Box::pin(self.command(cmd)).await {
                        return c;
                    }
                }
                Event::Timeout => {
                    return if partial_since.saturating_add(frame_ms) <= self.timer.now() {
                        Close::SlowFrame
                    } else {
                        Close::Idle
                    };
                }
                Event::Readable(r) => {
                    if let Err(e) = r {
                        return Close::Io(e);
                    }
                    // `buf` holds only bytes not yet decoded; it is released again below
                    // whenever it is empty, so an idle connection holds no buffer.
                    let n = match self.read_into(&mut buf) {
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
                        idle_deadline = self.timer.now().saturating_add(idle_ms);
                    }
                    // Until the device is identified, through the login gate.
                    let _permit = if self.session.is_none() && !buf.is_empty() {
                        let logins = self.timer.sweeper.logins.clone();
                        Box::pin(logins.acquire_owned()).await.ok()
                    } else {
                        None
                    };
                    // Boxed: decoded frames and their handling (database calls included)
                    // are not part of the idle connection's own state.
                    if let Err(c) = Box::pin(self.decode_all(&mut buf, eof)).await {
                        return c;
                    }
                    if buf.is_empty() {
                        // Give the memory back while the device is quiet.
                        buf = BytesMut::new();
                        partial_since = u64::MAX;
                    } else if partial_since == u64::MAX {
                        partial_since = self.timer.now();
                    }
                    if eof {
                        buf.clear();
                    }
                }
            }
        }
    }

    /// Reads what the socket has (up to 2 KiB) onto the end of `buf`. Through the stack,
    /// so that `buf` grows only by what arrived: a login is a few dozen bytes, and the
    /// hundreds of logins of a reconnect storm that wait for the database should not each
    /// hold a 2 KiB buffer meanwhile.
    fn read_into(&self, buf: &mut BytesMut) -> std::io::Result<usize> {
        let mut chunk = [0u8; 2048];
        let n = self.stream.try_read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Decodes and handles every complete frame in `buf`, and counts what the codec saw.
    async fn decode_all(&mut self, buf: &mut BytesMut, eof: bool) -> Result<(), Close> {
        // Counted per read rather than against a copy kept in the connection.
        let before = self.codec.stats();
        let r = self.decode_frames(buf, eof).await;
        self.flush_stats(before);
        r
    }

    async fn decode_frames(&mut self, buf: &mut BytesMut, eof: bool) -> Result<(), Close> {
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

    fn flush_stats(&self, last: CodecStats) {
        let now = self.codec.stats();
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
    }

    /// Sends the acks of the front pending positions whose batch committed (the front one
    /// did), in one write: one commit usually releases several pipelined positions.
    async fn write_acks(&mut self) -> Result<(), Close> {
        let mut out = BytesMut::new();
        if let Some((_, ack)) = self.pending.pop_front()
            && let Some(ack) = ack
        {
            self.codec.encode(ack, &mut out).map_err(Close::Decode)?;
        }
        while let Some((receipt, _)) = self.pending.front_mut() {
            match receipt.try_committed() {
                // A failed one is handled as the front on the next turn, after the acks of
                // what did commit are out.
                None | Some(Err(_)) => break,
                Some(Ok(())) => {}
            }
            if let Some((_, Some(ack))) = self.pending.pop_front() {
                self.codec.encode(ack, &mut out).map_err(Close::Decode)?;
            }
        }
        self.write_out(&out).await
    }

    async fn send(&mut self, msg: C::Outbound) -> Result<(), Close> {
        let mut out = BytesMut::new();
        self.codec.encode(msg, &mut out).map_err(Close::Decode)?;
        self.write_out(&out).await
    }

    /// Writes `out` (encoded frames) to the device. The buffer is the caller's and short-lived:
    /// an idle connection keeps no write buffer.
    async fn write_out(&mut self, out: &[u8]) -> Result<(), Close> {
        if out.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(
            self.gateway.config.write_timeout,
            self.stream.write_all(out),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Close::Io(e)),
            Err(_) => Err(Close::Io(std::io::ErrorKind::TimedOut.into())),
        }
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
        self.last_touch = self.timer.now();
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
            auth_code: device.auth_code.map(String::into_boxed_str),
            authenticated: false,
            ticket,
        });
        Ok(())
    }

    /// Counts a refused frame and logs it: the connection's first at warn, the rest at debug
    /// (random bytes or a confused device bring them by the thousand).
    fn refused(&mut self, why: Refusal, claimed: Option<&DeviceId>) {
        metrics::counter!("vigil_ingest_refused_total", "protocol" => C::PROTOCOL.as_str(), "reason" => why.as_str()).increment(1);
        self.refusals = self.refusals.saturating_add(1);
        let claimed = claimed.map_or("-", |d| d.as_str());
        let session = self.session.as_ref().map_or("-", |s| s.device_id.as_str());
        if self.refusals == 1 {
            tracing::warn!(protocol = %C::PROTOCOL, peer = %self.peer, reason = why.as_str(), claimed, session, "frame refused");
        } else {
            tracing::debug!(protocol = %C::PROTOCOL, peer = %self.peer, reason = why.as_str(), claimed, session, refused = self.refusals, "frame refused");
        }
    }

    /// Answers a refused frame with the protocol's refusal, if it has one.
    async fn refuse(&mut self, ack: Option<C::Outbound>) -> Result<(), Close> {
        if let Some(r) = ack.and_then(|a| self.codec.refusal_ack(a)) {
            self.send(r).await?;
        }
        Ok(())
    }

    async fn handle(&mut self, frame: Decoded<C::Outbound>) -> Result<(), Close> {
        let handshake = if C::AUTHENTICATES {
            self.codec.handshake(&frame)
        } else {
            Handshake::None
        };
        let Decoded {
            device,
            message,
            mut ack,
        } = frame;
        let claimed = match (&message, device) {
            (DeviceMessage::Login { device, .. }, _) => Some(*device),
            (_, d) => d,
        };
        if let Some(id) = &claimed {
            // Before anything is looked up or created: a GT06 login of FF bytes once
            // registered device `fffffffffffffff`.
            if !C::PROTOCOL.valid_device_id(id) {
                self.refused(Refusal::InvalidDeviceId, Some(id));
                let _ = self.refuse(ack).await;
                return Err(Close::Rejected("invalid device id"));
            }
            if C::AUTHENTICATES
                && let Some(s) = &self.session
                && s.device_id != *id
            {
                self.refused(Refusal::OtherDevice, Some(id));
                return self.refuse(ack).await;
            }
        }
        if C::AUTHENTICATES && !self.session.as_ref().is_some_and(|s| s.authenticated) {
            match handshake {
                Handshake::Register | Handshake::Authenticate => {}
                Handshake::Heartbeat => {
                    if let Some(a) = ack {
                        self.send(a).await?;
                    }
                    return Ok(());
                }
                Handshake::None => {
                    self.refused(Refusal::Unauthenticated, claimed.as_ref());
                    return self.refuse(ack).await;
                }
            }
        }
        // JT808 registration: issue (and persist) an authentication code.
        if let DeviceMessage::Register(_) = &message {
            let Some(id) = claimed else {
                return Ok(());
            };
            self.identify(id).await?;
            if let Some(s) = &mut self.session {
                let code = match &s.auth_code {
                    Some(c) => c.to_string(),
                    None => {
                        let c =
                            crate::services::auth::random_hex(8).unwrap_or_else(|_| id.to_string());
                        if let Err(e) = self.gateway.db.set_auth_code(s.db_id, &c).await {
                            tracing::warn!(error = %e, "cannot store auth code");
                            return Err(Close::Rejected("database unavailable"));
                        }
                        s.auth_code = Some(c.as_str().into());
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
        let auth_code = match &message {
            DeviceMessage::Login {
                auth_code: Some(code),
                ..
            } => Some(code.as_str()),
            _ => None,
        };
        if let (Some(code), Some(id)) = (auth_code, claimed) {
            let known = self
                .gateway
                .db
                .device_by_unique_id(id.as_str())
                .await
                .map_err(|_| Close::Rejected("database unavailable"))?;
            if let Some(device) = known
                && let Some(expected) = &device.auth_code
                && expected != code
            {
                if let Some(refusal) = ack.take().and_then(|a| self.codec.refusal_ack(a)) {
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
        }
        if let Some(id) = claimed {
            self.identify(id).await?;
        }
        if let (Some(code), Some(s)) = (auth_code, &mut self.session) {
            if s.auth_code.is_none() {
                // A device that registered elsewhere before (or that this authentication just
                // created): its code is the one from now on.
                let _ = self.gateway.db.set_auth_code(s.db_id, code).await;
                s.auth_code = Some(code.into());
            }
            s.authenticated = true;
        }
        // `last_seen_at`, at most once a minute per connection.
        if let Some(s) = &self.session
            && self
                .last_touch
                .checked_add(crate::services::ingest::TOUCH_EVERY.as_millis() as u64)
                .is_none_or(|t| t <= self.timer.now())
        {
            self.last_touch = self.timer.now();
            let _ = self
                .gateway
                .db
                .touch_device(s.db_id, C::PROTOCOL.as_str(), Utc::now())
                .await;
        }
        let mut positions = match message {
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
        let Some((db_id, device_id)) = self.session.as_ref().map(|s| (s.db_id, s.device_id)) else {
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
        let rejected =
            crate::services::ingest::screen(&self.gateway.config.fix_window, &mut positions, now);
        if !rejected.is_empty() {
            crate::services::ingest::record_rejected(
                &self.gateway.db,
                C::PROTOCOL,
                (db_id, device_id.as_str()),
                Some(self.peer.to_string()),
                now,
                &rejected,
            )
            .await;
            if positions.is_empty() {
                // Acknowledged all the same, or the device would resend it forever; in its
                // place among the acks still waiting for their commit.
                self.pending.push_back((CommitReceipt::ready(), ack));
                return Ok(());
            }
        }
        let rows = positions
            .iter()
            .map(|p| PositionRow::from_position(db_id, p, now))
            .collect();
        let receipt = self
            .gateway
            .batcher
            .submit(rows)
            .await
            .map_err(|_| Close::WriterGone)?;
        if let Some(alarms) = &self.gateway.alarms {
            alarms.observe(db_id, device_id.as_str(), positions).await;
        }
        self.pending.push_back((receipt, ack));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::gt06::Gt06Codec;
    use protocol::h02::H02Codec;
    use protocol::jt808::Jt808Codec;

    /// The size of what `f` would return, without calling it.
    fn size_of_return<F: Fn() -> R, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }

    fn no_connection<C: GatewayCodec>() -> Connection<C> {
        unreachable!("only its type is used")
    }

    /// Without the span (the connection's span is filtered out at `warn`).
    fn task_size<C: GatewayCodec>() -> usize {
        size_of_return(&|| no_connection::<C>().run())
    }

    fn sweeper(timeout_ms: u64) -> (Arc<Sweeper>, CancellationToken) {
        let config = GatewayConfig {
            idle_timeout: Duration::from_millis(timeout_ms),
            frame_timeout: Duration::from_millis(timeout_ms),
            ..GatewayConfig::default()
        };
        let sweeper = Arc::new(Sweeper::new(&config));
        let stop = CancellationToken::new();
        tokio::spawn(sweeper.clone().run(stop.clone()));
        (sweeper, stop)
    }

    /// A due slot wakes its connection; a deadline pushed back while armed wakes it early,
    /// and waiting goes on until the later deadline.
    #[tokio::test]
    async fn sweeper_wakes_due_slots() {
        let (sweeper, stop) = sweeper(80);
        let mut slot = Sweeper::slot(&sweeper);
        let first = slot.now() + 30;
        std::future::poll_fn(|cx| slot.poll_due(cx, first)).await;
        assert!(slot.now() >= first);
        // Armed for 60 ms ahead, then pushed back to 120 ms ahead (traffic): the sweeper
        // wakes the slot at the first, the slot re-arms for the second.
        let early = slot.now() + 60;
        let late = early + 60;
        let mut polls = 0;
        std::future::poll_fn(|cx| {
            polls += 1;
            slot.poll_due(cx, if polls == 1 { early } else { late })
        })
        .await;
        assert!(slot.now() >= late);
        assert!(polls >= 3, "{polls}");
        assert!(!slot.stopping());
        stop.cancel();
    }

    /// Shutdown wakes every slot, however far its deadline, and frees no slot twice.
    #[tokio::test]
    async fn sweeper_shutdown_wakes_everyone() {
        let (sweeper, stop) = sweeper(3_600_000);
        let mut waiting = Vec::new();
        for _ in 0..3 {
            let mut slot = Sweeper::slot(&sweeper);
            waiting.push(tokio::spawn(async move {
                let due = slot.now() + 3_600_000;
                std::future::poll_fn(|cx| {
                    if slot.poll_due(cx, due).is_ready() || slot.stopping() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
                slot.stopping()
            }));
        }
        tokio::task::yield_now().await;
        stop.cancel();
        for w in waiting {
            assert!(w.await.unwrap());
        }
        let slots = sweeper.slots.lock().unwrap();
        assert_eq!(slots.free.len(), 3);
        assert!(slots.slots.iter().all(|s| s.waker.is_none()));
    }

    /// An idle connection is its task's future and little else: keep the future small (no
    /// timer, readiness or notification futures in it).
    #[test]
    fn idle_connection_state_is_small() {
        for (name, conn, task) in [
            (
                "gt06",
                std::mem::size_of::<Connection<Gt06Codec>>(),
                task_size::<Gt06Codec>(),
            ),
            (
                "jt808",
                std::mem::size_of::<Connection<Jt808Codec>>(),
                task_size::<Jt808Codec>(),
            ),
            (
                "h02",
                std::mem::size_of::<Connection<H02Codec>>(),
                task_size::<H02Codec>(),
            ),
        ] {
            println!("{name}: Connection {conn} B, task future {task} B");
            // 1,552 B (GT06, release) with select! over readiness, timer, shutdown and
            // inbox futures.
            assert!(task <= 640, "{name}: task future {task} B");
        }
    }
}
