//! Vigil server library: gateway, durable ingest, storage, HTTP API.
//!
//! `vigil serve` is a thin wrapper around [`app::Application`]; integration tests start the
//! same application on port-0 listeners.

pub mod access;
pub mod alarms;
pub mod api;
pub mod app;
pub mod auth;
pub mod batcher;
pub mod bus;
pub mod codecs;
pub mod commands;
pub mod db;
pub mod fences;
pub mod gateway;
pub mod ingest;
pub mod mqtt;
pub mod mqtt_acl;
pub mod mqtt_alarms;
pub mod osmand;
pub mod registry;
pub mod settings;
pub mod sink;
pub mod stream;
pub mod telemetry;
pub mod trajectory;
pub mod web;
pub mod webhooks;

pub use app::{Application, StartError};
pub use settings::Settings;
