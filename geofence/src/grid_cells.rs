//! Square grid cells for hot-spot statistics ("where do thefts happen").
//!
//! Rows are latitude bands `cell_m` metres tall, counted from the equator. Inside a band the
//! cells are `cell_m` metres wide at the band's middle latitude, counted from the prime
//! meridian, so every cell is (very nearly) a `cell_m` square and a cell id means the same
//! place in every query with the same `cell_m`, whatever the data. Over a 1 km cell at 35° N the
//! east–west width differs from `cell_m` by at most 0.01 % between the band's edges.
//!
//! Plain arithmetic, no index: the stats query buckets alarms with [`cell_of`] and draws the
//! counted cells with [`cell_ring`].

use crate::segments::METRES_PER_DEGREE;

/// Smallest cell side accepted (metres); smaller (or NaN) values are raised to it.
pub const MIN_CELL_M: f64 = 1.0;
/// Largest cell side accepted (metres); larger values are lowered to it.
pub const MAX_CELL_M: f64 = 1_000_000.0;

/// One grid cell: `row` counts latitude bands north from the equator, `col` cells east from
/// the prime meridian (both negative to the south / west).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    /// Latitude band.
    pub row: i64,
    /// Column inside the band.
    pub col: i64,
}

fn side(cell_m: f64) -> f64 {
    if cell_m.is_nan() {
        MIN_CELL_M
    } else {
        cell_m.clamp(MIN_CELL_M, MAX_CELL_M)
    }
}

/// Band height in degrees of latitude, and cell width in degrees of longitude in band `row`.
fn band(row: i64, cell_m: f64) -> (f64, f64) {
    let h = cell_m / METRES_PER_DEGREE;
    let mid = ((row as f64 + 0.5) * h).clamp(-90.0, 90.0);
    let w = cell_m / (METRES_PER_DEGREE * mid.to_radians().cos().max(1e-9));
    (h, w)
}

/// The square cell (side `cell_m`, metres, on a local equirectangular grid anchored at 0,0 and
/// scaled at the cell's latitude band) that holds a point.
///
/// `cell_m` is clamped to [[`MIN_CELL_M`], [`MAX_CELL_M`]]. Non-finite coordinates saturate
/// (NaN → 0) instead of panicking; callers should reject them first.
pub fn cell_of(lat: f64, lon: f64, cell_m: f64) -> CellId {
    let cell_m = side(cell_m);
    let row = (lat * METRES_PER_DEGREE / cell_m).floor() as i64;
    let (_, w) = band(row, cell_m);
    CellId {
        row,
        col: (lon / w).floor() as i64,
    }
}

/// The cell's polygon: a closed ring of five `(lon, lat)` positions (GeoJSON order),
/// counter-clockwise from the south-west corner as RFC 7946 asks of exterior rings.
pub fn cell_ring(cell: CellId, cell_m: f64) -> Vec<(f64, f64)> {
    let cell_m = side(cell_m);
    let (h, w) = band(cell.row, cell_m);
    // In f64: `row + 1` would overflow for i64::MAX.
    let (row, col) = (cell.row as f64, cell.col as f64);
    let (s, n) = (row * h, (row + 1.0) * h);
    let (west, east) = (col * w, (col + 1.0) * w);
    vec![(west, s), (east, s), (east, n), (west, n), (west, s)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_squares_of_the_asked_side() {
        let c = cell_of(34.75, 113.62, 1000.0);
        let ring = cell_ring(c, 1000.0);
        assert_eq!(ring.len(), 5);
        assert_eq!(ring[0], ring[4]);
        let (west, s) = ring[0];
        let (east, n) = ring[2];
        assert!(
            west <= 113.62 && 113.62 < east && s <= 34.75 && 34.75 < n,
            "{ring:?}"
        );
        let mid = ((s + n) / 2.0).to_radians().cos();
        let width_m = (east - west) * METRES_PER_DEGREE * mid;
        let height_m = (n - s) * METRES_PER_DEGREE;
        assert!((width_m - 1000.0).abs() < 1e-6 && (height_m - 1000.0).abs() < 1e-6);
        // Neighbours share the band and edges.
        let east_cell = cell_of(34.75, east + 1e-9, 1000.0);
        assert_eq!(
            east_cell,
            CellId {
                row: c.row,
                col: c.col + 1
            }
        );
    }

    #[test]
    fn southern_and_western_hemispheres_and_junk() {
        let c = cell_of(-33.9, -70.6, 500.0);
        assert!(c.row < 0 && c.col < 0);
        let _ = cell_of(f64::NAN, f64::INFINITY, f64::NAN);
        let _ = cell_ring(
            CellId {
                row: i64::MAX,
                col: i64::MIN,
            },
            -5.0,
        );
        let _ = cell_of(90.0, 180.0, 1.0);
    }
}
