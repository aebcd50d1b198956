//! Shape construction, validation errors and geometric edge cases.

use geofence::geo::{Coord, LineString, MultiPolygon, Point, Polygon, coord};
use geofence::{FenceError, FenceShape, Side, fences_from_geojson};

fn c(x: f64, y: f64) -> Coord<f64> {
    coord! { x: x, y: y }
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Coord<f64>> {
    vec![c(x0, y0), c(x1, y0), c(x1, y1), c(x0, y1), c(x0, y0)]
}

fn square_with_hole() -> FenceShape {
    let poly = Polygon::new(
        LineString::new(square(10.0, 50.0, 10.1, 50.1)),
        vec![LineString::new(square(10.04, 50.04, 10.06, 50.06))],
    );
    FenceShape::polygon(&poly).expect("valid")
}

#[test]
fn boundary_points_count_as_inside() {
    let s = square_with_hole();
    // On an exterior edge, on an exterior vertex, on a hole edge, on a hole vertex.
    for p in [
        c(10.05, 50.0),
        c(10.0, 50.0),
        c(10.1, 50.07),
        c(10.04, 50.05),
        c(10.06, 50.06),
    ] {
        assert!(
            s.contains(p),
            "{p:?} is on the boundary and must count as inside"
        );
    }
    // With a margin, a boundary point is too close to call either way.
    assert_eq!(s.classify(c(10.05, 50.0), 30.0), Side::Near);
    assert_eq!(s.classify(c(10.05, 50.0), 0.0), Side::Inside);
}

#[test]
fn hole_is_outside() {
    let s = square_with_hole();
    assert!(!s.contains(c(10.05, 50.05)), "centre of the hole");
    assert!(s.contains(c(10.02, 50.05)), "between hole and exterior");
    assert!(!s.contains(c(10.2, 50.05)), "outside the exterior");
    // The hole is 0.02° (~1.4 km) wide: its centre is ~700 m from any edge.
    assert_eq!(s.classify(c(10.05, 50.05), 500.0), Side::Outside);
    assert_eq!(s.classify(c(10.05, 50.05), 900.0), Side::Near);
    assert!(s.signed_distance_m(c(10.05, 50.05)) > 600.0);
}

#[test]
fn multipolygon_components_both_count() {
    let mp = MultiPolygon::new(vec![
        Polygon::new(LineString::new(square(0.0, 0.0, 1.0, 1.0)), vec![]),
        Polygon::new(LineString::new(square(2.0, 0.0, 3.0, 1.0)), vec![]),
    ]);
    let s = FenceShape::multi_polygon(&mp).expect("valid");
    assert!(s.contains(c(0.5, 0.5)));
    assert!(s.contains(c(2.5, 0.5)));
    assert!(!s.contains(c(1.5, 0.5)));
}

#[test]
fn circle_is_geodesic_and_handles_the_antimeridian() {
    // 50 km circle centred just west of the antimeridian.
    let s = FenceShape::circle(Point::new(179.9, 10.0), 50_000.0).expect("valid");
    let [x0, _, x1, _] = s.bbox();
    assert!(x0 > x1, "bbox wraps: {:?}", s.bbox());
    assert!(s.contains(c(179.9, 10.0)));
    assert!(s.contains(c(-179.9, 10.0)), "~22 km east across 180°");
    assert!(s.contains(c(180.0, 10.0)) && s.contains(c(-180.0, 10.0)));
    assert!(!s.contains(c(-179.0, 10.0)), "~120 km away");
    assert!(!s.contains(c(0.0, 10.0)));
}

#[test]
fn circle_covering_a_pole_contains_all_longitudes_near_it() {
    let s = FenceShape::circle(Point::new(0.0, 89.9), 100_000.0).expect("valid");
    assert!(s.contains(c(0.0, 90.0)));
    assert!(
        s.contains(c(180.0, 89.5)),
        "other side of the pole, ~67 km from centre"
    );
    assert!(s.contains(c(-90.0, 89.5)));
    assert!(!s.contains(c(0.0, 88.0)));
    assert_eq!(s.bbox()[0], -180.0);
    assert_eq!(s.bbox()[2], 180.0);
}

#[test]
fn corridor_has_round_end_caps() {
    // East-west corridor along the equator, 100 m half-width, from lon 0 to lon 0.01 (~1.1 km).
    let line = LineString::new(vec![c(0.0, 0.0), c(0.01, 0.0)]);
    let s = FenceShape::corridor(&line, 100.0).expect("valid");
    let m = 1.0 / 111_195.0; // degrees per metre on the equator
    assert!(s.contains(c(0.005, 90.0 * m)), "beside the middle");
    assert!(!s.contains(c(0.005, 110.0 * m)), "too far beside");
    assert!(
        s.contains(c(-90.0 * m, 0.0)),
        "90 m beyond the west end, on the axis"
    );
    assert!(!s.contains(c(-110.0 * m, 0.0)), "110 m beyond the end");
    // Corner of a square cap: 80 m out and 80 m aside is ~113 m from the end point.
    assert!(
        !s.contains(c(-80.0 * m, 80.0 * m)),
        "cap is round, not square"
    );
    assert!(
        s.contains(c(-60.0 * m, 60.0 * m)),
        "~85 m from the end point"
    );
    assert_eq!(s.classify(c(0.005, 0.0), 50.0), Side::Inside);
    assert_eq!(s.classify(c(0.005, 200.0 * m), 50.0), Side::Outside);
    assert_eq!(s.classify(c(0.005, 120.0 * m), 50.0), Side::Near);
}

#[test]
fn classify_matches_signed_distance() {
    let s = FenceShape::polygon(&Polygon::new(
        LineString::new(square(10.0, 50.0, 10.01, 50.01)),
        vec![],
    ))
    .expect("valid");
    // 0.01° of latitude is ~1112 m; the centre is ~357 m from the nearest (east/west) edge.
    let centre = c(10.005, 50.005);
    let d = s.signed_distance_m(centre);
    assert!((d + 357.5).abs() < 2.0, "d = {d}");
    assert_eq!(s.classify(centre, 300.0), Side::Inside);
    assert_eq!(s.classify(centre, 400.0), Side::Near);
}

fn err(text: &str) -> FenceError {
    fences_from_geojson(text).expect_err("must be rejected")
}

fn feature(geometry: &str, props: &str) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","id":1,"properties":{{"kind":"watch","radius":10}},"geometry":{{"type":"Point","coordinates":[1,1]}}}},{{"type":"Feature","id":2,"properties":{{{props}}},"geometry":{geometry}}}]}}"#
    )
}

