//! The replica role of a Sixfold data node (DESIGN §5, §6): it reads the
//! committed log from the storage nodes, applies it to the node's engine
//! (`sixfold-node`'s core), serves reads, acknowledges what it applied to
//! the writer, and campaigns to take over when the writer is gone (the
//! recovery itself is the writer role's, `sixfold-writer`).
//!
//! - [`source`]: which storage node to read from (own zone first, the next
//!   one after a timeout or error), as a pure state machine.
//! - [`puller`]: the QUIC loop that reads `Read{from_lsn, max_bytes}` as a
//!   `Reader` (a storage node serves only records at or below the commit
//!   LSN it knows) and sends batches into a bounded channel: when the data
//!   node falls behind, the channel fills and pulling stops (backpressure).
//! - [`role`]: replicating — pull, apply under the core lock, follow
//!   `LeaderChange` records, serve reads once caught up, INFO replication.
//! - [`upstream`]: the RESP link to the writer (REPLCONF ACK for WAIT, ROLE
//!   for the writer's commit LSN and its replicas).
//! - [`campaign`]: when to take over (quiet window, rank, handover).
//! - [`metrics`]: the replica's Prometheus metrics.
//! - [`staging`]: records received before commit and applied at commit,
//!   and retained until flushed, as a pure state machine (the Aurora read
//!   path; not yet driven by the puller).

pub mod campaign;
pub mod metrics;
pub mod puller;
pub mod role;
pub mod source;
pub mod staging;
pub mod upstream;

pub use puller::{Batch, BufferGauge, PullSettings, Puller};
pub use role::{ReplicaSettings, ReplicaStats};
