//! Telemetry shared by every Sixfold binary: logging to stderr filtered by
//! `RUST_LOG` (default `info`), and the Prometheus `/metrics` exporter. The
//! metric names themselves live with the code that records them.

use std::net::SocketAddr;

/// The exporter could not start (port in use, already installed).
#[derive(Debug, thiserror::Error)]
#[error("starting the metrics exporter on {addr}: {reason}")]
pub struct ExporterError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why it failed.
    pub reason: String,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}

/// Serves the process's metrics at `http://addr/metrics`. Call from inside
/// a tokio runtime.
pub fn serve_metrics(addr: SocketAddr) -> Result<(), ExporterError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| ExporterError { addr, reason: e.to_string() })
}
