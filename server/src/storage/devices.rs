//! Trackers: creation, auto-registration, look-ups and the per-device secrets.

use chrono::{DateTime, Utc};
use protocol::DeviceId;
use serde_json::Value;
use sqlx::types::Json;

use crate::domain::{Device, NewDevice};
use crate::storage::{Db, DbError, is_unique_violation, on_pool};

const DEVICE_COLS: &str = "id, unique_id, protocol, name, claimed, owner_id, mqtt_token, auth_code, command_profile, created_at, last_seen_at";

/// A `devices` row as read ([`DEVICE_COLS`]).
#[derive(sqlx::FromRow)]
struct DeviceRecord {
    id: i64,
    unique_id: String,
    protocol: Option<String>,
    name: String,
    claimed: bool,
    owner_id: Option<i64>,
    mqtt_token: Option<String>,
    auth_code: Option<String>,
    command_profile: Json<Value>,
    created_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
}

impl TryFrom<DeviceRecord> for Device {
    type Error = sqlx::Error;

    /// Fails on a stored `unique_id` that is not a valid [`DeviceId`] (written by hand or by an
    /// older release): a decode error naming the column and the value.
    fn try_from(r: DeviceRecord) -> Result<Device, sqlx::Error> {
        let unique_id = DeviceId::parse(&r.unique_id).map_err(|e| sqlx::Error::ColumnDecode {
            index: "unique_id".to_owned(),
            // The model error quotes the value.
            source: format!("stored unique_id: {e}").into(),
        })?;
        Ok(Device {
            id: r.id,
            unique_id,
            protocol: r.protocol,
            name: r.name,
            claimed: r.claimed,
            owner_id: r.owner_id,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            auth_code: r.auth_code,
            mqtt_token: r.mqtt_token,
            command_profile: r.command_profile.0,
        })
    }
}

impl Db {
    /// Creates a device; [`DbError::Conflict`] if the unique id is taken.
    pub async fn create_device(&self, d: &NewDevice) -> Result<Device, DbError> {
        let sql = format!(
            "INSERT INTO devices (unique_id, name, protocol, claimed, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {DEVICE_COLS}"
        );
        let res: Result<DeviceRecord, sqlx::Error> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(d.unique_id.as_str()).bind(&d.name).bind(&d.protocol).bind(d.claimed).bind(Utc::now())
            .fetch_one(p).await);
        match res {
            Ok(d) => Ok(d.try_into()?),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict("device")),
            Err(e) => Err(e.into()),
        }
    }

    /// Returns the device, creating it as unclaimed if it does not exist (auto-registration).
    /// The bool is true when it was created now.
    pub async fn register_device(
        &self,
        unique_id: &DeviceId,
        protocol: &str,
    ) -> Result<(Device, bool), DbError> {
        let n = on_pool!(self, p => sqlx::query("INSERT INTO devices (unique_id, name, protocol, claimed, created_at) VALUES ($1, $1, $2, FALSE, $3) ON CONFLICT (unique_id) DO NOTHING")
            .bind(unique_id.as_str()).bind(protocol).bind(Utc::now()).execute(p).await?.rows_affected());
        let dev = self
            .device_by_unique_id(unique_id.as_str())
            .await?
            .ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))?;
        Ok((dev, n > 0))
    }

    /// A device by the identifier it reports.
    pub async fn device_by_unique_id(&self, unique_id: &str) -> Result<Option<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE unique_id = $1");
        let row: Option<DeviceRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(unique_id).fetch_optional(p).await?);
        Ok(row.map(Device::try_from).transpose()?)
    }

    /// A device by row id.
    pub async fn device(&self, id: i64) -> Result<Option<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1");
        let row: Option<DeviceRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(Device::try_from).transpose()?)
    }

    /// Devices ordered by id, after `after_id`, at most `limit`.
    pub async fn list_devices(&self, after_id: i64, limit: i64) -> Result<Vec<Device>, DbError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id > $1 ORDER BY id LIMIT $2");
        let rows: Vec<DeviceRecord> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after_id).bind(limit).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(Device::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// Stores the JT808 authentication code issued to a device.
    pub async fn set_auth_code(&self, device_id: i64, code: &str) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET auth_code = $1 WHERE id = $2")
            .bind(code).bind(device_id).execute(p).await?; });
        Ok(())
    }

    /// Sets (or with `None` clears) a device's MQTT password.
    pub async fn set_mqtt_token(&self, device_id: i64, token: Option<&str>) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET mqtt_token = $1 WHERE id = $2")
            .bind(token).bind(device_id).execute(p).await?; });
        Ok(())
    }

    /// Records that a device spoke now, in `protocol`.
    pub async fn touch_device(
        &self,
        device_id: i64,
        protocol: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("UPDATE devices SET last_seen_at = $1, protocol = $2 WHERE id = $3")
            .bind(now).bind(protocol).bind(device_id).execute(p).await?; });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(unique_id: &str) -> DeviceRecord {
        DeviceRecord {
            id: 1,
            unique_id: unique_id.to_owned(),
            protocol: None,
            name: "n".to_owned(),
            claimed: false,
            owner_id: None,
            mqtt_token: None,
            auth_code: None,
            command_profile: Json(Value::Null),
            created_at: Utc::now(),
            last_seen_at: None,
        }
    }

    #[test]
    fn stored_unique_id_decodes() {
        let d = Device::try_from(record("123456789012345")).unwrap();
        assert_eq!(d.unique_id.as_str(), "123456789012345");
    }

    #[test]
    fn invalid_stored_unique_id_is_a_decode_error_naming_column_and_value() {
        let e = Device::try_from(record("bad id")).unwrap_err().to_string();
        assert!(e.contains("unique_id") && e.contains("bad id"), "{e}");
    }
}
