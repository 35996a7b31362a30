//! Records received before commit, applied at commit (DESIGN §5; the
//! Aurora read path of issue #14), as a pure state machine: no I/O, the
//! driver reads a storage node's log and hears commit notifications.
//!
//! The replica stages records a storage node holds above the commit LSN,
//! and applies a staged record only once a notification covers it. A
//! notification names the commit LSN *and the epoch of the record there*;
//! the staged chain is applied through that LSN only if its record there
//! has that epoch. That is enough because the chain is one history: each
//! read starts at the last LSN already staged (or applied) and must find
//! the same epoch there (log matching: two logs that hold a record of the
//! same epoch at an LSN agree below it — one writer per epoch, appends
//! checked against their previous record). A read that finds another
//! epoch at a staged LSN (a newer writer replaced an uncommitted suffix)
//! drops every staged record: the node's log may differ below that LSN
//! too, and agrees with this replica's only at the applied LSN (committed
//! records are never replaced), where the next read starts. One that finds
//! another epoch at the applied LSN comes from a node whose log differs
//! below the commit LSN (a lagging node): nothing of it is staged. So an old writer's
//! uncommitted suffix is never applied when a new writer's commit passes
//! its LSNs. Nothing staged is visible to clients before it is applied.
//!
//! Applied records are retained until the fabric flushed LSN covers them
//! (a storage node that lost its tail can refill from them), within a
//! bound in bytes. Both bounds are in bytes of encoded records.

use sixfold_wire::{Epoch, Lsn, Record};
use std::collections::VecDeque;

/// Why a read's records were not staged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// The read did not start where [`Staging::read_from`] said.
    #[error("read from {got}, expected {expected}")]
    WrongStart {
        /// Where the read should have started.
        expected: Lsn,
        /// Where it started.
        got: Lsn,
    },
    /// The node holds another epoch at the LSN this replica applied: its
    /// log differs below the commit LSN (it lags); read another node.
    #[error("the node's record {lsn} is of epoch {theirs}, the applied one of epoch {ours}")]
    Diverged {
        /// The applied LSN.
        lsn: Lsn,
        /// The applied record's epoch.
        ours: Epoch,
        /// The node's record's epoch.
        theirs: Epoch,
    },
    /// Records not contiguous, or an epoch going back along the log.
    #[error("records out of order at {0}")]
    OutOfOrder(Lsn),
}

/// Staged and retained records of one replica.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Staging {
    /// The last record applied: (LSN, epoch); (0, 0) before any.
    applied: (Lsn, Epoch),
    /// Records above `applied`, contiguous, one history.
    staged: VecDeque<Record>,
    staged_bytes: usize,
    staged_bytes_max: usize,
    /// Records the last read showed past the staged ones (left out by the
    /// bound), as runs: (first LSN, epoch), through `seen_to`. They prove
    /// the staged chain committed when a notification names one of them.
    seen: Vec<(Lsn, Epoch)>,
    seen_to: Lsn,
    /// The newest commit notification: (LSN, epoch of the record there).
    commit: (Lsn, Epoch),
    /// The newest older commit fact that was within reach (staged or seen)
    /// when it came: it proves part of the chain while the newest
    /// notification is still past what was read (a full staging area).
    reached: (Lsn, Epoch),
    /// Applied records not yet covered by the fabric flushed LSN.
    retained: VecDeque<Record>,
    retained_bytes: usize,
    retained_bytes_max: usize,
}

impl Staging {
    /// Staging after the record `applied = (LSN, epoch)` was applied.
    pub fn new(applied: (Lsn, Epoch), staged_bytes_max: usize, retained_bytes_max: usize) -> Staging {
        Staging {
            applied,
            staged: VecDeque::new(),
            staged_bytes: 0,
            staged_bytes_max,
            seen: Vec::new(),
            seen_to: 0,
            commit: applied,
            reached: applied,
            retained: VecDeque::new(),
            retained_bytes: 0,
            retained_bytes_max,
        }
    }

