//! Deployment files: the compose file validates against the Compose specification, and the
//! `healthcheck` subcommand the containers use works against a running server.

use std::path::Path;
use std::process::Command;

use crate::helpers::{Backend, TestDb, spawn_app};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn compose_file_is_valid() {
    let file = repo_root().join("docker-compose.yml");
    let checks: [(&str, Vec<&str>); 2] = [
        (
            "check-jsonschema",
            vec![
                "--builtin-schema",
                "vendor.compose-spec",
                file.to_str().unwrap(),
            ],
        ),
        (
            "docker-compose",
            vec!["-f", file.to_str().unwrap(), "config", "-q"],
        ),
    ];
    for (tool, args) in checks {
        match Command::new(tool).args(&args).output() {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "{tool} rejects docker-compose.yml:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                return;
            }
            Err(_) => continue,
        }
    }
    // CI installs the validator (`.ci/run`) and sets REQUIRE_TEST_TOOLS, so there a missing
    // tool fails instead of silently skipping.
    assert!(
        std::env::var_os("REQUIRE_TEST_TOOLS").is_none(),
        "neither check-jsonschema nor docker-compose is installed"
    );
    eprintln!(
        "SKIPPED: neither check-jsonschema (pip install check-jsonschema) nor docker-compose is installed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(&db).await;
    let addr = app.http.trim_start_matches("http://").to_owned();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("healthcheck")
        .env("VIGIL_HTTP_LISTEN", &addr)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("healthcheck")
        .env("VIGIL_HTTP_LISTEN", &addr)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
}
