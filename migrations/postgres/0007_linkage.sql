-- Video patrol, ground patrol and checkpoints (issue 15; PostgreSQL dialect, keep in step with
-- ../sqlite/0007_linkage.sql): the county's cameras, the police checkpoints, and the
-- intercept requests sent to checkpoints for an alarm (once per alarm and checkpoint).
-- Positions are WGS-84 (imports in GCJ-02 / BD-09 are converted before they get here).

CREATE TABLE cameras (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A GB/T 28181 20-digit device code where there is one (checked when it looks like one).
    code              TEXT    NOT NULL UNIQUE,
    name              TEXT    NOT NULL DEFAULT '',
    lat               DOUBLE PRECISION NOT NULL,
    lon               DOUBLE PRECISION NOT NULL,
    -- Degrees clockwise from north; NULL = unknown direction (any direction counts).
    facing_deg        DOUBLE PRECISION,
    fov_deg           DOUBLE PRECISION NOT NULL DEFAULT 90,
    range_m           DOUBLE PRECISION NOT NULL DEFAULT 60,
    kind              TEXT    NOT NULL CHECK (kind IN ('public', 'institution', 'social', 'rural', 'traffic')),
    unit_id           BIGINT  REFERENCES patrol_units (id) ON DELETE SET NULL,
    video_device_id   TEXT,
    video_channel_id  TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX cameras_unit ON cameras (unit_id);
CREATE INDEX cameras_position ON cameras (lat, lon);

CREATE TABLE checkpoints (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code           TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL DEFAULT '',
    lat            DOUBLE PRECISION NOT NULL,
    lon            DOUBLE PRECISION NOT NULL,
    unit_id        BIGINT  REFERENCES patrol_units (id) ON DELETE SET NULL,
    -- `HH:MM-HH:MM` (local time, may wrap past midnight); NULL = always staffed / unknown.
    staffed_hours  TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX checkpoints_unit ON checkpoints (unit_id);

CREATE TABLE intercept_requests (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id       BIGINT  NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    checkpoint_id  BIGINT  NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    -- The checkpoint's unit when the request was made (the unit that was notified).
    unit_id        BIGINT  REFERENCES patrol_units (id) ON DELETE SET NULL,
    requested_by   BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    -- Estimated arrival at the checkpoint when requested (NULL: no fix to estimate from).
    eta_secs       DOUBLE PRECISION,
    distance_m     DOUBLE PRECISION,
    requested_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (alarm_id, checkpoint_id)
);
