//! The replica role of a Sixfold data node (DESIGN §5, §6): it reads the
//! log from the storage nodes, stages what is not yet committed, applies
//! it to the node's engine (`sixfold-node`'s core) when the writer's commit
//! notifications cover it, serves reads, acknowledges what it applied to
//! the writer, and campaigns to take over when the writer is gone (the
//! recovery itself is the writer role's, `sixfold-writer`).
//!
//! - [`source`]: which storage node to read from (own zone first, the next
//!   one after a timeout or error), as a pure state machine.
//! - [`puller`]: the QUIC reads as a `Peer` (records above the commit LSN
//!   too), each a long poll that the node answers as soon as it holds
//!   something new.
//! - [`staging`]: records received before commit and applied at commit,
//!   and retained until flushed, as a pure state machine (the Aurora read
//!   path).
//! - [`notify`]: the writer's commit notifications (`REPLCONF NOTIFY`).
//! - [`replicator`]: the loop that drives staging with reads and
//!   notifications and applies under the core lock.
//! - [`retention`]: storage nodes read retained records back (QUIC, the
//!   storage-node certificate role only) to refill a lost tail.
//! - [`role`]: replicating — the tasks, following `LeaderChange` records,
//!   serving reads once caught up, INFO replication.
//! - [`upstream`]: the RESP link to the writer (REPLCONF ACK for WAIT, ROLE
//!   for the writer's commit LSN and its replicas).
//! - [`campaign`]: when to take over (quiet window, rank, handover).
//! - [`metrics`]: the replica's Prometheus metrics.

pub mod campaign;
pub mod metrics;
pub mod notify;
pub mod puller;
pub mod replicator;
pub mod restore;
pub mod retention;
pub mod role;
pub mod source;
pub mod staging;
pub mod upstream;

pub use puller::{PullSettings, Puller};
pub use role::{ReplicaSettings, ReplicaStats};
