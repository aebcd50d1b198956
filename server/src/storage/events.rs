//! Server events (connects, disconnects, rejected devices, …).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::domain::{DeviceEvent, NewDeviceEvent};
use crate::storage::{Db, DbError, on_pool};

/// An `events` row as read.
#[derive(sqlx::FromRow)]
struct EventRecord {
    id: i64,
    time: DateTime<Utc>,
    kind: String,
    device_id: Option<i64>,
    unique_id: Option<String>,
    protocol: Option<String>,
    peer: Option<String>,
    detail: Json<Value>,
}

impl From<EventRecord> for DeviceEvent {
    fn from(r: EventRecord) -> DeviceEvent {
        DeviceEvent {
            id: r.id,
            time: r.time,
            kind: r.kind,
            device_id: r.device_id,
            unique_id: r.unique_id,
            protocol: r.protocol,
            peer: r.peer,
            detail: r.detail.0,
        }
    }
}

impl Db {
    /// Records a server event.
    pub async fn insert_event(&self, e: &NewDeviceEvent) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("INSERT INTO events (time, kind, device_id, unique_id, protocol, peer, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(Utc::now()).bind(e.kind).bind(e.device_id).bind(&e.unique_id).bind(e.protocol).bind(&e.peer).bind(Json(&e.detail))
            .execute(p).await?; });
        Ok(())
    }

    /// Events newest first, optionally of one device, with `id < before_id`, at most `limit`.
    pub async fn events(
        &self,
        device_id: Option<i64>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeviceEvent>, DbError> {
        let before = before_id.unwrap_or(i64::MAX);
        let rows: Vec<EventRecord> = on_pool!(self, p => match device_id {
            Some(d) => sqlx::query_as("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE device_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
                .bind(d).bind(before).bind(limit).fetch_all(p).await?,
            None => sqlx::query_as("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE id < $1 ORDER BY id DESC LIMIT $2")
                .bind(before).bind(limit).fetch_all(p).await?,
        });
        Ok(rows.into_iter().map(DeviceEvent::from).collect())
    }

    /// Events with `from <= time < to`, newest first, optionally of one device, with
    /// `id < before_id`, at most `limit` (a report's pages).
    pub async fn events_between(
        &self,
        device_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeviceEvent>, DbError> {
        let before = before_id.unwrap_or(i64::MAX);
        let rows: Vec<EventRecord> = on_pool!(self, p => match device_id {
            Some(d) => sqlx::query_as("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE device_id = $1 AND time >= $2 AND time < $3 AND id < $4 ORDER BY id DESC LIMIT $5")
                .bind(d).bind(from).bind(to).bind(before).bind(limit).fetch_all(p).await?,
            None => sqlx::query_as("SELECT id, time, kind, device_id, unique_id, protocol, peer, detail FROM events WHERE time >= $1 AND time < $2 AND id < $3 ORDER BY id DESC LIMIT $4")
                .bind(from).bind(to).bind(before).bind(limit).fetch_all(p).await?,
        });
        Ok(rows.into_iter().map(DeviceEvent::from).collect())
    }
}
