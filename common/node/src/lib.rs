//! What both roles of a Sixfold data node share (DESIGN §2, §5): the RESP
//! listener ([`listener`]), one task per client connection ([`conn`]), and
//! the engine behind one lock ([`core`]), with the registry of replicas
//! that acknowledge what they applied ([`acks`]). The writer role
//! (`sixfold-writer`) installs its durable log in the core through the
//! [`journal::Journal`] trait; the replica role (`sixfold-replica`) applies
//! committed records to the same core. The `sixfold-server` binary wires
//! them and switches a node between the two at run time.
//!
//! Threads: tokio tasks, one per connection, read and decode requests and
//! run them on the engine behind one lock: commands execute one at a time
//! in arrival order, and a connection reads its next requests only after
//! writing the replies to the previous ones, so a slow client or a flood of
//! requests applies backpressure instead of growing memory.

pub mod acks;
pub mod busy;
pub mod commits;
pub mod conn;
pub mod core;
pub mod journal;
pub mod listener;
pub mod lock;
pub mod markers;
pub mod metrics;
pub mod tls;

pub use crate::core::{Output, Shared, now_ms};
pub use journal::{Journal, Progress};
pub use listener::SharedLimits;
