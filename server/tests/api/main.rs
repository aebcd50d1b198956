//! Integration tests: the whole server on port-0 listeners, on SQLite and on PostgreSQL.
#![allow(missing_docs)]

mod helpers;
mod linecodec;

mod alarms;
mod api;
mod backup;
mod batcher;
mod commands;
mod deploy;
mod gateway;
mod ingest_guard;
mod ingest_paths;
mod layers;
mod lifecycle;
mod linkage;
mod logins;
mod migrations;
mod mqtt;
mod openapi;
mod outage;
mod permissions;
mod push;
mod real_codecs;
mod realtime;
mod retention;
mod rights;
mod rules;
mod schema;
mod traccar;
mod traccar_client;
mod trajectory;
mod web;
