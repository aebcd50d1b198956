//! Validated fence shapes in WGS84 lon/lat, compiled for fast point tests.

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{Coord, Distance, Intersects, Line, LineString, MultiPolygon, Point, Polygon};
use serde::{Deserialize, Serialize};

use crate::error::FenceError;
use crate::segments::{Location, METRES_PER_DEGREE, SegmentIndex, segment_distance_m};

/// Largest accepted circle radius (metres): beyond this a "circle" is a continent.
pub const MAX_RADIUS_M: f64 = 5_000_000.0;
/// Largest accepted corridor half-width (metres).
pub const MAX_HALF_WIDTH_M: f64 = 100_000.0;

/// Which side of a fence a point is on, given a margin (see [`FenceShape::classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Inside and at least `margin` metres from the boundary.
    Inside,
    /// Outside and at least `margin` metres from the boundary.
    Outside,
    /// Within `margin` metres of the boundary: too close to call.
    Near,
}

/// A validated fence geometry: an area (polygons with holes), a geodesic circle or a corridor.
///
/// Areas and corridors are planar in lon/lat (RFC 7946: straight edges between positions, no
/// edge may span more than 180° of longitude, antimeridian-crossing areas are split into a
/// multipolygon). Circles are geodesic (haversine distance from the centre), so they may cross
/// the antimeridian or cover a pole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FenceShape {
    geom: Geom,
    /// Lon/lat bounding box `[min_lon, min_lat, max_lon, max_lat]` of the covered area;
    /// for a circle crossing the antimeridian min_lon > max_lon.
    bbox: [f64; 4],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Geom {
    Area {
        /// All rings, each stored closed (last == first), back to back.
        coords: Vec<Coord<f64>>,
        /// `coords[ring_start[i]..ring_start[i + 1]]` is ring `i`.
        ring_start: Vec<u32>,
        /// `ring_start[poly_start[j]]` is polygon `j`'s exterior; its holes follow.
        poly_start: Vec<u32>,
        /// Written back as a GeoJSON `Polygon` rather than `MultiPolygon`.
        single: bool,
        segments: SegmentIndex,
    },
    Circle {
        center: Coord<f64>,
        radius_m: f64,
    },
    Corridor {
        coords: Vec<Coord<f64>>,
        half_width_m: f64,
        segments: SegmentIndex,
    },
}

/// A read-only view of a shape's geometry, for writing it out.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeView<'a> {
    /// Polygons, each a list of closed rings (exterior first); `single` = one GeoJSON Polygon.
    Area {
        /// Polygons as rings of positions.
        polygons: Vec<Vec<&'a [Coord<f64>]>>,
        /// Whether it came from (and goes back to) a single `Polygon`.
        single: bool,
    },
    /// Geodesic circle.
    Circle {
        /// Centre (x = lon, y = lat).
        center: Coord<f64>,
        /// Radius in metres.
        radius_m: f64,
    },
    /// Line with a half-width.
    Corridor {
        /// The route's positions.
        line: &'a [Coord<f64>],
        /// Half-width in metres.
        half_width_m: f64,
    },
}

fn valid_position(c: Coord<f64>) -> bool {
    c.x.is_finite()
        && c.y.is_finite()
        && (-180.0..=180.0).contains(&c.x)
        && (-90.0..=90.0).contains(&c.y)
}

fn check_position(c: Coord<f64>, at: impl FnOnce() -> String) -> Result<(), FenceError> {
    if valid_position(c) {
        Ok(())
    } else {
        Err(FenceError::BadCoordinate {
            at: at(),
            lon: c.x,
            lat: c.y,
        })
    }
}

/// One edge during validation, with enough context to name it in an error.
struct Edge {
    a: Coord<f64>,
    b: Coord<f64>,
    ring: u32,
    /// Index of the start vertex within its (deduplicated) ring.
    k: u32,
    /// Number of edges in its ring.
    ring_edges: u32,
    /// Original (pre-deduplication) vertex index, for the error path.
    orig: u32,
}

impl FenceShape {
    /// A polygon with optional holes; paths in errors are `coordinates[ring][vertex]`.
    pub fn polygon(polygon: &Polygon<f64>) -> Result<Self, FenceError> {
        let rings: Vec<Vec<Coord<f64>>> = std::iter::once(polygon.exterior())
            .chain(polygon.interiors())
            .map(|r| r.0.clone())
            .collect();
        Self::area_from_rings("", vec![rings], true)
    }

