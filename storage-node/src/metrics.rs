//! The storage node's Prometheus metrics: names and the exporter. Every
//! name here is what dashboards use.

use std::net::SocketAddr;

/// Records appended (counter).
pub const APPENDS: &str = "sixfold_storage_appended_records_total";
/// Append requests accepted (counter; records per Append is the writer's
/// grouping).
pub const APPEND_REQUESTS: &str = "sixfold_storage_append_requests_total";
/// Record bytes appended (counter).
pub const APPEND_BYTES: &str = "sixfold_storage_appended_bytes_total";
/// Appends refused for a lower epoch (counter).
pub const FENCED: &str = "sixfold_storage_fenced_appends_total";
/// Records filled from peers (counter).
pub const HOLES_FILLED: &str = "sixfold_storage_hole_filled_records_total";
/// Group fsync latency in seconds (histogram).
pub const FSYNC_SECONDS: &str = "sixfold_storage_fsync_seconds";
/// Highest LSN held with no gap below (gauge).
pub const SCL: &str = "sixfold_storage_scl";
/// Highest LSN on disk (gauge).
pub const FLUSHED_LSN: &str = "sixfold_storage_flushed_lsn";
/// Commit LSN learned from the writer (gauge).
pub const COMMIT_LSN: &str = "sixfold_storage_commit_lsn";
/// Bytes of records in the hot tail (gauge).
pub const HOT_TAIL_BYTES: &str = "sixfold_storage_hot_tail_bytes";
/// The log holds no record at or below this LSN (truncated below a
/// snapshot; gauge).
pub const BASE_LSN: &str = "sixfold_storage_base_lsn";
/// The newest snapshot LSN named by a committed marker (gauge).
pub const SNAPSHOT_LSN: &str = "sixfold_storage_snapshot_lsn";

/// Serves `/metrics` on `addr`.
pub fn install(addr: SocketAddr) -> Result<(), sixfold_telemetry::ExporterError> {
    sixfold_telemetry::serve_metrics(addr)?;
    metrics::describe_counter!(APPENDS, "Records appended");
    metrics::describe_counter!(APPEND_REQUESTS, "Append requests accepted");
    metrics::describe_counter!(APPEND_BYTES, "Record bytes appended");
    metrics::describe_counter!(FENCED, "Appends refused for a lower epoch");
    metrics::describe_counter!(HOLES_FILLED, "Records filled from peers");
    metrics::describe_histogram!(FSYNC_SECONDS, metrics::Unit::Seconds, "Group fsync latency");
    metrics::describe_gauge!(SCL, "Highest LSN held with no gap below");
    metrics::describe_gauge!(FLUSHED_LSN, "Highest LSN on disk");
    metrics::describe_gauge!(COMMIT_LSN, "Commit LSN learned from the writer");
    metrics::describe_gauge!(HOT_TAIL_BYTES, "Bytes of records in the in-memory hot tail");
    metrics::describe_gauge!(BASE_LSN, "The log holds no record at or below this LSN (truncated below a snapshot)");
    metrics::describe_gauge!(SNAPSHOT_LSN, "Newest snapshot LSN named by a committed snapshot marker");
    Ok(())
}
