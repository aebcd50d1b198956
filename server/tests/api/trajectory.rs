//! Trajectories on a real database: JSON paging, GeoJSON and GPX parsed back with their
//! crates, Douglas–Peucker on a 2,880-point day, trips and stops of a scripted drive, the
//! distance-per-day summary.

use std::io::BufReader;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use vigil_server::domain::PositionRow;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, spawn_app};

both_backends!(
    formats_paging_and_simplification,
    trips_and_stops_of_a_scripted_drive,
    track_json_is_the_stored_values
);

const LAT0: f64 = 22.5;
const LON0: f64 = 114.0;

fn at(t0: &str, secs: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t0)
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::seconds(secs)
}

/// A fix `north_m`/`east_m` metres from (LAT0, LON0).
fn fix(time: DateTime<Utc>, north_m: f64, east_m: f64, speed: f64) -> protocol::Position {
    // Metres per degree on geo's haversine sphere (mean radius 6,371,008.8 m).
    let m = 6_371_008.8f64.to_radians();
    let lat = LAT0 + north_m / m;
    let lon = LON0 + east_m / (m * LAT0.to_radians().cos());
    protocol::Position::new(
        time,
        protocol::LatLon::new(lat, lon).unwrap(),
        true,
        speed as f32,
    )
}

async fn store(app: &TestApp, device: i64, fixes: &[protocol::Position]) {
    let rows: Vec<_> = fixes
        .iter()
        .map(|p| PositionRow::from_position(device, p, Utc::now()))
        .collect();
    app.db.insert_positions(&rows).await.unwrap();
}

/// One fix every 30 s for a day (2,880): eight straight legs of three hours, with up to 1.5 m
/// of deterministic GPS jitter.
fn day() -> Vec<protocol::Position> {
    let dirs = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, 1.0)];
    let (mut n, mut e) = (0.0f64, 0.0f64);
    (0..2880)
        .map(|i| {
            let leg = (i / 360) % 4;
            let (dn, de) = dirs[leg];
            n += dn * 100.0;
            e += de * 100.0;
            let jitter = 1.5 * ((i as f64) * 1.7).sin();
            fix(
                at("2024-01-02T00:00:00Z", i as i64 * 30),
                n + jitter,
                e - jitter,
                12.0,
            )
        })
        .collect()
}

