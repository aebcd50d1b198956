//! Patrol units: the units alarms are routed to.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A patrol unit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatrolUnit {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Alarms outside every jurisdiction go here.
    pub is_default: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}
