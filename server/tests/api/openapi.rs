//! The OpenAPI document: every route of the table documents its 2xx answer with a typed
//! schema, so a new route cannot forget it (schemathesis then checks real answers against it,
//! see `server/tests/schemathesis.sh`).

use serde_json::{Value, json};
use vigil_server::transport::http::openapi::document;
use vigil_server::transport::http::routes::{ROUTES, Surface};

use crate::both_backends;
use crate::helpers::{Backend, TestDb, spawn_app};

fn doc() -> Value {
    serde_json::to_value(document()).unwrap()
}

/// Follows a `$ref` into `components.schemas`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling reference {r}");
            target
        }
        None => schema,
    }
}

/// Every `$ref` anywhere in the document points at a defined component.
fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                resolve(doc, v);
                assert!(r.starts_with("#/components/schemas/"), "{r}");
            }
            m.values().for_each(|x| check_refs(doc, x));
        }
        Value::Array(a) => a.iter().for_each(|x| check_refs(doc, x)),
        _ => {}
    }
}

#[test]
fn every_route_documents_a_typed_2xx_answer() {
    let doc = doc();
    check_refs(&doc, &doc);
    let mut missing = Vec::new();
    for route in ROUTES {
        let op = &doc["paths"][route.full_path()][route.method.as_str().to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        let ok: Vec<_> = responses
            .keys()
            .filter(|c| c.starts_with('2') || *c == "101")
            .collect();
        assert_eq!(
            ok.len(),
            1,
            "{}: one success status, got {ok:?}",
            route.name
        );
        let code = ok[0].as_str();
        if matches!(route.name, "stream" | "traccar.socket") {
            assert_eq!(code, "101");
            continue;
        }
        if route.name == "traccar.session.token" {
            assert!(responses[code]["content"]["text/plain"]["schema"].is_object());
            continue;
        }
        if code == "204" {
            assert!(
                responses["204"].get("content").is_none(),
                "{}: 204 with a body",
                route.name
            );
            continue;
        }
        let mut schema = &responses[code]["content"]["application/json"]["schema"];
        if !schema.is_object() {
            missing.push(route.name);
            continue;
        }
        // Traccar's lists are bare arrays: their items are the typed answer.
        if route.surface == Surface::Traccar && schema["type"] == "array" {
            schema = &schema["items"];
        }
        // A typed answer: a named component with properties (or a oneOf of them), never a
        // bare `{"type": "object"}`.
        assert!(
            schema["$ref"].is_string(),
            "{}: inline answer schema",
            route.name
        );
        let target = resolve(&doc, schema);
        assert!(
            target["properties"].is_object()
                || target["oneOf"].is_array()
                || target["allOf"].is_array(),
            "{}: untyped answer {target}",
            route.name
        );
    }
    assert!(
        missing.is_empty(),
        "routes without a 2xx schema: {missing:?}"
    );
    // The trajectory's other formats are documented as their own content types.
    let traj =
        &doc["paths"]["/api/v1/devices/{id}/trajectory"]["get"]["responses"]["200"]["content"];
    assert!(traj["application/geo+json"]["schema"].is_object());
    assert!(traj["application/gpx+xml"]["schema"].is_object());
}

#[test]
fn value_limits_are_in_the_schema() {
    let doc = doc();
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} has no parameter {name}"))["schema"]
            .clone()
    };
    for path in [
        "/api/v1/devices",
        "/api/v1/devices/{id}/positions",
        "/api/v1/alarms",
        "/api/v1/events",
        "/api/v1/users",
        "/api/v1/audit",
    ] {
        let s = param(path, "limit");
        assert_eq!(s["minimum"], 1, "{path}");
        assert_eq!(s["maximum"], 1000, "{path}");
    }
    let s = param("/api/v1/devices/{id}/trajectory", "limit");
    assert_eq!(s["maximum"], 50000);
    let s = param("/api/v1/devices/{id}/trips", "min_stop_secs");
    assert_eq!(
        (s["minimum"].as_f64(), s["maximum"].as_f64()),
        (Some(30.0), Some(86400.0))
    );
    let pos = &doc["components"]["schemas"]["StoredPosition"]["properties"];
    assert_eq!(pos["lat"]["minimum"].as_f64(), Some(-90.0));
    assert_eq!(pos["lat"]["maximum"].as_f64(), Some(90.0));
    assert_eq!(pos["lon"]["maximum"].as_f64(), Some(180.0));
    assert_eq!(pos["speed_kmh"]["minimum"].as_f64(), Some(0.0));
}

both_backends!(text_the_database_refuses_is_a_400);

/// Found by schemathesis on PostgreSQL: a NUL character in any text (login email, unit name,
/// alarm filter) reached the database, which refused it, and the caller got a 500.
async fn text_the_database_refuses_is_a_400(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let r = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "a\u{0}b@example.com", "password": "x"}))
        .send()
        .await
        .unwrap();
    // SQLite stores NUL: there the e-mail is simply unknown.
    assert!([400, 401].contains(&r.status().as_u16()), "{}", r.status());
    let (status, body) = app
        .post("/api/v1/units", &token, &json!({"name": "Patrol\u{0}1"}))
        .await;
    assert!([201, 400].contains(&status), "{status} {body}");
    if status == 400 {
        assert_eq!(body["error"]["code"], "invalid_value");
    }
    let (status, body) = app.get("/api/v1/alarms?type=sos%00x", &token).await;
    assert!([200, 400].contains(&status), "{status} {body}");
    if backend == Backend::Postgres {
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_value");
    }
    app.stop().await;
}