    /// A multipolygon; paths in errors are `coordinates[polygon][ring][vertex]`.
    pub fn multi_polygon(mp: &MultiPolygon<f64>) -> Result<Self, FenceError> {
        let polys =
            mp.0.iter()
                .map(|p| {
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(|r| r.0.clone())
                        .collect()
                })
                .collect();
        Self::area_from_rings("", polys, false)
    }

    /// A geodesic circle around `center` (x = lon, y = lat) of `radius_m` metres.
    pub fn circle(center: Point<f64>, radius_m: f64) -> Result<Self, FenceError> {
        Self::circle_at("", "", center.0, radius_m)
    }

    /// A corridor: every point within `half_width_m` metres of `line` (round end caps).
    pub fn corridor(line: &LineString<f64>, half_width_m: f64) -> Result<Self, FenceError> {
        Self::corridor_at("", "", &line.0, half_width_m)
    }

    pub(crate) fn circle_at(
        prefix: &str,
        props: &str,
        center: Coord<f64>,
        radius_m: f64,
    ) -> Result<Self, FenceError> {
        check_position(center, || format!("{prefix}coordinates"))?;
        if !(radius_m.is_finite() && radius_m > 0.0 && radius_m <= MAX_RADIUS_M) {
            return Err(FenceError::BadRadius {
                at: format!("{props}radius"),
                value: radius_m,
                max: MAX_RADIUS_M,
            });
        }
        let r_deg = radius_m / METRES_PER_DEGREE;
        let (lat_lo, lat_hi) = (center.y - r_deg, center.y + r_deg);
        let bbox = if lat_hi >= 90.0 || lat_lo <= -90.0 {
            // The circle covers a pole: every longitude is inside somewhere.
            [-180.0, lat_lo.max(-90.0), 180.0, lat_hi.min(90.0)]
        } else {
            // Exact longitude half-extent of a spherical cap, plus a hair for rounding.
            let ang = radius_m / geo::Haversine.radius();
            let half = (ang.sin() / center.y.to_radians().cos())
                .clamp(-1.0, 1.0)
                .asin()
                .to_degrees()
                * (1.0 + 1e-9)
                + 1e-9;
            let (mut lo, mut hi) = (center.x - half, center.x + half);
            if lo < -180.0 {
                lo += 360.0;
            }
            if hi > 180.0 {
                hi -= 360.0;
            }
            [lo, lat_lo, hi, lat_hi]
        };
        Ok(FenceShape {
            geom: Geom::Circle { center, radius_m },
            bbox,
        })
    }

    pub(crate) fn corridor_at(
        prefix: &str,
        props: &str,
        line: &[Coord<f64>],
        half_width_m: f64,
    ) -> Result<Self, FenceError> {
        if !(half_width_m.is_finite() && half_width_m > 0.0 && half_width_m <= MAX_HALF_WIDTH_M) {
            return Err(FenceError::BadHalfWidth {
                at: format!("{props}half_width"),
                value: half_width_m,
                max: MAX_HALF_WIDTH_M,
            });
        }
        let mut coords: Vec<Coord<f64>> = Vec::with_capacity(line.len());
        for (i, &c) in line.iter().enumerate() {
            check_position(c, || format!("{prefix}coordinates[{i}]"))?;
            if coords.last() != Some(&c) {
                if let Some(&prev) = coords.last() {
                    check_edge_span(prev, c, || format!("{prefix}coordinates[{}]", i - 1))?;
                }
                coords.push(c);
            }
        }
        if coords.len() < 2 {
            return Err(FenceError::TooFewPoints {
                at: format!("{prefix}coordinates"),
                needed: 2,
                found: coords.len(),
            });
        }
        let starts: Vec<u32> = (0..coords.len() as u32 - 1).collect();
        let segments = SegmentIndex::build(&coords, &starts, 0.0);
        let bbox = padded_bounds(&coords, half_width_m);
        Ok(FenceShape {
            geom: Geom::Corridor {
                coords,
                half_width_m,
                segments,
            },
            bbox,
        })
    }

