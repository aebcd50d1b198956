-- Per-device alarm-rule state that must survive a restart (PostgreSQL dialect; keep in step
-- with ../sqlite/0006_alarm_state.sql): the geofence trackers (JSON of
-- `geofence::DeviceTrackers`) and whether the vehicle has left its armed circle, so a restart
-- does not raise enter/exit again for a device already inside/outside. Numbered 0006 so it
-- does not collide with 0004/0005 of branches in flight.
CREATE TABLE alarm_state (
    device_id   BIGINT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    state       TEXT        NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
