//! Latitude-band index over the edges of one shape.
//!
//! The shape's latitude range is cut into equal bands; each band lists the edges whose latitude
//! range (padded by `pad_deg`) overlaps it. A point-in-polygon test then looks only at the edges
//! of the point's band (a handful even for a 5,000-vertex county), and a "is any edge within d
//! metres" test only at the bands covering `lat ± d`. This is the same idea as geo's
//! `IntervalTreeMultiPolygon`, flattened into two `u32` arrays so it costs ~10 bytes per edge and
//! also answers distance questions, which the tracker's margin test needs.

use geo::Coord;
use geo::kernels::{Kernel, Orientation, RobustKernel};
use serde::{Deserialize, Serialize};

/// Metres per degree of latitude on geo's mean-radius sphere (the one `Haversine` uses).
pub(crate) const METRES_PER_DEGREE: f64 = geo::Haversine.radius() * std::f64::consts::PI / 180.0;

/// Where a point lies relative to a closed area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Inside,
    OnBoundary,
    Outside,
}

/// Band index over segments `(coords[k], coords[k + 1])` for each `k` in the indexed starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SegmentIndex {
    y_min: f64,
    /// Bands per degree of latitude.
    inv_band_height: f64,
    /// `band_start[b]..band_start[b + 1]` is band `b`'s slice of `items`.
    band_start: Vec<u32>,
    /// Segment start indices into the shape's coordinate array.
    items: Vec<u32>,
}