    /// Validates and compiles polygons given as rings; `prefix` is prepended to error paths.
    pub(crate) fn area_from_rings(
        prefix: &str,
        polygons: Vec<Vec<Vec<Coord<f64>>>>,
        single: bool,
    ) -> Result<Self, FenceError> {
        let ring_path = |p: usize, r: usize| {
            if single {
                format!("{prefix}coordinates[{r}]")
            } else {
                format!("{prefix}coordinates[{p}][{r}]")
            }
        };
        if polygons.is_empty() {
            return Err(FenceError::TooFewPoints {
                at: format!("{prefix}coordinates"),
                needed: 1,
                found: 0,
            });
        }
        let mut coords = Vec::new();
        let mut ring_start = Vec::new();
        let mut poly_start = Vec::new();
        let mut edges: Vec<Edge> = Vec::new();
        let mut ring_paths = Vec::new();
        for (p, rings) in polygons.iter().enumerate() {
            if rings.is_empty() {
                return Err(FenceError::TooFewPoints {
                    at: format!("{prefix}coordinates[{p}]"),
                    needed: 1,
                    found: 0,
                });
            }
            poly_start.push(ring_start.len() as u32);
            for (r, ring) in rings.iter().enumerate() {
                let path = ring_path(p, r);
                for (v, &c) in ring.iter().enumerate() {
                    check_position(c, || format!("{path}[{v}]"))?;
                }
                // Drop repeated consecutive positions (common in exported data, harmless).
                let mut clean: Vec<(Coord<f64>, u32)> = Vec::with_capacity(ring.len() + 1);
                for (v, &c) in ring.iter().enumerate() {
                    if clean.last().map(|l| l.0) != Some(c) {
                        clean.push((c, v as u32));
                    }
                }
                if clean.len() > 1 && clean[0].0 == clean[clean.len() - 1].0 {
                    clean.pop();
                }
                if clean.len() < 3 {
                    return Err(FenceError::TooFewPoints {
                        at: path,
                        needed: 3,
                        found: clean.len(),
                    });
                }
                let ring_id = ring_start.len() as u32;
                let base = coords.len();
                ring_start.push(base as u32);
                let n = clean.len();
                for (k, &(c, orig)) in clean.iter().enumerate() {
                    let next = clean[(k + 1) % n].0;
                    check_edge_span(c, next, || format!("{path}[{orig}]"))?;
                    edges.push(Edge {
                        a: c,
                        b: next,
                        ring: ring_id,
                        k: k as u32,
                        ring_edges: n as u32,
                        orig,
                    });
                    coords.push(c);
                }
                coords.push(clean[0].0);
                ring_paths.push(path);
            }
        }
        ring_start.push(coords.len() as u32);
        check_no_intersections(prefix, &edges, &ring_paths)?;

        // Ring nesting: holes inside their exterior and not inside sibling holes; polygons not
        // inside each other. Edges never cross (checked above), so testing one vertex suffices.
        let ring = |i: usize| &coords[ring_start[i] as usize..ring_start[i + 1] as usize];
        let ring_bounds: Vec<(f64, f64, f64, f64)> =
            (0..ring_start.len() - 1).map(|i| bounds(ring(i))).collect();
        let inside_ring = |i: usize, c: Coord<f64>| {
            let b = ring_bounds[i];
            c.x >= b.0 && c.x <= b.2 && c.y >= b.1 && c.y <= b.3 && ring_contains(ring(i), c)
        };
        poly_start.push(ring_start.len() as u32 - 1);
        for p in 0..poly_start.len() - 1 {
            let (ext, end) = (poly_start[p] as usize, poly_start[p + 1] as usize);
            for (h, hole_path) in ring_paths.iter().enumerate().take(end).skip(ext + 1) {
                let probe = ring(h)[0];
                let misplaced = !inside_ring(ext, probe)
                    || (ext + 1..end).any(|o| o != h && inside_ring(o, probe));
                if misplaced {
                    return Err(FenceError::MisplacedHole {
                        at: hole_path.clone(),
                    });
                }
            }
            let exteriors = &poly_start[..poly_start.len() - 1];
            for (q, &other_ext) in exteriors.iter().enumerate() {
                if q != p && inside_ring(other_ext as usize, ring(ext)[0]) {
                    return Err(FenceError::NestedPolygon {
                        at: if single {
                            format!("{prefix}coordinates")
                        } else {
                            format!("{prefix}coordinates[{p}]")
                        },
                        other: q,
                    });
                }
            }
        }
        poly_start.pop();

        let starts: Vec<u32> = (0..ring_start.len() - 1)
            .flat_map(|i| ring_start[i]..ring_start[i + 1] - 1)
            .collect();
        let segments = SegmentIndex::build(&coords, &starts, 0.0);
        let (x0, y0, x1, y1) = bounds(&coords);
        Ok(FenceShape {
            geom: Geom::Area {
                coords,
                ring_start,
                poly_start,
                single,
                segments,
            },
            bbox: [x0, y0, x1, y1],
        })
    }

