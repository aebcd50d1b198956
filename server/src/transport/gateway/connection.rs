//! One device connection's state machine: reads into its codec, hands each decoded frame to
//! [`frames`](super::frames), sends acks once their batch committed, and the commands
//! queued for its session.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use chrono::Utc;
use protocol::{CodecStats, DeviceId, Protocol};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::sweeper::TimerSlot;
use super::{Gateway, GatewayCodec};
use crate::services::batcher::CommitReceipt;
use crate::services::device_sessions::{SessionCommand, SessionSignal, SessionTicket};
use crate::services::ingest::{DeviceRef, IngestError};

/// What a connection keeps of its device while it lives (not the whole row: an idle
/// connection should cost little).
pub(super) struct Session {
    /// Row id.
    pub(super) device_id: i64,
    /// The identifier the device reports (= the row's `unique_id`).
    pub(super) unique_id: DeviceId,
    /// JT808 authentication code.
    pub(super) auth_code: Option<Box<str>>,
    /// The session authenticated with its code (only asked of protocols that
    /// [authenticate](GatewayCodec::AUTHENTICATES)).
    pub(super) authenticated: bool,
    pub(super) ticket: SessionTicket,
}

pub(super) struct Connection<C: GatewayCodec> {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    pub(super) codec: C,
    pub(super) gateway: Arc<Gateway>,
    /// Idle/frame deadlines and shutdown.
    pub(super) timer: TimerSlot,
    pub(super) session: Option<Session>,
    pub(super) pending: VecDeque<(CommitReceipt, Option<C::Outbound>)>,
    /// Frames refused so far (only the first is logged at warn).
    pub(super) refusals: u32,
}

/// Why a connection ended.
#[derive(Debug)]
pub(super) enum Close {
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

impl From<IngestError> for Close {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::UnknownDevice => Close::Rejected("unknown device"),
            IngestError::Storage(_) => Close::Rejected("database unavailable"),
            IngestError::WriterGone => Close::WriterGone,
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
enum Wake {
    Shutdown,
    /// The front pending ack's batch committed (`false`: the writer stopped without it).
    Committed(bool),
    Signal(SessionSignal),
    Timeout,
    Readable(std::io::Result<()>),
}

impl<C: GatewayCodec> Connection<C> {
    /// A connection of `peer` on `stream`, not identified yet.
    pub(super) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        codec: C,
        gateway: Arc<Gateway>,
        timer: TimerSlot,
    ) -> Self {
        Connection {
            stream,
            peer,
            codec,
            gateway,
            timer,
            session: None,
            pending: VecDeque::new(),
            refusals: 0,
        }
    }

    // Not an `async fn`: that would keep its argument twice in the future (the parameter
    // and the local it is moved into); the async block uses the captured one in place.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn run(mut self) -> impl Future<Output = ()> + Send {
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
            self.gateway.sessions.unregister(&s.unique_id, s.ticket.id);
            // Through the login gate too: when thousands of devices drop at once, their
            // disconnect records would otherwise all wait on the database pool together,
            // each with its event and query in memory.
            let _permit = self.timer.sweeper.logins.clone().acquire_owned().await.ok();
            let device = DeviceRef {
                id: s.device_id,
                unique_id: s.unique_id.as_str(),
            };
            let detail = json!({ "reason": close.to_string() });
            Box::pin(
                self.gateway
                    .ingest
                    .record(self.source(), "disconnect", Some(device), detail),
            )
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
    ) -> Poll<Wake> {
        let mut timed_out = false;
        if !stopping {
            timed_out = self.timer.poll_due(cx, deadline).is_ready();
            if self.timer.stopping() {
                return Poll::Ready(Wake::Shutdown);
            }
        }
        if let Some((receipt, _)) = self.pending.front_mut()
            && let Poll::Ready(r) = Pin::new(receipt).poll(cx)
        {
            return Poll::Ready(Wake::Committed(r.is_ok()));
        }
        if let Some(s) = &self.session
            && let Poll::Ready(sig) = s.ticket.poll_next(cx)
        {
            return Poll::Ready(Wake::Signal(sig));
        }
        if timed_out {
            return Poll::Ready(Wake::Timeout);
        }
        if can_read && let Poll::Ready(r) = self.stream.poll_read_ready(cx) {
            return Poll::Ready(Wake::Readable(r));
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
                Wake::Shutdown => stopping = true,
                Wake::Committed(ok) => {
                    if !ok {
                        return Close::WriterGone;
                    }
                    // Boxed: the write (and its timer) is not part of the idle state.
                    if let Err(c) = Box::pin(self.write_acks()).await {
                        return c;
                    }
                }
                Wake::Signal(SessionSignal::Replaced) => return Close::Replaced,
                Wake::Signal(SessionSignal::Command(cmd)) => {
                    if let Err(c) = Box::pin(self.command(cmd)).await {
                        return c;
                    }
                }
                Wake::Timeout => {
                    return if partial_since.saturating_add(frame_ms) <= self.timer.now() {
                        Close::SlowFrame
                    } else {
                        Close::Idle
                    };
                }
                Wake::Readable(r) => {
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

    pub(super) async fn send(&mut self, msg: C::Outbound) -> Result<(), Close> {
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
        let unique_id = session.unique_id;
        match self
            .codec
            .command(&unique_id, &cmd.command, &cmd.profile, Utc::now())
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