async fn formats_paging_and_simplification(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let device = app.create_device("359710040000099").await;
    store(&app, device, &day()).await;
    let base = format!(
        "/api/v1/devices/{device}/trajectory?from=2024-01-02T00:00:00Z&to=2024-01-03T00:00:00Z"
    );

    let (s, all) = app.get(&format!("{base}&limit=50000"), &token).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["count"], 2880);
    assert!(all["next_after"].is_null());
    let pts = all["points"].as_array().unwrap();

    // Paging: 1000 + 1000 + 880, contiguous.
    let mut seen = 0;
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(a) => format!("{base}&limit=1000&after={a}"),
            None => format!("{base}&limit=1000"),
        };
        let (s, page) = app.get(&url, &token).await;
        assert_eq!(s, 200, "{page}");
        let n = page["points"].as_array().unwrap().len();
        assert_eq!(page["points"][0]["time"], pts[seen]["time"]);
        seen += n;
        match page["next_after"].as_str() {
            Some(a) => after = Some(a.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 2880);

    // Douglas–Peucker at 10 m: keeps both ends and the corners, drops the jitter.
    let (s, simple) = app
        .get(&format!("{base}&limit=50000&simplify_m=10"), &token)
        .await;
    assert_eq!(s, 200);
    let kept = simple["points"].as_array().unwrap();
    assert_eq!(simple["source_count"], 2880);
    assert_eq!(kept[0]["time"], pts[0]["time"]);
    assert_eq!(kept[kept.len() - 1]["time"], pts[2879]["time"]);
    // Stated ratio: at least 100× smaller (8 legs → about 9 points).
    assert!(kept.len() * 100 <= 2880, "kept {} of 2880", kept.len());
    assert!(kept.len() >= 9, "corners lost: {}", kept.len());

    // GeoJSON, parsed back.
    let r = app
        .client
        .get(app.url(&format!("{base}&limit=50000&format=geojson")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/geo+json");
    let text = r.text().await.unwrap();
    let gj = geojson::GeoJson::from_str(&text).unwrap();
    let geojson::GeoJson::FeatureCollection(fc) = gj else {
        panic!("not a FeatureCollection")
    };
    assert_eq!(fc.features.len(), 2881);
    match &fc.features[0].geometry.as_ref().unwrap().value {
        geojson::GeometryValue::LineString {
            coordinates: coords,
        } => {
            assert_eq!(coords.len(), 2880);
            assert_eq!(coords[0][0], pts[0]["lon"].as_f64().unwrap());
        }
        other => panic!("first feature is {other:?}"),
    }
    assert!(matches!(
        fc.features[1].geometry.as_ref().unwrap().value,
        geojson::GeometryValue::Point { .. }
    ));

    // GPX 1.1, parsed back (simplified page).
    let r = app
        .client
        .get(app.url(&format!("{base}&limit=50000&format=gpx&simplify_m=10")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let g = gpx::read(BufReader::new(body.as_bytes())).unwrap();
    assert_eq!(g.version, gpx::GpxVersion::Gpx11);
    let seg = &g.tracks[0].segments[0];
    assert_eq!(seg.points.len(), kept.len());
    let first = &seg.points[0];
    assert!((first.point().y() - pts[0]["lat"].as_f64().unwrap()).abs() < 1e-6);
    let t: String = first.time.unwrap().format().unwrap();
    assert_eq!(
        DateTime::parse_from_rfc3339(&t).unwrap(),
        DateTime::parse_from_rfc3339(pts[0]["time"].as_str().unwrap()).unwrap()
    );

    // Bad input is 400.
    for q in [
        "&format=kml",
        "&simplify_m=-1",
        "&simplify_m=NaN",
        "&limit=0",
    ] {
        let (s, v) = app.get(&format!("{base}{q}"), &token).await;
        assert_eq!(s, 400, "{q}: {v}");
    }
    app.stop().await;
}

/// Doubles that are awkward to carry: every bit pattern but NaN (a database stores NaN as
/// NULL or refuses it), infinities, subnormals, values too small or too large for a scaled
/// integer, and ordinary coordinates with full 52-bit mantissas.
struct Awkward(u64);

impl Awkward {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn float(&mut self) -> f64 {
        const SPECIAL: [f64; 14] = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            -f64::MAX,
            1e-7,
            0.1,
            359.99999999999994,
            8848.86,
            -0.000123456789,
            1024.0,
        ];
        match self.next() % 4 {
            0 => SPECIAL[(self.next() % SPECIAL.len() as u64) as usize],
            1 => {
                let f = f64::from_bits(self.next());
                if f.is_nan() { 1.5 } else { f }
            }
            2 => (self.next() % 360_000_000) as f64 / 1e6 - 180.0,
            _ => 22.5 + (self.next() % 1_000_000_000) as f64 / 1_800_000.0 / 60.0,
        }
    }
}

/// The JSON track carries exactly what the database holds: the same doubles (compared with
/// the every-column read, which decodes each value on its own) and byte for byte the JSON
/// serde_json writes for them, on every page.
async fn track_json_is_the_stored_values(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let device = app.create_device("359710040000098").await;
    let t0 = at("2024-03-01T00:00:00Z", 0);
    let mut rng = Awkward(0x9E37_79B9_7F4A_7C15);
    let rows: Vec<PositionRow> = (0..700)
        .map(|i| {
            let mut r = PositionRow::from_position(device, &fix(t0, 0.0, 0.0, 0.0), t0);
            // Microseconds: what both databases keep.
            let micros = match i % 3 {
                0 => 0,
                1 => (rng.next() % 1000) as i64 * 1000,
                _ => (rng.next() % 1_000_000) as i64,
            };
            r.fix_time =
                t0 + chrono::Duration::seconds(i * 30) + chrono::Duration::microseconds(micros);
            r.lat = rng.float();
            r.lon = rng.float();
            r.speed_kmh = rng.float();
            r.course = (!rng.next().is_multiple_of(4)).then(|| rng.float());
            r.altitude_m = (!rng.next().is_multiple_of(4)).then(|| rng.float());
            r.valid = rng.next().is_multiple_of(2);
            r
        })
        .collect();
    app.db.insert_positions(&rows).await.unwrap();
    let from = t0;
    let to = t0 + chrono::Duration::days(1);
    let stored = app
        .db
        .positions(device, from, to, None, 50_000)
        .await
        .unwrap();
    assert_eq!(stored.len(), 700);
    let track = app.db.track(device, from, to, None, 50_000).await.unwrap();
    assert_eq!(track.len(), 700);
    let bits = |v: Option<f64>| v.map(f64::to_bits);
    for (p, t) in stored.iter().zip(&track) {
        assert_eq!(p.fix_time, t.fix_time);
        assert_eq!(
            p.lat.to_bits(),
            t.lat.to_bits(),
            "lat {} vs {}",
            p.lat,
            t.lat
        );
        assert_eq!(
            p.lon.to_bits(),
            t.lon.to_bits(),
            "lon {} vs {}",
            p.lon,
            t.lon
        );
        assert_eq!(
            p.speed_kmh.to_bits(),
            t.speed_kmh.to_bits(),
            "speed {} vs {}",
            p.speed_kmh,
            t.speed_kmh
        );
        assert_eq!(
            bits(p.course),
            bits(t.course),
            "course {:?} vs {:?}",
            p.course,
            t.course
        );
        assert_eq!(
            bits(p.altitude_m),
            bits(t.altitude_m),
            "altitude {:?} vs {:?}",
            p.altitude_m,
            t.altitude_m
        );
        assert_eq!(p.valid, t.valid);
    }

    // Pages of 300, 300 and 100 through the API: the body is what serde_json writes.
    let base = format!(
        "/api/v1/devices/{device}/trajectory?from=2024-03-01T00:00:00Z&to=2024-03-02T00:00:00Z&limit=300"
    );
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let url = match &after {
            Some(a) => format!("{base}&after={a}"),
            None => base.clone(),
        };
        let r = app
            .client
            .get(app.url(&url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body = r.text().await.unwrap();
        let page = &stored[seen..(seen + 300).min(stored.len())];
        let next = (page.len() == 300).then(|| page[page.len() - 1].fix_time);
        // Keys in alphabetical order, as the API has always sent them.
        let expected = serde_json::json!({
            "count": page.len(),
            "device_id": device,
            "next_after": next,
            "points": page.iter().map(|p| serde_json::json!({
                "altitude_m": p.altitude_m,
                "course": p.course,
                "lat": p.lat,
                "lon": p.lon,
                "speed_kmh": p.speed_kmh,
                "time": p.fix_time,
                "valid": p.valid,
            })).collect::<Vec<_>>(),
            "source_count": page.len(),
        });
        assert_eq!(body, serde_json::to_string(&expected).unwrap());
        seen += page.len();
        match next {
            Some(n) => {
                after = Some(
                    n.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                        .replace('+', "%2B"),
                )
            }
            None => break,
        }
    }
    assert_eq!(seen, 700);
    app.stop().await;
}

async fn trips_and_stops_of_a_scripted_drive(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let device = app.create_device("359710040000098").await;
    let t0 = "2024-01-03T08:00:00Z";
    let mut fixes = Vec::new();
    // Parked 10 min, north 12 km at 36 km/h, parked 15 min, east 9 km at 54 km/h, parked.
    for k in 0..20 {
        fixes.push(fix(at(t0, k * 30), 0.0, 0.0, 0.0));
    }
    for k in 1..=40 {
        fixes.push(fix(at(t0, 570 + k * 30), k as f64 * 300.0, 0.0, 36.0));
    }
    for k in 0..30 {
        fixes.push(fix(at(t0, 1800 + k * 30), 12_000.0, 0.0, 0.0));
    }
    for k in 1..=20 {
        fixes.push(fix(at(t0, 2670 + k * 30), 12_000.0, k as f64 * 450.0, 54.0));
    }
    for k in 0..20 {
        fixes.push(fix(at(t0, 3300 + k * 30), 12_000.0, 9_000.0, 0.0));
    }
    store(&app, device, &fixes).await;

    let (s, v) = app
        .get(
            &format!(
                "/api/v1/devices/{device}/trips?from=2024-01-03T00:00:00Z&to=2024-01-04T00:00:00Z"
            ),
            &token,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let time = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    let stops: Vec<_> = v["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (time(&s["start"]), time(&s["end"])))
        .collect();
    assert_eq!(
        stops,
        vec![
            (at(t0, 0), at(t0, 600)),
            (at(t0, 1800), at(t0, 2700)),
            (at(t0, 3300), at(t0, 3870)),
        ]
    );
    let trips = v["trips"].as_array().unwrap();
    assert_eq!(trips.len(), 2, "{v}");
    let expect = [(570, 1800, 12_000.0, 36.0), (2670, 3300, 9_000.0, 54.0)];
    for (trip, (a, b, dist, max)) in trips.iter().zip(expect) {
        assert_eq!(time(&trip["start"]), at(t0, a));
        assert_eq!(time(&trip["end"]), at(t0, b));
        assert_eq!(trip["duration_s"], b - a);
        let d = trip["distance_m"].as_f64().unwrap();
        assert!((d - dist).abs() / dist < 0.005, "distance {d} vs {dist}");
        assert_eq!(trip["max_speed_kmh"].as_f64().unwrap(), max);
        let avg = trip["avg_speed_kmh"].as_f64().unwrap();
        assert!((avg - d / (b - a) as f64 * 3.6).abs() < 1e-9);
    }

    // A longer minimum stop merges nothing here but drops the 9.5-minute final one.
    let (_, v) = app
        .get(
            &format!("/api/v1/devices/{device}/trips?from=2024-01-03T00:00:00Z&to=2024-01-04T00:00:00Z&min_stop_secs=600"),
            &token,
        )
        .await;
    assert_eq!(v["stops"].as_array().unwrap().len(), 2, "{v}");
    let (s, _) = app
        .get(
            &format!("/api/v1/devices/{device}/trips?min_stop_secs=1"),
            &token,
        )
        .await;
    assert_eq!(s, 400);

    // Distance per day.
    let (s, v) = app
        .get(
            &format!(
                "/api/v1/devices/{device}/summary?from=2024-01-01T00:00:00Z&to=2024-01-08T00:00:00Z"
            ),
            &token,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["date"], "2024-01-03");
    assert_eq!(days[0]["points"], 130);
    let d = days[0]["distance_m"].as_f64().unwrap();
    assert!((d - 21_000.0).abs() / 21_000.0 < 0.005, "{d}");
    app.stop().await;
}
