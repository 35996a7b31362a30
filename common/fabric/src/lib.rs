//! The fabric client logic shared by the writer and the replicas. Today: the
//! 4-of-6 commit point as a pure state machine ([`quorum`]); the QUIC client
//! that drives it comes with the storage node's network layer.

pub mod quorum;

pub use quorum::{AckOutcome, COMMIT_QUORUM, CommitMode, CommitTracker, STORAGE_NODES};
