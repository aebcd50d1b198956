//! Logs and metrics: what operators see (health is `services::health`, which components
//! report to).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the global `tracing` subscriber (`RUST_LOG` filter, default `info`). Idempotent.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rumqttd=warn"));
    // Colour codes only for a terminal: logs piped to a file or journald stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The process-wide Prometheus recorder (installed on first use; metrics are process-wide).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; the handle then renders
            // nothing, which is visible but harmless.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("vigil_connections", "Open device connections per protocol");
    describe_counter!("vigil_frames_total", "Frames decoded per protocol");
    describe_counter!(
        "vigil_decode_errors_total",
        "Decode errors per protocol and kind"
    );
    describe_counter!(
        "vigil_positions_written_total",
        "Positions committed to the database"
    );
    describe_histogram!("vigil_batch_size", "Positions per committed batch");
    describe_histogram!(
        "vigil_batch_commit_seconds",
        "Time to write and commit one batch"
    );
    describe_gauge!(
        "vigil_batch_queue_depth",
        "Submissions waiting for the writer"
    );
    describe_counter!(
        "vigil_batch_retries_total",
        "Failed batch writes that were retried"
    );
    describe_counter!(
        "vigil_ingest_refused_total",
        "Device frames refused per protocol and reason (invalid_device_id, unauthenticated, other_device)"
    );
    describe_counter!(
        "vigil_fix_time_rejected_total",
        "Fixes not stored because of their time, per protocol and reason (future, before_floor)"
    );
}
