//! The data node's own Prometheus metrics (both roles); the writer's and
//! the replica's are in their crates. Every name here is what dashboards use.

/// Commands executed (counter).
pub const COMMANDS: &str = "sixfold_commands_total";
/// Client connections open (gauge).
pub const CONNECTED_CLIENTS: &str = "sixfold_connected_clients";
/// Bytes allocated by the process (gauge).
pub const USED_MEMORY_BYTES: &str = "sixfold_used_memory_bytes";
/// LSN of the newest snapshot the log marks as verified (gauge).
pub const SNAPSHOT_LSN: &str = "sixfold_snapshot_last_lsn";
/// Its size (gauge).
pub const SNAPSHOT_BYTES: &str = "sixfold_snapshot_last_bytes";
/// When it was verified, Unix seconds (gauge; age = time() - this).
pub const SNAPSHOT_TIMESTAMP_SECONDS: &str = "sixfold_snapshot_last_timestamp_seconds";
/// How long making it took (gauge).
pub const SNAPSHOT_DURATION_SECONDS: &str = "sixfold_snapshot_last_duration_seconds";

/// Describes the metrics above to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(COMMANDS, "Commands executed");
    metrics::describe_gauge!(CONNECTED_CLIENTS, "Client connections open");
    metrics::describe_gauge!(USED_MEMORY_BYTES, metrics::Unit::Bytes, "Bytes allocated by the process");
    metrics::describe_gauge!(SNAPSHOT_LSN, "LSN of the newest snapshot the log marks as verified");
    metrics::describe_gauge!(SNAPSHOT_BYTES, metrics::Unit::Bytes, "Size of the newest verified snapshot");
    metrics::describe_gauge!(SNAPSHOT_TIMESTAMP_SECONDS, metrics::Unit::Seconds, "When it was verified (Unix time)");
    metrics::describe_gauge!(SNAPSHOT_DURATION_SECONDS, metrics::Unit::Seconds, "How long making it took");
}
