//! The data node's own Prometheus metrics (both roles); the writer's and
//! the replica's are in their crates. Every name here is what dashboards use.

/// Commands executed (counter).
pub const COMMANDS: &str = "sixfold_commands_total";
/// Client connections open (gauge).
pub const CONNECTED_CLIENTS: &str = "sixfold_connected_clients";
/// Bytes allocated by the process (gauge).
pub const USED_MEMORY_BYTES: &str = "sixfold_used_memory_bytes";

/// Describes the metrics above to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(COMMANDS, "Commands executed");
    metrics::describe_gauge!(CONNECTED_CLIENTS, "Client connections open");
    metrics::describe_gauge!(USED_MEMORY_BYTES, metrics::Unit::Bytes, "Bytes allocated by the process");
}
