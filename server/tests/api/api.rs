//! HTTP API: health, metrics, sessions, devices, positions, events, error shape.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestDb, spawn_app};

both_backends!(
    health_and_metrics,
    session_login_and_logout,
    devices_and_positions
);

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

async fn health_and_metrics(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ok");

    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("vigil_sessions"), "{text}");

    // (Other paths outside /api belong to the web app: see web.rs.)
    let r = app.client.get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_error(&r.json().await.unwrap(), "not_found");
    let r = app
        .client
        .put(app.url("/api/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_error(&r.json().await.unwrap(), "method_not_allowed");
    app.stop().await;
}

async fn session_login_and_logout(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;

    // No token, bad token.
    let (s, b) = app.get("/api/v1/devices", "nope").await;
    assert_eq!(s, 401);
    assert_error(&b, "unauthorized");
    let r = app
        .client
        .get(app.url("/api/v1/devices"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Bad input is 4xx, never 500.
    let r = app
        .client
        .post(app.url("/api/v1/session"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(&r.json().await.unwrap(), "invalid_json");
    let (s, b) = app
        .post(
            "/api/v1/session",
            "",
            &json!({"email": crate::helpers::ADMIN_EMAIL, "password": "wrong password"}),
        )
        .await;
    assert_eq!(s, 401);
    assert_error(&b, "unauthorized");

    let token = app.login().await;
    let (s, _) = app.get("/api/v1/devices", &token).await;
    assert_eq!(s, 200);

    let r = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = app.get("/api/v1/devices", &token).await;
    assert_eq!(s, 401);
    app.stop().await;
}

async fn devices_and_positions(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;

    let (s, dev) = app
        .post(
            "/api/v1/devices",
            &token,
            &json!({"unique_id": "868120000000001", "name": "Scooter"}),
        )
        .await;
    assert_eq!(s, 201, "{dev}");
    assert_eq!(dev["claimed"], true);
    assert_eq!(dev["online"], false);
    let id = dev["id"].as_i64().unwrap();

    let (s, b) = app
        .post(
            "/api/v1/devices",
            &token,
            &json!({"unique_id": "868120000000001"}),
        )
        .await;
    assert_eq!(s, 409);
    assert_error(&b, "conflict");
    let (s, b) = app
        .post("/api/v1/devices", &token, &json!({"unique_id": "bad id!"}))
        .await;
    assert_eq!(s, 400);
    assert_error(&b, "invalid_unique_id");
    let (s, _) = app
        .post("/api/v1/devices", &token, &json!({"name": "no id"}))
        .await;
    assert_eq!(s, 400);

    let (s, list) = app.get("/api/v1/devices", &token).await;
    assert_eq!(s, 200);
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
    let (s, got) = app.get(&format!("/api/v1/devices/{id}"), &token).await;
    assert_eq!(s, 200);
    assert_eq!(got["name"], "Scooter");
    let (s, _) = app.get("/api/v1/devices/99999", &token).await;
    assert_eq!(s, 404);
    let (s, b) = app.get("/api/v1/devices/abc", &token).await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
    let (s, _) = app
        .get(&format!("/api/v1/devices/{id}/positions/latest"), &token)
        .await;
    assert_eq!(s, 404);

    // 250 positions, one per minute, through the batcher.
    let rows = (0..250)
        .map(|i| {
            vigil_server::domain::PositionRow::from_position(
                id,
                &crate::helpers::position(i * 60),
                chrono::Utc::now(),
            )
        })
        .collect();
    app.batcher.store(rows).await.unwrap();

    let (s, latest) = app
        .get(&format!("/api/v1/devices/{id}/positions/latest"), &token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(latest["fix_time"], "2024-01-01T04:09:00Z");
    assert_eq!(latest["alarms"], json!(["vibration"]));
    assert_eq!(latest["satellites"], 9);

    // Time range with keyset paging: 2024-01-01T01:00 .. 03:00 is 120 fixes.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!(
            "/api/v1/devices/{id}/positions?from=2024-01-01T01:00:00Z&to=2024-01-01T03:00:00Z&limit=50"
        );
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (s, page) = app.get(&path, &token).await;
        assert_eq!(s, 200, "{page}");
        for p in page["positions"].as_array().unwrap() {
            seen.push(p["fix_time"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    assert_eq!(seen[0], "2024-01-01T01:00:00Z");
    assert_eq!(seen[119], "2024-01-01T02:59:00Z");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen);

    let (s, b) = app
        .get(
            &format!("/api/v1/devices/{id}/positions?from=yesterday"),
            &token,
        )
        .await;
    assert_eq!(s, 400);
    assert_error(&b, "invalid_query");
    let (s, b) = app
        .get(
            &format!(
                "/api/v1/devices/{id}/positions?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z"
            ),
            &token,
        )
        .await;
    assert_eq!(s, 400);
    assert_error(&b, "invalid_range");
    let (s, _) = app
        .get(&format!("/api/v1/devices/{id}/positions?limit=0"), &token)
        .await;
    assert_eq!(s, 400);

    let (s, ev) = app.get("/api/v1/events?limit=10", &token).await;
    assert_eq!(s, 200);
    assert!(ev["events"].is_array());
    app.stop().await;
}

both_backends!(non_administrators_see_nothing_of_others);

async fn non_administrators_see_nothing_of_others(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let hash = vigil_server::services::auth::hash_password("user password".into())
        .await
        .unwrap();
    app.db
        .create_user(
            "user@example.com",
            "User",
            &hash,
            vigil_server::domain::Role::Owner,
        )
        .await
        .unwrap();
    let (s, v) = app
        .post(
            "/api/v1/session",
            "",
            &json!({"email": "user@example.com", "password": "user password"}),
        )
        .await;
    assert_eq!(s, 201);
    let token = v["token"].as_str().unwrap();
    let device = app.create_device("123456789012345").await;
    // Lists are filtered, objects of others are not found, global lists need a device.
    let (s, b) = app.get("/api/v1/devices", token).await;
    assert_eq!(s, 200);
    assert_eq!(b["devices"], json!([]));
    let (s, b) = app.get(&format!("/api/v1/devices/{device}"), token).await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
    let (s, b) = app.get("/api/v1/events", token).await;
    assert_eq!(s, 400);
    assert_error(&b, "device_id_required");
    let (s, _) = app
        .post("/api/v1/devices", token, &json!({"unique_id": "42"}))
        .await;
    assert_eq!(s, 403);
    app.stop().await;
}
