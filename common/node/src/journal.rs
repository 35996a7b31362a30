//! What the core needs from the writer's durable log (`sixfold-writer`'s
//! `durable::Log`) while this node is the writer: the LSN a reply must wait
//! for, where effect groups go, whether the lease holds. The log lives
//! behind its own lock, outside the engine's: the core takes it (after its
//! own) to log a batch's effects in execution order; the writer's fabric
//! task takes only it to ship records and note commits.

use bytes::Bytes;
use sixfold_engine::Effect;
use sixfold_wire::{Epoch, Lsn};

/// How far the log is confirmed, as the fabric task publishes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Committed: held by four storage nodes.
    pub commit: Lsn,
    /// On disk on four storage nodes.
    pub flushed: Lsn,
}

/// The writer's durable log as the core sees it.
pub trait Journal: Send {
    /// The log's epoch.
    fn epoch(&self) -> Epoch;
    /// Whether the writer's lease holds now (it serves data only then).
    fn lease_holds(&self) -> bool;
    /// The LSN a command naming `keys` (`None`: keys not known) must wait
    /// for before its reply.
    fn wait_for(&self, keys: Option<&[Bytes]>) -> Lsn;
    /// Logs effect groups as records, in order; returns the last LSN
    /// assigned (0 if nothing was logged).
    fn log_groups(&mut self, groups: Vec<Vec<Effect>>) -> Lsn;
    /// Logs a `SnapshotMarker` record with `payload`; returns its LSN.
    fn log_marker(&mut self, payload: &[u8]) -> Lsn;
    /// Why a request must not run (its effects could not be logged).
    fn refusal(&self, args: &[Bytes]) -> Option<String>;
    /// The last LSN assigned.
    fn last_lsn(&self) -> Lsn;
    /// The last `Effects` record logged (0: none): the engine's data holds
    /// every write up to it.
    fn last_effects_lsn(&self) -> Lsn;
    /// The commit LSN.
    fn commit_lsn(&self) -> Lsn;
    /// Wakes the writer's fabric task (a FAILOVER waits for it).
    fn wake(&self);
}
