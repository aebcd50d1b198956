//! Where the concrete protocol codecs plug into the gateway.
//!
//! Each stream protocol implements [`GatewayCodec`] here and is started by [`start`] on its
//! listener.

use chrono::Utc;
use protocol::Protocol;
use protocol::gt06::{Gt06Codec, Gt06Config};
use protocol::h02::{H02Codec, H02Config};
use protocol::jt808::{AckResult, Jt808Codec, Jt808Config, Outbound as Jt808Outbound};

use crate::app::Application;
use crate::gateway::GatewayCodec;

impl GatewayCodec for Gt06Codec {}
impl GatewayCodec for H02Codec {}

impl GatewayCodec for Jt808Codec {
    fn registration_ack(&mut self, mut ack: Jt808Outbound, auth_code: &str) -> Jt808Outbound {
        ack.set_auth_code(auth_code);
        ack
    }

    fn auth_failed_ack(&mut self, mut ack: Jt808Outbound) -> Option<Jt808Outbound> {
        ack.set_result(AckResult::Failure);
        Some(ack)
    }

    fn stamp_ack(&mut self, mut ack: Jt808Outbound, now: chrono::DateTime<Utc>) -> Jt808Outbound {
        ack.set_time(now);
        ack
    }
}

/// The H02 settings the server runs with: the wall clock dates sentences without a date.
pub fn h02_config() -> H02Config {
    H02Config {
        clock: Some(Utc::now),
        ..H02Config::default()
    }
}

/// Whether this build serves `protocol` over TCP.
pub fn available(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Gt06 | Protocol::H02 | Protocol::Jt808)
}

/// Starts the gateway of `protocol` on `listener` as part of `app`.
pub fn start(app: &mut Application, protocol: Protocol, listener: tokio::net::TcpListener) {
    match protocol {
        Protocol::Gt06 => app.add_gateway("gateway:gt06", listener, || {
            Gt06Codec::new(Gt06Config::default())
        }),
        Protocol::Jt808 => app.add_gateway("gateway:jt808", listener, || {
            Jt808Codec::new(Jt808Config::default())
        }),
        Protocol::H02 => app.add_gateway("gateway:h02", listener, || H02Codec::new(h02_config())),
        other => {
            tracing::warn!(protocol = %other, "no stream codec for this protocol in this build")
        }
    }
}
