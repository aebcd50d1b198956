//! Where the concrete protocol codecs plug into the gateway.
//!
//! Each stream protocol implements [`GatewayCodec`] here and is started by [`start`] on its
//! listener. JT808 is wired in when its codec lands (it needs `registration_ack`).

use chrono::Utc;
use protocol::Protocol;
use protocol::gt06::{Gt06Codec, Gt06Config};
use protocol::h02::{H02Codec, H02Config};

use crate::app::Application;
use crate::gateway::GatewayCodec;

impl GatewayCodec for Gt06Codec {}
impl GatewayCodec for H02Codec {}

/// The H02 settings the server runs with: the wall clock dates sentences without a date.
pub fn h02_config() -> H02Config {
    H02Config {
        clock: Some(Utc::now),
        ..H02Config::default()
    }
}

/// Whether this build serves `protocol` over TCP.
pub fn available(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Gt06 | Protocol::H02)
}

/// Starts the gateway of `protocol` on `listener` as part of `app`.
pub fn start(app: &mut Application, protocol: Protocol, listener: tokio::net::TcpListener) {
    match protocol {
        Protocol::Gt06 => app.add_gateway("gateway:gt06", listener, || {
            Gt06Codec::new(Gt06Config::default())
        }),
        Protocol::H02 => app.add_gateway("gateway:h02", listener, || H02Codec::new(h02_config())),
        other => {
            tracing::warn!(protocol = %other, "no stream codec for this protocol in this build")
        }
    }
}
