//! The web app: `vigil serve` hands out the built single-page app (`web/dist`) at `/`.
//!
//! Files are read from [`HttpConfig::web_dir`] on each request (so `npm run build` while the server
//! runs takes effect at once). Vite's content-hashed `/assets/*` get a one-year immutable cache;
//! everything else (`index.html`, `config.json`) is revalidated each time. A path that is not a
//! file and does not look like one (no extension) is a client route and gets `index.html`. When
//! the directory has no `index.html`, `/` answers a page saying how to build the app.

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::HttpConfig;

/// Where the app is read from: the `web_dir` setting, else the first of `./web/dist` and the
/// source tree's `web/dist` (beside `server/`, for `cargo run` from anywhere) that holds an
/// `index.html`, else `./web/dist`.
pub fn resolve_dir(config: &HttpConfig) -> PathBuf {
    let configured = config.web_dir.trim();
    if !configured.is_empty() {
        return PathBuf::from(configured);
    }
    let candidates = [
        PathBuf::from("web/dist"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist"),
    ];
    candidates
        .iter()
        .find(|d| d.join("index.html").is_file())
        .cloned()
        .unwrap_or_else(|| candidates[0].clone())
}

/// The datum the map tiles are drawn in (`web_tile_crs`): positions are stored in WGS-84; on
/// GCJ-02 tiles (AMap, Tencent and most Chinese services) the web app shifts what it draws
/// and shifts what an administrator draws back before saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TileCrs {
    /// WGS-84 (OpenStreetMap; Tianditu's CGCS2000 differs by centimetres): nothing converted.
    #[default]
    Wgs84,
    /// GCJ-02, the datum Chinese regulation requires of maps served in China.
    Gcj02,
}

/// `GET /config.json`: what the browser app needs from the server settings (public), and the
/// server's Web Push key.
pub fn config_json(config: &HttpConfig, push_public_key: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(json!({
            "tile_url": config.tile_url,
            "tile_attribution": config.tile_attribution,
            "tile_crs": config.tile_crs,
            "cut_power_max_speed_kmh": config.cut_power_max_speed_kmh,
            "push_public_key": push_public_key,
            "version": env!("CARGO_PKG_VERSION"),
        }))
}

/// The relative file path a request names, or `None` when it tries to leave the directory.
fn relative_path(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

fn content_type(path: &Path) -> String {
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
        + match path.extension().and_then(|e| e.to_str()) {
            Some("html" | "js" | "css" | "json" | "svg" | "txt" | "webmanifest") => {
                "; charset=utf-8"
            }
            _ => "",
        }
}

/// Serves one GET/HEAD request for the app (anything outside `/api/`, `/health`, `/metrics`).
pub async fn serve(req: &HttpRequest, config: &HttpConfig) -> HttpResponse {
    let dir = resolve_dir(config);
    let index = dir.join("index.html");
    if !index.is_file() {
        return not_built(&dir);
    }
    let Some(rel) = relative_path(req.path()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let candidate = dir.join(&rel);
    let (file, immutable) = if !rel.as_os_str().is_empty() && candidate.is_file() {
        (candidate, rel.starts_with("assets"))
    } else if rel.extension().is_some() {
        // A missing file (an old hashed asset, a typo) is a 404, not the app shell: the browser
        // would otherwise try to run HTML as a script.
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    } else {
        (index, false)
    };
    match tokio::fs::read(&file).await {
        Ok(body) => HttpResponse::Ok()
            .content_type(content_type(&file))
            .insert_header((
                header::CACHE_CONTROL,
                if immutable {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-cache"
                },
            ))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(body),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "cannot read web app file");
            HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("not found")
        }
    }
}

fn not_built(dir: &Path) -> HttpResponse {
    let dir = dir.display().to_string();
    let dir = dir
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    HttpResponse::ServiceUnavailable()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Vigil: web app not built</title>\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em\">\
             <h1>Vigil is running, but the web app is not built</h1>\
             <p>No <code>index.html</code> in <code>{dir}</code>. Build it from the repository root \
             (needs Node.js):</p>\
             <pre>npm --prefix web ci &amp;&amp; npm --prefix web run build</pre>\
             <p>then reload this page, or point the <code>web_dir</code> setting \
             (<code>VIGIL_WEB_DIR</code>) at a built copy. The API is at <code>/api/v1</code> \
             (<a href=\"/api/v1/docs/\">documentation</a>).</p></body></html>"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_directory() {
        assert_eq!(relative_path("/"), Some(PathBuf::new()));
        assert_eq!(
            relative_path("/assets/a.js"),
            Some(PathBuf::from("assets/a.js"))
        );
        assert_eq!(relative_path("/../etc/passwd"), None);
        assert_eq!(relative_path("/a/./b"), None);
        assert_eq!(relative_path("/a\\..\\b"), None);
    }

    #[test]
    fn text_types_say_utf8() {
        assert_eq!(
            content_type(Path::new("x.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.png")), "image/png");
    }
}