    /// The last record applied: (LSN, epoch).
    pub fn applied(&self) -> (Lsn, Epoch) {
        self.applied
    }

    /// The newest commit notification: (LSN, epoch).
    pub fn commit(&self) -> (Lsn, Epoch) {
        self.commit
    }

    /// The last LSN staged (the applied one when none is).
    pub fn staged_to(&self) -> Lsn {
        self.staged.back().map_or(self.applied.0, |r| r.lsn)
    }

    /// Bytes of staged records.
    pub fn staged_bytes(&self) -> usize {
        self.staged_bytes
    }

    /// Bytes of retained records.
    pub fn retained_bytes(&self) -> usize {
        self.retained_bytes
    }

    /// Whether to read ahead: false while the staged bytes are at their
    /// bound (backpressure: the replica lags until commits drain them).
    pub fn wants_more(&self) -> bool {
        self.staged_bytes < self.staged_bytes_max
    }

    /// Whether the driver should read the node's log now: to stage more, or,
    /// with the staging area full, to see whether the notified commit LSN
    /// holds the epoch it names (which proves the staged chain committed).
    pub fn should_read(&self) -> bool {
        self.wants_more() || self.commit.0 > self.staged_to().max(self.seen_to)
    }

    /// Where the next read of a node's log starts: the last LSN staged or
    /// applied, so the read shows the node still holds that record (1 when
    /// nothing was applied yet).
    pub fn read_from(&self) -> Lsn {
        self.staged_to().max(1)
    }

    /// The epoch of this replica's chain at `lsn`: applied, staged, or
    /// seen past the staged records.
    fn epoch_at(&self, lsn: Lsn) -> Option<Epoch> {
        if lsn == self.applied.0 {
            return Some(self.applied.1);
        }
        if lsn > self.staged_to() {
            return (lsn <= self.seen_to)
                .then(|| self.seen.iter().rev().find(|(first, _)| *first <= lsn))
                .flatten()
                .map(|s| s.1);
        }
        let i = usize::try_from(lsn.checked_sub(self.applied.0 + 1)?).ok()?;
        self.staged.get(i).map(|r| r.epoch)
    }

    /// Records from one read of a node's log, from [`Staging::read_from`]:
    /// staged after the check described in the module doc (when it finds
    /// another epoch at a staged LSN, nothing is staged and the next read
    /// starts at the applied LSN); those past the bound are left for a
    /// later read.
    pub fn on_read(&mut self, records: Vec<Record>) -> Result<(), StageError> {
        let Some(first) = records.first() else { return Ok(()) };
        let expected = self.read_from();
        if first.lsn != expected {
            return Err(StageError::WrongStart { expected, got: first.lsn });
        }
        let mut next = records.into_iter().peekable();
        if self.applied.0 > 0 || !self.staged.is_empty() {
            // The read starts at a record this replica holds: compare.
            let Some(r) = next.next() else { return Ok(()) };
            match self.epoch_at(r.lsn) {
                Some(e) if e == r.epoch => {}
                Some(ours) if r.lsn == self.applied.0 => {
                    return Err(StageError::Diverged { lsn: r.lsn, ours, theirs: r.epoch });
                }
                _ => {
                    // A newer epoch replaced the staged record there.
                    self.drop_staged();
                    return Ok(());
                }
            }
        }
        (self.seen, self.seen_to) = (Vec::new(), 0);
        for r in next {
            if self.fits(&r) && self.seen.is_empty() {
                self.stage(r)?;
            } else {
                self.see(&r)?;
            }
        }
        Ok(())
    }

    /// Notes a record past the bound (its LSN and epoch only).
    fn see(&mut self, r: &Record) -> Result<(), StageError> {
        let (prev_lsn, prev_epoch) = match self.seen.last() {
            Some(&(_, e)) => (self.seen_to, e),
            None => (self.staged_to(), self.staged.back().map_or(self.applied.1, |s| s.epoch)),
        };
        if r.lsn != prev_lsn + 1 || r.epoch < prev_epoch {
            return Err(StageError::OutOfOrder(r.lsn));
        }
        if self.seen.last().is_none_or(|&(_, e)| e != r.epoch) {
            self.seen.push((r.lsn, r.epoch));
        }
        self.seen_to = r.lsn;
        Ok(())
    }

