//! The Sixfold storage node: holds a shard's log — the hot tail in memory
//! ([`log`]), durable segment files on disk ([`segments`]), the persisted
//! promise that fences old writers ([`promise`]) — and (next) serves appends
//! and pulls over QUIC.

pub mod log;
pub mod promise;
pub mod segments;
