//! The fabric client shared by the writer and the replicas: the 4-of-6
//! commit point as a pure state machine ([`quorum`]) and the QUIC client
//! that appends to the six storage nodes and drives it ([`client`]).

pub mod client;
pub mod quorum;

pub use client::{AppendError, Appender};
pub use quorum::{AckOutcome, COMMIT_QUORUM, CommitMode, CommitTracker, STORAGE_NODES};
