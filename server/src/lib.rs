//! Vigil server library: gateway, durable ingest, storage, HTTP API.
//!
//! `vigil serve` is a thin wrapper around [`app::Application`]; integration tests start the
//! same application on port-0 listeners.
//!
//! The folders are layers, and imports only go down this list (a test enforces it):
//! [`app`] → [`transport`] → [`services`] → [`storage`] → [`domain`] → (`protocol`, `geofence`).

pub mod app;
pub mod domain;
pub mod services;
pub mod storage;
pub mod transport;

pub use app::settings::Settings;
pub use app::{Application, StartError};
