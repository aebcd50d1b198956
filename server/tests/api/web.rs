//! The web app served at `/`: files, client-route fallback, cache headers, the public config,
//! and the page shown when the app is not built.

use serde_json::Value;

use crate::helpers::{Backend, TestDb, spawn_app_with, test_settings};

#[tokio::test]
async fn serves_the_built_app_with_fallback_and_cache_headers() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>fake app</title>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app-1a2b3c.js"), "console.log(1)").unwrap();
    let mut settings = test_settings(&db.url);
    settings.web_dir = dir.path().display().to_string();
    settings.web_tile_url = "http://tiles.invalid/{z}/{x}/{y}.png".into();
    let app = spawn_app_with(settings).await;
    let c = &app.client;

    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.text().await.unwrap().contains("fake app"));

    // A client route (no file, no extension) gets the app shell.
    let r = c.get(app.url("/vehicles/12/history")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("fake app"));

    // Hashed assets: long immutable cache, right type.
    let r = c
        .get(app.url("/assets/app-1a2b3c.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(r.text().await.unwrap(), "console.log(1)");

    // A missing file is a 404, not the shell; the directory cannot be escaped.
    let r = c.get(app.url("/assets/gone-000.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // (Raw requests: an HTTP client would normalise the dots away before sending.)
    let secret = dir
        .path()
        .parent()
        .unwrap()
        .join("vigil-web-test-secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let name = secret.file_name().unwrap().to_str().unwrap();
    for path in [
        format!("/../{name}"),
        format!("/assets/../../{name}"),
        format!("/%2e%2e/{name}"),
        format!("/..%2f{name}"),
    ] {
        let reply = raw_get(app.addrs["http"], &path).await;
        assert!(!reply.contains("top secret"), "{path}: {reply}");
    }
    std::fs::remove_file(&secret).unwrap();

    // The API keeps its JSON 404s.
    let r = c.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");

    // The public config carries the tile URL setting.
    let r = c.get(app.url("/config.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tile_url"], "http://tiles.invalid/{z}/{x}/{y}.png");
    assert_eq!(v["cut_power_max_speed_kmh"], 20.0);
    app.stop().await;
}

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn says_how_to_build_the_app_when_it_is_missing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&db.url);
    settings.web_dir = dir.path().join("dist").display().to_string();
    let app = spawn_app_with(settings).await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("npm --prefix web ci &amp;&amp; npm --prefix web run build"),
        "{body}"
    );
    // The API still works.
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}
