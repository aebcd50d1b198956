//! The layers of `server/src` and the one direction of their imports, checked on the source.
//!
//! `app → transport → services → storage → domain → (protocol, geofence)`: a file may name
//! the layers below its own, never one above. Besides the order, these rules hold the layers'
//! meaning: `domain/` knows no database, HTTP or sockets; only `storage/` names `sqlx`; only
//! `transport/http` names actix or `ApiError`; the transports (`gateway`, `http`, `mqtt`)
//! never import each other; and `storage/` neither names `utoipa` nor derives `Serialize`
//! (storage values are never the API's schema). Every violation is listed, file and line, in
//! one failure.

use std::path::{Path, PathBuf};

/// The layers, top first.
const LAYERS: [&str; 5] = ["app", "transport", "services", "storage", "domain"];
const TRANSPORTS: [&str; 3] = ["gateway", "http", "mqtt"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read server/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line: without a `//` comment (doc comments name other layers freely).
fn code(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("//") {
        return "";
    }
    match line.find(" // ") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Whether `text` names `word` as a path segment start (`sqlx::`, `actix_web`, …).
fn names(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// Whether `line` lists `name` as a derive: `#[derive(…, Serialize, …)]`, or a line of a
/// derive spread over several (`    Serialize,`); `Deserialize` is not `Serialize`.
fn derives(line: &str, name: &str) -> bool {
    line.match_indices(name).any(|(i, _)| {
        let before = line[..i].trim_end().chars().next_back();
        let after = line[i + name.len()..].trim_start().chars().next();
        matches!(before, None | Some('(' | ',')) && matches!(after, None | Some(')' | ','))
    })
}

/// Which rules `line` of a file at `rel` (path under `server/src`, `/`-separated) breaks.
fn violations(rel: &str, line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let code = code(line);
    if code.is_empty() {
        return out;
    }
    let mut parts = rel.split('/');
    let top = parts.next().unwrap_or_default();
    let Some(level) = LAYERS.iter().position(|l| *l == top) else {
        return out; // main.rs, lib.rs: the crate's roots may name every layer
    };
    for above in LAYERS.iter().take(level) {
        if code.contains(&format!("crate::{above}::")) || code.contains(&format!("crate::{above};"))
        {
            out.push(format!("{top}/ imports {above}/, a layer above it"));
        }
    }
    if top == "transport" {
        let own = parts.next().unwrap_or_default().trim_end_matches(".rs");
        for other in TRANSPORTS.iter().filter(|t| **t != own) {
            if code.contains(&format!("crate::transport::{other}")) {
                out.push(format!("transport/{own} imports transport/{other}"));
            }
        }
    }
    if top == "domain" {
        for banned in ["sqlx", "actix", "tokio::net"] {
            if names(code, banned) {
                out.push(format!("domain/ names {banned}"));
            }
        }
    }
    // Storage values are never the API's schema: response types live in domain/ or the
    // handlers, so a column rename cannot silently change the API.
    if top == "storage" {
        if names(code, "utoipa") {
            out.push("storage/ names utoipa".into());
        }
        if code.contains("serde::Serialize") || derives(code, "Serialize") {
            out.push("storage/ derives Serialize".into());
        }
    }
    if top != "storage" && names(code, "sqlx") {
        out.push("names sqlx outside storage/".into());
    }
    if !rel.starts_with("transport/http/") {
        for banned in ["actix", "ApiError"] {
            if names(code, banned) {
                out.push(format!("names {banned} outside transport/http/"));
            }
        }
    }
    out
}

#[test]
fn imports_only_go_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            for v in violations(&rel, line) {
                found.push(format!("{rel}:{}: {v}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} imports against the layers:\n{}",
        found.len(),
        found.join("\n")
    );
    assert!(files.len() > 40, "server/src read ({} files)", files.len());
}

/// Modules stay under ~600 lines, or say at their top why not (a `//! Size:` line).
#[test]
fn modules_stay_small_or_say_why() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let lines = text.lines().count();
        let reason = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
            .any(|l| l.starts_with("//! Size:"));
        if lines > 620 && !reason {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "modules over ~600 lines with no `//! Size:` reason at their top:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    assert!(
        violations("domain/alarms.rs", "use sqlx::Row;").contains(&"domain/ names sqlx".into())
    );
    assert!(
        !violations("storage/mod.rs", "use sqlx::Row;")
            .iter()
            .any(|v| v.contains("sqlx"))
    );
    assert_eq!(
        violations("storage/alarms.rs", "use crate::services::bus::Bus;"),
        vec!["storage/ imports services/, a layer above it".to_string()]
    );
    assert_eq!(
        violations("services/ingest.rs", "    ApiError::not_found()"),
        vec!["names ApiError outside transport/http/".to_string()]
    );
    assert_eq!(
        violations(
            "transport/mqtt/acl.rs",
            "use crate::transport::http::AppState;"
        ),
        vec!["transport/mqtt imports transport/http".to_string()]
    );
    assert!(
        violations(
            "transport/gateway/mod.rs",
            "use crate::transport::gateway::codecs;"
        )
        .is_empty()
    );
    assert!(violations("services/bus.rs", "/// see crate::transport::http::stream").is_empty());
    assert!(violations("domain/rules.rs", "use crate::domain::alarms::Guard;").is_empty());
    assert!(violations("transport/http/osmand.rs", "use actix_web::App;").is_empty());
    let serialize = vec!["storage/ derives Serialize".to_string()];
    for line in [
        "#[derive(Debug, Clone, Serialize, sqlx::FromRow)]",
        "#[derive(serde::Serialize)]",
        "    Serialize,",
        "use serde::Serialize;",
    ] {
        assert_eq!(violations("storage/units.rs", line), serialize, "{line}");
    }
    assert_eq!(
        violations("storage/commands.rs", "#[derive(Debug, utoipa::ToSchema)]"),
        vec!["storage/ names utoipa".to_string()]
    );
    assert!(violations("storage/alarms.rs", "#[derive(Deserialize, sqlx::FromRow)]").is_empty());
    assert!(violations("storage/alarms.rs", "let s = serde_json::to_string(&v)?;").is_empty());
    assert!(
        violations(
            "domain/units.rs",
            "#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]"
        )
        .is_empty()
    );
}
