//! Where a straight track segment lies inside one camera's view sector.
//!
//! Works on a local equirectangular projection in metres around the camera (x east, y north).
//! Over a camera's range (tens of metres) and a 30 s segment (≤ 1 km) the projection's error
//! is below 1e-4 of the distance (1 cm at 100 m), far under GPS error.
//!
//! The sector's boundary is the range circle plus two rays. Along the segment
//! `P(s) = A + s·(B − A)`, `s ∈ [0, 1]`, membership can only change where the segment crosses the
//! circle (two roots of a quadratic) or the lines carrying the rays (one root each). Those
//! breakpoints, plus 0, 1 and the closest approach to the camera, cut `[0, 1]` into at most six
//! pieces; each piece is in or out as a whole, decided at its midpoint. This is exact for any
//! field of view, convex (≤ 180°) or not, without case analysis.

use crate::segments::METRES_PER_DEGREE;

use super::Camera;

/// Smallest cosine of latitude used for the east–west scale: keeps everything finite at the
/// poles (such cameras are not realistic, but must not panic).
const MIN_COS_LAT: f64 = 1e-9;

/// One camera's view, precomputed for repeated segment tests.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct View {
    lat: f64,
    lon: f64,
    /// Metres per degree of longitude at the camera.
    kx: f64,
    r2: f64,
    /// Unit facing vector (east, north) and the cosine of the half field of view; `None` when
    /// any direction counts (unknown facing or a field of view of 360° or more).
    sector: Option<Sector>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sector {
    facing: (f64, f64),
    cos_half: f64,
    /// Directions of the two boundary rays.
    edges: [(f64, f64); 2],
}

/// One maximal piece of a segment inside a view: `s0..=s1`, and the closest approach in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Run {
    pub s0: f64,
    pub s1: f64,
    pub s_closest: f64,
    pub distance_m: f64,
}

impl View {
    /// `None` for a camera that cannot be placed: non-finite values, lat outside ±90, lon outside
    /// ±180 or a negative range.
    pub(crate) fn new(c: &Camera) -> Option<View> {
        let placed = c.lat.is_finite()
            && c.lon.is_finite()
            && c.lat.abs() <= 90.0
            && c.lon.abs() <= 180.0
            && c.range_m.is_finite()
            && c.range_m >= 0.0;
        if !placed {
            return None;
        }
        let kx = METRES_PER_DEGREE * c.lat.to_radians().cos().max(MIN_COS_LAT);
        let half = if c.fov_deg.is_nan() {
            180.0
        } else {
            (c.fov_deg / 2.0).clamp(0.0, 180.0)
        };
        let sector = match c.facing_deg {
            Some(f) if f.is_finite() && half < 180.0 => {
                let unit = |deg: f64| {
                    let r = deg.to_radians();
                    (r.sin(), r.cos())
                };
                Some(Sector {
                    facing: unit(f),
                    cos_half: half.to_radians().cos(),
                    edges: [unit(f - half), unit(f + half)],
                })
            }
            _ => None,
        };
        Some(View {
            lat: c.lat,
            lon: c.lon,
            kx,
            r2: c.range_m * c.range_m,
            sector,
        })
    }

    /// The range circle's bounding box in degrees `[min_lon, min_lat, max_lon, max_lat]`,
    /// padded by a relative 1e-9 so rounding never drops a camera the exact test would keep.
    pub(crate) fn bbox(&self) -> [f64; 4] {
        let r = self.r2.sqrt() * (1.0 + 1e-9) + 1e-6;
        let dy = r / METRES_PER_DEGREE;
        let dx = (r / self.kx).min(360.0);
        [self.lon - dx, self.lat - dy, self.lon + dx, self.lat + dy]
    }

