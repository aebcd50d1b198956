//! Video patrol, ground patrol and checkpoints acting together (issue 15): the cameras and
//! checkpoints held in memory as one immutable snapshot (a `geofence` [`CameraIndex`] and the
//! checkpoint list), swapped whole after every edit or import, and what they give for a track:
//! the cameras it passed ([`Linkage::cameras_passed`]), the checkpoints ahead of it and the
//! intercept requests sent to them ([`Linkage::alarm_linkage`], [`Linkage::request_intercept`]).
//!
//! Freshness: the linkage of an alarm is computed on each request from the stored positions
//! (fixes from [`LOOKBACK`] before the alarm's first evidence until now), so it is as current
//! as the last committed fix; clients refetch it when the stream brings a position of the
//! pursued vehicle. Nothing is cached per alarm.

pub mod places;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use places::{ImportReport, Visibility};

use crate::domain::TrackPoint;
use crate::domain::alarms::{AlarmStatus, AlarmView};
use crate::domain::engine::linkage::{
    AheadParams, Camera as EngineCamera, CameraIndex, Checkpoint as EngineCheckpoint, Motion,
    TrackFix, checkpoints_ahead,
};
use crate::domain::linkage::{
    Camera, CameraPassed, Checkpoint, CheckpointAheadView, Intercept, playback_url,
};
use crate::domain::linkage_import::ImportError;
use crate::services::bus::{AlarmAction, Bus, BusEvent};
use crate::services::fences::FenceStore;
use crate::storage::linkage as store;
use crate::storage::{Db, DbError};

/// Fixes read from this long before an alarm's first evidence, so the cameras that saw the
/// vehicle leave are listed too.
pub const LOOKBACK: Duration = Duration::from_secs(5 * 60);

/// Speed assumed below this (a parked or crawling vehicle still gets an arrival estimate).
pub const MIN_SPEED_KMH: f64 = 20.0;

/// Most fixes one computation reads (a device-day at 30 s is 2,880).
pub const MAX_FIXES: usize = 50_000;

/// Linkage settings (`video_playback_url`, `intercept_horizon_mins`, `intercept_cone_deg`,
/// `route_detour_factor`).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkageConfig {
    /// Playback URL template (empty: no links).
    pub playback_url: String,
    /// Checkpoints reachable within this are ahead.
    pub horizon: Duration,
    /// Half-angle of the heading cone, degrees.
    pub cone_half_deg: f64,
    /// Straight distance × this = road distance estimate.
    pub detour_factor: f64,
}

impl Default for LinkageConfig {
    fn default() -> Self {
        LinkageConfig {
            playback_url: String::new(),
            horizon: Duration::from_secs(15 * 60),
            cone_half_deg: 60.0,
            detour_factor: 1.3,
        }
    }
}

/// Why a linkage request failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkageError {
    /// Bad input (body, file row): names the line/feature and field.
    #[error(transparent)]
    Invalid(#[from] ImportError),
    /// No such camera (or not visible).
    #[error("camera {0} not found")]
    CameraNotFound(i64),
    /// No such checkpoint (or not visible).
    #[error("checkpoint {0} not found")]
    CheckpointNotFound(i64),
    /// The alarm is resolved: no more intercepts.
    #[error("alarm is already resolved")]
    Resolved,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// Cameras and checkpoints as one consistent snapshot.
#[derive(Debug)]
pub struct Snapshot {
    cameras: Vec<Camera>,
    camera_pos: HashMap<i64, usize>,
    index: CameraIndex,
    checkpoints: Vec<Checkpoint>,
    engine_checkpoints: Vec<EngineCheckpoint>,
}

impl Snapshot {
    fn new(cameras: Vec<Camera>, checkpoints: Vec<Checkpoint>) -> Snapshot {
        let index = CameraIndex::new(
            cameras
                .iter()
                .map(|c| EngineCamera {
                    id: c.id,
                    lat: c.lat,
                    lon: c.lon,
                    facing_deg: c.facing_deg,
                    fov_deg: c.fov_deg,
                    range_m: c.range_m,
                })
                .collect(),
        );
        let engine_checkpoints = checkpoints
            .iter()
            .map(|c| EngineCheckpoint {
                id: c.id,
                lat: c.lat,
                lon: c.lon,
            })
            .collect();
        Snapshot {
            camera_pos: cameras.iter().enumerate().map(|(i, c)| (c.id, i)).collect(),
            cameras,
            index,
            checkpoints,
            engine_checkpoints,
        }
    }

    /// Every camera, by id.
    pub fn cameras(&self) -> &[Camera] {
        &self.cameras
    }

    /// Every checkpoint, by id.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    fn camera(&self, id: i64) -> Option<&Camera> {
        self.camera_pos.get(&id).map(|&i| &self.cameras[i])
    }

    fn checkpoint(&self, id: i64) -> Option<&Checkpoint> {
        self.checkpoints
            .binary_search_by_key(&id, |c| c.id)
            .ok()
            .map(|i| &self.checkpoints[i])
    }
}

