//! Indexed geofences with drift-proof enter/exit detection.
//!
//! * [`FenceShape`]: validated polygon/multipolygon with holes, geodesic circle, or corridor
//!   (line + half-width), in WGS84 lon/lat with distances in metres.
//! * [`Fence`]: a shape with id, tenant, [`FenceKind`] and name; GeoJSON in and out via
//!   [`fences_from_geojson`] / [`fences_to_geojson`].
//! * [`FenceIndex`]: immutable spatial-index snapshot answering "which fences contain p (among S)";
//!   [`SharedFenceIndex`] swaps snapshots so readers never block while fences are edited.
//! * [`FenceTracker`] / [`DeviceTrackers`]: per (device, fence) hysteresis state machines that
//!   turn jittery fixes into confirmed [`FenceEvent`]s.
//! * [`linkage`]: cameras a track passed ([`linkage::CameraIndex`]) and checkpoints ahead of a
//!   moving vehicle ([`linkage::checkpoints_ahead`]).
//! * [`crs`]: WGS-84 ⇄ GCJ-02 ⇄ BD-09 (the offset map systems used in China).
//! * [`grid_cells`]: square grid cells for hot-spot statistics.
//!
//! Pure: no I/O, no runtime.

pub mod crs;
mod error;
mod fence;
mod geojson_io;
mod grid;
pub mod grid_cells;
mod index;
pub mod linkage;
mod packed;
mod segments;
mod shape;
pub mod synth;
mod tracker;

pub use error::FenceError;
pub use fence::{Fence, FenceId, FenceKind};
pub use geojson_io::{
    fence_from_feature, fence_to_feature, fences_from_geojson, fences_to_geojson,
};
pub use index::{FenceChange, FenceIndex, SharedFenceIndex};
pub use shape::{FenceShape, MAX_HALF_WIDTH_M, MAX_RADIUS_M, ShapeView, Side};
pub use tracker::{
    DeviceTrackers, FenceEvent, FenceTracker, Fix, TrackedFence, TrackerConfig, Transition,
};

/// Re-exported so callers can build shapes without naming the `geo` version themselves.
pub use geo;
