-- Vigil schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql (same tables,
-- same columns, same meaning). Times are stored as RFC 3339 text (sqlx's chrono encoding).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    created_at    TEXT    NOT NULL
);

CREATE TABLE api_sessions (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL
);
CREATE INDEX api_sessions_user ON api_sessions (user_id);

CREATE TABLE devices (
    id              INTEGER PRIMARY KEY,
    unique_id       TEXT    NOT NULL UNIQUE,
    protocol        TEXT,
    name            TEXT    NOT NULL DEFAULT '',
    claimed         INTEGER NOT NULL DEFAULT 0,
    owner_id        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    mqtt_token      TEXT,
    auth_code       TEXT,
    command_profile TEXT    NOT NULL DEFAULT '{}',
    created_at      TEXT    NOT NULL,
    last_seen_at    TEXT
);

CREATE TABLE positions (
    id              INTEGER PRIMARY KEY,
    device_id       INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    fix_time        TEXT    NOT NULL,
    server_time     TEXT    NOT NULL,
    lat             REAL    NOT NULL,
    lon             REAL    NOT NULL,
    valid           INTEGER NOT NULL,
    speed_kmh       REAL    NOT NULL,
    course          REAL,
    altitude_m      REAL,
    satellites      INTEGER,
    accuracy_m      REAL,
    odometer_m      INTEGER,
    archived        INTEGER NOT NULL DEFAULT 0,
    ignition        INTEGER,
    armed           INTEGER,
    charging        INTEGER,
    battery_level   INTEGER,
    battery_voltage REAL,
    alarms          TEXT    NOT NULL DEFAULT '',
    attributes      TEXT    NOT NULL DEFAULT '{}'
);
-- One fix per device and fix time: a retried frame (JT808 resend after a lost 0x8001) is
-- stored once. The same index serves "one device, time range".
CREATE UNIQUE INDEX positions_device_time ON positions (device_id, fix_time);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    time       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    device_id  INTEGER REFERENCES devices (id) ON DELETE SET NULL,
    unique_id  TEXT,
    protocol   TEXT,
    peer       TEXT,
    detail     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_device ON events (device_id, id);