#[test]
fn invalid_input_is_rejected_with_what_and_where() {
    let e = err(&feature(
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}"#,
        r#""kind":"keep_in""#,
    ));
    assert!(
        matches!(&e, FenceError::UnclosedRing { at, .. } if at == "features[1].geometry.coordinates[0]"),
        "{e}"
    );

    let e = err(&feature(
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}"#,
        r#""kind":"keep_in""#,
    ));
    assert!(
        matches!(&e, FenceError::TooFewPoints { at, .. } if at == "features[1].geometry.coordinates[0]"),
        "{e}"
    );

    // Bow tie: edge 0 (0,0)-(1,1) crosses edge 2 (1,0)-(0,1).
    let e = err(&feature(
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}"#,
        r#""kind":"keep_in""#,
    ));
    match &e {
        FenceError::SelfIntersection {
            first,
            second,
            lon,
            lat,
            ..
        } => {
            assert_eq!(first, "features[1].geometry.coordinates[0][0]");
            assert_eq!(second, "features[1].geometry.coordinates[0][2]");
            assert!((lon - 0.5).abs() < 1e-9 && (lat - 0.5).abs() < 1e-9);
        }
        other => panic!("expected self-intersection, got {other}"),
    }

    let e = err(&feature(
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,95],[0,0]]]}"#,
        r#""kind":"keep_in""#,
    ));
    assert!(
        matches!(&e, FenceError::BadCoordinate { at, lat, .. } if at == "features[1].geometry.coordinates[0][2]" && *lat == 95.0),
        "{e}"
    );

    let e = err(&feature(
        r#"{"type":"Point","coordinates":[1,1]}"#,
        r#""kind":"keep_out","radius":0"#,
    ));
    assert!(
        matches!(&e, FenceError::BadRadius { at, .. } if at == "features[1].properties.radius"),
        "{e}"
    );
    let e = err(&feature(
        r#"{"type":"Point","coordinates":[1,1]}"#,
        r#""kind":"keep_out","radius":-5"#,
    ));
    assert!(matches!(&e, FenceError::BadRadius { .. }), "{e}");
    let e = err(&feature(
        r#"{"type":"Point","coordinates":[1,1]}"#,
        r#""kind":"keep_out""#,
    ));
    assert!(
        matches!(&e, FenceError::GeoJson { at, .. } if at == "features[1].properties.radius"),
        "{e}"
    );

    let e = err(&feature(
        r#"{"type":"LineString","coordinates":[[1,1]]}"#,
        r#""kind":"keep_in","half_width":50"#,
    ));
    assert!(
        matches!(&e, FenceError::TooFewPoints { needed: 2, .. }),
        "{e}"
    );

    let e = err(&feature(
        r#"{"type":"LineString","coordinates":[[179.5,1],[-179.5,1]]}"#,
        r#""kind":"keep_in","half_width":50"#,
    ));
    assert!(
        matches!(&e, FenceError::AntimeridianEdge { at, .. } if at == "features[1].geometry.coordinates[0]"),
        "{e}"
    );

    let e = err(&feature(
        r#"{"type":"Point","coordinates":[1,1]}"#,
        r#""kind":"nope","radius":5"#,
    ));
    assert!(
        matches!(&e, FenceError::GeoJson { at, .. } if at == "features[1].properties.kind"),
        "{e}"
    );

    let e = err(&feature(
        r#"{"type":"Point","coordinates":[1,1]}"#,
        r#""kind":"watch","radius":5"#,
    )
    .replace(r#""id":2"#, r#""id":1"#));
    assert!(matches!(&e, FenceError::DuplicateId { id: 1, .. }), "{e}");

    // Hole outside its exterior.
    let e = err(&feature(
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[2,2],[3,2],[3,3],[2,2]]]}"#,
        r#""kind":"keep_in""#,
    ));
    assert!(
        matches!(&e, FenceError::MisplacedHole { at } if at == "features[1].geometry.coordinates[1]"),
        "{e}"
    );

    // The message names the place.
    assert!(
        e.to_string()
            .starts_with("features[1].geometry.coordinates[1]:"),
        "{e}"
    );
}

