//! Where the concrete protocol codecs plug into the gateway.
//!
//! Each stream protocol implements [`GatewayCodec`](crate::gateway::GatewayCodec) here and is
//! started by [`start`] on its listener.

use protocol::Protocol;

use crate::app::Application;

/// Whether this build serves `protocol` over TCP.
pub fn available(protocol: Protocol) -> bool {
    match protocol {
        Protocol::Gt06 | Protocol::Jt808 | Protocol::H02 => false,
        Protocol::Osmand | Protocol::Mqtt => false,
    }
}

/// Starts the gateway of `protocol` on `listener` as part of `app`.
pub fn start(app: &mut Application, protocol: Protocol, listener: tokio::net::TcpListener) {
    let _ = (app, listener);
    tracing::warn!(%protocol, "no codec for this protocol in this build");
}