/// An alarm's linkage: `GET /api/v1/alarms/{id}/linkage`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AlarmLinkage {
    /// Cameras the vehicle passed since [`LOOKBACK`] before the first evidence, by time.
    pub cameras_passed: Vec<CameraPassed>,
    /// Checkpoints reachable from the latest fix, by estimated arrival.
    pub checkpoints_ahead: Vec<CheckpointAheadView>,
    /// Intercept requests already sent for this alarm.
    pub intercepts: Vec<Intercept>,
    /// The fix the checkpoints are estimated from (`{time, lat, lon, speed_kmh, course, …}`;
    /// null: none in the window).
    #[schema(value_type = Option<Object>)]
    pub latest_fix: Option<TrackPoint>,
    /// When this was computed.
    pub computed_at: DateTime<Utc>,
}

/// The cameras, checkpoints and linkage computations; cheap to clone.
#[derive(Debug, Clone)]
pub struct Linkage {
    db: Db,
    config: Arc<LinkageConfig>,
    bus: Bus,
    fences: Arc<FenceStore>,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    /// Serialises reloads, so an older read never replaces a newer snapshot.
    reload: Arc<tokio::sync::Mutex<()>>,
}

impl Linkage {
    /// Loads cameras and checkpoints from the database.
    pub async fn load(
        db: Db,
        config: LinkageConfig,
        bus: Bus,
        fences: Arc<FenceStore>,
    ) -> Result<Linkage, DbError> {
        let l = Linkage {
            db,
            config: Arc::new(config),
            bus,
            fences,
            snapshot: Arc::new(RwLock::new(Arc::new(Snapshot::new(Vec::new(), Vec::new())))),
            reload: Arc::default(),
        };
        l.reload().await?;
        Ok(l)
    }