    /// Boxes to index the shape under: one for an area; one or two (split at the antimeridian)
    /// for a circle; one per run of 4 segments for a corridor, because a winding route's
    /// overall box is mostly empty and would make it a candidate for far too many points.
    pub(crate) fn index_boxes(&self, out: &mut Vec<[f64; 4]>) {
        const CORRIDOR_CHUNK: usize = 4;
        let [x0, y0, x1, y1] = self.bbox;
        match &self.geom {
            Geom::Area { .. } => out.push(self.bbox),
            Geom::Circle { .. } if x0 <= x1 => out.push(self.bbox),
            Geom::Circle { .. } => {
                out.push([x0, y0, 180.0, y1]);
                out.push([-180.0, y0, x1, y1]);
            }
            Geom::Corridor {
                coords,
                half_width_m,
                ..
            } => {
                let mut start = 0;
                while start + 1 < coords.len() {
                    let end = (start + CORRIDOR_CHUNK).min(coords.len() - 1);
                    out.push(padded_bounds(&coords[start..=end], *half_width_m));
                    start = end;
                }
            }
        }
    }

    /// Bounding box `[min_lon, min_lat, max_lon, max_lat]`; a circle across the antimeridian
    /// has `min_lon > max_lon` (it covers `[min_lon, 180]` and `[-180, max_lon]`).
    pub fn bbox(&self) -> [f64; 4] {
        self.bbox
    }

