//! Errors for fence construction and GeoJSON input.

use thiserror::Error;

/// Why a fence or its GeoJSON was rejected; `at` is a GeoJSON-style path to the offending part.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FenceError {
    /// A position is NaN/infinite or outside lon [-180, 180] / lat [-90, 90].
    #[error(
        "{at}: position ({lon}, {lat}) is not a valid WGS84 lon/lat (finite, lon in [-180, 180], lat in [-90, 90])"
    )]
    BadCoordinate {
        /// Where the position is.
        at: String,
        /// Longitude as given.
        lon: f64,
        /// Latitude as given.
        lat: f64,
    },
    /// A GeoJSON polygon ring whose last position differs from its first.
    #[error("{at}: ring is not closed: first position {first:?} differs from last {last:?}")]
    UnclosedRing {
        /// Where the ring is.
        at: String,
        /// First position of the ring.
        first: [f64; 2],
        /// Last position of the ring.
        last: [f64; 2],
    },
    /// A ring or line with too few distinct positions.
    #[error("{at}: needs at least {needed} distinct positions, found {found}")]
    TooFewPoints {
        /// Where the ring or line is.
        at: String,
        /// Minimum number of distinct positions.
        needed: usize,
        /// Number of distinct positions found.
        found: usize,
    },
    /// Two edges of a polygon (same or different rings) cross, touch or overlap.
    #[error(
        "{at}: edge starting at {first} intersects edge starting at {second} near ({lon}, {lat})"
    )]
    SelfIntersection {
        /// Which shape.
        at: String,
        /// Path of the first edge's start position.
        first: String,
        /// Path of the second edge's start position.
        second: String,
        /// Approximate longitude of the intersection.
        lon: f64,
        /// Approximate latitude of the intersection.
        lat: f64,
    },
    /// A hole that is not inside its polygon's exterior ring, or lies inside another hole.
    #[error("{at}: hole is not inside the exterior ring, or lies inside another hole")]
    MisplacedHole {
        /// Where the hole is.
        at: String,
    },
    /// A multipolygon component lying inside another component.
    #[error("{at}: polygon lies inside polygon {other} of the same multipolygon")]
    NestedPolygon {
        /// Where the inner polygon is.
        at: String,
        /// Index of the enclosing polygon.
        other: usize,
    },
    /// An edge spanning more than 180° of longitude (crosses the antimeridian).
    #[error(
        "{at}: edge spans {span_deg}° of longitude; split shapes at the antimeridian (RFC 7946 §3.1.9)"
    )]
    AntimeridianEdge {
        /// Where the edge starts.
        at: String,
        /// Longitude span of the edge in degrees.
        span_deg: f64,
    },
    /// A circle radius that is not finite, <= 0, or absurdly large.
    #[error("{at}: radius {value} m must be finite, > 0 and <= {max} m")]
    BadRadius {
        /// Where the radius is.
        at: String,
        /// The radius as given.
        value: f64,
        /// Largest accepted radius.
        max: f64,
    },
    /// A corridor half-width that is not finite, <= 0, or absurdly large.
    #[error("{at}: corridor half-width {value} m must be finite, > 0 and <= {max} m")]
    BadHalfWidth {
        /// Where the half-width is.
        at: String,
        /// The half-width as given.
        value: f64,
        /// Largest accepted half-width.
        max: f64,
    },
    /// Structurally wrong GeoJSON (parse error, missing or mistyped member).
    #[error("{at}: {message}")]
    GeoJson {
        /// Where the problem is.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// Two fences with the same id in one batch.
    #[error("{at}: duplicate fence id {id}")]
    DuplicateId {
        /// Where the second occurrence is.
        at: String,
        /// The repeated id.
        id: u64,
    },
}
