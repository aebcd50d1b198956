//! jt808 codec (being written).
