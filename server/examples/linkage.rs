//! Linkage figures (issue 15): importing 20,000 cameras through the API, and the cameras
//! passed by a device-day (2,880 fixes, 30 s apart) against a county of 15,950 cameras.
//!
//! `cargo run --release -p vigil-server --example linkage -- [DATABASE_URL] [CAMERAS]`
//! (default: a temp SQLite file, 20,000 cameras). Prints: the GeoJSON import (all new), the
//! same file again (all updates), a CSV import, then `GET …/cameras-passed` for the day and
//! the engine's `CameraIndex::passes` alone.
#![allow(missing_docs)]

use std::time::Instant;

use serde_json::{Value, json};
use vigil_server::domain::PositionRow;
use vigil_server::domain::engine::linkage::{Camera, CameraIndex, TrackFix};
use vigil_server::{Application, Settings};

/// A deterministic pseudo-random sequence in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` cameras spread over a 60 km square around (30, 120): (lat, lon, facing).
fn county(n: usize) -> Vec<(f64, f64, Option<f64>)> {
    let mut rng = Lcg(15_950);
    (0..n)
        .map(|_| {
            let lat = 29.7 + rng.next() * 0.6;
            let lon = 119.7 + rng.next() * 0.6;
            let facing = (rng.next() > 0.2).then(|| (rng.next() * 360.0).floor());
            (lat, lon, facing)
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("linkage.db").display()));
    let n: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let mut settings = Settings::for_tests(url.clone());
    settings.admin_email = Some("bench@example.com".into());
    settings.admin_password = Some("bench password".into());
    settings.mqtt_listen = "off".into();
    let app = Application::build(settings).await?;
    let http = format!("http://{}", app.http_addr().expect("http"));
    let db = app.db().clone();
    let stop = app.shutdown_token();
    let server = tokio::spawn(app.run());
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{http}/api/v1/session"))
        .json(&json!({"email": "bench@example.com", "password": "bench password"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().unwrap_or_default().to_owned();

    let cams = county(n);
    let kinds = ["public", "institution", "social", "rural"];
    let features: Vec<Value> = cams
        .iter()
        .enumerate()
        .map(|(i, (lat, lon, facing))| {
            let mut p = json!({"code": format!("3302000000132{i:07}"), "name": format!("摄像机 {i}"),
                "kind": kinds[i % 4], "video_device_id": "34020000001320000001", "video_channel_id": format!("{i}")});
            if let Some(f) = facing {
                p["facing"] = (*f).into();
            }
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": p})
        })
        .collect();
    let body = serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features}))?;
    println!(
        "database {url}; {n} cameras, GeoJSON {:.1} MB",
        body.len() as f64 / 1e6
    );
    for round in ["new", "again (all updates)"] {
        let t = Instant::now();
        let r = client
            .post(format!("{http}/api/v1/cameras/import"))
            .bearer_auth(&token)
            .header("content-type", "application/geo+json")
            .body(body.clone())
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        println!(
            "import GeoJSON {round}: {status} {v} in {:.2} s",
            t.elapsed().as_secs_f64()
        );
    }
    let mut csv = String::from("code,name,lat,lon,kind,facing\n");
    for (i, (lat, lon, facing)) in cams.iter().enumerate() {
        csv.push_str(&format!(
            "C{i},cam {i},{lat},{lon},{},{}\n",
            kinds[i % 4],
            facing.map(|f| f.to_string()).unwrap_or_default()
        ));
    }
    let t = Instant::now();
    let r = client
        .post(format!("{http}/api/v1/cameras/import?crs=gcj02"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    println!(
        "import CSV (GCJ-02, {n} more): {status} {v} in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // A device-day through the county: 2,880 fixes 30 s apart, a slow random walk.
    let dev: Value = client
        .post(format!("{http}/api/v1/devices"))
        .bearer_auth(&token)
        .json(&json!({"unique_id": "864000000099001"}))
        .send()
        .await?
        .json()
        .await?;
    let device = dev["id"].as_i64().unwrap_or_default();
    let day =
        chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")?.with_timezone(&chrono::Utc);
    let mut rng = Lcg(7);
    let (mut lat, mut lon, mut heading) = (29.9, 119.9, 45.0f64);
    let mut rows = Vec::new();
    let mut fixes = Vec::new();
    for i in 0..2880 {
        heading += (rng.next() - 0.5) * 40.0;
        let step = 250.0; // 30 km/h
        lat = (lat + step * heading.to_radians().cos() / 111_320.0).clamp(29.75, 30.25);
        lon = (lon + step * heading.to_radians().sin() / 96_400.0).clamp(119.75, 120.25);
        let t = day + chrono::Duration::seconds(30 * i);
        let p = protocol::Position::new(t, protocol::LatLon::new(lat, lon)?, true, 30.0);
        rows.push(PositionRow::from_position(device, &p, chrono::Utc::now()));
        fixes.push(TrackFix {
            time_ms: t.timestamp_millis(),
            lat,
            lon,
        });
    }
    db.insert_positions(&rows).await?;
    let q = format!(
        "{http}/api/v1/devices/{device}/cameras-passed?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
    );
    for _ in 0..3 {
        let t = Instant::now();
        let v: Value = client
            .get(&q)
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        println!(
            "GET cameras-passed, 2,880 fixes, {} cameras in the index: {} passes in {:.1} ms",
            2 * n,
            v["cameras_passed"].as_array().map_or(0, Vec::len),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let index = CameraIndex::new(
        county(15_950)
            .into_iter()
            .enumerate()
            .map(|(i, (lat, lon, facing_deg))| Camera {
                id: i as i64,
                lat,
                lon,
                facing_deg,
                fov_deg: 90.0,
                range_m: 60.0,
            })
            .collect(),
    );
    let t = Instant::now();
    let runs = 20;
    let mut found = 0;
    for _ in 0..runs {
        found = index.passes(&fixes).len();
    }
    println!(
        "CameraIndex::passes, 2,880 fixes against 15,950 cameras: {found} passes, {:.2} ms each",
        t.elapsed().as_secs_f64() * 1e3 / runs as f64
    );
    stop.cancel();
    let _ = server.await;
    Ok(())
}
