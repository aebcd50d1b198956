//! Deterministic synthetic data for tests, benchmarks and the load tester: fence sets, and a
//! county of cameras and checkpoints ([`County`]) for the linkage engine.

use geo::{Coord, LineString, Point, Polygon};

use crate::fence::{Fence, FenceId, FenceKind};
use crate::segments::METRES_PER_DEGREE;
use crate::shape::FenceShape;

mod county;
pub use county::{
    COUNTY, COUNTY_CAMERA_MIX, COUNTY_CAMERAS, COUNTY_CHECKPOINTS, CameraKind, County,
    CountyCamera, Town,
};

/// Small, fast, seedable PRNG (SplitMix64); good enough for synthetic data, not for secrets.
#[derive(Debug, Clone)]
pub struct SynthRng(u64);

impl SynthRng {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SynthRng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// Log-uniform in `[lo, hi)` (many small values, few large ones).
    pub fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        self.range(lo.ln(), hi.ln()).exp()
    }
}

/// Offsets `c` by metres east/north (local flat approximation).
pub fn offset(c: Coord<f64>, east_m: f64, north_m: f64) -> Coord<f64> {
    Coord {
        x: c.x + east_m / (METRES_PER_DEGREE * c.y.to_radians().cos()),
        y: c.y + north_m / METRES_PER_DEGREE,
    }
}

/// A simple star-shaped ring of `n` vertices around `center` with radii in `[r/2, r]`.
pub fn star_ring(
    rng: &mut SynthRng,
    center: Coord<f64>,
    radius_m: f64,
    n: usize,
) -> Vec<Coord<f64>> {
    let n = n.max(3);
    let mut ring: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            // Strictly increasing angles keep the ring simple.
            let angle = (i as f64 + rng.range(0.05, 0.95)) / n as f64 * std::f64::consts::TAU;
            let r = radius_m * rng.range(0.5, 1.0);
            offset(center, r * angle.cos(), r * angle.sin())
        })
        .collect();
    ring.push(ring[0]);
    ring
}

/// A smooth, irregular ring of `n` vertices around `center`, mean radius `radius_m`: a few
/// low-frequency lobes, one high-frequency wiggle (a boundary following a river or road) and
/// per-vertex noise on the scale of the vertex spacing. Closer to drawn fences and county boundaries than [`star_ring`],
/// whose every edge is a long spike.
pub fn blob_ring(
    rng: &mut SynthRng,
    center: Coord<f64>,
    radius_m: f64,
    n: usize,
) -> Vec<Coord<f64>> {
    let n = n.max(3);
    let phase: [f64; 4] = [(); 4].map(|_| rng.range(0.0, std::f64::consts::TAU));
    let wiggle = (n / 8).max(3) as f64;
    // Noise comparable to the vertex spacing (2πR/n), so edges stay short like surveyed ones.
    let noise = (1.0 / n as f64).min(0.01);
    let mut ring: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            let angle = (i as f64 + rng.range(0.3, 0.7)) / n as f64 * std::f64::consts::TAU;
            let shape = 1.0
                + 0.2 * (2.0 * angle + phase[0]).sin()
                + 0.1 * (5.0 * angle + phase[1]).sin()
                + 0.05 * (11.0 * angle + phase[2]).sin()
                + 0.003 * (wiggle * angle + phase[3]).sin();
            let r = radius_m * shape * (1.0 + rng.range(-noise, noise));
            offset(center, r * angle.cos(), r * angle.sin())
        })
        .collect();
    ring.push(ring[0]);
    ring
}

/// The region the province-scale benchmark spreads fences over: `[min_lon, min_lat, max_lon, max_lat]`
/// (about 480 × 550 km).
pub const PROVINCE: [f64; 4] = [113.0, 30.0, 118.0, 35.0];

/// A uniformly random position in `area`.
pub fn random_position(rng: &mut SynthRng, area: [f64; 4]) -> Coord<f64> {
    Coord {
        x: rng.range(area[0], area[2]),
        y: rng.range(area[1], area[3]),
    }
}

/// One random fence: 45 % polygons ([`blob_ring`], 10–500 vertices, log-uniform; 10 % with a hole),
/// 35 % circles (50 m – 2 km), 20 % corridors (2–40 vertices, half-width 20–200 m).
pub fn random_fence(rng: &mut SynthRng, id: u64, area: [f64; 4]) -> Fence {
    let center = random_position(rng, area);
    let kind = match rng.next_u64() % 4 {
        0 => FenceKind::KeepIn,
        1 => FenceKind::KeepOut,
        2 => FenceKind::Watch,
        _ => FenceKind::Jurisdiction,
    };
    let pick = rng.range(0.0, 1.0);
    let shape = if pick < 0.45 {
        let vertices = rng.log_range(10.0, 501.0) as usize;
        let radius = rng.log_range(100.0, 3000.0);
        let exterior = blob_ring(rng, center, radius, vertices);
        let holes = if rng.range(0.0, 1.0) < 0.1 {
            vec![LineString::new(blob_ring(rng, center, radius * 0.2, 8))]
        } else {
            vec![]
        };
        FenceShape::polygon(&Polygon::new(LineString::new(exterior), holes))
    } else if pick < 0.8 {
        FenceShape::circle(Point(center), rng.log_range(50.0, 2000.0))
    } else {
        let n = 2 + (rng.next_u64() % 39) as usize;
        let mut heading = rng.range(0.0, std::f64::consts::TAU);
        let mut at = center;
        let mut line = vec![at];
        for _ in 1..n {
            heading += rng.range(-0.6, 0.6);
            let step = rng.range(200.0, 1000.0);
            at = offset(at, step * heading.cos(), step * heading.sin());
            line.push(at);
        }
        FenceShape::corridor(&LineString::new(line), rng.log_range(20.0, 200.0))
    };
    // Generated shapes are valid by construction; an error here is a generator bug.
    let shape = shape.unwrap_or_else(|e| unreachable!("synthetic fence {id} invalid: {e}"));
    Fence::new(FenceId(id), kind, shape).with_tenant(id % 100)
}

/// `n` random fences with ids `0..n` spread over `area`.
pub fn random_fences(seed: u64, n: usize, area: [f64; 4]) -> Vec<Fence> {
    let mut rng = SynthRng::new(seed);
    (0..n as u64)
        .map(|id| random_fence(&mut rng, id, area))
        .collect()
}
