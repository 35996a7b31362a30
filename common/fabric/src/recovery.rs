//! A new writer's recovery as a pure state machine (DESIGN §6, the
//! project's `docs/protocol.md`): which promises are enough, which log to
//! adopt, what to do when the node it reads from hangs or ends short, and
//! what the new writer may count as committed before its own record commits.
//!
//! The driver sends `Prepare{epoch}` to the six storage nodes and reports
//! each answer ([`Recovery::on_promise`], [`Recovery::on_refused`],
//! [`Recovery::on_silent`]); [`Recovery::step`] says what to do: wait, retry
//! in a higher epoch, or read a promiser's log up to the point it promised.
//! The read's result goes back in [`Recovery::on_read`]; a read that ends
//! short or hangs drops that promiser, and the next one is read only if the
//! promisers left still form a recovery quorum by themselves.

use crate::quorum::{COMMIT_QUORUM, CommitMode, STORAGE_NODES};
use sixfold_wire::{Epoch, Lsn, Memory};

/// Promisers whose memory must be intact: any commit quorum of four and
/// any set of three intact nodes share a node (4 + 3 > 6), so every
/// acknowledged record is held by at least one intact promiser.
pub const INTACT_QUORUM: usize = STORAGE_NODES - COMMIT_QUORUM + 1;

/// What a storage node promised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Promised {
    /// Epoch of the node's last record.
    pub last_epoch: Epoch,
    /// The node's last LSN.
    pub last_lsn: Lsn,
    /// The commit LSN the node learned (every record up to it is committed).
    pub commit_lsn: Lsn,
    /// Whether the node may have lost records it acknowledged.
    pub memory: Memory,
}

/// Which rules recovery follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rules {
    /// Sixfold before the log-protocol issue: any four promises, the best
    /// log adopted as committed. Kept so the model checker can show its holes.
    Unsafe,
    /// The rules of `docs/protocol.md`.
    Safe,
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Wait for more answers (or ask the silent nodes again).
    Wait,
    /// A node promised a higher epoch: start again in this one.
    Retry(Epoch),
    /// Read node `node`'s log up to `(upto_lsn, upto_epoch)`.
    Read {
        /// Which node.
        node: usize,
        /// Its promised last LSN.
        upto_lsn: Lsn,
        /// Epoch of the record at `upto_lsn`.
        upto_epoch: Epoch,
    },
    /// The log read from `node` is adopted.
    Adopt(Adopted),
}

/// The outcome of a recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Adopted {
    /// The node whose log was adopted.
    pub node: usize,
    /// Its last LSN (the new writer's `LeaderChange` goes right after it).
    pub last_lsn: Lsn,
    /// Epoch of that record.
    pub last_epoch: Epoch,
    /// What the new writer may announce as committed until a record of its
    /// own epoch commits: the highest commit LSN a promiser had learned
    /// (with [`Rules::Unsafe`], the whole adopted log).
    pub known_commit: Lsn,
}

/// One node's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Answer {
    None,
    Promised(Promised),
    /// Promised, but its log could not be read to the promised point.
    Unreadable,
}

/// A recovery in one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Recovery {
    epoch: Epoch,
    mode: CommitMode,
    rules: Rules,
    answers: [Answer; STORAGE_NODES],
    refused_above: Epoch,
    reading: Option<usize>,
    adopted: Option<Adopted>,
}

impl Recovery {
    /// A recovery in `epoch` for a writer that will commit in `mode`.
    pub fn new(epoch: Epoch, mode: CommitMode, rules: Rules) -> Recovery {
        Recovery {
            epoch,
            mode,
            rules,
            answers: [Answer::None; STORAGE_NODES],
            refused_above: 0,
            reading: None,
            adopted: None,
        }
    }

    /// Renumbers the nodes: node `i` becomes what node `perm[i]` was (the
    /// model checker's symmetry reduction).
    pub fn permute_nodes(&mut self, perm: &[usize; STORAGE_NODES]) {
        let answers = self.answers;
        for (i, &from) in perm.iter().enumerate() {
            self.answers[i] = answers[from];
        }
        let to = |n: usize| perm.iter().position(|&f| f == n).unwrap_or(n);
        self.reading = self.reading.map(to);
        if let Some(a) = &mut self.adopted {
            a.node = to(a.node);
        }
    }

    /// The epoch prepared.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Node `node` promised.
    pub fn on_promise(&mut self, node: usize, p: Promised) {
        if let Some(a) = self.answers.get_mut(node)
            && *a == Answer::None
        {
            *a = Answer::Promised(p);
        }
    }

    /// Node `node` refused: it promised `current` already.
    pub fn on_refused(&mut self, _node: usize, current: Epoch) {
        self.refused_above = self.refused_above.max(current);
    }

    /// Node `node` did not answer the read in time, or its log ended before
    /// the point it promised: it no longer counts.
    pub fn on_silent(&mut self, node: usize) {
        if let Some(a @ Answer::Promised(_)) = self.answers.get_mut(node) {
            *a = Answer::Unreadable;
        }
        if self.reading == Some(node) {
            self.reading = None;
        }
    }

