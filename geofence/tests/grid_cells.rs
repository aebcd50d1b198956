//! Hot-spot grid cells: every point lies in the ring of its own cell, and the cell is a square
//! of the asked side.

use geofence::grid_cells::{cell_of, cell_ring};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn point_is_inside_its_cell(lat in -85.0f64..85.0, lon in -180.0f64..180.0, cell_m in 10.0f64..50_000.0) {
        let cell = cell_of(lat, lon, cell_m);
        let ring = cell_ring(cell, cell_m);
        prop_assert_eq!(ring.len(), 5);
        prop_assert_eq!(ring[0], ring[4]);
        let (west, south) = ring[0];
        let (east, north) = ring[2];
        // Rounding of the cell arithmetic: 1e-9° is 0.1 mm.
        prop_assert!(west - 1e-9 <= lon && lon <= east + 1e-9, "{lon} not in [{west}, {east}]");
        prop_assert!(south - 1e-9 <= lat && lat <= north + 1e-9, "{lat} not in [{south}, {north}]");
        // Counter-clockwise (RFC 7946 exterior ring): positive shoelace area.
        let area: f64 = ring.windows(2).map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1).sum();
        prop_assert!(area > 0.0);
        // Square: height and mid-latitude width both cell_m (mean-radius sphere).
        let m = 6_371_008.8 * std::f64::consts::PI / 180.0;
        let height = (north - south) * m;
        let width = (east - west) * m * ((north + south) / 2.0).to_radians().cos();
        prop_assert!((height - cell_m).abs() < 1e-6 * cell_m && (width - cell_m).abs() < 1e-6 * cell_m);
    }
}
