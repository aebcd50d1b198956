//! Smoke run of the harness itself: a few devices for a few seconds against a real server
//! (and the baseline sink) started by the harness; asserts its counts, never its timings.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_short_run_counts_every_position_sent_acked_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil-loadtest"))
        .args([
            "run",
            "--devices",
            "6",
            "--interval-secs",
            "0.1",
            "--heartbeat-every",
            "5",
            "--alarm-share",
            "0.2",
            "--ramp-secs",
            "0.3",
            "--duration-secs",
            "2",
            "--drain-secs",
            "60",
            "--db",
            "sqlite",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("vigil-loadtest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed:\n{stdout}\n{stderr}");
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "baseline and vigil: {v:#}");
    for r in results {
        let target = r["target"].as_str().unwrap();
        assert_eq!(r["connections_held"], 6, "{target}: {r:#}");
        let sent = r["total_sent"].as_u64().unwrap();
        assert!(sent > 0, "{target} sent nothing");
        assert_eq!(r["total_acked"].as_u64(), Some(sent), "{target}: {r:#}");
        assert_eq!(r["heartbeats"], r["heartbeats_acked"], "{target}: {r:#}");
        for e in ["connect", "io", "protocol"] {
            assert_eq!(r["errors"][e], 0, "{target} {e} errors: {r:#}");
        }
        for p in ["gt06", "jt808", "h02"] {
            assert!(
                r["latency"][p]["count"].as_u64().unwrap() > 0,
                "{target}: no {p} acks measured"
            );
        }
        if target.starts_with("vigil") {
            assert_eq!(r["stored"].as_u64(), Some(sent), "{target}: {r:#}");
        }
    }
}
