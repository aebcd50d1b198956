//! Publishes alarms and pursuit positions from the [`Bus`] to the embedded MQTT broker.
//!
//! Topic scheme (names in [`crate::domain::topics`]; JSON payloads, QoS 0, not retained):
//!
//! | topic | payload |
//! |---|---|
//! | `vigil/units/<unit_id>/alarms` | `{"action", "alarm"}` for alarms routed or assigned to the unit |
//! | `vigil/devices/<unique_id>/alarms` | the same, per device |
//! | `vigil/units/<unit_id>/positions` | live positions of vehicles with an open alarm routed to the unit |
//! | `vigil/devices/<unique_id>/live` | the same positions, per device |
//! | `vigil/units/<unit_id>/intercepts` | `{"action": "intercept_requested", "alarm", "intercept", "unique_id"}` for the checkpoints the unit staffs |
//!
//! A subscriber logs in as a user (login + session token or API key) and may subscribe only
//! to the topics of its rights: see [`crate::transport::mqtt::acl`].

use std::collections::HashMap;

use rumqttd::local::{LinkRx, LinkTx};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::domain::topics::{
    device_alarms_topic, device_live_topic, unit_alarms_topic, unit_intercepts_topic,
    unit_positions_topic,
};
use crate::services::bus::{Bus, BusEvent};
use crate::storage::Db;

/// Runs until the bus closes: one publish per topic per event. A lagging publisher skips.
pub async fn publish(bus: Bus, db: Db, link: (LinkTx, LinkRx)) -> Result<(), String> {
    let (mut tx, mut rx) = link;
    let mut events = bus.subscribe();
    let mut unique_ids: HashMap<i64, String> = HashMap::new();
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            // Nothing is subscribed on this link; drain what the router sends (and wake it).
            n = rx.next() => {
                if let Ok(Some(rumqttd::Notification::Unschedule)) = n {
                    rx.wake().await.map_err(|e| e.to_string())?;
                }
                continue;
            }
        };
        let event = match event {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "mqtt publisher lagged; events skipped");
                metrics::counter!("vigil_bus_lagged_total", "subscriber" => "mqtt").increment(n);
                continue;
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        match event {
            BusEvent::Alarm { action, alarm } => {
                let uid = match unique_ids.get(&alarm.device_id) {
                    Some(u) => u.clone(),
                    None => match db.device(alarm.device_id).await {
                        Ok(Some(d)) => {
                            unique_ids.insert(d.id, d.unique_id.to_string());
                            d.unique_id.to_string()
                        }
                        _ => continue,
                    },
                };
                let body = json!({"action": action, "alarm": alarm, "unique_id": uid}).to_string();
                if let Some(u) = alarm.unit_id {
                    let _ = tx.publish(unit_alarms_topic(u), body.clone());
                }
                let _ = tx.publish(device_alarms_topic(&uid), body);
            }
            BusEvent::Position(p) => {
                if let Some(u) = p.unit_id {
                    let body = serde_json::to_string(&p).unwrap_or_default();
                    let _ = tx.publish(unit_positions_topic(u), body.clone());
                    let _ = tx.publish(device_live_topic(&p.unique_id), body);
                }
            }
            BusEvent::Intercept {
                action,
                alarm,
                intercept,
            } => {
                let Some(u) = intercept.unit_id else {
                    continue;
                };
                let uid = match db.device(alarm.device_id).await {
                    Ok(Some(d)) => d.unique_id.to_string(),
                    _ => String::new(),
                };
                let body = json!({"action": action, "alarm": alarm, "intercept": intercept, "unique_id": uid}).to_string();
                let _ = tx.publish(unit_intercepts_topic(u), body);
            }
            BusEvent::Command(_) => {}
        }
    }
}