impl SegmentIndex {
    /// Builds the index; `pad_deg` widens each segment's latitude range (corridor half-width).
    pub(crate) fn build(coords: &[Coord<f64>], starts: &[u32], pad_deg: f64) -> Self {
        let mut y_min = f64::INFINITY;
        let mut y_max = f64::NEG_INFINITY;
        for &k in starts {
            let (a, b) = (coords[k as usize], coords[k as usize + 1]);
            y_min = y_min.min(a.y.min(b.y) - pad_deg);
            y_max = y_max.max(a.y.max(b.y) + pad_deg);
        }
        // About two segments per band keeps bands at ~4 entries (long edges span several bands)
        // while the per-band offsets cost only 2 bytes per edge.
        let bands = (starts.len() / 2).clamp(1, 1 << 20);
        let height = (y_max - y_min).max(1e-12);
        let inv_band_height = bands as f64 / height;
        let band_of = |y: f64| -> usize {
            let b = ((y - y_min) * inv_band_height).floor();
            if b <= 0.0 {
                0
            } else {
                (b as usize).min(bands - 1)
            }
        };
        // Two passes (count, then fill) so the arrays are allocated exactly once.
        let mut counts = vec![0u32; bands + 1];
        for &k in starts {
            let (a, b) = (coords[k as usize], coords[k as usize + 1]);
            for band in band_of(a.y.min(b.y) - pad_deg)..=band_of(a.y.max(b.y) + pad_deg) {
                counts[band + 1] += 1;
            }
        }
        for i in 1..=bands {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        let mut items = vec![0u32; counts[bands] as usize];
        for &k in starts {
            let (a, b) = (coords[k as usize], coords[k as usize + 1]);
            for band in band_of(a.y.min(b.y) - pad_deg)..=band_of(a.y.max(b.y) + pad_deg) {
                items[fill[band] as usize] = k;
                fill[band] += 1;
            }
        }
        SegmentIndex {
            y_min,
            inv_band_height,
            band_start: counts,
            items,
        }
    }

    fn bands(&self) -> usize {
        self.band_start.len() - 1
    }

    fn band_of(&self, y: f64) -> usize {
        let b = ((y - self.y_min) * self.inv_band_height).floor();
        if b <= 0.0 {
            0
        } else {
            (b as usize).min(self.bands() - 1)
        }
    }

    fn band(&self, band: usize) -> &[u32] {
        &self.items[self.band_start[band] as usize..self.band_start[band + 1] as usize]
    }

    /// Exact closed-set point location by crossing parity (robust orientation predicates).
    ///
    /// Parity instead of winding number means ring orientation does not matter; validation
    /// guarantees rings neither cross nor nest wrongly, so parity equals the OGC answer.
    pub(crate) fn locate(&self, coords: &[Coord<f64>], p: Coord<f64>) -> Location {
        let mut inside = false;
        for &k in self.band(self.band_of(p.y)) {
            let (a, b) = (coords[k as usize], coords[k as usize + 1]);
            let crosses = (a.y > p.y) != (b.y > p.y);
            let in_box = p.y >= a.y.min(b.y)
                && p.y <= a.y.max(b.y)
                && p.x >= a.x.min(b.x)
                && p.x <= a.x.max(b.x);
            if !crosses && !in_box {
                continue;
            }
            // Segments wholly left of p cannot be crossed by the rightward ray or contain p.
            if a.x.max(b.x) < p.x {
                continue;
            }
            let o = RobustKernel::orient2d(a, b, p);
            if o == Orientation::Collinear && in_box {
                return Location::OnBoundary;
            }
            if crosses {
                let upward = b.y > a.y;
                if (upward && o == Orientation::CounterClockwise)
                    || (!upward && o == Orientation::Clockwise)
                {
                    inside = !inside;
                }
            }
        }
        if inside {
            Location::Inside
        } else {
            Location::Outside
        }
    }

    /// Inside/outside by more than `margin_m`, or near: one pass over the bands within the
    /// margin, doing the parity count on the point's own band as it goes.
    pub(crate) fn classify(
        &self,
        coords: &[Coord<f64>],
        p: Coord<f64>,
        margin_m: f64,
    ) -> crate::shape::Side {
        use crate::shape::Side;
        let ky = METRES_PER_DEGREE;
        let kx = METRES_PER_DEGREE * p.y.to_radians().cos().max(0.0);
        let dy = margin_m / ky;
        let dx = if kx > 1e-6 {
            margin_m / kx
        } else {
            f64::INFINITY
        };
        let limit2 = margin_m * margin_m;
        let own = self.band_of(p.y);
        let mut inside = false;
        for band in self.band_of(p.y - dy)..=self.band_of(p.y + dy) {
            for &k in self.band(band) {
                let (a, b) = (coords[k as usize], coords[k as usize + 1]);
                if band == own && (a.y > p.y) != (b.y > p.y) && a.x.max(b.x) >= p.x {
                    let o = RobustKernel::orient2d(a, b, p);
                    let upward = b.y > a.y;
                    if (upward && o == Orientation::CounterClockwise)
                        || (!upward && o == Orientation::Clockwise)
                    {
                        inside = !inside;
                    }
                }
                if a.x.min(b.x) > p.x + dx
                    || a.x.max(b.x) < p.x - dx
                    || a.y.min(b.y) > p.y + dy
                    || a.y.max(b.y) < p.y - dy
                {
                    continue;
                }
                // Also catches p exactly on the edge (distance 0), so no separate boundary test.
                if segment_distance2(
                    (a.x - p.x) * kx,
                    (a.y - p.y) * ky,
                    (b.x - p.x) * kx,
                    (b.y - p.y) * ky,
                ) <= limit2
                {
                    return Side::Near;
                }
            }
        }
        if inside { Side::Inside } else { Side::Outside }
    }

    /// Smallest local-metric distance (metres) from `p` to any segment, if one is within `limit_m`.
    ///
    /// Distances use an equirectangular projection centred on `p` (x scaled by cos(lat p)),
    /// which is accurate to well under a metre for the tens-to-hundreds of metres that margin
    /// decisions involve; farther segments only need to be known to be farther.
    pub(crate) fn nearest_within(
        &self,
        coords: &[Coord<f64>],
        p: Coord<f64>,
        limit_m: f64,
    ) -> Option<f64> {
        let ky = METRES_PER_DEGREE;
        let kx = METRES_PER_DEGREE * p.y.to_radians().cos().max(0.0);
        let dy = limit_m / ky;
        // Near the poles cos(lat) -> 0 and any longitude may be close: skip the x filter.
        let dx = if kx > 1e-6 {
            limit_m / kx
        } else {
            f64::INFINITY
        };
        let mut best = f64::INFINITY;
        let limit2 = limit_m * limit_m;
        let (first, last) = (self.band_of(p.y - dy), self.band_of(p.y + dy));
        for band in first..=last {
            for &k in self.band(band) {
                let (a, b) = (coords[k as usize], coords[k as usize + 1]);
                if a.x.min(b.x) > p.x + dx
                    || a.x.max(b.x) < p.x - dx
                    || a.y.min(b.y) > p.y + dy
                    || a.y.max(b.y) < p.y - dy
                {
                    continue;
                }
                let d2 = segment_distance2(
                    (a.x - p.x) * kx,
                    (a.y - p.y) * ky,
                    (b.x - p.x) * kx,
                    (b.y - p.y) * ky,
                );
                if d2 <= limit2 && d2 < best {
                    best = d2;
                }
            }
        }
        best.is_finite().then(|| best.sqrt())
    }
}

/// Squared distance from the origin to segment (ax, ay)-(bx, by).
fn segment_distance2(ax: f64, ay: f64, bx: f64, by: f64) -> f64 {
    let (vx, vy) = (bx - ax, by - ay);
    let len2 = vx * vx + vy * vy;
    let t = if len2 > 0.0 {
        (-(ax * vx + ay * vy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (ax + t * vx, ay + t * vy);
    cx * cx + cy * cy
}

/// Local-metric distance (metres) from `p` to segment a-b, unbounded (for brute-force use).
pub(crate) fn segment_distance_m(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    let ky = METRES_PER_DEGREE;
    let kx = METRES_PER_DEGREE * p.y.to_radians().cos().max(0.0);
    segment_distance2(
        (a.x - p.x) * kx,
        (a.y - p.y) * ky,
        (b.x - p.x) * kx,
        (b.y - p.y) * ky,
    )
    .sqrt()
}
