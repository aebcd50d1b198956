//! osmand codec (being written).
