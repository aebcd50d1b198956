//! Cameras and checkpoints: who sees which (administrators and dispatchers all; officers
//! those of their units or inside their units' jurisdictions), listing from the snapshot,
//! create/update/delete, and all-or-nothing imports. Every change rebuilds the snapshot.

use std::collections::HashSet;

use crate::domain::engine::crs::Crs;
use crate::domain::linkage::{Camera, Checkpoint, NewCamera, NewCheckpoint};
use crate::domain::linkage_import::{self, Format, ImportError, Location, Record};
use crate::storage::linkage as store;
use crate::storage::units;

use super::{Linkage, LinkageError};

/// Which cameras and checkpoints a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Administrators and dispatchers.
    All,
    /// Officers: those whose unit is one of these, or that lie in one of these units'
    /// jurisdictions.
    Units(HashSet<i64>),
}

/// The outcome of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Rows in the file.
    pub total: usize,
    /// New codes.
    pub created: usize,
    /// Codes replaced.
    pub updated: usize,
}

/// Filters of a list.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlaceFilter {
    /// Of this unit.
    pub unit_id: Option<i64>,
    /// Inside `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    /// Ids above this (keyset paging).
    pub after: Option<i64>,
    /// Page size.
    pub limit: usize,
}

impl PlaceFilter {
    fn admits(&self, id: i64, unit: Option<i64>, lat: f64, lon: f64) -> bool {
        self.after.is_none_or(|a| id > a)
            && self.unit_id.is_none_or(|u| unit == Some(u))
            && self
                .bbox
                .is_none_or(|b| lon >= b[0] && lat >= b[1] && lon <= b[2] && lat <= b[3])
    }
}

impl Linkage {
    fn sees(&self, vis: &Visibility, unit: Option<i64>, lat: f64, lon: f64) -> bool {
        match vis {
            Visibility::All => true,
            Visibility::Units(units) => {
                unit.is_some_and(|u| units.contains(&u))
                    || self
                        .fences
                        .jurisdiction_unit(lat, lon)
                        .is_some_and(|u| units.contains(&u))
            }
        }
    }

    /// A page of the cameras the caller sees, by id.
    pub fn list_cameras(&self, vis: &Visibility, f: &PlaceFilter) -> Vec<Camera> {
        self.snapshot()
            .cameras()
            .iter()
            .filter(|c| {
                f.admits(c.id, c.unit_id, c.lat, c.lon) && self.sees(vis, c.unit_id, c.lat, c.lon)
            })
            .take(f.limit)
            .cloned()
            .collect()
    }

    /// One camera the caller sees.
    pub fn camera(&self, vis: &Visibility, id: i64) -> Result<Camera, LinkageError> {
        self.snapshot()
            .camera(id)
            .filter(|c| self.sees(vis, c.unit_id, c.lat, c.lon))
            .cloned()
            .ok_or(LinkageError::CameraNotFound(id))
    }

    /// A page of the checkpoints the caller sees, by id.
    pub fn list_checkpoints(&self, vis: &Visibility, f: &PlaceFilter) -> Vec<Checkpoint> {
        self.snapshot()
            .checkpoints()
            .iter()
            .filter(|c| {
                f.admits(c.id, c.unit_id, c.lat, c.lon) && self.sees(vis, c.unit_id, c.lat, c.lon)
            })
            .take(f.limit)
            .cloned()
            .collect()
    }

    /// One checkpoint the caller sees.
    pub fn checkpoint(&self, vis: &Visibility, id: i64) -> Result<Checkpoint, LinkageError> {
        self.snapshot()
            .checkpoint(id)
            .filter(|c| self.sees(vis, c.unit_id, c.lat, c.lon))
            .cloned()
            .ok_or(LinkageError::CheckpointNotFound(id))
    }

    /// Refuses unit ids that name no patrol unit (naming the row).
    async fn check_units(
        &self,
        rows: impl Iterator<Item = (Option<Location>, Option<i64>)>,
    ) -> Result<(), LinkageError> {
        let known: HashSet<i64> = units::units(&self.db)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        for (at, unit) in rows {
            if let Some(u) = unit
                && !known.contains(&u)
            {
                return Err(Record::unknown_unit(at, u).into());
            }
        }
        Ok(())
    }

    /// Creates a camera from a JSON object.
    pub async fn create_camera(&self, body: &serde_json::Value) -> Result<Camera, LinkageError> {
        let c = object(body)?.camera(Crs::Wgs84)?;
        self.check_units(std::iter::once((None, c.unit_id))).await?;
        let cam = store::insert_camera(&self.db, &c).await?;
        self.reload().await?;
        Ok(cam)
    }

