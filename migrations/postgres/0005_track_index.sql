-- Trajectory reads (one device, a time range, the columns a track needs) are answered by an
-- index-only scan: the unique (device_id, fix_time) index now carries the track columns, so
-- a device-day is a short sequential read of one index instead of one heap fetch per fix
-- scattered over a table where every device's fixes interleave. Same uniqueness, one index.
CREATE UNIQUE INDEX positions_device_time_track ON positions (device_id, fix_time)
    INCLUDE (lat, lon, speed_kmh, course, altitude_m, valid);
DROP INDEX positions_device_time;
ALTER INDEX positions_device_time_track RENAME TO positions_device_time;
