//! The device gateway: one TCP listener per protocol, one task per connection, generic over
//! [`protocol::DeviceCodec`].
//!
//! A connection reads straight into its codec's buffer (released again whenever it is empty,
//! so an idle connection holds no heap buffer), registers its session under the device once
//! identified, hands positions to the [`Ingest`] sequence and sends their acks only after the
//! batch committed (in order, with at most `max_pending_acks` in flight before it stops
//! reading). Everything else is acknowledged at once. Idle connections, slow-dripped partial
//! frames, oversized frames and garbage end that one connection only.
//!
//! `listener` accepts, `connection` drives one connection (read, decode, acks after
//! commit, commands), `frames` is what a decoded frame does on it (handshake, identify,
//! hand to ingest), `sweeper` serves every connection's deadlines, [`codecs`] plugs in the
//! protocols.

pub mod codecs;
mod connection;
mod frames;
mod listener;
mod sweeper;

pub use listener::serve;

use std::time::Duration;

use chrono::Utc;
use protocol::{Decoded, DeviceCodec};

use crate::services::device_sessions::DeviceSessions;
use crate::services::ingest::Ingest;

/// Gateway behaviour shared by every protocol listener.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Close a connection silent for this long.
    pub idle_timeout: Duration,
    /// Close a connection whose partial frame has not completed within this time.
    pub frame_timeout: Duration,
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
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            idle_timeout: Duration::from_secs(600),
            frame_timeout: Duration::from_secs(30),
            max_pending_acks: 64,
            write_timeout: Duration::from_secs(30),
            max_concurrent_logins: 32,
        }
    }
}

/// What every connection shares.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The ingest sequence (devices, touches, fix times, storage, alarm stage, events).
    pub ingest: Ingest,
    /// Live sessions.
    pub sessions: DeviceSessions,
    /// Behaviour.
    pub config: GatewayConfig,
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
