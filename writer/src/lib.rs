//! `sixfold-server`: the Sixfold data node. Today it serves the engine over
//! RESP with `--durability none`; the durable writer path (DESIGN §3) and the
//! replica role build on it.
//!
//! Threads: one engine thread owns the keyspace and runs every command (as
//! Redis does); tokio tasks do the network I/O, one per connection. They talk
//! through bounded channels, so a slow client or a flood of requests applies
//! backpressure instead of growing memory.

pub mod conn;
pub mod engine_loop;
pub mod server;

pub use server::{Durability, ServerConfig, run};
