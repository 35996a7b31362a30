//! The commit point of a writer's log as a pure state machine (DESIGN §3.4):
//! record `n` is committed once four of the six storage nodes acknowledged
//! holding the log up to at least `n` in the writer's epoch. Acks from other
//! epochs never count; the commit LSN never moves back.

use sixfold_wire::{Epoch, Lsn};

/// Storage nodes per shard (two in each of three zones).
pub const STORAGE_NODES: usize = 6;
/// Acknowledgements that commit a record.
pub const COMMIT_QUORUM: usize = 4;

/// What an acknowledgement must cover to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitMode {
    /// Held in memory (the node's SCL), as Aurora.
    Memory,
    /// On disk after fsync (the node's flushed LSN).
    Disk,
}

/// What an acknowledgement changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The commit LSN moved forward to this value.
    Committed(Lsn),
    /// Nothing changed.
    Unchanged,
    /// A node answered in a higher epoch: this writer is fenced.
    Fenced(Epoch),
}

/// Tracks the six nodes' acknowledgements for one writer epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitTracker {
    epoch: Epoch,
    mode: CommitMode,
    scl: [Lsn; STORAGE_NODES],
    flushed: [Lsn; STORAGE_NODES],
    commit_lsn: Lsn,
    /// The first LSN of this writer's own epoch: nothing below it counts as
    /// committed by acknowledgements until it does (Raft's rule for entries
    /// of earlier terms; DESIGN §6).
    first_own: Lsn,
}

/// The largest LSN that at least [`COMMIT_QUORUM`] of `held` reach.
fn quorum_point(held: &[Lsn; STORAGE_NODES]) -> Lsn {
    let mut sorted = *held;
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted[COMMIT_QUORUM - 1]
}

impl CommitTracker {
    /// A tracker for a writer in `epoch` whose log is committed up to `commit_lsn`.
    pub fn new(epoch: Epoch, mode: CommitMode, commit_lsn: Lsn) -> CommitTracker {
        CommitTracker { epoch, mode, scl: [0; STORAGE_NODES], flushed: [0; STORAGE_NODES], commit_lsn, first_own: 0 }
    }

    /// Acknowledgements commit nothing below `lsn` (this writer's first
    /// record) until they reach it.
    pub fn commit_from(&mut self, lsn: Lsn) {
        self.first_own = lsn;
    }

    /// The commit LSN.
    pub fn commit_lsn(&self) -> Lsn {
        self.commit_lsn
    }

    /// The LSN on disk on four nodes (the fabric flushed LSN, DESIGN §4).
    pub fn fabric_flushed_lsn(&self) -> Lsn {
        quorum_point(&self.flushed)
    }

    /// What node `node` last acknowledged (SCL, flushed).
    pub fn node(&self, node: usize) -> Option<(Lsn, Lsn)> {
        Some((*self.scl.get(node)?, *self.flushed.get(node)?))
    }

    /// Node `node` (0..6) acknowledged `scl` and `flushed` in `epoch`.
    pub fn on_ack(&mut self, node: usize, epoch: Epoch, scl: Lsn, flushed: Lsn) -> AckOutcome {
        if epoch > self.epoch {
            return AckOutcome::Fenced(epoch);
        }
        if epoch < self.epoch || node >= STORAGE_NODES {
            return AckOutcome::Unchanged;
        }
        self.scl[node] = scl;
        self.flushed[node] = flushed.min(scl);
        let point = match self.mode {
            CommitMode::Memory => quorum_point(&self.scl),
            CommitMode::Disk => quorum_point(&self.flushed),
        };
        if point > self.commit_lsn && point >= self.first_own {
            self.commit_lsn = point;
            AckOutcome::Committed(point)
        } else {
            AckOutcome::Unchanged
        }
    }

    /// Renumbers the nodes: node `i` becomes what node `perm[i]` was (the
    /// model checker's symmetry reduction).
    pub fn permute_nodes(&mut self, perm: &[usize; STORAGE_NODES]) {
        let (scl, flushed) = (self.scl, self.flushed);
        for (i, &from) in perm.iter().enumerate() {
            self.scl[i] = scl[from];
            self.flushed[i] = flushed[from];
        }
    }

    /// Node `node` restarted and lost what it held in memory: its
    /// acknowledgements start again from what it reports next.
    pub fn on_node_reset(&mut self, node: usize) {
        if node < STORAGE_NODES {
            self.scl[node] = 0;
            self.flushed[node] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn any_four_acks_commit_three_do_not() {
        for skip in 0..STORAGE_NODES {
            for other in 0..STORAGE_NODES {
                let mut t = CommitTracker::new(1, CommitMode::Memory, 0);
                let nodes: Vec<usize> = (0..STORAGE_NODES).filter(|n| *n != skip && *n != other).collect();
                if nodes.len() < COMMIT_QUORUM {
                    continue;
                }
                for &n in &nodes[..3] {
                    assert_eq!(t.on_ack(n, 1, 10, 0), AckOutcome::Unchanged, "three acks must not commit");
                }
                assert_eq!(t.on_ack(nodes[3], 1, 10, 0), AckOutcome::Committed(10));
            }
        }
    }

    #[test]
    fn old_epoch_acks_never_count_and_new_epochs_fence() {
        let mut t = CommitTracker::new(5, CommitMode::Memory, 0);
        for n in 0..STORAGE_NODES {
            assert_eq!(t.on_ack(n, 4, 100, 100), AckOutcome::Unchanged);
        }
        assert_eq!(t.commit_lsn(), 0);
        assert_eq!(t.on_ack(0, 6, 1, 1), AckOutcome::Fenced(6));
    }

    #[test]
    fn commit_never_moves_back_and_disk_mode_waits_for_fsync() {
        let mut t = CommitTracker::new(1, CommitMode::Disk, 0);
        for n in 0..4 {
            assert_eq!(t.on_ack(n, 1, 50, 0), AckOutcome::Unchanged, "in memory only");
        }
        for n in 0..3 {
            t.on_ack(n, 1, 50, 40);
        }
        assert_eq!(t.on_ack(3, 1, 50, 40), AckOutcome::Committed(40));
        for n in 0..STORAGE_NODES {
            t.on_node_reset(n);
        }
        assert_eq!(t.on_ack(0, 1, 1, 1), AckOutcome::Unchanged);
        assert_eq!(t.commit_lsn(), 40);
    }

    proptest! {
        #[test]
        fn commit_is_the_highest_lsn_four_nodes_hold(acks in proptest::collection::vec((0usize..6, 0u64..50), 0..60)) {
            let mut t = CommitTracker::new(1, CommitMode::Memory, 0);
            let mut held = [0u64; STORAGE_NODES];
            let mut best = 0;
            for (n, scl) in acks {
                t.on_ack(n, 1, scl, 0);
                held[n] = scl;
                let reached = (0..=50).filter(|l| held.iter().filter(|h| **h >= *l).count() >= COMMIT_QUORUM).max().unwrap_or(0);
                best = best.max(reached);
                prop_assert_eq!(t.commit_lsn(), best);
            }
        }
    }
}
