//! `/api/v1/devices/{id}/trajectory` (JSON, GeoJSON, GPX; simplification, paging),
//! `/trips` (trips and stops) and `/summary` (distance per day).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::trajectory::{self, DaySummary, Stop, Trip, TripParams};
use crate::domain::{Device, StoredPosition, TrackPoint};
use crate::services::access::{self, Actor};
use crate::transport::http::{ApiError, AppState};

/// Most fixes one trips/summary call reads.
const MAX_RANGE_POINTS: usize = 500_000;

/// Query of `GET /api/v1/devices/{id}/trajectory`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrajectoryQuery {
    /// Start (inclusive), ISO-8601 UTC; default `to` minus 24 hours.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), ISO-8601 UTC; default now.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this fix time (the previous page's `next_after`).
    pub after: Option<DateTime<Utc>>,
    /// Page size in fixes before simplification, 1..=50000 (default 5000).
    #[param(minimum = 1, maximum = 50000)]
    pub limit: Option<i64>,
    /// `json` (default), `geojson` or `gpx`.
    #[param(pattern = "^(json|geojson|gpx)$")]
    pub format: Option<String>,
    /// Douglas–Peucker tolerance, metres (0..=10000; absent or 0: none).
    #[param(minimum = 0, maximum = 10000)]
    pub simplify_m: Option<f64>,
}

/// One fix of a JSON trajectory.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrajectoryPoint {
    /// Fix time.
    pub time: DateTime<Utc>,
    /// Latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// km/h.
    #[schema(minimum = 0)]
    pub speed_kmh: f64,
    /// Degrees.
    pub course: Option<f64>,
    /// Metres.
    pub altitude_m: Option<f64>,
    /// GNSS fix valid.
    pub valid: bool,
}

/// JSON answer of `GET /api/v1/devices/{id}/trajectory`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Trajectory {
    /// The device.
    pub device_id: i64,
    /// Points returned (after simplification).
    pub count: usize,
    /// Fixes read for this page (before simplification).
    pub source_count: usize,
    /// The points, oldest first.
    pub points: Vec<TrajectoryPoint>,
    /// Pass as `after` for the next page (null: last page).
    pub next_after: Option<DateTime<Utc>>,
}

/// Answer of `GET /api/v1/devices/{id}/trips`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TripsAndStops {
    /// The device.
    pub device_id: i64,
    /// Trips, oldest first.
    pub trips: Vec<Trip>,
    /// Stops, oldest first.
    pub stops: Vec<Stop>,
    /// The thresholds used.
    pub params: TripParams,
}

/// Answer of `GET /api/v1/devices/{id}/summary`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// The device.
    pub device_id: i64,
    /// Per UTC day with fixes, oldest first.
    pub days: Vec<DaySummary>,
    /// Total metres.
    pub distance_m: f64,
}

fn range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_hours: i64,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - chrono::Duration::hours(default_hours));
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from: must be before to",
        ));
    }
    if to - from > chrono::Duration::days(366) {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from/to: at most 366 days",
        ));
    }
    Ok((from, to))
}

async fn device(state: &AppState, auth: &Actor, id: i64) -> Result<Device, ApiError> {
    Ok(access::visible_device(&state.db, auth, id).await?)
}

/// `GET /api/v1/devices/{id}/trajectory`: fixes in `[from, to)`, oldest first. JSON
/// `{device_id, points, count, source_count, next_after}`; GeoJSON FeatureCollection
/// (LineString + Points) or GPX 1.1, with the next page in the `X-Next-After` header.
pub async fn get(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    q: web::Query<TrajectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let device = device(&state, &auth, id.into_inner()).await?;
    let (from, to) = range(q.from, q.to, 24)?;
    let limit = q.limit.unwrap_or(5000);
    if !(1..=50_000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", "limit: 1 to 50000"));
    }
    let tolerance = q.simplify_m.unwrap_or(0.0);
    if !tolerance.is_finite() || !(0.0..=10_000.0).contains(&tolerance) {
        return Err(ApiError::bad_request(
            "invalid_simplify_m",
            "simplify_m: 0 to 10000 metres",
        ));
    }
    let format = q.format.as_deref().unwrap_or("json");
    if !["json", "geojson", "gpx"].contains(&format) {
        return Err(ApiError::bad_request(
            "invalid_format",
            "format: json, geojson or gpx",
        ));
    }
    if format == "json" {
        return json_track(&state, &device, from, to, q.after, limit, tolerance).await;
    }
    let page = state
        .db
        .positions(device.id, from, to, q.after, limit)
        .await?;
    let next = crate::transport::http::next_cursor(&page, limit, |p| p.fix_time);
    let points: Vec<StoredPosition> = if tolerance > 0.0 {
        let keep = trajectory::simplify(&page, tolerance);
        keep.into_iter().map(|i| page[i].clone()).collect()
    } else {
        page
    };
    let mut resp = HttpResponse::Ok();
    if let Some(n) = next {
        resp.insert_header((
            "X-Next-After",
            n.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ));
    }
    Ok(match format {
        "geojson" => resp
            .content_type("application/geo+json")
            .body(trajectory::geojson(device.id, &points).to_string()),
        // "gpx"; "json" was answered above.
        _ => resp
            .content_type("application/gpx+xml")
            .body(trajectory::gpx(&device.name, &points)),
    })
}

