//! The `geofence` crate's linkage API as the server uses it: coordinate systems ([`crs`]),
//! camera passes and checkpoints ahead ([`linkage`]), hot-spot grid cells ([`grid_cells`]).
//! TEMPORARY: served by [`super::engine_shim`] until the `linkage-engine` branch is merged.

pub use super::engine_shim::{crs, grid_cells, linkage};
