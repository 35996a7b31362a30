//! The writer role of a Sixfold data node, and the `sixfold-server` binary
//! that wires both roles. As the writer, every write is logged to the six
//! storage nodes and its reply held until four hold it ([`durable`],
//! [`fabric`]); the writer serves only while its lease holds ([`lease`]),
//! hands over on FAILOVER ([`handover`]), and becomes a replica in place
//! when fenced. [`roles`] is a durable data node's life (replicate,
//! campaign, serve as writer, demote); [`server`] one process.
//! `--durability none` is the memory-only benchmark mode.
//!
//! What both roles share (listener, connections, the engine behind one
//! lock) is `sixfold-node`; the replica role is `sixfold-replica`.

pub mod durable;
pub mod fabric;
pub mod handover;
pub mod lease;
pub mod metrics;
pub mod roles;
pub mod server;

pub use server::{Durability, Role, ServerConfig, run};
