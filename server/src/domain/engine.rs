//! The `geofence` crate's linkage API as the server uses it: coordinate systems ([`crs`]),
//! camera passes and checkpoints ahead ([`linkage`]), hot-spot grid cells ([`grid_cells`]).

pub use geofence::{crs, grid_cells, linkage};
