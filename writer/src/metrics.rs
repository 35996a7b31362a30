//! The writer role's Prometheus metrics, and the data node's exporter
//! (which also describes the node's and the replica role's). Every name
//! here is what dashboards use.

use std::net::SocketAddr;

/// Time from a batch leaving for the fabric to its commit, seconds (histogram).
pub const COMMIT_SECONDS: &str = "sixfold_writer_commit_seconds";
/// Records per committed batch (histogram).
pub const BATCH_RECORDS: &str = "sixfold_writer_batch_records";
/// Record bytes per committed batch (histogram).
pub const BATCH_BYTES: &str = "sixfold_writer_batch_bytes";
/// Records committed (counter).
pub const COMMITTED_RECORDS: &str = "sixfold_writer_committed_records_total";
/// Commit LSN (gauge).
pub const COMMIT_LSN: &str = "sixfold_writer_commit_lsn";
/// Records logged and not yet committed (gauge).
pub const INFLIGHT_RECORDS: &str = "sixfold_writer_inflight_records";
/// Record bytes sent to the fabric and not yet on disk on four nodes (gauge).
pub const INFLIGHT_BYTES: &str = "sixfold_writer_inflight_bytes";
/// Each storage node's acknowledged LSN, label `node` (gauge).
pub const NODE_ACKED_LSN: &str = "sixfold_writer_node_acked_lsn";

/// Serves `/metrics` on `addr`.
pub fn install(addr: SocketAddr) -> anyhow::Result<()> {
    sixfold_telemetry::serve_metrics(addr)?;
    metrics::describe_histogram!(COMMIT_SECONDS, metrics::Unit::Seconds, "Batch commit latency");
    metrics::describe_histogram!(BATCH_RECORDS, "Records per committed batch");
    metrics::describe_histogram!(BATCH_BYTES, metrics::Unit::Bytes, "Record bytes per committed batch");
    metrics::describe_counter!(COMMITTED_RECORDS, "Records committed");
    metrics::describe_gauge!(COMMIT_LSN, "Commit LSN");
    metrics::describe_gauge!(INFLIGHT_RECORDS, "Records logged and not yet committed");
    metrics::describe_gauge!(INFLIGHT_BYTES, metrics::Unit::Bytes, "Record bytes not yet on disk on four nodes");
    sixfold_node::metrics::describe();
    sixfold_replica::metrics::describe();
    metrics::describe_gauge!(NODE_ACKED_LSN, "LSN each storage node acknowledged");
    Ok(())
}