    /// Rebuilds the snapshot from the database (after every edit and import).
    pub async fn reload(&self) -> Result<(), DbError> {
        let _one = self.reload.lock().await;
        let cameras = store::cameras(&self.db).await?;
        let checkpoints = store::checkpoints(&self.db).await?;
        let snap = Arc::new(Snapshot::new(cameras, checkpoints));
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snap;
        Ok(())
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The settings in force.
    pub fn config(&self) -> &LinkageConfig {
        &self.config
    }

    /// Fixes of a device in `[from, to)`, oldest first (at most [`MAX_FIXES`]).
    async fn fixes(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TrackPoint>, DbError> {
        let mut out: Vec<TrackPoint> = Vec::new();
        let mut after = None;
        while out.len() < MAX_FIXES {
            let page = self.db.track(device_id, from, to, after, 10_000).await?;
            let full = page.len() == 10_000;
            after = page.last().map(|p| p.fix_time);
            out.extend(page);
            if !full {
                break;
            }
        }
        out.truncate(MAX_FIXES);
        Ok(out)
    }

    /// The cameras whose view the track of `fixes` entered, by time, with playback links.
    fn passes(&self, snap: &Snapshot, fixes: &[TrackPoint]) -> Vec<CameraPassed> {
        let track: Vec<TrackFix> = fixes
            .iter()
            .map(|p| TrackFix {
                time_ms: p.fix_time.timestamp_millis(),
                lat: p.lat,
                lon: p.lon,
            })
            .collect();
        let time = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        snap.index
            .passes(&track)
            .into_iter()
            .filter_map(|p| {
                let c = snap.camera(p.camera_id)?;
                let (from, to) = (time(p.from_ms), time(p.to_ms));
                Some(CameraPassed {
                    camera_id: c.id,
                    code: c.code.clone(),
                    name: c.name.clone(),
                    lat: c.lat,
                    lon: c.lon,
                    from,
                    to,
                    at: time(p.at_ms),
                    distance_m: p.distance_m,
                    playback_url: playback_url(
                        &self.config.playback_url,
                        c.video_device_id.as_deref(),
                        c.video_channel_id.as_deref(),
                        from,
                        to,
                    ),
                })
            })
            .collect()
    }

    /// The cameras a device's track passed in `[from, to)`.
    pub async fn cameras_passed(
        &self,
        device_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CameraPassed>, DbError> {
        let fixes = self.fixes(device_id, from, to).await?;
        Ok(self.passes(&self.snapshot(), &fixes))
    }

    /// The heading-cone parameters of the settings.
    fn ahead_params(&self) -> AheadParams {
        AheadParams {
            horizon_secs: self.config.horizon.as_secs_f64(),
            cone_half_deg: self.config.cone_half_deg,
            detour_factor: self.config.detour_factor,
            min_speed_kmh: MIN_SPEED_KMH,
        }
    }

    /// Checkpoints reachable from `fix`, by estimated arrival.
    fn ahead(&self, snap: &Snapshot, fix: &TrackPoint) -> Vec<CheckpointAheadView> {
        let motion = Motion {
            lat: fix.lat,
            lon: fix.lon,
            speed_kmh: fix.speed_kmh,
            course_deg: fix.course,
        };
        checkpoints_ahead(&snap.engine_checkpoints, &motion, &self.ahead_params())
            .into_iter()
            .filter_map(|a| {
                let c = snap.checkpoint(a.checkpoint_id)?;
                Some(CheckpointAheadView {
                    checkpoint_id: c.id,
                    code: c.code.clone(),
                    name: c.name.clone(),
                    lat: c.lat,
                    lon: c.lon,
                    unit_id: c.unit_id,
                    distance_m: a.distance_m,
                    eta_secs: a.eta_secs,
                })
            })
            .collect()
    }

    /// The window of an alarm's track: [`LOOKBACK`] before its first evidence until now (a
    /// resolved alarm: until it was resolved).
    fn window(alarm: &AlarmView, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let from = alarm.first_time
            - chrono::Duration::from_std(LOOKBACK).unwrap_or_else(|_| chrono::Duration::zero());
        let end = if alarm.status == AlarmStatus::Resolved {
            alarm.updated_at.max(alarm.last_time)
        } else {
            now.max(alarm.last_time)
        };
        (from, end + chrono::Duration::seconds(1))
    }

    /// An alarm's cameras passed, checkpoints ahead and intercept requests, now.
    pub async fn alarm_linkage(&self, alarm: &AlarmView) -> Result<AlarmLinkage, DbError> {
        let now = Utc::now();
        let (from, to) = Self::window(alarm, now);
        let fixes = self.fixes(alarm.device_id, from, to).await?;
        let snap = self.snapshot();
        let cameras_passed = self.passes(&snap, &fixes);
        let latest_fix = fixes.last().cloned();
        let checkpoints_ahead = latest_fix
            .as_ref()
            .map(|f| self.ahead(&snap, f))
            .unwrap_or_default();
        let intercepts = self.intercepts(&snap, alarm.id).await?;
        Ok(AlarmLinkage {
            cameras_passed,
            checkpoints_ahead,
            intercepts,
            latest_fix,
            computed_at: now,
        })
    }

    async fn intercepts(&self, snap: &Snapshot, alarm_id: i64) -> Result<Vec<Intercept>, DbError> {
        let mut out = Vec::new();
        for r in store::intercepts(&self.db, alarm_id).await? {
            let cp = match snap.checkpoint(r.checkpoint_id) {
                Some(c) => c.clone(),
                None => match store::checkpoint(&self.db, r.checkpoint_id).await? {
                    Some(c) => c,
                    None => continue,
                },
            };
            out.push(intercept_view(r, &cp));
        }
        Ok(out)
    }

    /// Asks checkpoint `checkpoint_id` to intercept the vehicle of `alarm`, once: the first
    /// request is recorded in the alarm's lifecycle (`intercept_requested`) and published to
    /// the checkpoint's unit (WebSocket, MQTT `vigil/units/<id>/intercepts`, webhooks);
    /// another request for the same pair returns the first, `false`, and notifies nobody.
    pub async fn request_intercept(
        &self,
        alarm: &AlarmView,
        checkpoint_id: i64,
        requested_by: i64,
    ) -> Result<(Intercept, bool), LinkageError> {
        if alarm.status == AlarmStatus::Resolved {
            return Err(LinkageError::Resolved);
        }
        let cp = match self.snapshot().checkpoint(checkpoint_id) {
            Some(c) => c.clone(),
            None => store::checkpoint(&self.db, checkpoint_id)
                .await?
                .ok_or(LinkageError::CheckpointNotFound(checkpoint_id))?,
        };
        let fix = self.db.latest_position(alarm.device_id).await?;
        let (distance_m, eta_secs) = match &fix {
            Some(f) => {
                let d = distance_m(f.lat, f.lon, cp.lat, cp.lon);
                let v = f.speed_kmh.max(MIN_SPEED_KMH) / 3.6;
                (Some(d), Some(d * self.config.detour_factor / v))
            }
            None => (None, None),
        };
        let note = serde_json::json!({"checkpoint_id": cp.id, "code": cp.code, "eta_secs": eta_secs, "distance_m": distance_m}).to_string();
        let (record, created) = store::request_intercept(
            &self.db,
            &store::NewIntercept {
                alarm_id: alarm.id,
                checkpoint_id: cp.id,
                unit_id: cp.unit_id,
                requested_by,
                eta_secs,
                distance_m,
                note,
            },
        )
        .await?;
        let view = intercept_view(record, &cp);
        if created {
            metrics::counter!("vigil_intercepts_requested_total").increment(1);
            self.bus.publish(BusEvent::Intercept {
                action: AlarmAction::InterceptRequested,
                alarm: alarm.clone(),
                intercept: view.clone(),
            });
        }
        Ok((view, created))
    }
}

fn intercept_view(r: store::InterceptRecord, cp: &Checkpoint) -> Intercept {
    Intercept {
        id: r.id,
        alarm_id: r.alarm_id,
        checkpoint_id: r.checkpoint_id,
        checkpoint_code: cp.code.clone(),
        checkpoint_name: cp.name.clone(),
        lat: cp.lat,
        lon: cp.lon,
        unit_id: r.unit_id,
        requested_by: r.requested_by,
        eta_secs: r.eta_secs,
        distance_m: r.distance_m,
        requested_at: r.requested_at,
    }
}

/// Great-circle distance, metres (haversine on a 6,371,008.8 m sphere).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * a.sqrt().min(1.0).asin()
}
