//! GeoJSON in and out.
//!
//! A fence is a `Feature` with a numeric `id` (or a string of digits) and properties `kind`
//! (`keep_in`, `keep_out`, `watch`, `jurisdiction`; required), `tenant` (integer, default 0)
//! and `name` (string, optional). Geometry: `Polygon` / `MultiPolygon` (areas), `Point` with a
//! `radius` property in metres (geodesic circle), or `LineString` with a `half_width` property
//! in metres (corridor). Other properties are ignored and not written back.

use geo::Coord;
use geojson::{Feature, FeatureCollection, GeoJson, Geometry, GeometryValue, JsonObject, Position};
use serde_json::{Number, Value};

use crate::error::FenceError;
use crate::fence::{Fence, FenceId, FenceKind};
use crate::shape::{FenceShape, ShapeView};

fn bad(at: impl Into<String>, message: impl Into<String>) -> FenceError {
    FenceError::GeoJson {
        at: at.into(),
        message: message.into(),
    }
}

/// Parses a `FeatureCollection` (or a single `Feature`) into fences; stops at the first error.
pub fn fences_from_geojson(text: &str) -> Result<Vec<Fence>, FenceError> {
    let parsed: GeoJson = text
        .parse()
        .map_err(|e| bad("$", format!("not GeoJSON: {e}")))?;
    match parsed {
        GeoJson::Feature(feature) => Ok(vec![fence_from_feature(&feature, "")?]),
        GeoJson::FeatureCollection(collection) => {
            let mut seen = std::collections::HashSet::new();
            let mut fences = Vec::with_capacity(collection.features.len());
            for (i, feature) in collection.features.iter().enumerate() {
                let at = format!("features[{i}].");
                let fence = fence_from_feature(feature, &at)?;
                if !seen.insert(fence.id) {
                    return Err(FenceError::DuplicateId {
                        at: format!("features[{i}].id"),
                        id: fence.id.0,
                    });
                }
                fences.push(fence);
            }
            Ok(fences)
        }
        GeoJson::Geometry(_) => Err(bad(
            "$",
            "a bare Geometry has no id or kind; wrap it in a Feature",
        )),
    }
}

/// Writes fences as a GeoJSON `FeatureCollection`.
pub fn fences_to_geojson<'a>(fences: impl IntoIterator<Item = &'a Fence>) -> String {
    let collection: FeatureCollection = fences.into_iter().map(fence_to_feature).collect();
    GeoJson::FeatureCollection(collection).to_string()
}

