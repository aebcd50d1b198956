-- Alarms, patrol units, fences and arming (SQLite dialect). Keep in step with
-- ../postgres/0002_alarms.sql.

CREATE TABLE patrol_units (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL
);

-- A fence as GeoJSON (one Feature, the geofence crate's format); `unit_id` is set for
-- jurisdictions (the patrol unit responsible for the area).
CREATE TABLE fences (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL DEFAULT '',
    kind        TEXT    NOT NULL,
    unit_id     INTEGER REFERENCES patrol_units (id) ON DELETE SET NULL,
    feature     TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE TABLE device_fences (
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    fence_id    INTEGER NOT NULL REFERENCES fences (id) ON DELETE CASCADE,
    PRIMARY KEY (device_id, fence_id)
);

-- Per-device alarm settings and the armed state, which must survive a restart.
CREATE TABLE device_guard (
    device_id        INTEGER PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    armed            INTEGER NOT NULL DEFAULT 0,
    armed_lat        REAL,
    armed_lon        REAL,
    changed_at       TEXT    NOT NULL,
    changed_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    speed_limit_kmh  REAL
);

CREATE TABLE alarms (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('open', 'acknowledged', 'assigned', 'resolved')),
    unit_id     INTEGER REFERENCES patrol_units (id) ON DELETE SET NULL,
    count       INTEGER NOT NULL DEFAULT 1,
    first_time  TEXT    NOT NULL,
    last_time   TEXT    NOT NULL,
    lat         REAL,
    lon         REAL,
    evidence    TEXT    NOT NULL DEFAULT '[]',
    outcome     TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX alarms_device_kind ON alarms (device_id, kind, status);
CREATE INDEX alarms_status ON alarms (status, id);

-- The lifecycle: who did what, when.
CREATE TABLE alarm_actions (
    id          INTEGER PRIMARY KEY,
    alarm_id    INTEGER NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    user_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    unit_id     INTEGER,
    note        TEXT,
    time        TEXT    NOT NULL
);
CREATE INDEX alarm_actions_alarm ON alarm_actions (alarm_id, id);

-- Webhook subscribers (alarm events, HMAC-SHA256 signed) and their delivery log.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event       TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dropped')),
    attempts    INTEGER NOT NULL,
    http_status INTEGER,
    error       TEXT,
    time        TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
