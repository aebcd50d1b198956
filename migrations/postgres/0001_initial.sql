-- Vigil schema, PostgreSQL dialect. Keep in step with ../sqlite/0001_initial.sql (same tables,
-- same columns, same meaning).

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT        NOT NULL UNIQUE,
    name          TEXT        NOT NULL DEFAULT '',
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('admin', 'user')),
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_sessions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT        NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_sessions_user ON api_sessions (user_id);

CREATE TABLE devices (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unique_id       TEXT        NOT NULL UNIQUE,
    protocol        TEXT,
    name            TEXT        NOT NULL DEFAULT '',
    claimed         BOOLEAN     NOT NULL DEFAULT FALSE,
    owner_id        BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    mqtt_token      TEXT,
    auth_code       TEXT,
    command_profile JSONB       NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ
);

CREATE TABLE positions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id       BIGINT           NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    fix_time        TIMESTAMPTZ      NOT NULL,
    server_time     TIMESTAMPTZ      NOT NULL,
    lat             DOUBLE PRECISION NOT NULL,
    lon             DOUBLE PRECISION NOT NULL,
    valid           BOOLEAN          NOT NULL,
    speed_kmh       DOUBLE PRECISION NOT NULL,
    course          DOUBLE PRECISION,
    altitude_m      DOUBLE PRECISION,
    satellites      BIGINT,
    accuracy_m      DOUBLE PRECISION,
    odometer_m      BIGINT,
    archived        BOOLEAN          NOT NULL DEFAULT FALSE,
    ignition        BOOLEAN,
    armed           BOOLEAN,
    charging        BOOLEAN,
    battery_level   BIGINT,
    battery_voltage DOUBLE PRECISION,
    alarms          TEXT             NOT NULL DEFAULT '',
    attributes      JSONB            NOT NULL DEFAULT '{}'
);
-- One fix per device and fix time: a retried frame (JT808 resend after a lost 0x8001) is
-- stored once. The same index serves "one device, time range".
CREATE UNIQUE INDEX positions_device_time ON positions (device_id, fix_time);

CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       TIMESTAMPTZ NOT NULL,
    kind       TEXT        NOT NULL,
    device_id  BIGINT      REFERENCES devices (id) ON DELETE SET NULL,
    unique_id  TEXT,
    protocol   TEXT,
    peer       TEXT,
    detail     JSONB       NOT NULL DEFAULT '{}'
);
CREATE INDEX events_device ON events (device_id, id);
