//! The Sixfold in-memory engine: a Redis-compatible keyspace (16 databases,
//! strings, lists, hashes, sets, sorted sets, expiry), the command table and
//! handlers with Redis 7.2 semantics and error texts, transactions, pub/sub
//! and blocking commands.
//!
//! Every write yields deterministic *effects* ([`Effect`]) that
//! [`Engine::apply`] replays on another engine with an identical result, as
//! checked by the state [`digest`]. The engine does no I/O: the server feeds
//! it commands and the clock, and drains replies and effects.

pub mod args;
pub mod blocking;
pub mod cmd;
pub mod cmdstats;
pub mod db;
pub mod digest;
pub mod dispatch;
pub mod effects;
pub mod engine;
pub mod exec;
pub mod geo;
pub mod hll;
pub mod notify;
pub mod output_limits;
pub mod pause;
pub mod rdb;
pub mod rdb_stream;
pub mod redis_config;
pub mod scripting;
pub mod session;
pub mod snapshot;
pub mod stream;
pub mod tracking;
pub mod util;
pub mod value;

pub use effects::{Effect, decode_group, encode_group};
pub use engine::{Config, Engine, InfoExtra, ShardView, SnapshotFacts, Stats};
pub use exec::{CmdError, Mode};
pub use session::{ClientId, ClientInfo};
