//! Use cases: what the transports ask for, on top of storage.

pub mod access;
pub mod alarms;
pub mod auth;
pub mod batcher;
pub mod bus;
pub mod commands;
pub mod device_sessions;
pub mod fences;
pub mod health;
pub mod ingest;
pub mod linkage;
pub mod push;
pub mod retention;
pub mod webhooks;
