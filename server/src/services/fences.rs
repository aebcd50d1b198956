//! Fence storage kept in step with the in-memory [`SharedFenceIndex`]; fence assignment to
//! devices; jurisdictions (fences of kind `jurisdiction` owned by a patrol unit).
//!
//! The database is the source of truth: every edit writes the row first and then publishes a
//! new index snapshot, so the alarm stage (a reader) never waits for an edit.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use geofence::{Fence, FenceError, FenceId, FenceIndex, FenceKind, SharedFenceIndex};

use crate::storage::fences as store;
use crate::storage::{Db, DbError};

/// Fence storage errors.
#[derive(Debug, thiserror::Error)]
pub enum FenceStoreError {
    /// The GeoJSON is not a valid fence.
    #[error("invalid fence: {0}")]
    Invalid(#[from] FenceError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Fences, their owners and their devices, in memory.
pub struct FenceStore {
    index: SharedFenceIndex,
    owners: RwLock<HashMap<FenceId, i64>>,
    assigned: RwLock<HashMap<i64, HashSet<FenceId>>>,
}

impl std::fmt::Debug for FenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FenceStore")
            .field("fences", &self.index.snapshot().len())
            .finish()
    }
}

/// Parses one GeoJSON Feature (as JSON) into a fence with id `id`.
pub fn parse_feature(feature: &serde_json::Value, id: i64) -> Result<Fence, FenceError> {
    let mut feature = feature.clone();
    if let Some(obj) = feature.as_object_mut() {
        obj.insert("id".into(), id.into());
    }
    let collection = serde_json::json!({"type": "FeatureCollection", "features": [feature]});
    let mut fences = geofence::fences_from_geojson(&collection.to_string())?;
    Ok(fences.remove(0))
}

impl Default for FenceStore {
    fn default() -> Self {
        FenceStore {
            index: SharedFenceIndex::new(FenceIndex::new()),
            owners: RwLock::default(),
            assigned: RwLock::default(),
        }
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl FenceStore {
    /// Loads every fence and assignment from the database.
    pub async fn load(db: &Db) -> Result<FenceStore, FenceStoreError> {
        let store = FenceStore::default();
        let mut fences = Vec::new();
        for row in store::fences(db).await? {
            let value: serde_json::Value = serde_json::from_str(&row.feature).unwrap_or_default();
            match parse_feature(&value, row.id) {
                Ok(f) => fences.push(f),
                Err(e) => tracing::warn!(fence = row.id, error = %e, "stored fence skipped"),
            }
            if let Some(u) = row.unit_id {
                write(&store.owners).insert(FenceId(row.id as u64), u);
            }
        }
        store.index.replace_all(FenceIndex::from_fences(fences)?);
        for (device, fence) in store::fence_assignments(db).await? {
            write(&store.assigned)
                .entry(device)
                .or_default()
                .insert(FenceId(fence as u64));
        }
        Ok(store)
    }

    /// The current index snapshot.
    pub fn snapshot(&self) -> std::sync::Arc<FenceIndex> {
        self.index.snapshot()
    }

    /// Validates and stores a GeoJSON Feature; `unit_id` makes a jurisdiction's owner.
    pub async fn create(
        &self,
        db: &Db,
        feature: &serde_json::Value,
        unit_id: Option<i64>,
    ) -> Result<Fence, FenceStoreError> {
        // Validate before touching the database.
        let probe = parse_feature(feature, 1)?;
        let id = store::insert_fence(
            db,
            probe.name.as_deref().unwrap_or(""),
            probe.kind.as_str(),
            unit_id,
        )
        .await?;
        let fence = parse_feature(feature, id)?;
        let text = geofence::fences_to_geojson([&fence]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let one = value["features"][0].to_string();
        store::set_fence_feature(db, id, &one).await?;
        if let Some(u) = unit_id {
            write(&self.owners).insert(fence.id, u);
        }
        self.index.upsert(fence.clone());
        Ok(fence)
    }

    /// Replaces a fence (same id; assignments to devices are kept); `None` when there is no
    /// such fence.
    pub async fn update(
        &self,
        db: &Db,
        id: i64,
        feature: &serde_json::Value,
        unit_id: Option<i64>,
    ) -> Result<Option<Fence>, FenceStoreError> {
        let fence = parse_feature(feature, id)?;
        let text = geofence::fences_to_geojson([&fence]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let one = value["features"][0].to_string();
        let found = store::update_fence(
            db,
            id,
            fence.name.as_deref().unwrap_or(""),
            fence.kind.as_str(),
            unit_id,
            &one,
        )
        .await?;
        if !found {
            return Ok(None);
        }
        {
            let mut owners = write(&self.owners);
            match unit_id {
                Some(u) => owners.insert(fence.id, u),
                None => owners.remove(&fence.id),
            };
        }
        self.index.upsert(fence.clone());
        Ok(Some(fence))
    }

    /// Deletes a fence; false when there was none.
    pub async fn delete(&self, db: &Db, id: i64) -> Result<bool, FenceStoreError> {
        let gone = store::delete_fence(db, id).await?;
        let fid = FenceId(id as u64);
        self.index.remove(fid);
        write(&self.owners).remove(&fid);
        for set in write(&self.assigned).values_mut() {
            set.remove(&fid);
        }
        Ok(gone)
    }

    /// Assigns a fence to a device.
    pub async fn assign(&self, db: &Db, device_id: i64, fence_id: i64) -> Result<(), DbError> {
        store::assign_fence(db, device_id, fence_id).await?;
        write(&self.assigned)
            .entry(device_id)
            .or_default()
            .insert(FenceId(fence_id as u64));
        Ok(())
    }

    /// The fences assigned to a device.
    pub fn assigned(&self, device_id: i64) -> HashSet<FenceId> {
        read(&self.assigned)
            .get(&device_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets a deleted unit as the owner of its jurisdictions (the rows were updated).
    pub fn unit_deleted(&self, unit_id: i64) {
        write(&self.owners).retain(|_, u| *u != unit_id);
    }

    /// Owner unit of a fence.
    pub fn owner(&self, id: FenceId) -> Option<i64> {
        read(&self.owners).get(&id).copied()
    }

    /// The patrol unit whose jurisdiction contains the point (the lowest fence id wins when
    /// jurisdictions overlap).
    pub fn jurisdiction_unit(&self, lat: f64, lon: f64) -> Option<i64> {
        let index = self.index.snapshot();
        let owners = read(&self.owners);
        let mut best: Option<(FenceId, i64)> = None;
        for f in index.query_where(lon, lat, |f| f.kind == FenceKind::Jurisdiction) {
            if let Some(u) = owners.get(&f.id)
                && best.is_none_or(|(id, _)| f.id < id)
            {
                best = Some((f.id, *u));
            }
        }
        best.map(|(_, u)| u)
    }
}
