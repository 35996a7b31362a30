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

/// Bytes the process has allocated and not freed (gauge; jemalloc's
/// `stats.allocated`).
pub const HEAP_ALLOCATED: &str = "sixfold_storage_heap_allocated_bytes";
/// Bytes of heap pages the allocator keeps resident (gauge; jemalloc's
/// `stats.resident`): above [`HEAP_ALLOCATED`] by what it has not returned.
pub const HEAP_RESIDENT: &str = "sixfold_storage_heap_resident_bytes";
/// How often the heap gauges are read, in milliseconds.
pub const HEAP_PROBE_INTERVAL_MS: u64 = 5_000;

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
    metrics::describe_gauge!(HEAP_ALLOCATED, metrics::Unit::Bytes, "Heap bytes allocated and not freed");
    metrics::describe_gauge!(HEAP_RESIDENT, metrics::Unit::Bytes, "Heap bytes the allocator keeps resident");
    tokio::spawn(heap_probe());
    Ok(())
}

/// Sets the heap gauges every [`HEAP_PROBE_INTERVAL_MS`].
async fn heap_probe() {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(HEAP_PROBE_INTERVAL_MS));
    loop {
        tick.tick().await;
        if tikv_jemalloc_ctl::epoch::advance().is_err() {
            continue;
        }
        if let Ok(n) = tikv_jemalloc_ctl::stats::allocated::read() {
            metrics::gauge!(HEAP_ALLOCATED).set(n as f64);
        }
        if let Ok(n) = tikv_jemalloc_ctl::stats::resident::read() {
            metrics::gauge!(HEAP_RESIDENT).set(n as f64);
        }
    }
}
