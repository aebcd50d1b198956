//! gt06 codec (being written).