    /// Replaces a camera from a JSON object.
    pub async fn update_camera(
        &self,
        id: i64,
        body: &serde_json::Value,
    ) -> Result<Camera, LinkageError> {
        let c = object(body)?.camera(Crs::Wgs84)?;
        self.check_units(std::iter::once((None, c.unit_id))).await?;
        let cam = store::update_camera(&self.db, id, &c)
            .await?
            .ok_or(LinkageError::CameraNotFound(id))?;
        self.reload().await?;
        Ok(cam)
    }

    /// Deletes a camera.
    pub async fn delete_camera(&self, id: i64) -> Result<(), LinkageError> {
        if !store::delete_camera(&self.db, id).await? {
            return Err(LinkageError::CameraNotFound(id));
        }
        self.reload().await?;
        Ok(())
    }

    /// Imports cameras (upsert by code, one transaction; the first bad row refuses all).
    pub async fn import_cameras(
        &self,
        bytes: &[u8],
        format: Format,
        crs: Crs,
    ) -> Result<ImportReport, LinkageError> {
        let rows: Vec<(Option<Location>, NewCamera)> = linkage_import::records(bytes, format)?
            .iter()
            .map(|r| r.camera(crs).map(|c| (r.at(), c)))
            .collect::<Result<_, ImportError>>()?;
        linkage_import::check_unique_codes(rows.iter().map(|(at, c)| (*at, &c.code)))?;
        self.check_units(rows.iter().map(|(at, c)| (*at, c.unit_id)))
            .await?;
        let cams: Vec<NewCamera> = rows.into_iter().map(|(_, c)| c).collect();
        let n = store::upsert_cameras(&self.db, &cams).await?;
        self.reload().await?;
        Ok(ImportReport {
            total: cams.len(),
            created: n.created,
            updated: n.updated,
        })
    }

    /// Creates a checkpoint from a JSON object.
    pub async fn create_checkpoint(
        &self,
        body: &serde_json::Value,
    ) -> Result<Checkpoint, LinkageError> {
        let c = object(body)?.checkpoint(Crs::Wgs84)?;
        self.check_units(std::iter::once((None, c.unit_id))).await?;
        let cp = store::insert_checkpoint(&self.db, &c).await?;
        self.reload().await?;
        Ok(cp)
    }

    /// Replaces a checkpoint from a JSON object.
    pub async fn update_checkpoint(
        &self,
        id: i64,
        body: &serde_json::Value,
    ) -> Result<Checkpoint, LinkageError> {
        let c = object(body)?.checkpoint(Crs::Wgs84)?;
        self.check_units(std::iter::once((None, c.unit_id))).await?;
        let cp = store::update_checkpoint(&self.db, id, &c)
            .await?
            .ok_or(LinkageError::CheckpointNotFound(id))?;
        self.reload().await?;
        Ok(cp)
    }

    /// Deletes a checkpoint.
    pub async fn delete_checkpoint(&self, id: i64) -> Result<(), LinkageError> {
        if !store::delete_checkpoint(&self.db, id).await? {
            return Err(LinkageError::CheckpointNotFound(id));
        }
        self.reload().await?;
        Ok(())
    }

    /// Imports checkpoints (upsert by code, one transaction; the first bad row refuses all).
    pub async fn import_checkpoints(
        &self,
        bytes: &[u8],
        format: Format,
        crs: Crs,
    ) -> Result<ImportReport, LinkageError> {
        let rows: Vec<(Option<Location>, NewCheckpoint)> = linkage_import::records(bytes, format)?
            .iter()
            .map(|r| r.checkpoint(crs).map(|c| (r.at(), c)))
            .collect::<Result<_, ImportError>>()?;
        linkage_import::check_unique_codes(rows.iter().map(|(at, c)| (*at, &c.code)))?;
        self.check_units(rows.iter().map(|(at, c)| (*at, c.unit_id)))
            .await?;
        let cps: Vec<NewCheckpoint> = rows.into_iter().map(|(_, c)| c).collect();
        let n = store::upsert_checkpoints(&self.db, &cps).await?;
        self.reload().await?;
        Ok(ImportReport {
            total: cps.len(),
            created: n.created,
            updated: n.updated,
        })
    }
}

/// A create/update body: a JSON object.
fn object(body: &serde_json::Value) -> Result<Record, ImportError> {
    match body {
        serde_json::Value::Object(o) => Ok(Record::from_object(o, None)),
        _ => Err(ImportError {
            at: None,
            field: None,
            message: "the body must be a JSON object".into(),
        }),
    }
}
