//! The domain: what Vigil is about, with no database, HTTP or sockets.

pub mod actor;
pub mod alarms;
pub mod commands;
pub mod devices;
pub mod engine;
pub mod events;
pub mod linkage;
pub mod linkage_import;
pub mod login_throttle;
pub mod positions;
pub mod push;
pub mod rules;
pub mod scope;
pub mod stats;
pub mod topics;
pub mod trajectory;
pub mod units;
pub mod users;
pub mod webhooks;

pub use devices::{Device, NewDevice};
pub use events::{DeviceEvent, NewDeviceEvent};
pub use positions::{PositionRow, StoredPosition, TrackPoint};
pub use users::{ApiKey, Profile, Role, User};