#[test]
fn nan_is_rejected_from_rust_constructors() {
    let poly = Polygon::new(
        LineString::new(vec![
            c(0.0, 0.0),
            c(1.0, f64::NAN),
            c(1.0, 1.0),
            c(0.0, 0.0),
        ]),
        vec![],
    );
    let e = FenceShape::polygon(&poly).expect_err("NaN");
    assert!(
        matches!(&e, FenceError::BadCoordinate { at, .. } if at == "coordinates[0][1]"),
        "{e}"
    );
    assert!(FenceShape::circle(Point::new(f64::NAN, 0.0), 10.0).is_err());
    assert!(FenceShape::circle(Point::new(0.0, 0.0), f64::NAN).is_err());
    assert!(FenceShape::corridor(&LineString::new(vec![c(0.0, 0.0), c(0.0, 1.0)]), 0.0).is_err());
}

#[test]
fn spike_and_touching_rings_are_rejected() {
    // A ring that doubles back on itself along one line.
    let spike = Polygon::new(
        LineString::new(vec![
            c(0.0, 0.0),
            c(2.0, 0.0),
            c(1.0, 0.0),
            c(1.0, 1.0),
            c(0.0, 0.0),
        ]),
        vec![],
    );
    assert!(matches!(
        FenceShape::polygon(&spike),
        Err(FenceError::SelfIntersection { .. })
    ));
    // A hole touching the exterior edge.
    let touching = Polygon::new(
        LineString::new(square(0.0, 0.0, 4.0, 4.0)),
        vec![LineString::new(vec![
            c(0.0, 2.0),
            c(1.0, 1.0),
            c(1.0, 3.0),
            c(0.0, 2.0),
        ])],
    );
    assert!(matches!(
        FenceShape::polygon(&touching),
        Err(FenceError::SelfIntersection { .. })
    ));
    // Repeated consecutive positions are tolerated.
    let dup = Polygon::new(
        LineString::new(vec![
            c(0.0, 0.0),
            c(1.0, 0.0),
            c(1.0, 0.0),
            c(1.0, 1.0),
            c(0.0, 0.0),
        ]),
        vec![],
    );
    assert!(FenceShape::polygon(&dup).is_ok());
}

#[test]
fn big_boundary_validates_quickly_and_answers_exactly() {
    use geofence::synth::{SynthRng, star_ring};
    let mut rng = SynthRng::new(7);
    let ring = star_ring(&mut rng, c(116.0, 40.0), 40_000.0, 5_000);
    let poly = Polygon::new(LineString::new(ring), vec![]);
    let s = FenceShape::polygon(&poly).expect("valid 5,000-vertex ring");
    use geofence::geo::Intersects;
    for _ in 0..2_000 {
        let p = c(rng.range(115.4, 116.6), rng.range(39.6, 40.4));
        assert_eq!(s.contains(p), poly.intersects(&p), "{p:?}");
    }
}
