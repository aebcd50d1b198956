//! The embedded MQTT broker (rumqttd) and its in-process consumer.
//!
//! Devices connect with **client id = username = device unique id** and **password = the
//! device's MQTT token** (`POST /api/v1/devices/{id}/mqtt-token`), and publish JSON positions
//! (the OsmAnd/Transistorsoft JSON shape: one `location` object or an array of them) to
//! **`vigil/<device unique id>/position`**. The server consumes that topic through a local link
//! and stores the positions in batches (and hands them to the alarm stage, like the gateway);
//! a body's `device_id`, when present, must equal the topic's id.
//!
//! Users subscribe with their login and a session token or API key; [`acl`]
//! checks every subscribe and publish against the connection's rights (a device may publish
//! only to its own topic).
//!
//! Delivery: the broker acknowledges a QoS 1 publish when it has it in memory, not after the
//! commit (unlike the TCP protocols). The router runs on its own thread with no shutdown API;
//! the listener is a task on our runtime and stops with the server.

pub mod acl;
pub mod publish;

use std::net::SocketAddr;

use chrono::Utc;
use protocol::osmand::{OsmandConfig, parse_json};
use protocol::{DeviceId, Protocol};
use rumqttd::local::{LinkBuilder, LinkRx, LinkTx};
use rumqttd::{ConnectionSettings, LinkType, Notification, RouterConfig, Server, ServerSettings};

use crate::services::ingest::{Ingest, IngestError, Source, UnknownDevicePolicy};
use crate::storage::Db;
use crate::transport::mqtt::acl::{Acls, GuardedV4};

/// The subscription the server consumes.
pub const POSITION_FILTER: &str = "vigil/+/position";

/// MQTT start-up errors.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The local link could not be created.
    #[error("mqtt link: {0}")]
    Link(String),
}

/// A started broker: [`MqttBroker::into_tasks`] gives the listener and consumer tasks to run.
pub struct MqttBroker {
    server: Server<GuardedV4>,
    acls: Acls,
    link: (LinkTx, LinkRx),
    publish_link: Option<(LinkTx, LinkRx)>,
}

impl std::fmt::Debug for MqttBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttBroker").finish_non_exhaustive()
    }
}

impl MqttBroker {
    /// Starts the router thread and prepares the listener on `addr` with per-device auth.
    pub fn new(
        addr: SocketAddr,
        db: Db,
        throttle: crate::services::access::LoginThrottle,
    ) -> Result<MqttBroker, MqttError> {
        let router = rumqttd::Router::new(
            0,
            RouterConfig {
                max_connections: 100_000,
                max_outgoing_packet_count: 200,
                // Sized down from the 1 GB the defaults would allow.
                max_segment_size: 1024 * 1024,
                max_segment_count: 4,
                ..RouterConfig::default()
            },
        );
        let router_tx = router.spawn();
        let mut connections = ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: false,
        };
        // Devices with their MQTT token, users with a session token or API key; what each
        // connection may then publish and subscribe to is checked by `GuardedV4`.
        let acls = Acls::default();
        let auth_acls = acls.clone();
        connections.set_auth_handler(move |client_id: String, user: String, pass: String| {
            let db = db.clone();
            let acls = auth_acls.clone();
            let throttle = throttle.clone();
            async move {
                acls.authenticate(&db, &throttle, client_id, user, pass)
                    .await
            }
        });
        let settings = ServerSettings {
            name: "vigil-mqtt".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 0,
            connections,
        };
        let link = LinkBuilder::new("vigil-ingest", router_tx.clone())
            .build()
            .map(|(tx, rx, _)| (tx, rx))
            .map_err(|e| MqttError::Link(e.to_string()))?;
        let publish_link = LinkBuilder::new("vigil-publish", router_tx.clone())
            .build()
            .map(|(tx, rx, _)| (tx, rx))
            .map_err(|e| MqttError::Link(e.to_string()))?;
        Ok(MqttBroker {
            server: Server::new(settings, router_tx, GuardedV4::new(acls.clone())),
            acls,
            link,
            publish_link: Some(publish_link),
        })
    }

    /// The rights of the open connections.
    pub fn acls(&self) -> &Acls {
        &self.acls
    }

    /// The task publishing alarms and pursuit positions (see [`publish`]); once.
    pub fn take_publisher(
        &mut self,
        bus: crate::services::bus::Bus,
        db: Db,
    ) -> Option<impl Future<Output = Result<(), String>> + Send + 'static> {
        let link = self.publish_link.take()?;
        Some(crate::transport::mqtt::publish::publish(bus, db, link))
    }

    /// Splits into the listener task and the consumer task (which hands every position
    /// publish to `ingest`).
    pub fn into_tasks(
        self,
        ingest: Ingest,
    ) -> (
        impl Future<Output = Result<(), String>> + Send + 'static,
        impl Future<Output = Result<(), String>> + Send + 'static,
    ) {
        let mut server = self.server;
        let listener = async move {
            server
                .start(LinkType::Remote)
                .await
                .map_err(|e| e.to_string())
        };
        let (tx, rx) = self.link;
        // Only a device with its MQTT token can publish to its topic: one the database does
        // not know (deleted while connected) is not registered again, whatever the setting.
        let ingest = ingest.with_unknown_devices(UnknownDevicePolicy::Reject);
        (listener, consume(tx, rx, ingest))
    }
}

async fn consume(mut tx: LinkTx, mut rx: LinkRx, ingest: Ingest) -> Result<(), String> {
    tx.subscribe(POSITION_FILTER).map_err(|e| e.to_string())?;
    let config = OsmandConfig::default();
    loop {
        match rx.next().await {
            Ok(Some(Notification::Forward(f))) => {
                store(&f.publish.topic, &f.publish.payload, &config, &ingest).await;
            }
            Ok(Some(Notification::Unschedule)) => {
                // The link's buffer filled: ask to be scheduled again or nothing more arrives.
                rx.wake().await.map_err(|e| e.to_string())?;
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

async fn store(topic: &[u8], payload: &[u8], config: &OsmandConfig, ingest: &Ingest) {
    let topic_device = std::str::from_utf8(topic)
        .ok()
        .and_then(|t| t.strip_prefix("vigil/"))
        .and_then(|t| t.strip_suffix("/position"))
        .and_then(|id| DeviceId::parse(id).ok());
    let Some(unique_id) = topic_device else {
        metrics::counter!("vigil_decode_errors_total", "protocol" => "mqtt", "kind" => "topic")
            .increment(1);
        return;
    };
    let now = Utc::now();
    let report = match parse_json(payload, Some(unique_id), now, config) {
        Ok(r) if r.device == unique_id => r,
        Ok(_) => {
            metrics::counter!("vigil_decode_errors_total", "protocol" => "mqtt", "kind" => "device_mismatch").increment(1);
            return;
        }
        Err(e) => {
            metrics::counter!("vigil_decode_errors_total", "protocol" => "mqtt", "kind" => e.kind()).increment(1);
            return;
        }
    };
    metrics::counter!("vigil_frames_total", "protocol" => "mqtt").increment(1);
    // The broker acked the publish already: nothing to wait for here.
    let from = Source {
        protocol: Protocol::Mqtt,
        peer: None,
    };
    match ingest.report(from, &unique_id, report.message).await {
        Ok(_) | Err(IngestError::UnknownDevice) => {}
        Err(e) => tracing::warn!(error = %e, "mqtt: position dropped"),
    }
}
