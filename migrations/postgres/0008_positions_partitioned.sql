-- positions, PostgreSQL only: one table partitioned by RANGE of fix_time, a partition per UTC
-- week (Monday 00:00 UTC to the next Monday), plus a DEFAULT partition for any fix outside the
-- weeks that have a partition (a device clock in 1990 or 2100). Why weekly: a device-day is in
-- one partition; retention drops a whole week at most 7 days late (2% of disk over 365 days,
-- where monthly keeps up to 31 days more); a year is 53 partitions, which keeps planning and
-- the per-partition probes of "latest position" cheap (daily would be 366).
--
-- The server creates the coming weeks' partitions ahead of time and drops those older than
-- `positions_retention_days` (server/src/storage/postgres/partitions.rs); this migration moves
-- an existing table over: every row keeps its id, and the id sequence continues where it was.
--
-- What changes: no primary key on id (a unique constraint on a partitioned table must contain
-- the partition key; nothing looks a position up by id, the API only shows it). Ids still
-- come from the one identity sequence of the parent. The unique (device_id, fix_time) key with
-- the track columns INCLUDEd (0005) exists on every partition, which is what enforces it: a
-- (device, fix time) pair always routes to the same partition. The foreign key to devices is
-- the same. No other table references positions.

ALTER TABLE positions RENAME TO positions_unpartitioned;
ALTER INDEX positions_device_time RENAME TO positions_unpartitioned_device_time;
ALTER INDEX positions_pkey RENAME TO positions_unpartitioned_pkey;
ALTER SEQUENCE positions_id_seq RENAME TO positions_unpartitioned_id_seq;

CREATE TABLE positions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    device_id       BIGINT           NOT NULL,
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
) PARTITION BY RANGE (fix_time);

CREATE TABLE positions_default PARTITION OF positions DEFAULT;

-- A partition for every week that holds rows, from 2000 (the server stores no older fix) to
-- five weeks ahead; anything else stays in the default partition. Names: positions_wYYYYMMDD,
-- the Monday the week starts (UTC), which the server reads back.
DO $$
DECLARE
    week TIMESTAMPTZ;
BEGIN
    FOR week IN
        SELECT DISTINCT date_trunc('week', fix_time, 'UTC') FROM positions_unpartitioned
        WHERE fix_time >= TIMESTAMPTZ '2000-01-03 00:00:00+00'
          AND fix_time < date_trunc('week', now(), 'UTC') + INTERVAL '840 hours'
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF positions FOR VALUES FROM (%L) TO (%L)',
            'positions_w' || to_char(week AT TIME ZONE 'UTC', 'YYYYMMDD'),
            week,
            week + INTERVAL '168 hours'
        );
    END LOOP;
END
$$;

-- The rows, ids kept; the index and the foreign key are built afterwards (one sort and one
-- join instead of a B-tree insert and a trigger per row).
INSERT INTO positions (id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course,
        altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging,
        battery_level, battery_voltage, alarms, attributes)
    OVERRIDING SYSTEM VALUE
    SELECT id, device_id, fix_time, server_time, lat, lon, valid, speed_kmh, course,
        altitude_m, satellites, accuracy_m, odometer_m, archived, ignition, armed, charging,
        battery_level, battery_voltage, alarms, attributes
    FROM positions_unpartitioned;

-- The next id is the one the old table would have given.
SELECT setval(pg_get_serial_sequence('positions', 'id'), s.last_value, s.is_called)
FROM positions_unpartitioned_id_seq s;

CREATE UNIQUE INDEX positions_device_time ON positions (device_id, fix_time)
    INCLUDE (lat, lon, speed_kmh, course, altitude_m, valid);
ALTER TABLE positions ADD CONSTRAINT positions_device_id_fkey
    FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE;

DROP TABLE positions_unpartitioned;
ANALYZE positions;
