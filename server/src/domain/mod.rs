//! The domain: what Vigil is about, with no database, HTTP or sockets.

pub mod actor;
pub mod alarms;
pub mod commands;
pub mod login_throttle;
pub mod rules;
pub mod scope;
pub mod topics;
pub mod trajectory;
