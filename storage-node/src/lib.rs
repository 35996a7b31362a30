//! The Sixfold storage node: holds a shard's log — the hot tail in memory
//! ([`log`]), durable segment files on disk ([`segments`]), the persisted
//! promise that fences old writers ([`promise`]) — and serves appends, reads
//! and promises over mutually authenticated QUIC ([`node`], [`service`]).

pub mod log;
pub mod marks;
pub mod metrics;
pub mod node;
pub mod promise;
pub mod segments;
pub mod service;
pub mod uring;
