//! h02 codec (being written).
