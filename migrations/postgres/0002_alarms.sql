-- Alarms, patrol units, fences and arming (PostgreSQL dialect). Keep in step with
-- ../sqlite/0002_alarms.sql.

CREATE TABLE patrol_units (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ    NOT NULL
);

-- A fence as GeoJSON (one Feature, the geofence crate's format); `unit_id` is set for
-- jurisdictions (the patrol unit responsible for the area).
CREATE TABLE fences (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT    NOT NULL DEFAULT '',
    kind        TEXT    NOT NULL,
    unit_id     BIGINT REFERENCES patrol_units (id) ON DELETE SET NULL,
    feature     TEXT    NOT NULL,
    created_at TIMESTAMPTZ    NOT NULL
);

CREATE TABLE device_fences (
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    fence_id    BIGINT NOT NULL REFERENCES fences (id) ON DELETE CASCADE,
    PRIMARY KEY (device_id, fence_id)
);

-- Per-device alarm settings and the armed state, which must survive a restart.
CREATE TABLE device_guard (
    device_id        BIGINT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    armed            BOOLEAN NOT NULL DEFAULT FALSE,
    armed_lat        DOUBLE PRECISION,
    armed_lon        DOUBLE PRECISION,
    changed_at TIMESTAMPTZ    NOT NULL,
    changed_by       BIGINT REFERENCES users (id) ON DELETE SET NULL,
    speed_limit_kmh  DOUBLE PRECISION
);

CREATE TABLE alarms (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('open', 'acknowledged', 'assigned', 'resolved')),
    unit_id     BIGINT REFERENCES patrol_units (id) ON DELETE SET NULL,
    count       BIGINT NOT NULL DEFAULT 1,
    first_time TIMESTAMPTZ    NOT NULL,
    last_time TIMESTAMPTZ    NOT NULL,
    lat         DOUBLE PRECISION,
    lon         DOUBLE PRECISION,
    evidence    TEXT    NOT NULL DEFAULT '[]',
    outcome     TEXT,
    created_at TIMESTAMPTZ    NOT NULL,
    updated_at TIMESTAMPTZ    NOT NULL
);
CREATE INDEX alarms_device_kind ON alarms (device_id, kind, status);
CREATE INDEX alarms_status ON alarms (status, id);

-- The lifecycle: who did what, when.
CREATE TABLE alarm_actions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id    BIGINT NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    unit_id     BIGINT,
    note        TEXT,
    time TIMESTAMPTZ    NOT NULL
);
CREATE INDEX alarm_actions_alarm ON alarm_actions (alarm_id, id);

-- Webhook subscribers (alarm events, HMAC-SHA256 signed) and their delivery log.
CREATE TABLE webhooks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_deliveries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id  BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event       TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dropped')),
    attempts    BIGINT NOT NULL,
    http_status BIGINT,
    error       TEXT,
    time        TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
