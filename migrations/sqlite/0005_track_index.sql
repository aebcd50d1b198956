-- Trajectory reads (one device, a time range, the columns a track needs) are answered from
-- this covering index alone: the entries of one device are adjacent, in time order, so a
-- device-day is a short sequential read instead of one table lookup per fix scattered over a
-- table where every device's fixes interleave.
CREATE INDEX positions_track ON positions (device_id, fix_time, lat, lon, speed_kmh, course, altitude_m, valid);
