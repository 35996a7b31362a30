//! The fabric client shared by the writer and the replicas: the 4-of-6
//! commit point ([`quorum`]), the append pipeline ([`pipeline`]) and a new
//! writer's recovery ([`recovery`]) as pure state machines, the QUIC
//! client that drives them against the six storage nodes ([`client`]), and
//! the one loop that reads a storage node's log ([`reader`]).

pub mod client;
pub mod pipeline;
pub mod quorum;
pub mod reader;
pub mod recovery;

pub use client::{AppendError, Appender};
pub use pipeline::Pipeline;
pub use quorum::{AckOutcome, COMMIT_QUORUM, CommitMode, CommitTracker, STORAGE_NODES};
pub use reader::{LogReader, ReadError, Records};
pub use recovery::{Adopted, Promised, Recovery, Rules, Step, leased_at_most};
