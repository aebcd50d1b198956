//! The real client: `pytraccar` (what Home Assistant's Traccar integration uses), installed
//! from the package index into a throw-away virtual environment under the target directory
//! (kept between runs, upgraded to the latest version the index serves when it is reachable),
//! drives a server with an emulated GT06 tracker: devices, positions, geofences, events and a
//! socket message (`server/tests/traccar/pytraccar_client.py`).
//!
//! Without Python or the index the test is skipped with a loud message — except under CI
//! (`REQUIRE_TEST_TOOLS`, set by `.ci/run`), where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vigil_server::domain::Role;
use vigil_server::storage::access as store;

use crate::alarms::{Gt06Device, with_alarm};
use crate::helpers::{Backend, TestDb, spawn_app};

/// Runs a command; its output when it succeeded, else why not.
fn run(cmd: &mut Command) -> Result<std::process::Output, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The virtual environment's Python with pytraccar installed (created on the first run).
fn pytraccar_python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pytraccar-venv");
    let python = venv.join("bin/python");
    let pip = |args: &[&str]| {
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--timeout", "20", "--retries", "1"])
            .args(args))
    };
    let installed =
        python.exists() && run(Command::new(&python).args(["-c", "import pytraccar"])).is_ok();
    if installed {
        // The latest version the index serves; offline, the one installed before.
        if let Err(e) = pip(&["--upgrade", "pytraccar"]) {
            eprintln!("pytraccar not upgraded (index unreachable?), using the installed one: {e}");
        }
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    pip(&["pytraccar"])?;
    Ok(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pytraccar_drives_the_server() {
    let python = match tokio::task::spawn_blocking(pytraccar_python).await.unwrap() {
        Ok(p) => p,
        Err(e) => {
            // CI installs what the tests need and sets REQUIRE_TEST_TOOLS: there it fails.
            assert!(
                std::env::var_os("REQUIRE_TEST_TOOLS").is_none(),
                "pytraccar cannot be installed into a virtual environment: {e}"
            );
            eprintln!(
                "SKIPPED pytraccar_drives_the_server: cannot install pytraccar (python3 -m venv, pip): {e}"
            );
            return;
        }
    };
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(&db).await;
    let admin = app.login().await;
    let password = "home assistant 1";
    let hash = vigil_server::services::auth::hash_password(password.into())
        .await
        .unwrap();
    let owner = app
        .db
        .create_user("ha@example.com", "HA", &hash, Role::Owner)
        .await
        .unwrap();
    let imei = "359710049000501";
    let device = app.create_device(imei).await;
    store::set_owner(&app.db, device, Some(owner.id))
        .await
        .unwrap();
    // Another owner's vehicle, which the client must not see.
    let other = app.create_device("359710049000502").await;
    let (s, f) = app
        .post(
            "/api/v1/fences",
            &admin,
            &serde_json::json!({"type": "Feature", "properties": {"kind": "watch", "name": "Home", "radius": 500.0},
                "geometry": {"type": "Point", "coordinates": [114.0, 22.5]}}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    let (s, _) = app
        .post(
            &format!("/api/v1/devices/{device}/fences"),
            &admin,
            &serde_json::json!({"fence_id": f["id"]}),
        )
        .await;
    assert_eq!(s, 204);

    // The emulated tracker: a fix now at 37 km/h (GT06 sends whole km/h), then an SOS.
    let mut tracker = Gt06Device::connect(&app, imei).await;
    let now = chrono::Utc::now() - chrono::Duration::seconds(5);
    let mut p =
        protocol::Position::new(now, protocol::LatLon::new(22.5, 114.0).unwrap(), true, 37.0);
    p.satellites = Some(8);
    p.status.battery_level = Some(64);
    tracker.location(&p).await;
    let mut sos = with_alarm(p.clone(), protocol::Alarm::Sos);
    sos.time = now + chrono::Duration::seconds(1);
    tracker.alarm(&sos).await;
    let mut other_tracker = Gt06Device::connect(&app, "359710049000502").await;
    other_tracker.location(&p).await;
    loop {
        let (_, v) = app
            .get(&format!("/api/v1/alarms?device_id={device}"), &admin)
            .await;
        let stored = app.db.latest_position(other).await.unwrap().is_some();
        if v["alarms"].as_array().is_some_and(|a| !a.is_empty()) && stored {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let port = app.http.rsplit(':').next().unwrap().to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traccar/pytraccar_client.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        // A host name, not an address: aiohttp keeps no cookies from IP addresses.
        .env("TRACCAR_HOST", "localhost")
        .env("TRACCAR_PORT", &port)
        .env("TRACCAR_USER", "ha@example.com")
        .env("TRACCAR_PASSWORD", password)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "pytraccar run failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("pytraccar {} against Vigil", v["pytraccar"]);
    assert_eq!(v["wrong_password"], "refused");
    assert!(v["server"]["version"].is_string(), "{}", v["server"]);

    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "only the owner's vehicle: {devices:?}");
    assert_eq!(devices[0]["id"], device);
    assert_eq!(devices[0]["uniqueId"], imei);
    assert_eq!(devices[0]["status"], "online");

    let positions = v["positions"].as_array().unwrap();
    assert_eq!(positions.len(), 1, "{positions:?}");
    let pos = &positions[0];
    assert_eq!(pos["deviceId"], device);
    assert_eq!(pos["id"], devices[0]["positionId"]);
    assert!(
        (pos["speed"].as_f64().unwrap() - 37.0 / 1.852).abs() < 1e-9,
        "knots: {pos}"
    );
    assert_eq!(
        pos["attributes"]["alarm"], "sos",
        "the latest fix is the SOS: {pos}"
    );
    assert!(pos["attributes"]["batteryLevel"].is_number(), "{pos}");
    assert_eq!(pos["attributes"]["sat"], 8);
    assert_eq!(pos["geofenceIds"], serde_json::json!([f["id"]]));

    let geofences = v["geofences"].as_array().unwrap();
    assert_eq!(geofences.len(), 1);
    assert_eq!(geofences[0]["area"], "CIRCLE (22.5 114, 500)");
    assert_eq!(geofences[0]["name"], "Home");

    let events = v["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "alarm" && e["attributes"]["alarm"] == "sos"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["type"] == "deviceOnline"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["deviceId"] == device));

    let socket = &v["socket"]["positions"];
    assert_eq!(socket.as_array().unwrap().len(), 1, "{socket}");
    assert_eq!(socket[0]["deviceId"], device);
    assert_eq!(v["subscription_status"], "connected");
    app.stop().await;
}
