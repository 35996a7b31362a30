//! `sixfold-server`: the Sixfold data node. It serves the engine over RESP.
//! As the writer, every write is logged to the six storage nodes and its
//! reply held until four hold it ([`durable`], [`fabric`]); `--durability
//! none` is the memory-only benchmark mode. The durable writer serves only
//! while its lease holds ([`lease`]) and hands over on FAILOVER
//! ([`handover`]). Durable data nodes elect their writer; the others are
//! replicas that apply the committed log pulled from the storage nodes and
//! serve reads, take over when the writer fails, and a fenced writer
//! becomes one again ([`replica`]).
//!
//! Threads: tokio tasks, one per connection, read and decode requests and
//! run them on the engine behind one lock ([`core`]): commands execute one
//! at a time in arrival order, and a connection reads its next requests only
//! after writing the replies to the previous ones, so a slow client or a
//! flood of requests applies backpressure instead of growing memory.

pub mod acks;
pub mod conn;
pub mod core;
pub mod durable;
pub mod fabric;
pub mod handover;
pub mod lease;
pub mod metrics;
pub mod replica;
pub mod server;
pub mod upstream;

pub use server::{Durability, Role, ServerConfig, run};
