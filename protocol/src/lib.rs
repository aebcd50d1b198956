//! Pure codecs for the GPS tracker protocols Vigil speaks: bytes in, typed messages out.
//!
//! No sockets, no runtime: every protocol module offers a [`tokio_util::codec::Decoder`] that
//! frames a byte stream (partial reads, several frames per read, garbage skipped and counted)
//! and maps each frame onto the device-independent [`model`], plus an
//! [`tokio_util::codec::Encoder`] for what the server sends back (acks and commands).
//!
//! The gateway drives all of them through the [`DeviceCodec`] trait.

pub mod gt06;
pub mod h02;
pub mod jt808;
pub mod model;
pub mod osmand;
pub mod plausible;
pub mod read;

pub use model::*;
pub use plausible::{FixTimeError, FixTimeWindow, fix_time_floor};

use tokio_util::codec::{Decoder, Encoder};

/// Why a stream could not be decoded. Only [`ProtocolError::FrameTooLong`] and
/// [`ProtocolError::Io`] come out of a `Decoder` (they end that one connection); a frame whose
/// content is malformed is skipped and counted in [`CodecStats::malformed`] instead.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A frame (or the garbage before one) grew past the configured maximum.
    #[error("frame exceeds the maximum size of {max} bytes ({len} bytes buffered)")]
    FrameTooLong {
        /// Bytes buffered without finding a complete frame.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A checksum that did not match, while checksums are enforced.
    #[error("checksum mismatch: computed {computed:#06x}, frame carries {received:#06x}")]
    Checksum {
        /// Checksum computed over the frame.
        computed: u32,
        /// Checksum the frame carried.
        received: u32,
    },
    /// A frame whose content does not follow the protocol.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which message or field.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Something the server asked to encode that the protocol cannot carry.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Transport error surfaced through the codec.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl ProtocolError {
    /// Shorthand for [`ProtocolError::Malformed`].
    pub fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        ProtocolError::Malformed {
            what,
            detail: detail.into(),
        }
    }

    /// Short stable label for metrics (`decode_errors_total{kind=...}`).
    pub fn kind(&self) -> &'static str {
        match self {
            ProtocolError::FrameTooLong { .. } => "frame_too_long",
            ProtocolError::Checksum { .. } => "checksum",
            ProtocolError::Malformed { .. } => "malformed",
            ProtocolError::Command(_) => "command",
            ProtocolError::Io(_) => "io",
        }
    }
}

/// One decoded frame: who sent it (when the frame says), what it means, and the
/// acknowledgement the protocol expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<A> {
    /// The device id carried by the frame itself (JT808 phone number, H02 id, GT06 login IMEI);
    /// `None` when the protocol relies on the session having logged in.
    pub device: Option<DeviceId>,
    /// What the device said.
    pub message: DeviceMessage,
    /// What to answer. For positions and batches the server sends it only after the fix is
    /// durably stored (at-least-once); for everything else at once.
    pub ack: Option<A>,
}

/// What the gateway needs from every stream protocol.
pub trait DeviceCodec:
    Decoder<Item = Decoded<Self::Outbound>, Error = ProtocolError>
    + Encoder<Self::Outbound, Error = ProtocolError>
{
    /// A message the server sends to the device (ack or command).
    type Outbound: Clone + std::fmt::Debug + Send + 'static;

    /// Which protocol this is.
    const PROTOCOL: Protocol;

    /// Anomaly counters since the codec was created.
    fn stats(&self) -> CodecStats;

    /// Builds the frame for a command to `device`, with what its reply will be matched on.
    /// `now` is passed in (not read from a clock) so that encoding stays pure and testable.
    fn command(
        &mut self,
        device: &DeviceId,
        command: &Command,
        profile: &CommandProfile,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Self::Outbound, Correlation), CommandError>;

    /// The answer to a [`DeviceMessage::TimeRequest`] (GT06 0x8A) carrying `now`; `None` for
    /// protocols without one. The server calls it when it sees a time request.
    fn time_response(&mut self, now: chrono::DateTime<chrono::Utc>) -> Option<Self::Outbound> {
        let _ = now;
        None
    }
}
