//! The writer's Prometheus metrics: names and the exporter. Every name here
//! is what dashboards use.

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

/// Commands executed (counter).
pub const COMMANDS: &str = "sixfold_commands_total";
/// Client connections open (gauge).
pub const CONNECTED_CLIENTS: &str = "sixfold_connected_clients";
/// Bytes allocated by the process (gauge).
pub const USED_MEMORY_BYTES: &str = "sixfold_used_memory_bytes";
/// Replica: last LSN applied (gauge).
pub const REPLICA_APPLIED_LSN: &str = "sixfold_replica_applied_lsn";
/// Replica: records committed and not yet applied (gauge).
pub const REPLICA_LAG_RECORDS: &str = "sixfold_replica_lag_records";
/// Replica: pulled record bytes not yet applied (gauge).
pub const REPLICA_LAG_BYTES: &str = "sixfold_replica_lag_bytes";
/// Replica: milliseconds behind the commit LSN (gauge).
pub const REPLICA_LAG_MS: &str = "sixfold_replica_lag_ms";

/// Publishes the replica's progress.
pub fn replica(applied: u64, commit: u64, stats: &crate::replica::ReplicaStats) {
    use std::sync::atomic::Ordering::Relaxed;
    metrics::gauge!(REPLICA_APPLIED_LSN).set(applied as f64);
    metrics::gauge!(REPLICA_LAG_RECORDS).set(commit.saturating_sub(applied) as f64);
    metrics::gauge!(REPLICA_LAG_BYTES).set(stats.buffer.bytes.load(Relaxed) as f64);
    metrics::gauge!(REPLICA_LAG_MS).set(stats.lag_ms.load(Relaxed) as f64);
}

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
    metrics::describe_counter!(COMMANDS, "Commands executed");
    metrics::describe_gauge!(CONNECTED_CLIENTS, "Client connections open");
    metrics::describe_gauge!(USED_MEMORY_BYTES, metrics::Unit::Bytes, "Bytes allocated by the process");
    metrics::describe_gauge!(REPLICA_APPLIED_LSN, "Last LSN applied on this replica");
    metrics::describe_gauge!(REPLICA_LAG_RECORDS, "Committed records not yet applied");
    metrics::describe_gauge!(REPLICA_LAG_BYTES, metrics::Unit::Bytes, "Pulled record bytes not yet applied");
    metrics::describe_gauge!(REPLICA_LAG_MS, metrics::Unit::Milliseconds, "Time behind the commit LSN");
    metrics::describe_gauge!(NODE_ACKED_LSN, "LSN each storage node acknowledged");
    Ok(())
}
