//! `sixfold-server`: the Sixfold data node. Today it serves the engine over
//! RESP with `--durability none`; the durable writer path (DESIGN §3) and the
//! replica role build on it.
//!
//! Threads: tokio tasks, one per connection, read and decode requests and
//! run them on the engine behind one lock ([`core`]): commands execute one
//! at a time in arrival order, and a connection reads its next requests only
//! after writing the replies to the previous ones, so a slow client or a
//! flood of requests applies backpressure instead of growing memory.

pub mod conn;
pub mod core;
pub mod durable;
pub mod fabric;
pub mod server;

pub use server::{Durability, ServerConfig, run};
