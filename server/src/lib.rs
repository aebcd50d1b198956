//! Vigil server library: gateway, durable ingest, storage, HTTP API.
//!
//! `vigil serve` is a thin wrapper around [`app::Application`]; integration tests start the
//! same application on port-0 listeners.

pub mod access;
pub mod api;
pub mod app;
pub mod auth;
pub mod batcher;
pub mod codecs;
pub mod commands;
pub mod db;
pub mod gateway;
pub mod mqtt;
pub mod osmand;
pub mod registry;
pub mod settings;
pub mod telemetry;
pub mod trajectory;

pub use app::{Application, StartError};
pub use settings::Settings;
