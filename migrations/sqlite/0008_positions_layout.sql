-- Positions clustered by (device_id, fix_time): one B-tree instead of a rowid table plus two
-- device-keyed indexes (the unique key and the covering track index of 0005). A stored fix
-- now writes one leaf (its device's) instead of three, the file holds each row once, and a
-- device-day is a sequential read of the table itself. Figures and the alternatives measured:
-- loadtest/README.md ("SQLite positions layout") and server/src/storage/sqlite/insert.rs.
--
-- `id` stays (the API's `Position.id`): no longer the rowid, a plain column the insert
-- assigns from `positions_seq` (one row: the last id handed out), so ids keep growing in
-- arrival order and the existing ones are kept. No index on it: nothing looks a position up
-- by id.
--
-- The whole table is copied (in key order); on a large database this migration takes a
-- while (the server starts when it is done) and needs the table's size again in free disk.
CREATE TABLE positions_clustered (
    id              INTEGER NOT NULL,
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
    attributes      TEXT    NOT NULL DEFAULT '{}',
    -- One fix per device and fix time: a retried frame is stored once.
    PRIMARY KEY (device_id, fix_time)
) WITHOUT ROWID;

INSERT INTO positions_clustered (id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes)
SELECT id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course, altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging, battery_level, battery_voltage, alarms, attributes
FROM positions ORDER BY device_id, fix_time;

CREATE TABLE positions_seq (
    last_id INTEGER NOT NULL
);
INSERT INTO positions_seq (last_id) SELECT COALESCE(MAX(id), 0) FROM positions;

DROP TABLE positions;
ALTER TABLE positions_clustered RENAME TO positions;
