//! The HTTP API's handlers, one module per resource; the route table (`super::routes`) says
//! who may call each one.

pub mod alarms;
pub mod auth;
pub mod commands;
pub mod devices;
pub mod events;
pub mod fences;
pub mod keys;
pub mod linkage;
pub mod ops;
pub mod places;
pub mod push;
pub mod stats;
pub mod stream;
pub mod trajectory;
pub mod units;
pub mod users;
pub mod webhooks;