    /// The read of `node` reached `(lsn, epoch)` (its last record read).
    pub fn on_read(&mut self, node: usize, lsn: Lsn, epoch: Epoch) {
        let Some(Answer::Promised(p)) = self.answers.get(node).copied() else { return };
        if self.reading != Some(node) {
            return;
        }
        if lsn != p.last_lsn || epoch != p.last_epoch {
            self.on_silent(node);
            return;
        }
        let known = self.highest_promised_commit().min(p.last_lsn);
        let known_commit = match self.rules {
            Rules::Unsafe => p.last_lsn,
            Rules::Safe => known,
        };
        self.adopted = Some(Adopted { node, last_lsn: p.last_lsn, last_epoch: p.last_epoch, known_commit });
    }

    /// The highest commit LSN a promiser still counted had learned: with
    /// [`Rules::Safe`], what the adopted log will count as committed
    /// ([`Adopted::known_commit`], capped at its last LSN).
    pub fn highest_promised_commit(&self) -> Lsn {
        self.promised().map(|(_, p)| p.commit_lsn).max().unwrap_or(0)
    }

    fn promised(&self) -> impl Iterator<Item = (usize, Promised)> + '_ {
        self.answers.iter().enumerate().filter_map(|(i, a)| match a {
            Answer::Promised(p) => Some((i, *p)),
            _ => None,
        })
    }

    /// Whether a promiser counts toward [`INTACT_QUORUM`]: with `memory`
    /// commits a node that restarted may have lost acknowledged records;
    /// with `disk` commits only a wiped node has.
    fn intact(&self, m: Memory) -> bool {
        matches!((m, self.mode), (Memory::Intact, _) | (Memory::Restarted, CommitMode::Disk))
    }

    /// Whether the promisers that can still be read form a recovery
    /// quorum: four, three of them intact — or all six, whatever they lost
    /// (nothing that still exists anywhere is then out of sight, and the
    /// most up-to-date log holds every committed record that survived).
    pub fn quorum(&self) -> bool {
        let n = self.promised().count();
        match self.rules {
            Rules::Unsafe => n >= COMMIT_QUORUM,
            Rules::Safe => {
                let intact = self.promised().filter(|(_, p)| self.intact(p.memory)).count();
                n == STORAGE_NODES || (n >= COMMIT_QUORUM && intact >= INTACT_QUORUM)
            }
        }
    }

    /// What to do now.
    pub fn step(&mut self) -> Step {
        if let Some(a) = self.adopted {
            return Step::Adopt(a);
        }
        if self.refused_above >= self.epoch {
            return Step::Retry(self.refused_above.saturating_add(1));
        }
        if !self.quorum() {
            return Step::Wait;
        }
        let best = self.promised().max_by_key(|(i, p)| (p.last_epoch, p.last_lsn, std::cmp::Reverse(*i)));
        let Some((node, p)) = best else { return Step::Wait };
        self.reading = Some(node);
        Step::Read { node, upto_lsn: p.last_lsn, upto_epoch: p.last_epoch }
    }
}