    /// Whether `r` may be staged within the bound (one record always may:
    /// a record larger than the bound must not stop the replica).
    fn fits(&self, r: &Record) -> bool {
        self.staged.is_empty() || self.staged_bytes + r.encoded_len() <= self.staged_bytes_max
    }

    fn stage(&mut self, r: Record) -> Result<(), StageError> {
        let last_epoch = self.staged.back().map_or(self.applied.1, |s| s.epoch);
        if r.lsn != self.staged_to() + 1 || r.epoch < last_epoch {
            return Err(StageError::OutOfOrder(r.lsn));
        }
        self.staged_bytes += r.encoded_len();
        self.staged.push_back(r);
        Ok(())
    }

    /// Drops every staged record, and what was seen past them: the next
    /// read starts at the applied LSN.
    fn drop_staged(&mut self) {
        (self.seen, self.seen_to) = (Vec::new(), 0);
        self.staged.clear();
        self.staged_bytes = 0;
    }

    /// A commit notification: the log is committed through `lsn`, whose
    /// record is of `epoch` (from the writer, or a storage node's commit
    /// LSN with its record there). An older one still counts when it is
    /// within what was read and the newest is not (kept as `reached`).
    pub fn on_commit(&mut self, lsn: Lsn, epoch: Epoch) {
        if lsn > self.commit.0 {
            let (old, reach) = (self.commit, self.staged_to().max(self.seen_to));
            self.commit = (lsn, epoch);
            if old.0 > self.reached.0 && old.0 <= reach {
                self.reached = old;
            }
        } else if lsn > self.reached.0 && lsn <= self.staged_to().max(self.seen_to) {
            self.reached = (lsn, epoch);
        }
    }

    /// The staged records the newest notification (or, while that is past
    /// what was read, the newest older one within it) proves committed, in
    /// order, to apply now (they move to the retained records): those up
    /// to its LSN when the chain holds that LSN (staged, or seen past the
    /// bound) with its epoch. If it holds another epoch there, the chain
    /// is not the committed log: all of it is dropped and read again.
    pub fn take_ready(&mut self) -> Vec<Record> {
        let applied = self.applied.0;
        let within = |f: &(Lsn, Epoch)| f.0 > applied && self.epoch_at(f.0).is_some();
        let Some((lsn, epoch)) = [self.commit, self.reached].into_iter().find(within) else {
            return Vec::new();
        };
        match self.epoch_at(lsn) {
            None => Vec::new(),
            Some(e) if e != epoch => {
                self.drop_staged();
                Vec::new()
            }
            Some(_) => {
                let n = (lsn.min(self.staged_to()) - self.applied.0) as usize;
                let ready: Vec<Record> = self.staged.drain(..n).collect();
                for r in &ready {
                    self.staged_bytes -= r.encoded_len();
                    self.retain(r.clone());
                }
                if let Some(last) = ready.last() {
                    self.applied = (last.lsn, last.epoch);
                }
                ready
            }
        }
    }

    fn retain(&mut self, r: Record) {
        self.retained_bytes += r.encoded_len();
        self.retained.push_back(r);
        while self.retained_bytes > self.retained_bytes_max {
            let Some(old) = self.retained.pop_front() else { break };
            self.retained_bytes -= old.encoded_len();
        }
    }

    /// The fabric flushed LSN (on disk on four storage nodes): retained
    /// records at or below it are dropped.
    pub fn on_flushed(&mut self, lsn: Lsn) {
        while self.retained.front().is_some_and(|r| r.lsn <= lsn) {
            if let Some(r) = self.retained.pop_front() {
                self.retained_bytes -= r.encoded_len();
            }
        }
    }

