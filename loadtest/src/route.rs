//! Plausible routes: a vehicle wandering a few km around a centre at city speeds, or leaving
//! the circle for good.

use chrono::{DateTime, Utc};
use protocol::{Alarm, LatLon, Position};

/// A small deterministic generator (xorshift64*), enough for routes and shares.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Kilometres per degree of latitude.
const KM_PER_DEG: f64 = 111.32;

/// Great-circle-free distance in km (equirectangular, fine at a few km).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dlat = (b.0 - a.0) * KM_PER_DEG;
    let dlon = (b.1 - a.1) * KM_PER_DEG * a.0.to_radians().cos();
    (dlat * dlat + dlon * dlon).sqrt()
}

/// One simulated vehicle's movement and clock.
#[derive(Debug, Clone)]
pub struct Route {
    lat: f64,
    lon: f64,
    heading: f64,
    speed_kmh: f64,
    center: (f64, f64),
    radius_km: f64,
    leaver: bool,
    outside: bool,
    time: DateTime<Utc>,
    step_secs: i64,
    odometer_m: f64,
    rng: Rng,
}

impl Route {
    /// A vehicle starting at a random point inside the circle; a `leaver` drives out of it.
    pub fn new(
        seed: u64,
        center: (f64, f64),
        radius_km: f64,
        leaver: bool,
        start: DateTime<Utc>,
        step_secs: i64,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let r = radius_km * 0.7 * rng.unit().sqrt();
        let a = rng.range(0.0, std::f64::consts::TAU);
        let lat = center.0 + r * a.cos() / KM_PER_DEG;
        let lon = center.1 + r * a.sin() / (KM_PER_DEG * center.0.to_radians().cos());
        Route {
            lat,
            lon,
            heading: rng.range(0.0, 360.0),
            speed_kmh: rng.range(15.0, 60.0),
            center,
            radius_km,
            leaver,
            outside: false,
            time: start,
            step_secs: step_secs.max(1),
            odometer_m: 0.0,
            rng,
        }
    }

    /// Whether the vehicle is (now) outside the circle.
    #[cfg(test)]
    pub fn outside(&self) -> bool {
        self.outside
    }

    /// Advances one report interval and returns the fix; `alarm` marks it with that alarm.
    /// The second value is true when this step crossed the circle outwards.
    pub fn step(&mut self, alarm: Option<Alarm>) -> (Position, bool) {
        let dt = self.step_secs as f64;
        let here = (self.lat, self.lon);
        let d = distance_km(self.center, here);
        let to_center = {
            let dy = self.center.0 - self.lat;
            let dx = (self.center.1 - self.lon) * self.lat.to_radians().cos();
            dx.atan2(dy).to_degrees().rem_euclid(360.0)
        };
        if self.leaver {
            // Head away from the centre, with a little wobble.
            self.heading = (to_center + 180.0 + self.rng.range(-10.0, 10.0)).rem_euclid(360.0);
        } else if d > self.radius_km * 0.85 {
            self.heading = (to_center + self.rng.range(-30.0, 30.0)).rem_euclid(360.0);
        } else {
            self.heading = (self.heading + self.rng.range(-20.0, 20.0)).rem_euclid(360.0);
        }
        // City traffic: speed drifts between a stop and 80 km/h.
        self.speed_kmh = (self.speed_kmh + self.rng.range(-8.0, 8.0)).clamp(0.0, 80.0);
        let km = self.speed_kmh * dt / 3600.0;
        let h = self.heading.to_radians();
        self.lat += km * h.cos() / KM_PER_DEG;
        self.lon += km * h.sin() / (KM_PER_DEG * self.lat.to_radians().cos());
        self.odometer_m += km * 1000.0;
        self.time += chrono::Duration::seconds(self.step_secs);
        let was_outside = self.outside;
        self.outside = distance_km(self.center, (self.lat, self.lon)) > self.radius_km;
        let location = LatLon::new(self.lat.clamp(-89.9, 89.9), self.lon.clamp(-179.9, 179.9))
            .unwrap_or_else(|_| LatLon::new(0.0, 0.0).expect("zero is a valid position"));
        let mut p = Position::new(self.time, location, true, self.speed_kmh as f32);
        p.course = Some(self.heading.round() as f32 % 360.0);
        p.satellites = Some(9);
        p.altitude_m = Some(35.0);
        p.odometer_m = Some(self.odometer_m as u64);
        p.status.ignition = Some(self.speed_kmh > 0.5);
        p.status.battery_level = Some(90);
        p.status.gsm_signal = Some(4);
        if let Some(a) = alarm {
            p.status.alarms.insert(a);
        }
        (p, self.outside && !was_outside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stayers_stay_and_leavers_leave() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let c = (22.54, 114.05);
        let mut stay = Route::new(1, c, 3.0, false, start, 10);
        let mut leave = Route::new(2, c, 3.0, true, start, 10);
        let mut crossed = false;
        for _ in 0..2000 {
            let (p, _) = stay.step(None);
            assert!(distance_km(c, (p.location.lat, p.location.lon)) < 3.5);
            crossed |= leave.step(None).1;
        }
        assert!(crossed && leave.outside());
    }
}
