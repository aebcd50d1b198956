//! The MQTT topic names: where devices publish their positions and where the server
//! publishes alarms and pursuit positions. The HTTP API tells a device its topic and the
//! broker's ACL admits subscriptions by them, so the names live here, below both transports.

/// The topic a device publishes its positions to.
pub fn position_topic(device: &str) -> String {
    format!("vigil/{device}/position")
}

/// Alarms of a patrol unit.
pub fn unit_alarms_topic(unit_id: i64) -> String {
    format!("vigil/units/{unit_id}/alarms")
}

/// Alarms of a device.
pub fn device_alarms_topic(unique_id: &str) -> String {
    format!("vigil/devices/{unique_id}/alarms")
}

/// Pursuit positions for a patrol unit.
pub fn unit_positions_topic(unit_id: i64) -> String {
    format!("vigil/units/{unit_id}/positions")
}

/// Pursuit positions of a device.
pub fn device_live_topic(unique_id: &str) -> String {
    format!("vigil/devices/{unique_id}/live")
}

/// Intercept requests for the checkpoints a patrol unit staffs.
pub fn unit_intercepts_topic(unit_id: i64) -> String {
    format!("vigil/units/{unit_id}/intercepts")
}
