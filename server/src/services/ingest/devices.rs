//! Which device a report is from: finding it, registering it when unknown (per
//! [`UnknownDevicePolicy`]), and the JT808 authentication codes (issued on registration,
//! checked on authentication). The rules are the same for every transport; the gateway
//! keeps only the connection's side (its session, when to refuse a frame).

use protocol::DeviceId;
use serde_json::json;

use super::{DeviceRef, Ingest, IngestError, Source, UnknownDevicePolicy};
use crate::domain::Device;

/// What an authentication code given by a device turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCheck {
    /// The device's code, or a device that has none yet (or that is not known yet): go on.
    Accepted,
    /// Another code than the one issued (an `auth_failed` event is recorded).
    Wrong,
}

impl Ingest {
    /// Finds the device reporting as `unique_id`, or registers it as unclaimed
    /// ([`UnknownDevicePolicy::Register`]); either way an unknown one is recorded as an
    /// `unknown_device` event (`action`: `registered` or `rejected`).
    pub async fn resolve(&self, from: Source, unique_id: &DeviceId) -> Result<Device, IngestError> {
        let db = &self.db;
        match db.device_by_unique_id(unique_id.as_str()).await {
            Ok(Some(d)) => return Ok(d),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(protocol = %from.protocol, error = %e, "device lookup failed");
                return Err(e.into());
            }
        }
        if self.config.unknown_devices == UnknownDevicePolicy::Reject {
            // No device row to file it under: the identifier it gave only.
            let e = crate::domain::NewDeviceEvent {
                kind: "unknown_device",
                unique_id: Some(unique_id.to_string()),
                protocol: Some(from.protocol.as_str()),
                peer: from.peer.map(|a| a.to_string()),
                detail: json!({ "action": "rejected" }),
                ..Default::default()
            };
            let _ = db.insert_event(&e).await;
            return Err(IngestError::UnknownDevice);
        }
        match db.register_device(unique_id, from.protocol.as_str()).await {
            Ok((d, created)) => {
                // Not when another report registered it a moment before.
                if created {
                    self.record(
                        from,
                        "unknown_device",
                        Some((&d).into()),
                        json!({ "action": "registered" }),
                    )
                    .await;
                }
                Ok(d)
            }
            Err(e) => {
                tracing::warn!(protocol = %from.protocol, error = %e, "device registration failed");
                Err(e.into())
            }
        }
    }

    /// The authentication code of `device` for its registration ack: the one it has
    /// (`current`), or a new random one, stored.
    pub async fn issue_auth_code(
        &self,
        device: DeviceRef<'_>,
        current: Option<&str>,
    ) -> Result<String, IngestError> {
        if let Some(c) = current {
            return Ok(c.to_owned());
        }
        let code =
            crate::services::auth::random_hex(8).unwrap_or_else(|_| device.unique_id.to_owned());
        if let Err(e) = self.db.set_auth_code(device.id, &code).await {
            tracing::warn!(error = %e, "cannot store auth code");
            return Err(e.into());
        }
        Ok(code)
    }

    /// Checks the authentication `code` given by `unique_id` against the one issued, before
    /// anything is registered: a wrong code must not displace the device's genuine session.
    pub async fn check_auth_code(
        &self,
        from: Source,
        unique_id: &DeviceId,
        code: &str,
    ) -> Result<AuthCheck, IngestError> {
        let known = self.db.device_by_unique_id(unique_id.as_str()).await?;
        if let Some(device) = known
            && let Some(expected) = &device.auth_code
            && expected != code
        {
            self.record(
                from,
                "auth_failed",
                Some((&device).into()),
                serde_json::Value::Null,
            )
            .await;
            return Ok(AuthCheck::Wrong);
        }
        Ok(AuthCheck::Accepted)
    }

    /// Makes `code` the authentication code of `device`, which had none (it registered
    /// elsewhere before, or this authentication just created it). A failed write is not
    /// the login's failure: the code is asked for again at the next registration.
    pub async fn adopt_auth_code(&self, device: i64, code: &str) {
        let _ = self.db.set_auth_code(device, code).await;
    }
}
