//! What a decoded frame does on its connection: the handshake of protocols that
//! authenticate (JT808), refusals, identifying the device (which makes the connection its
//! session), and handing the message to the [`Ingest`](crate::services::ingest::Ingest)
//! sequence. The rules behind them (registration, authentication codes, storage, events) are
//! the ingest service's; what is left here is the connection's side.

use chrono::Utc;
use protocol::{Decoded, DeviceId, DeviceMessage};

use super::connection::{Close, Connection, Session};
use super::{GatewayCodec, Handshake};
use crate::services::ingest::devices::AuthCheck;
use crate::services::ingest::{DeviceRef, Outcome, Source};

/// Why a frame was refused before it reached storage
/// (`vigil_ingest_refused_total{protocol,reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
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

impl<C: GatewayCodec> Connection<C> {
    /// Where this connection's reports come from, for events.
    pub(super) fn source(&self) -> Source {
        Source {
            protocol: C::PROTOCOL,
            peer: Some(self.peer),
        }
    }

    /// Finds (or registers) the device and makes this connection its session.
    async fn identify(&mut self, unique_id: DeviceId) -> Result<(), Close> {
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.unique_id == unique_id)
        {
            return Ok(());
        }
        let ingest = &self.gateway.ingest;
        let device = ingest
            .resolve(self.source(), &unique_id)
            .await
            .map_err(Close::from)?;
        if let Some(old) = self.session.take() {
            self.gateway
                .sessions
                .unregister(&old.unique_id, old.ticket.id);
        }
        tracing::Span::current().record("device", unique_id.as_str());
        let ticket = self
            .gateway
            .sessions
            .register(unique_id, C::PROTOCOL, self.peer);
        ingest.touch_now(self.source(), device.id).await;
        ingest
            .record(
                self.source(),
                "connect",
                Some((&device).into()),
                serde_json::Value::Null,
            )
            .await;
        tracing::info!(device_id = device.id, "device identified");
        self.session = Some(Session {
            device_id: device.id,
            unique_id,
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
        let session = self.session.as_ref().map_or("-", |s| s.unique_id.as_str());
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

    pub(super) async fn handle(&mut self, frame: Decoded<C::Outbound>) -> Result<(), Close> {
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
                && s.unique_id != *id
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
                let device = DeviceRef {
                    id: s.device_id,
                    unique_id: s.unique_id.as_str(),
                };
                let code = self
                    .gateway
                    .ingest
                    .issue_auth_code(device, s.auth_code.as_deref())
                    .await
                    .map_err(Close::from)?;
                s.auth_code = Some(code.as_str().into());
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
            let check = self
                .gateway
                .ingest
                .check_auth_code(self.source(), &id, code)
                .await
                .map_err(Close::from)?;
            if check == AuthCheck::Wrong {
                if let Some(refusal) = ack.take().and_then(|a| self.codec.refusal_ack(a)) {
                    let _ = self.send(refusal).await;
                }
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
                self.gateway.ingest.adopt_auth_code(s.device_id, code).await;
                s.auth_code = Some(code.into());
            }
            s.authenticated = true;
        }
        // `last_seen_at`, at most once a minute.
        if let Some(s) = &self.session {
            self.gateway.ingest.touch(self.source(), s.device_id).await;
        }
        match &message {
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
            DeviceMessage::Position(_)
            | DeviceMessage::Batch(_)
            | DeviceMessage::CommandReply(_)
                if self.session.is_none() =>
            {
                // A fix before the device said who it is: nothing to file it under.
                metrics::counter!("vigil_decode_errors_total", "protocol" => C::PROTOCOL.as_str(), "kind" => "unidentified").increment(1);
                return Ok(());
            }
            _ => {}
        }
        let outcome = match &self.session {
            Some(s) => {
                let device = DeviceRef {
                    id: s.device_id,
                    unique_id: s.unique_id.as_str(),
                };
                self.gateway
                    .ingest
                    .message(self.source(), device, message)
                    .await
                    .map_err(Close::from)?
            }
            None => Outcome::Nothing,
        };
        match outcome {
            // Acked in its place among the acks still waiting for their commit (at once
            // when every fix was dated outside the window: the device would resend it
            // forever otherwise).
            Outcome::Submitted(receipt) => self.pending.push_back((receipt, ack)),
            Outcome::Nothing => {
                if let Some(a) = ack {
                    self.send(a).await?;
                }
            }
        }
        Ok(())
    }
}
