//! The Sixfold storage node: holds a shard's log (hot tail in memory, segment
//! files on disk) and serves appends and pulls over QUIC.
//!
//! This crate is reserved in the workspace layout of `DESIGN.md` §1; its
//! service is built by the storage-node issue and has no code yet.