    /// `(lat, lon)` in local metres (east, north) around the camera.
    pub(crate) fn local(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            (lon - self.lon) * self.kx,
            (lat - self.lat) * METRES_PER_DEGREE,
        )
    }

    /// Whether a local point is inside the view (range circle and sector, boundary included).
    pub(crate) fn contains(&self, p: (f64, f64)) -> bool {
        let d2 = p.0 * p.0 + p.1 * p.1;
        if d2 > self.r2 {
            return false;
        }
        match self.sector {
            None => true,
            // The camera's own position counts; elsewhere the angle to the facing is at most
            // half the field of view: cos(angle)·|p| ≥ cos(half)·|p|.
            Some(s) => d2 == 0.0 || dot(p, s.facing) >= s.cos_half * d2.sqrt(),
        }
    }

    /// Calls `f` with each maximal run of the segment `a → b` (local metres) inside the view,
    /// in order along the segment. At most three runs (a sector wider than 180° can split the
    /// segment), usually none or one.
    pub(crate) fn runs(&self, a: (f64, f64), b: (f64, f64), mut f: impl FnMut(Run)) {
        let d = (b.0 - a.0, b.1 - a.1);
        let dd = dot(d, d);
        let mut cuts = [0.0f64; 8];
        let mut n = 0;
        let mut push = |s: f64| {
            if s > 0.0 && s < 1.0 {
                cuts[n] = s;
                n += 1;
            }
        };
        // Parameter of the closest approach on the whole line (0 when standing still).
        let s_star = if dd > 0.0 { -dot(a, d) / dd } else { 0.0 };
        // Most R-tree candidates of a segment never come within range (its box is much bigger
        // than the segment's neighbourhood): reject them before the sector work.
        let closest = at_point(a, d, s_star.clamp(0.0, 1.0));
        if dot(closest, closest) > self.r2 {
            return;
        }
        if dd > 0.0 {
            push(s_star);
            // |a + s·d|² = r²  ⇔  dd·s² + 2(a·d)·s + (a·a − r²) = 0.
            let half_b = dot(a, d);
            let c = dot(a, a) - self.r2;
            let disc = half_b * half_b - dd * c;
            if disc >= 0.0 {
                let root = disc.sqrt();
                push((-half_b - root) / dd);
                push((-half_b + root) / dd);
            }
            if let Some(sector) = self.sector {
                for e in sector.edges {
                    // cross(e, a + s·d) = 0.
                    let denom = cross(e, d);
                    if denom != 0.0 {
                        push(-cross(e, a) / denom);
                    }
                }
            }
        }
        cuts[n] = 0.0;
        cuts[n + 1] = 1.0;
        let cuts = &mut cuts[..n + 2];
        cuts.sort_unstable_by(f64::total_cmp);

        let at = |s: f64| at_point(a, d, s);
        let mut current: Option<(f64, f64)> = None;
        let emit = |s0: f64, s1: f64, f: &mut dyn FnMut(Run)| {
            let s = s_star.clamp(s0, s1);
            let p = at(s);
            f(Run {
                s0,
                s1,
                s_closest: s,
                distance_m: dot(p, p).sqrt(),
            });
        };
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            if hi <= lo {
                continue;
            }
            let inside = self.contains(at((lo + hi) / 2.0));
            match (inside, current) {
                (true, Some((s0, _))) => current = Some((s0, hi)),
                (true, None) => current = Some((lo, hi)),
                (false, Some((s0, s1))) => {
                    emit(s0, s1, &mut f);
                    current = None;
                }
                (false, None) => {}
            }
        }
        if let Some((s0, s1)) = current {
            emit(s0, s1, &mut f);
        }
    }
}

fn at_point(a: (f64, f64), d: (f64, f64), s: f64) -> (f64, f64) {
    (a.0 + s * d.0, a.1 + s * d.1)
}

fn dot(a: (f64, f64), b: (f64, f64)) -> f64 {
    a.0 * b.0 + a.1 * b.1
}

fn cross(a: (f64, f64), b: (f64, f64)) -> f64 {
    a.0 * b.1 - a.1 * b.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(facing: Option<f64>, fov: f64, range: f64) -> View {
        View::new(&Camera {
            id: 1,
            lat: 30.0,
            lon: 114.0,
            facing_deg: facing,
            fov_deg: fov,
            range_m: range,
        })
        .expect("valid")
    }

    fn runs(v: &View, a: (f64, f64), b: (f64, f64)) -> Vec<Run> {
        let mut out = Vec::new();
        v.runs(a, b, |r| out.push(r));
        out
    }

    #[test]
    fn east_west_road_through_a_north_facing_90_degree_sector() {
        // Camera 20 m south of the road, facing north, 90° wide, 60 m range: the road (y = 20)
        // is in view for |x| <= 20 (the 45° edges).
        let v = cam(Some(0.0), 90.0, 60.0);
        let r = runs(&v, (-100.0, 20.0), (100.0, 20.0));
        assert_eq!(r.len(), 1);
        assert!(
            (r[0].s0 - 0.4).abs() < 1e-12 && (r[0].s1 - 0.6).abs() < 1e-12,
            "{r:?}"
        );
        assert!((r[0].s_closest - 0.5).abs() < 1e-12);
        assert!((r[0].distance_m - 20.0).abs() < 1e-9);
        // Facing south: nothing.
        assert!(runs(&cam(Some(180.0), 90.0, 60.0), (-100.0, 20.0), (100.0, 20.0)).is_empty());
        // Unknown facing: the whole chord of the 60 m circle, |x| <= sqrt(60² − 20²).
        let r = runs(&cam(None, 90.0, 60.0), (-100.0, 20.0), (100.0, 20.0));
        let half = (3600.0f64 - 400.0).sqrt();
        assert!((r[0].s0 - (100.0 - half) / 200.0).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn reflex_sector_can_split_a_segment() {
        // 300° view facing north leaves a 60° gap facing south; a segment crossing that gap
        // below the camera is seen on both sides of it.
        let v = cam(Some(0.0), 300.0, 60.0);
        let r = runs(&v, (-50.0, -10.0), (50.0, -10.0));
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].s1 < 0.5 && r[1].s0 > 0.5);
    }

    #[test]
    fn standing_still_and_the_camera_point() {
        let v = cam(Some(90.0), 60.0, 50.0);
        let r = runs(&v, (10.0, 0.0), (10.0, 0.0));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].s0, r[0].s1), (0.0, 1.0));
        assert!(runs(&v, (-10.0, 0.0), (-10.0, 0.0)).is_empty());
        assert!(v.contains((0.0, 0.0)));
    }
}