    /// The geometry, for writing it out.
    pub fn view(&self) -> ShapeView<'_> {
        match &self.geom {
            Geom::Area {
                coords,
                ring_start,
                poly_start,
                single,
                ..
            } => {
                let rings = ring_start.len() - 1;
                let polygons = (0..poly_start.len())
                    .map(|p| {
                        let end = poly_start.get(p + 1).map_or(rings, |&e| e as usize);
                        (poly_start[p] as usize..end)
                            .map(|r| &coords[ring_start[r] as usize..ring_start[r + 1] as usize])
                            .collect()
                    })
                    .collect();
                ShapeView::Area {
                    polygons,
                    single: *single,
                }
            }
            Geom::Circle { center, radius_m } => ShapeView::Circle {
                center: *center,
                radius_m: *radius_m,
            },
            Geom::Corridor {
                coords,
                half_width_m,
                ..
            } => ShapeView::Corridor {
                line: coords,
                half_width_m: *half_width_m,
            },
        }
    }

    /// Number of stored positions (a size measure for memory reports).
    pub fn vertex_count(&self) -> usize {
        match &self.geom {
            Geom::Area { coords, .. } | Geom::Corridor { coords, .. } => coords.len(),
            Geom::Circle { .. } => 1,
        }
    }

    fn in_bbox(&self, p: Coord<f64>) -> bool {
        let [x0, y0, x1, y1] = self.bbox;
        p.y >= y0
            && p.y <= y1
            && if x0 <= x1 {
                p.x >= x0 && p.x <= x1
            } else {
                p.x >= x0 || p.x <= x1
            }
    }

    /// Whether the shape contains `p` (x = lon, y = lat); the boundary counts as inside.
    pub fn contains(&self, p: Coord<f64>) -> bool {
        if !self.in_bbox(p) {
            return false;
        }
        match &self.geom {
            Geom::Area {
                coords, segments, ..
            } => segments.locate(coords, p) != Location::Outside,
            Geom::Circle { center, radius_m } => haversine_m(p, *center) <= *radius_m,
            Geom::Corridor {
                coords,
                half_width_m,
                segments,
            } => segments.nearest_within(coords, p, *half_width_m).is_some(),
        }
    }

    /// Inside/outside by at least `margin_m` metres, or [`Side::Near`] the boundary.
    ///
    /// Cheap in the common case: a point outside the margin-inflated bounding box costs four
    /// comparisons; otherwise one exact location plus a distance check limited to the edges
    /// within `margin_m` (found through the band index).
    pub fn classify(&self, p: Coord<f64>, margin_m: f64) -> Side {
        let margin_m = margin_m.max(0.0);
        if !self.near_bbox(p, margin_m) {
            return Side::Outside;
        }
        match &self.geom {
            Geom::Area {
                coords, segments, ..
            } => {
                if margin_m == 0.0 {
                    return if segments.locate(coords, p) == Location::Outside {
                        Side::Outside
                    } else {
                        Side::Inside
                    };
                }
                segments.classify(coords, p, margin_m)
            }
            Geom::Circle { center, radius_m } => {
                let d = haversine_m(p, *center);
                side_from_distance(d - radius_m, margin_m)
            }
            Geom::Corridor {
                coords,
                half_width_m,
                segments,
            } => match segments.nearest_within(coords, p, half_width_m + margin_m) {
                None => Side::Outside,
                Some(d) => side_from_distance(d - half_width_m, margin_m),
            },
        }
    }

    /// Signed distance to the boundary in metres (negative inside), by brute force.
    ///
    /// Slow (visits every edge); meant for tests, diagnostics and one-off questions.
    pub fn signed_distance_m(&self, p: Coord<f64>) -> f64 {
        match &self.geom {
            Geom::Area {
                coords, ring_start, ..
            } => {
                let mut best = f64::INFINITY;
                for r in 0..ring_start.len() - 1 {
                    let ring = &coords[ring_start[r] as usize..ring_start[r + 1] as usize];
                    for w in ring.windows(2) {
                        best = best.min(segment_distance_m(p, w[0], w[1]));
                    }
                }
                if self.contains(p) { -best } else { best }
            }
            Geom::Circle { center, radius_m } => haversine_m(p, *center) - radius_m,
            Geom::Corridor {
                coords,
                half_width_m,
                ..
            } => {
                let d = coords
                    .windows(2)
                    .map(|w| segment_distance_m(p, w[0], w[1]))
                    .fold(f64::INFINITY, f64::min);
                d - half_width_m
            }
        }
    }

    /// Whether `p` is within `margin_m` of the bounding box (conservative).
    fn near_bbox(&self, p: Coord<f64>, margin_m: f64) -> bool {
        if margin_m == 0.0 {
            return self.in_bbox(p);
        }
        let [x0, y0, x1, y1] = self.bbox;
        let dy = margin_m / METRES_PER_DEGREE * (1.0 + 1e-9);
        if p.y < y0 - dy || p.y > y1 + dy {
            return false;
        }
        let cos = (p.y.abs() + dy).min(90.0).to_radians().cos();
        if cos <= 1e-6 {
            return true;
        }
        let dx = dy / cos;
        if x0 <= x1 {
            p.x >= x0 - dx && p.x <= x1 + dx
        } else {
            p.x >= x0 - dx || p.x <= x1 + dx
        }
    }
}

fn side_from_distance(signed: f64, margin_m: f64) -> Side {
    if margin_m == 0.0 {
        if signed <= 0.0 {
            Side::Inside
        } else {
            Side::Outside
        }
    } else if signed < -margin_m {
        Side::Inside
    } else if signed > margin_m {
        Side::Outside
    } else {
        Side::Near
    }
}

/// Great-circle distance in metres on geo's mean-radius sphere.
pub(crate) fn haversine_m(a: Coord<f64>, b: Coord<f64>) -> f64 {
    geo::Haversine.distance(Point(a), Point(b))
}

/// Bounds of `coords` widened by `pad_m` metres (conservatively, using the widest longitude
/// degree-to-metre ratio in the box), clamped to the valid range.
fn padded_bounds(coords: &[Coord<f64>], pad_m: f64) -> [f64; 4] {
    let (x0, y0, x1, y1) = bounds(coords);
    let pad_lat = pad_m / METRES_PER_DEGREE * (1.0 + 1e-9) + 1e-9;
    let worst_lat = (y0.abs().max(y1.abs()) + pad_lat).min(90.0);
    let cos = worst_lat.to_radians().cos();
    let pad_lon = if cos > 1e-6 { pad_lat / cos } else { 360.0 };
    [
        (x0 - pad_lon).max(-180.0),
        (y0 - pad_lat).max(-90.0),
        (x1 + pad_lon).min(180.0),
        (y1 + pad_lat).min(90.0),
    ]
}