/// `format=json`: only the track columns, read from the covering index and written as JSON
/// straight into the body (the hot path of "show me this vehicle's day").
async fn json_track(
    state: &AppState,
    device: &Device,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    limit: i64,
    tolerance: f64,
) -> Result<HttpResponse, ApiError> {
    let page = state.db.track(device.id, from, to, after, limit).await?;
    let next = crate::transport::http::next_cursor(&page, limit, |p| p.fix_time);
    let source_count = page.len();
    let points: Vec<TrackPoint> = if tolerance > 0.0 {
        trajectory::simplify(&page, tolerance)
            .into_iter()
            .map(|i| page[i])
            .collect()
    } else {
        page
    };
    let mut resp = HttpResponse::Ok();
    if let Some(n) = next {
        resp.insert_header((
            "X-Next-After",
            n.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ));
    }
    Ok(resp
        .content_type("application/json")
        .body(trajectory::track_json(
            device.id,
            &points,
            source_count,
            next,
        )))
}

/// Every fix of `[from, to)` (bounded by [`MAX_RANGE_POINTS`]).
async fn all_points(
    state: &AppState,
    device: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StoredPosition>, ApiError> {
    let mut out: Vec<StoredPosition> = Vec::new();
    let mut after = None;
    loop {
        let page = state.db.positions(device, from, to, after, 10_000).await?;
        let full = page.len() == 10_000;
        after = page.last().map(|p| p.fix_time);
        out.extend(page);
        if !full {
            return Ok(out);
        }
        if out.len() >= MAX_RANGE_POINTS {
            return Err(ApiError::bad_request(
                "range_too_large",
                "from/to: more than 500000 fixes, ask for a shorter range",
            ));
        }
    }
}

/// Query of `GET /api/v1/devices/{id}/trips`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TripsQuery {
    /// Start (inclusive), ISO-8601 UTC; default `to` minus 24 hours.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), ISO-8601 UTC; default now.
    pub to: Option<DateTime<Utc>>,
    /// Stationary at or below this speed, km/h (0..=50, default 3).
    #[param(minimum = 0, maximum = 50)]
    pub stop_speed_kmh: Option<f64>,
    /// A stop lasts at least this long, seconds (30..=86400, default 300).
    #[param(minimum = 30, maximum = 86400)]
    pub min_stop_secs: Option<i64>,
    /// Shorter trips are dropped, metres (0..=100000, default 100).
    #[param(minimum = 0, maximum = 100000)]
    pub min_trip_m: Option<f64>,
}

/// `GET /api/v1/devices/{id}/trips`: `{trips, stops, params}`.
pub async fn trips(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    q: web::Query<TripsQuery>,
) -> Result<HttpResponse, ApiError> {
    let device = device(&state, &auth, id.into_inner()).await?;
    let (from, to) = range(q.from, q.to, 24)?;
    let d = TripParams::default();
    let params = TripParams {
        stop_speed_kmh: q.stop_speed_kmh.unwrap_or(d.stop_speed_kmh),
        min_stop_secs: q.min_stop_secs.unwrap_or(d.min_stop_secs),
        min_trip_m: q.min_trip_m.unwrap_or(d.min_trip_m),
    };
    if !(0.0..=50.0).contains(&params.stop_speed_kmh) {
        return Err(ApiError::bad_request(
            "invalid_stop_speed_kmh",
            "stop_speed_kmh: 0 to 50",
        ));
    }
    if !(30..=86_400).contains(&params.min_stop_secs) {
        return Err(ApiError::bad_request(
            "invalid_min_stop_secs",
            "min_stop_secs: 30 to 86400",
        ));
    }
    if !(0.0..=100_000.0).contains(&params.min_trip_m) {
        return Err(ApiError::bad_request(
            "invalid_min_trip_m",
            "min_trip_m: 0 to 100000",
        ));
    }
    let points = all_points(&state, device.id, from, to).await?;
    let (trips, stops) = trajectory::trips_and_stops(&points, &params);
    Ok(HttpResponse::Ok().json(TripsAndStops {
        device_id: device.id,
        trips,
        stops,
        params,
    }))
}

/// Query of `GET /api/v1/devices/{id}/summary`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Start (inclusive), ISO-8601 UTC; default `to` minus 7 days.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), ISO-8601 UTC; default now.
    pub to: Option<DateTime<Utc>>,
}

/// `GET /api/v1/devices/{id}/summary`: `{days: [{date, distance_m, points, max_speed_kmh}],
/// distance_m}` per UTC day.
pub async fn summary(
    state: web::Data<AppState>,
    auth: Actor,
    id: web::Path<i64>,
    q: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let device = device(&state, &auth, id.into_inner()).await?;
    let (from, to) = range(q.from, q.to, 24 * 7)?;
    let points = all_points(&state, device.id, from, to).await?;
    let days = trajectory::daily_summary(&points);
    let total: f64 = days.iter().map(|d| d.distance_m).sum();
    Ok(HttpResponse::Ok().json(Summary {
        device_id: device.id,
        days,
        distance_m: total,
    }))
}
