//! How the world reaches Vigil: device sockets, MQTT and HTTP.

pub mod gateway;
pub mod http;
pub mod mqtt;