fn bounds(coords: &[Coord<f64>]) -> (f64, f64, f64, f64) {
    coords.iter().fold(
        (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ),
        |(x0, y0, x1, y1), c| (x0.min(c.x), y0.min(c.y), x1.max(c.x), y1.max(c.y)),
    )
}

fn check_edge_span(
    a: Coord<f64>,
    b: Coord<f64>,
    at: impl FnOnce() -> String,
) -> Result<(), FenceError> {
    let span = (b.x - a.x).abs();
    if span > 180.0 {
        Err(FenceError::AntimeridianEdge {
            at: at(),
            span_deg: span,
        })
    } else {
        Ok(())
    }
}

/// Plain parity test against one closed ring (validation only; boundary counts as inside).
fn ring_contains(ring: &[Coord<f64>], p: Coord<f64>) -> bool {
    let starts: Vec<u32> = (0..ring.len() as u32 - 1).collect();
    SegmentIndex::build(ring, &starts, 0.0).locate(ring, p) != Location::Outside
}

/// Rejects any two edges that cross, touch or overlap, except consecutive edges of one ring
/// meeting at their shared vertex. Sweep over edges sorted by min longitude: O(n log n) for
/// ordinary shapes, unlike geo's all-pairs check, which matters for 5,000-vertex boundaries.
fn check_no_intersections(
    prefix: &str,
    edges: &[Edge],
    ring_paths: &[String],
) -> Result<(), FenceError> {
    let mut order: Vec<(f64, u32)> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| (e.a.x.min(e.b.x), i as u32))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (oi, &(_, i)) in order.iter().enumerate() {
        let e = &edges[i as usize];
        let x_max = e.a.x.max(e.b.x);
        let (y_min, y_max) = (e.a.y.min(e.b.y), e.a.y.max(e.b.y));
        for &(x_min_f, j) in &order[oi + 1..] {
            if x_min_f > x_max {
                break;
            }
            let f = &edges[j as usize];
            if f.a.y.max(f.b.y) < y_min || f.a.y.min(f.b.y) > y_max {
                continue;
            }
            let (first, second) = if e.ring < f.ring || (e.ring == f.ring && e.k < f.k) {
                (e, f)
            } else {
                (f, e)
            };
            let adjacent = first.ring == second.ring
                && (second.k == first.k + 1 || (first.k == 0 && second.k + 1 == second.ring_edges));
            let bad = if adjacent {
                // Consecutive edges share a vertex; they are invalid only if they fold back onto
                // each other (a zero-width spike).
                let (shared, u, v) = if second.k == first.k + 1 {
                    (first.b, first.a, second.b)
                } else {
                    (first.a, first.b, second.a)
                };
                let collinear = RobustKernel::orient2d(u, shared, v) == Orientation::Collinear;
                collinear
                    && ((u.x - shared.x) * (v.x - shared.x) + (u.y - shared.y) * (v.y - shared.y))
                        > 0.0
                    || first.ring_edges < 3
            } else {
                Line::new(first.a, first.b).intersects(&Line::new(second.a, second.b))
            };
            if bad {
                let near = match geo::line_intersection::line_intersection(
                    Line::new(first.a, first.b),
                    Line::new(second.a, second.b),
                ) {
                    Some(geo::LineIntersection::SinglePoint { intersection, .. }) => intersection,
                    Some(geo::LineIntersection::Collinear { intersection }) => intersection.start,
                    None => second.a,
                };
                return Err(FenceError::SelfIntersection {
                    at: if prefix.is_empty() {
                        "shape".to_string()
                    } else {
                        prefix.trim_end_matches('.').to_string()
                    },
                    first: format!("{}[{}]", ring_paths[first.ring as usize], first.orig),
                    second: format!("{}[{}]", ring_paths[second.ring as usize], second.orig),
                    lon: near.x,
                    lat: near.y,
                });
            }
        }
    }
    Ok(())
}
