//! Indexed geofences with drift-proof enter/exit detection (being written).