/// Converts one `Feature`; `prefix` (e.g. `features[3].`) is prepended to error paths.
pub fn fence_from_feature(feature: &Feature, prefix: &str) -> Result<Fence, FenceError> {
    let id = match &feature.id {
        Some(geojson::feature::Id::Number(n)) => n.as_u64(),
        Some(geojson::feature::Id::String(s)) => s.parse::<u64>().ok(),
        None => None,
    }
    .ok_or_else(|| {
        bad(
            format!("{prefix}id"),
            "missing or not a non-negative integer",
        )
    })?;
    let empty = JsonObject::new();
    let props = feature.properties.as_ref().unwrap_or(&empty);
    let props_at = format!("{prefix}properties.");
    let kind = props
        .get("kind")
        .and_then(Value::as_str)
        .and_then(FenceKind::parse)
        .ok_or_else(|| {
            bad(
                format!("{props_at}kind"),
                "missing or not one of keep_in, keep_out, watch, jurisdiction",
            )
        })?;
    let tenant = match props.get("tenant") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| bad(format!("{props_at}tenant"), "not a non-negative integer"))?,
    };
    let name = match props.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad(format!("{props_at}name"), "not a string")),
    };
    let geometry = feature
        .geometry
        .as_ref()
        .ok_or_else(|| bad(format!("{prefix}geometry"), "missing"))?;
    let geom_at = format!("{prefix}geometry.");
    let number = |key: &str| -> Result<f64, FenceError> {
        props.get(key).and_then(Value::as_f64).ok_or_else(|| {
            bad(
                format!("{props_at}{key}"),
                "missing or not a number (metres)",
            )
        })
    };
    let shape = match &geometry.value {
        GeometryValue::Polygon { coordinates } => {
            let rings = convert_polygon(coordinates, &format!("{geom_at}coordinates"))?;
            FenceShape::area_from_rings(&geom_at, vec![rings], true)?
        }
        GeometryValue::MultiPolygon { coordinates } => {
            let polygons = coordinates
                .iter()
                .enumerate()
                .map(|(p, poly)| convert_polygon(poly, &format!("{geom_at}coordinates[{p}]")))
                .collect::<Result<Vec<_>, _>>()?;
            FenceShape::area_from_rings(&geom_at, polygons, false)?
        }
        GeometryValue::Point { coordinates } => {
            let center = convert_position(coordinates, &format!("{geom_at}coordinates"))?;
            FenceShape::circle_at(&geom_at, &props_at, center, number("radius")?)?
        }
        GeometryValue::LineString { coordinates } => {
            let line = coordinates
                .iter()
                .enumerate()
                .map(|(i, p)| convert_position(p, &format!("{geom_at}coordinates[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            FenceShape::corridor_at(&geom_at, &props_at, &line, number("half_width")?)?
        }
        other => {
            return Err(bad(
                format!("{geom_at}type"),
                format!(
                    "unsupported geometry {}; expected Polygon, MultiPolygon, Point (circle with radius) or LineString (corridor with half_width)",
                    other.type_name()
                ),
            ));
        }
    };
    Ok(Fence {
        id: FenceId(id),
        tenant,
        kind,
        name,
        shape,
    })
}

fn convert_position(p: &Position, at: &str) -> Result<Coord<f64>, FenceError> {
    match p.as_slice() {
        [x, y, ..] => Ok(Coord { x: *x, y: *y }),
        _ => Err(bad(at, "a position needs at least two numbers [lon, lat]")),
    }
}

/// Converts rings, insisting they are closed as RFC 7946 requires.
fn convert_polygon(rings: &[Vec<Position>], at: &str) -> Result<Vec<Vec<Coord<f64>>>, FenceError> {
    let mut out = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let ring_at = format!("{at}[{r}]");
        let coords = ring
            .iter()
            .enumerate()
            .map(|(v, p)| convert_position(p, &format!("{ring_at}[{v}]")))
            .collect::<Result<Vec<_>, _>>()?;
        if coords.len() < 4 {
            return Err(FenceError::TooFewPoints {
                at: ring_at,
                needed: 4,
                found: coords.len(),
            });
        }
        let (first, last) = (coords[0], coords[coords.len() - 1]);
        if first != last {
            return Err(FenceError::UnclosedRing {
                at: ring_at,
                first: [first.x, first.y],
                last: [last.x, last.y],
            });
        }
        out.push(coords);
    }
    Ok(out)
}

fn positions(coords: &[Coord<f64>]) -> Vec<Position> {
    coords.iter().map(|c| Position::from([c.x, c.y])).collect()
}

fn metres(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Converts one fence to a `Feature`.
pub fn fence_to_feature(fence: &Fence) -> Feature {
    let mut props = JsonObject::new();
    props.insert("kind".into(), Value::from(fence.kind.as_str()));
    props.insert("tenant".into(), Value::from(fence.tenant));
    if let Some(name) = &fence.name {
        props.insert("name".into(), Value::from(name.clone()));
    }
    let value = match fence.shape.view() {
        ShapeView::Area { polygons, single } => {
            let mut polys: Vec<Vec<Vec<Position>>> = polygons
                .iter()
                .map(|rings| rings.iter().map(|r| positions(r)).collect())
                .collect();
            if single && polys.len() == 1 {
                GeometryValue::Polygon {
                    coordinates: polys.remove(0),
                }
            } else {
                GeometryValue::MultiPolygon { coordinates: polys }
            }
        }
        ShapeView::Circle { center, radius_m } => {
            props.insert("radius".into(), metres(radius_m));
            GeometryValue::Point {
                coordinates: Position::from([center.x, center.y]),
            }
        }
        ShapeView::Corridor { line, half_width_m } => {
            props.insert("half_width".into(), metres(half_width_m));
            GeometryValue::LineString {
                coordinates: positions(line),
            }
        }
    };
    Feature {
        bbox: None,
        geometry: Some(Geometry::new(value)),
        id: Some(geojson::feature::Id::Number(Number::from(fence.id.0))),
        properties: Some(props),
        foreign_members: None,
    }
}
