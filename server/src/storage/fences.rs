//! Fence storage on either engine (same SQL text for both): fence rows (GeoJSON features) and
//! their assignment to devices.

use chrono::Utc;
use sqlx::Row;

use crate::storage::on_pool;
use crate::storage::{Db, DbError};

/// A stored fence row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FenceRow {
    /// Id (the geofence crate's `FenceId`).
    pub id: i64,
    /// Patrol unit owning it (jurisdictions).
    pub unit_id: Option<i64>,
    /// GeoJSON Feature text.
    pub feature: String,
}

/// Inserts a fence row with a placeholder feature; returns its id (the feature, which
/// carries the id, is written with [`set_fence_feature`]).
pub async fn insert_fence(
    db: &Db,
    name: &str,
    kind: &str,
    unit_id: Option<i64>,
) -> Result<i64, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query("INSERT INTO fences (name, kind, unit_id, feature, created_at) VALUES ($1, $2, $3, '', $4) RETURNING id")
            .bind(name).bind(kind).bind(unit_id).bind(Utc::now()).fetch_one(p).await?.try_get("id")?
    }))
}

/// Stores a fence's GeoJSON feature.
pub async fn set_fence_feature(db: &Db, id: i64, feature: &str) -> Result<(), DbError> {
    on_pool!(db, p => {
        sqlx::query("UPDATE fences SET feature = $2 WHERE id = $1").bind(id).bind(feature).execute(p).await?;
    });
    Ok(())
}

/// Replaces a fence's name, kind, unit and feature; false when there is no such fence.
pub async fn update_fence(
    db: &Db,
    id: i64,
    name: &str,
    kind: &str,
    unit_id: Option<i64>,
    feature: &str,
) -> Result<bool, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query("UPDATE fences SET name = $2, kind = $3, unit_id = $4, feature = $5 WHERE id = $1")
            .bind(id).bind(name).bind(kind).bind(unit_id).bind(feature).execute(p).await?.rows_affected() > 0
    }))
}

/// Deletes a fence; false when there was none.
pub async fn delete_fence(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query("DELETE FROM fences WHERE id = $1").bind(id).execute(p).await?.rows_affected() > 0
    }))
}

/// Every fence.
pub async fn fences(db: &Db) -> Result<Vec<FenceRow>, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, FenceRow>("SELECT id, unit_id, feature FROM fences WHERE feature <> '' ORDER BY id").fetch_all(p).await?
    }))
}

/// Assigns a fence to a device (idempotent).
pub async fn assign_fence(db: &Db, device_id: i64, fence_id: i64) -> Result<(), DbError> {
    on_pool!(db, p => {
        sqlx::query("INSERT INTO device_fences (device_id, fence_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(device_id).bind(fence_id).execute(p).await?;
    });
    Ok(())
}

/// Every (device, fence) assignment.
pub async fn fence_assignments(db: &Db) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(on_pool!(db, p => {
        sqlx::query_as::<_, (i64, i64)>("SELECT device_id, fence_id FROM device_fences").fetch_all(p).await?
    }))
}