    /// Retained records from `from` on (for a storage node that lost them).
    pub fn retained_from(&self, from: Lsn) -> impl Iterator<Item = &Record> {
        self.retained.iter().filter(move |r| r.lsn >= from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sixfold_wire::RecordKind;

    fn recs(epoch: Epoch, lsns: std::ops::RangeInclusive<Lsn>) -> Vec<Record> {
        lsns.map(|lsn| Record { lsn, epoch, kind: RecordKind::Effects, payload: Bytes::from(vec![0u8; 10]) }).collect()
    }

    fn lsns(v: &[Record]) -> Vec<(Lsn, Epoch)> {
        v.iter().map(|r| (r.lsn, r.epoch)).collect()
    }

    #[test]
    fn staged_records_apply_only_once_a_notification_covers_them() {
        let mut s = Staging::new((0, 0), 1 << 20, 1 << 20);
        assert_eq!(s.read_from(), 1);
        s.on_read(recs(1, 1..=5)).unwrap();
        assert!(s.take_ready().is_empty(), "nothing is committed yet");
        s.on_commit(3, 1);
        assert_eq!(lsns(&s.take_ready()), vec![(1, 1), (2, 1), (3, 1)]);
        assert_eq!(s.applied(), (3, 1));
        assert_eq!(s.read_from(), 5, "the next read checks the last staged record");
        s.on_read(recs(1, 5..=6)).unwrap();
        s.on_commit(6, 1);
        assert_eq!(lsns(&s.take_ready()), vec![(4, 1), (5, 1), (6, 1)]);
        s.on_commit(2, 1);
        assert!(s.take_ready().is_empty(), "an older notification changes nothing");
    }

    /// An old writer's uncommitted suffix is staged; a new writer (epoch 2)
    /// replaced it from LSN 4 on and its commit passes those LSNs.
    #[test]
    fn an_old_epochs_staged_suffix_is_never_applied() {
        let mut s = Staging::new((0, 0), 1 << 20, 1 << 20);
        s.on_read(recs(1, 1..=6)).unwrap();
        s.on_commit(3, 1);
        assert_eq!(s.take_ready().len(), 3);
        // The notification names epoch 2 at LSN 5: the staged 5 is epoch 1.
        s.on_commit(5, 2);
        assert!(s.take_ready().is_empty());
        assert_eq!(s.staged_to(), 3, "the staged chain was dropped, to be read again");
        // The node now holds the new writer's records from 4 on.
        let mut read = recs(1, 3..=3);
        read.extend(recs(2, 4..=5));
        s.on_read(read).unwrap();
        assert_eq!(lsns(&s.take_ready()), vec![(4, 2), (5, 2)]);
    }

    #[test]
    fn a_read_that_finds_another_epoch_at_a_staged_lsn_reads_again_from_the_applied_one() {
        let mut s = Staging::new((2, 1), 1 << 20, 1 << 20);
        s.on_read(recs(1, 2..=6)).unwrap();
        assert_eq!(s.read_from(), 6);
        // The node's 6 is now of epoch 2: a newer writer replaced records
        // there, maybe from below 6 too.
        s.on_read(recs(2, 6..=7)).unwrap();
        assert_eq!(s.read_from(), 2, "everything staged was dropped");
        let mut read = recs(1, 2..=3);
        read.extend(recs(2, 4..=7));
        s.on_read(read).unwrap();
        s.on_commit(7, 2);
        assert_eq!(lsns(&s.take_ready()), vec![(3, 1), (4, 2), (5, 2), (6, 2), (7, 2)]);
    }

    #[test]
    fn a_node_that_differs_below_the_applied_lsn_is_not_staged_from() {
        let mut s = Staging::new((4, 2), 1 << 20, 1 << 20);
        assert_eq!(
            s.on_read(recs(1, 4..=8)),
            Err(StageError::Diverged { lsn: 4, ours: 2, theirs: 1 }),
            "a lagging node still holds an old writer's record at the applied LSN"
        );
        assert_eq!(s.staged_to(), 4);
        assert_eq!(s.on_read(recs(2, 6..=8)), Err(StageError::WrongStart { expected: 4, got: 6 }));
        let mut gap = recs(2, 4..=5);
        gap.extend(recs(2, 7..=7));
        assert_eq!(s.on_read(gap), Err(StageError::OutOfOrder(7)));
    }

    #[test]
    fn staging_stops_at_its_bound_and_retention_ends_at_the_flushed_lsn() {
        let one = recs(1, 1..=1)[0].encoded_len();
        let mut s = Staging::new((0, 0), 3 * one, 4 * one);
        s.on_read(recs(1, 1..=10)).unwrap();
        assert_eq!(s.staged_to(), 3, "no more than the bound is staged");
        assert!(!s.wants_more());
        assert!(!s.should_read(), "full, and nothing notified past what was seen");
        s.on_commit(10, 1);
        assert_eq!(s.take_ready().len(), 3, "record 10 was seen past the bound: 1-3 are committed");
        assert!(s.wants_more(), "applying drains the staging area");
        s.on_read(recs(1, 3..=10)).unwrap();
        assert_eq!(s.take_ready().len(), 3);
        assert_eq!(s.retained_bytes(), 4 * one, "retention keeps at most its bound, the newest");
        assert_eq!(s.retained_from(0).map(|r| r.lsn).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
        s.on_flushed(5);
        assert_eq!(s.retained_from(0).map(|r| r.lsn).collect::<Vec<_>>(), vec![6]);
        // Seen past the bound with another epoch than the notification's:
        // the chain is dropped.
        let mut t = Staging::new((0, 0), 2 * one, 0);
        t.on_read(recs(1, 1..=5)).unwrap();
        t.on_commit(5, 2);
        assert!(t.take_ready().is_empty());
        assert_eq!((t.staged_to(), t.read_from()), (0, 1));
        let mut u = Staging::new((0, 0), 2 * one, 0);
        u.on_read(recs(1, 1..=4)).unwrap();
        assert!(!u.should_read());
        u.on_commit(6, 1);
        assert!(u.should_read(), "full, but the notified LSN was not seen yet");
        u.on_read(recs(1, 2..=6)).unwrap();
        assert_eq!(u.take_ready().len(), 2);
    }

    /// A replica paused through a burst: the newest notification is far
    /// past what one read shows, so the node's own commit LSN (an older
    /// fact, within the read) must prove the staged chain.
    #[test]
    fn an_older_commit_fact_within_reach_proves_the_chain_while_the_newest_is_past_it() {
        let one = recs(1, 1..=1)[0].encoded_len();
        let mut s = Staging::new((0, 0), 3 * one, 0);
        s.on_commit(100, 1);
        s.on_read(recs(1, 1..=6)).unwrap();
        assert!(s.take_ready().is_empty(), "LSN 100 was not read: nothing proves the chain yet");
        s.on_commit(6, 1);
        assert_eq!(lsns(&s.take_ready()), vec![(1, 1), (2, 1), (3, 1)]);
        assert_eq!(s.commit(), (100, 1), "the newest notification stays");
        // An old writer's suffix 7..9 is seen; a new writer (epoch 2)
        // replaced it from 7 on, and a node tells its commit at 8.
        s.on_read(recs(1, 3..=9)).unwrap();
        s.on_commit(8, 2);
        assert!(s.take_ready().is_empty(), "the chain holds epoch 1 at 8: it was dropped");
        assert_eq!(s.staged_to(), 3);
        // A notification that overtakes a fact within reach keeps it.
        let mut t = Staging::new((0, 0), 3 * one, 0);
        t.on_read(recs(1, 1..=6)).unwrap();
        t.on_commit(5, 1);
        t.on_commit(100, 1);
        assert_eq!(t.take_ready().len(), 3);
    }
}