/// The highest LSN from which a writer fenced by the one recovering can
/// have renewed its lease, if `promises` tell. A writer's lease runs only
/// from records at or below an LSN whose commit four nodes acknowledged
/// learning ([`crate::Pipeline::lease_lsn`]); those four include all but
/// two of the promisers, and a promiser that never lost its memory learned
/// that commit before it promised (a promise fences the older epochs) and
/// still knows it. So with `n` ≥ 3 intact promisers, at least `n - 2` of
/// them report a commit LSN at or above that record: the `n - 2`-th
/// highest intact commit LSN bounds it. A candidate whose replica applied
/// that far before a quiet window of a whole lease plus the drift bound
/// knows every lease it fenced has ended (`docs/protocol.md` R12).
pub fn leased_at_most(promises: &[Promised]) -> Option<Lsn> {
    let mut commits: Vec<Lsn> = promises.iter().filter(|p| p.memory == Memory::Intact).map(|p| p.commit_lsn).collect();
    let beyond_quorum = STORAGE_NODES - COMMIT_QUORUM;
    commits.sort_unstable_by(|a, b| b.cmp(a));
    commits.len().checked_sub(beyond_quorum + 1).and_then(|i| commits.get(i).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(last_epoch: Epoch, last_lsn: Lsn, memory: Memory) -> Promised {
        Promised { last_epoch, last_lsn, commit_lsn: 0, memory }
    }

    #[test]
    fn a_fenced_lease_is_bounded_by_the_commit_lsns_intact_nodes_promise() {
        let with = |commits: &[Lsn]| -> Vec<Promised> {
            commits
                .iter()
                .map(|&c| Promised { last_epoch: 1, last_lsn: 20, commit_lsn: c, memory: Memory::Intact })
                .collect()
        };
        // Four nodes learned commit 7 before promising; two others may
        // have learned more only if they are the two of any four that
        // are missing here.
        assert_eq!(leased_at_most(&with(&[9, 7, 12, 7, 5, 8])), Some(7), "a fourth node knows at most 7");
        assert_eq!(leased_at_most(&with(&[3, 3, 3, 3, 3, 3])), Some(3));
        assert_eq!(leased_at_most(&with(&[9, 7, 12, 7, 5])), Some(7), "five promisers: the third highest");
        assert_eq!(leased_at_most(&with(&[9, 7, 12, 7])), Some(9), "four promisers: the second highest");
        assert_eq!(leased_at_most(&with(&[9, 7, 12])), Some(12), "three promisers: the highest");
        assert_eq!(leased_at_most(&with(&[9, 7])), None, "two silent nodes and these two may all be other four");
        let mut lost = with(&[9, 9, 9, 9, 9, 9]);
        lost[2].memory = Memory::Restarted;
        lost[3].memory = Memory::Wiped;
        assert_eq!(lost.len(), 6);
        assert_eq!(leased_at_most(&lost), Some(9), "nodes that lost memory do not count: four intact, second highest");
        assert_eq!(leased_at_most(&lost[2..5]), None, "one intact promiser is not enough");
    }

    #[test]
    fn four_promises_with_three_intact_adopt_the_best_log() {
        let mut r = Recovery::new(3, CommitMode::Memory, Rules::Safe);
        r.on_promise(0, p(1, 10, Memory::Intact));
        r.on_promise(1, p(2, 5, Memory::Intact));
        r.on_promise(2, p(1, 12, Memory::Restarted));
        assert_eq!(r.step(), Step::Wait, "three promises are not enough");
        r.on_promise(3, p(1, 9, Memory::Wiped));
        assert_eq!(r.step(), Step::Wait, "only two promisers are intact");
        r.on_promise(4, p(0, 0, Memory::Intact));
        assert_eq!(r.step(), Step::Read { node: 1, upto_lsn: 5, upto_epoch: 2 }, "the highest last epoch wins");
        let mut all = Recovery::new(3, CommitMode::Memory, Rules::Safe);
        for i in 0..5 {
            all.on_promise(i, p(1, 4, Memory::Restarted));
        }
        assert_eq!(all.step(), Step::Wait, "five nodes that lost memory are not enough");
        all.on_promise(5, p(1, 3, Memory::Wiped));
        assert!(matches!(all.step(), Step::Read { .. }), "all six: nothing is out of sight");
        r.on_read(1, 5, 2);
        assert!(matches!(r.step(), Step::Adopt(Adopted { node: 1, last_lsn: 5, known_commit: 0, .. })));
    }

    #[test]
    fn disk_mode_counts_restarted_nodes_but_never_wiped_ones() {
        let mut r = Recovery::new(3, CommitMode::Disk, Rules::Safe);
        for i in 0..3 {
            r.on_promise(i, p(1, 3, Memory::Restarted));
        }
        r.on_promise(3, p(1, 3, Memory::Wiped));
        assert!(r.quorum());
        let mut r = Recovery::new(3, CommitMode::Disk, Rules::Safe);
        for i in 0..2 {
            r.on_promise(i, p(1, 3, Memory::Restarted));
        }
        r.on_promise(2, p(1, 3, Memory::Wiped));
        r.on_promise(3, p(1, 3, Memory::Wiped));
        assert!(!r.quorum());
    }

    #[test]
    fn a_short_or_silent_read_moves_on_only_while_a_quorum_is_left() {
        let mut r = Recovery::new(2, CommitMode::Memory, Rules::Safe);
        for i in 0..5 {
            r.on_promise(i, p(1, 10 + i as Lsn, Memory::Intact));
        }
        assert!(matches!(r.step(), Step::Read { node: 4, upto_lsn: 14, .. }));
        r.on_read(4, 13, 1);
        assert!(matches!(r.step(), Step::Read { node: 3, .. }), "ended short: the next promiser");
        r.on_silent(3);
        assert_eq!(r.step(), Step::Wait, "three promisers left are not a quorum");
        r.on_promise(5, p(1, 1, Memory::Intact));
        assert!(matches!(r.step(), Step::Read { node: 2, .. }));
    }

    #[test]
    fn a_refusal_names_the_epoch_to_retry_above() {
        let mut r = Recovery::new(2, CommitMode::Memory, Rules::Safe);
        r.on_refused(0, 7);
        assert_eq!(r.step(), Step::Retry(8));
    }

    #[test]
    fn known_commit_is_the_highest_a_promiser_learned() {
        let mut r = Recovery::new(2, CommitMode::Memory, Rules::Safe);
        for i in 0..4 {
            r.on_promise(i, Promised { last_epoch: 1, last_lsn: 9, commit_lsn: i as Lsn * 2, memory: Memory::Intact });
        }
        let Step::Read { node, .. } = r.step() else { panic!() };
        r.on_read(node, 9, 1);
        let Step::Adopt(a) = r.step() else { panic!() };
        assert_eq!(a.known_commit, 6);
    }
}
