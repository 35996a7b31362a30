//! The replica role's Prometheus metrics. Every name here is what
//! dashboards use.

use crate::role::ReplicaStats;
use std::sync::atomic::Ordering::Relaxed;

/// Last LSN applied (gauge).
pub const REPLICA_APPLIED_LSN: &str = "sixfold_replica_applied_lsn";
/// Records committed and not yet applied (gauge).
pub const REPLICA_LAG_RECORDS: &str = "sixfold_replica_lag_records";
/// Staged record bytes: read, not yet known committed (gauge).
pub const REPLICA_LAG_BYTES: &str = "sixfold_replica_lag_bytes";
/// Applied record bytes retained until the flush confirmation (gauge).
pub const REPLICA_RETAINED_BYTES: &str = "sixfold_replica_retained_bytes";
/// Milliseconds since the oldest commit notification not yet applied (gauge).
pub const REPLICA_LAG_MS: &str = "sixfold_replica_lag_ms";

/// Publishes the replica's progress.
pub fn publish(applied: u64, commit: u64, stats: &ReplicaStats) {
    metrics::gauge!(REPLICA_APPLIED_LSN).set(applied as f64);
    metrics::gauge!(REPLICA_LAG_RECORDS).set(commit.saturating_sub(applied) as f64);
    metrics::gauge!(REPLICA_LAG_BYTES).set(stats.staged_bytes.load(Relaxed) as f64);
    metrics::gauge!(REPLICA_RETAINED_BYTES).set(stats.retained_bytes.load(Relaxed) as f64);
    metrics::gauge!(REPLICA_LAG_MS).set(stats.lag_ms.load(Relaxed) as f64);
}

/// Describes the metrics above to the installed recorder.
pub fn describe() {
    metrics::describe_gauge!(REPLICA_APPLIED_LSN, "Last LSN applied on this replica");
    metrics::describe_gauge!(REPLICA_LAG_RECORDS, "Committed records not yet applied");
    metrics::describe_gauge!(REPLICA_LAG_BYTES, metrics::Unit::Bytes, "Staged record bytes not yet known committed");
    metrics::describe_gauge!(
        REPLICA_RETAINED_BYTES,
        metrics::Unit::Bytes,
        "Applied record bytes retained until flushed"
    );
    metrics::describe_gauge!(
        REPLICA_LAG_MS,
        metrics::Unit::Milliseconds,
        "Time since the oldest commit notification not yet applied"
    );
}
