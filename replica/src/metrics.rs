//! The replica role's Prometheus metrics. Every name here is what
//! dashboards use.

use crate::role::ReplicaStats;
use std::sync::atomic::Ordering::Relaxed;

/// Last LSN applied (gauge).
pub const REPLICA_APPLIED_LSN: &str = "sixfold_replica_applied_lsn";
/// Records committed and not yet applied (gauge).
pub const REPLICA_LAG_RECORDS: &str = "sixfold_replica_lag_records";
/// Pulled record bytes not yet applied (gauge).
pub const REPLICA_LAG_BYTES: &str = "sixfold_replica_lag_bytes";
/// Milliseconds behind the commit LSN (gauge).
pub const REPLICA_LAG_MS: &str = "sixfold_replica_lag_ms";

/// Publishes the replica's progress.
pub fn publish(applied: u64, commit: u64, stats: &ReplicaStats) {
    metrics::gauge!(REPLICA_APPLIED_LSN).set(applied as f64);
    metrics::gauge!(REPLICA_LAG_RECORDS).set(commit.saturating_sub(applied) as f64);
    metrics::gauge!(REPLICA_LAG_BYTES).set(stats.buffer.bytes.load(Relaxed) as f64);
    metrics::gauge!(REPLICA_LAG_MS).set(stats.lag_ms.load(Relaxed) as f64);
}

/// Describes the metrics above to the installed recorder.
pub fn describe() {
    metrics::describe_gauge!(REPLICA_APPLIED_LSN, "Last LSN applied on this replica");
    metrics::describe_gauge!(REPLICA_LAG_RECORDS, "Committed records not yet applied");
    metrics::describe_gauge!(REPLICA_LAG_BYTES, metrics::Unit::Bytes, "Pulled record bytes not yet applied");
    metrics::describe_gauge!(REPLICA_LAG_MS, metrics::Unit::Milliseconds, "Time behind the commit LSN");
}
