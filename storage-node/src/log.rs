//! The storage node's log as a state machine with no I/O: fencing by
//! `promised_epoch`, log matching on `prev_lsn/prev_epoch` (a record at an
//! LSN from an older epoch is replaced by the newer epoch's, as in Raft),
//! the in-memory hot tail and its bound, and the flushed and commit LSNs.
//! The node's I/O layer persists what this decides (promises, segment
//! writes and truncations) before it answers.

use crate::marks::Marks;
use sixfold_wire::{EPOCH_MAX, Epoch, ErrorCode, LSN_MAX, Lsn, Memory, NodeId, Record};
use std::collections::VecDeque;

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub code: ErrorCode,
    /// The node's promised epoch.
    pub current_epoch: Epoch,
    /// Detail for logs and the sender.
    pub detail: String,
}

/// What an accepted Append changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Highest LSN known to match the writer's log (the end of this
    /// Append): records above it may be an older epoch's and must not
    /// count toward the writer's commit.
    pub scl: Lsn,
    /// The promised epoch rose to the Append's: persist it before acking.
    pub promise_raised: bool,
    /// Records from this LSN on were replaced (an older epoch's): the disk
    /// must drop them before the new ones are written.
    pub truncated_from: Option<Lsn>,
    /// The node caught up with a writer and holds everything it ever
    /// acknowledged again: persist [`Memory::Intact`] (late is safe).
    pub healed: bool,
}

/// The log of one storage node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogState {
    promised: Epoch,
    /// Records at or below `base` were dropped (below a snapshot).
    base: Lsn,
    /// Epoch of the record at `base` (0 when `base` is 0).
    base_epoch: Epoch,
    /// Epoch of each record above `base`: `epochs[i]` is LSN `base + 1 + i`.
    epochs: Vec<Epoch>,
    /// The newest records, in memory; the last one is the log's last.
    tail: VecDeque<Record>,
    tail_bytes: usize,
    /// Highest LSN on this node's disk.
    flushed: Lsn,
    /// Highest LSN written to segment files (fsync pending up to here).
    written: Lsn,
    /// Commit LSN learned from the writer.
    commit: Lsn,
    /// Bumped whenever records are replaced, so a disk write of records
    /// taken before the replacement is not counted as written.
    generation: u64,
    /// Whether the node may have lost records it acknowledged.
    memory: Memory,
    /// The writer whose Prepare this node last answered: while the node is
    /// [`Memory::Wiped`] it takes Appends from that writer only.
    preparer: Option<NodeId>,
    /// Snapshot markers held, and the newest committed one's LSN.
    marks: Marks,
}

impl LogState {
    /// A log recovered from disk: `records` are the epochs of LSNs
    /// `base+1 ..` found intact in the segment files.
    pub fn recovered(promised: Epoch, base: Lsn, epochs: Vec<Epoch>, memory: Memory) -> LogState {
        let last = base + epochs.len() as Lsn;
        LogState {
            promised,
            base,
            epochs,
            tail: VecDeque::new(),
            tail_bytes: 0,
            flushed: last,
            written: last,
            commit: 0,
            generation: 0,
            memory,
            preparer: None,
            base_epoch: 0,
            marks: Marks::default(),
        }
    }

    /// What else segment recovery found: the epoch of the record at
    /// `base`, and the snapshot markers `(marker LSN, snapshot LSN)` above it.
    pub fn with_recovered(mut self, base_epoch: Epoch, marks: Vec<(Lsn, Lsn)>) -> LogState {
        self.base_epoch = if self.base == 0 { 0 } else { base_epoch };
        self.marks = Marks::recovered(marks);
        self
    }

    /// Whether the node may have lost records it acknowledged.
    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// The promised epoch.
    pub fn promised(&self) -> Epoch {
        self.promised
    }

    /// Highest LSN held (the SCL: records are always contiguous here).
    pub fn last_lsn(&self) -> Lsn {
        self.base + self.epochs.len() as Lsn
    }

    /// Epoch of the last record (0 for an empty log).
    pub fn last_epoch(&self) -> Epoch {
        self.epochs.last().copied().unwrap_or(self.base_epoch)
    }

    /// Epoch of the record at `lsn`, if held.
    pub fn epoch_at(&self, lsn: Lsn) -> Option<Epoch> {
        if lsn <= self.base {
            return None;
        }
        self.epochs.get((lsn - self.base - 1) as usize).copied()
    }

    /// LSNs at or below this were dropped (below a snapshot).
    pub fn base(&self) -> Lsn {
        self.base
    }

    /// The base and the epoch of the record there.
    pub fn base_mark(&self) -> (Lsn, Epoch) {
        (self.base, self.base_epoch)
    }

    /// Epoch of the record before `lsn` (what a segment file that starts
    /// at `lsn` is named with).
    pub fn epoch_before(&self, lsn: Lsn) -> Epoch {
        let prev = lsn.saturating_sub(1);
        if prev == self.base { self.base_epoch } else { self.epoch_at(prev).unwrap_or(0) }
    }

    /// Highest LSN on disk.
    pub fn flushed(&self) -> Lsn {
        self.flushed
    }

    /// The flushed LSN and the epoch of the record there (what a flush
    /// report names, `docs/protocol.md` R7).
    pub fn flushed_mark(&self) -> (Lsn, Epoch) {
        let at_base = (self.flushed == self.base).then_some(self.base_epoch);
        (self.flushed, self.epoch_at(self.flushed).or(at_base).unwrap_or(0))
    }

    /// Commit LSN learned from the writer (never above what is held).
    pub fn commit(&self) -> Lsn {
        self.commit.min(self.last_lsn())
    }

    /// Bytes of records in the hot tail.
    pub fn tail_bytes(&self) -> usize {
        self.tail_bytes
    }

    fn refuse(&self, code: ErrorCode, detail: String) -> Refusal {
        Refusal { code, current_epoch: self.promised, detail }
    }

    /// `Prepare{epoch}` from writer `from`: promise iff `epoch` is above the
    /// promised epoch. On success the caller persists the promise, then
    /// answers with `(last_epoch, last_lsn)`.
    pub fn prepare(&mut self, epoch: Epoch, from: NodeId) -> Result<(Epoch, Lsn), Refusal> {
        if epoch > EPOCH_MAX {
            return Err(self.refuse(ErrorCode::BadRequest, format!("epoch {epoch} is above the limit {EPOCH_MAX}")));
        }
        if epoch <= self.promised {
            return Err(self.refuse(ErrorCode::Fenced, format!("epoch {epoch} not above promised {}", self.promised)));
        }
        self.promised = epoch;
        // Only a wiped node needs to know (and the model's states stay few).
        self.preparer = (self.memory == Memory::Wiped).then_some(from);
        Ok((self.last_epoch(), self.last_lsn()))
    }

    /// `Append` from writer `from`: checks the epoch and log matching, then
    /// keeps the records.
    pub fn append(
        &mut self,
        from: NodeId,
        epoch: Epoch,
        prev_lsn: Lsn,
        prev_epoch: Epoch,
        commit: Lsn,
        records: Vec<Record>,
    ) -> Result<Accepted, Refusal> {
        if epoch < self.promised {
            return Err(
                self.refuse(ErrorCode::Fenced, format!("append in epoch {epoch} below promised {}", self.promised))
            );
        }
        if self.memory == Memory::Wiped && (epoch != self.promised || self.preparer != Some(from)) {
            // A wiped node forgot its promise, so a Prepare in any epoch,
            // even a stale one (a candidate starts low and climbs), arms it
            // again: it must not then take Appends from a writer that newer
            // epochs fenced. Until it holds the log again it takes Appends
            // from the writer whose Prepare it answered, in that epoch, only.
            let detail = "this node lost its data directory: until it caught up it accepts Appends only from the writer whose Prepare it answered".to_string();
            return Err(self.refuse(ErrorCode::Unavailable, detail));
        }
        let end = prev_lsn.checked_add(records.len() as Lsn).filter(|e| *e <= LSN_MAX);
        let Some(matched_end) = end.filter(|_| epoch <= EPOCH_MAX) else {
            return Err(self.refuse(ErrorCode::BadRequest, format!("epoch {epoch} or LSN {prev_lsn} out of range")));
        };
        // At or below `base` (the start of the log, or a snapshot) there is
        // nothing to compare: every record there is committed, and every
        // writer that can still append holds the committed log.
        let matches = prev_lsn <= self.base || self.epoch_at(prev_lsn) == Some(prev_epoch);
        if !matches {
            let detail = format!("no record {prev_lsn} of epoch {prev_epoch} (log ends at {})", self.last_lsn());
            return Err(self.refuse(ErrorCode::LogMismatch, detail));
        }
        for (expected, r) in (prev_lsn + 1..).zip(&records) {
            if r.lsn != expected || r.epoch > epoch {
                let detail = format!("record {} out of place or from the future", r.lsn);
                return Err(self.refuse(ErrorCode::BadRequest, detail));
            }
        }
        let promise_raised = epoch > self.promised;
        self.promised = epoch;
        let mut truncated_from = None;
        let base = self.base;
        for r in records.into_iter().filter(|r| r.lsn > base) {
            match self.epoch_at(r.lsn) {
                Some(e) if e == r.epoch => continue,
                Some(_) => {
                    self.truncate_after(r.lsn - 1);
                    truncated_from.get_or_insert(r.lsn);
                }
                None => {}
            }
            self.push(r);
        }
        // Only what is known to match the writer's log may count as
        // committed: above `matched_end` this node may hold an older
        // epoch's records that the writer's log replaced (Raft's
        // `min(leaderCommit, index of last new entry)`).
        // Healing needs the writer's whole commit LSN held here: a node
        // that restarted may miss records above this Append that it had
        // acknowledged before.
        let holds_commit = commit <= matched_end;
        let commit = commit.min(matched_end);
        debug_assert!(self.commit() <= self.last_lsn());
        self.commit = self.commit.max(commit);
        self.marks.on_commit(self.commit());
        let healed = self.memory != Memory::Intact && holds_commit && self.covers_own_commit(epoch);
        if healed {
            self.memory = Memory::Intact;
            self.preparer = None;
        }
        Ok(Accepted { scl: matched_end, promise_raised, truncated_from, healed })
    }

    /// After an Append of a writer in `epoch` was refused for log matching:
    /// if this node holds a record at `prev_lsn` of another epoch than the
    /// writer's `prev_epoch` there, that record is in no log of a writer
    /// that can still commit (the writer's log holds every committed
    /// record), and by log matching neither is any record after it: they
    /// are dropped, so the node can fill the writer's records in from a
    /// peer (otherwise a node holding an older epoch's record at the
    /// writer's resend point under a longer suffix stays out of the quorum
    /// for the whole epoch). Returns the LSN the log now ends at, if cut.
    pub fn drop_divergent(&mut self, epoch: Epoch, prev_lsn: Lsn, prev_epoch: Epoch) -> Option<Lsn> {
        let held = self.epoch_at(prev_lsn)?;
        if epoch < self.promised || held == prev_epoch || prev_lsn <= self.commit() || prev_lsn <= self.base {
            return None;
        }
        self.truncate_after(prev_lsn - 1);
        Some(prev_lsn - 1)
    }

    /// The commit LSN this node holds covers a record of `epoch` (the
    /// writer's own, so at or after its `LeaderChange`): every record
    /// committed before that writer took over, and every record it
    /// committed before this node lost its memory, is at or below it and
    /// matched here.
    fn covers_own_commit(&self, epoch: Epoch) -> bool {
        let c = self.commit();
        c > 0 && self.epoch_at(c) == Some(epoch)
    }

    /// Where a fill asks a peer to start: at this node's last record, so
    /// the peer's answer shows whether the two logs agree there.
    pub fn fill_from(&self) -> Lsn {
        self.last_lsn().max(self.base + 1)
    }

    /// Whether a disk write of records taken in `generation` may go ahead
    /// (no record was replaced since they were taken).
    pub fn write_allowed(&self, generation: u64) -> bool {
        generation == self.generation
    }

    /// Records read back from a peer, from [`LogState::fill_from`], to fill
    /// a hole, under the log-matching rule of an Append: the peer's suffix
    /// is joined only where both logs hold the same record (same LSN and
    /// epoch). Where they differ and the peer's record is of a newer
    /// epoch, this node's last record was replaced and is dropped; the
    /// caller asks again from the returned LSN (the new last one). A peer
    /// whose record there is older is behind: refused.
    pub fn fill(&mut self, records: Vec<Record>) -> Result<Option<Lsn>, Refusal> {
        let mut records = records.into_iter().peekable();
        let last = self.last_lsn();
        if last > self.base
            && let Some(first) = records.next_if(|r| r.lsn == last)
        {
            let mine = self.last_epoch();
            if first.epoch < mine {
                let detail = format!("peer's record {last} is of epoch {} below this node's {mine}", first.epoch);
                return Err(self.refuse(ErrorCode::LogMismatch, detail));
            }
            if first.epoch > mine {
                if last <= self.commit() {
                    let detail = format!("peer replaces committed record {last}: refused");
                    return Err(self.refuse(ErrorCode::LogMismatch, detail));
                }
                self.truncate_after(last - 1);
                return Ok(Some(last - 1));
            }
        } else if last > self.base {
            return Err(self.refuse(ErrorCode::BadRequest, format!("fill does not start at record {last}")));
        }
        for r in records {
            if r.lsn != self.last_lsn() + 1 {
                return Err(
                    self.refuse(ErrorCode::BadRequest, format!("fill record {} does not continue the log", r.lsn))
                );
            }
            self.push(r);
        }
        Ok(None)
    }

    fn push(&mut self, r: Record) {
        self.marks.note(&r);
        self.epochs.push(r.epoch);
        self.tail_bytes += r.encoded_len();
        self.tail.push_back(r);
    }

    /// Drops every record above `lsn` (log matching replaced them).
    fn truncate_after(&mut self, lsn: Lsn) {
        while self.tail.back().is_some_and(|r| r.lsn > lsn) {
            if let Some(r) = self.tail.pop_back() {
                self.tail_bytes -= r.encoded_len();
            }
        }
        self.epochs.truncate(lsn.saturating_sub(self.base) as usize);
        self.marks.cut_after(lsn);
        self.generation += 1;
        self.flushed = self.flushed.min(lsn);
        self.written = self.written.min(lsn);
    }

    /// The current generation (see [`LogState::on_written`]).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Records not yet written to segment files, in order.
    pub fn unwritten(&self) -> impl Iterator<Item = &Record> {
        // The tail is in LSN order: skip the written prefix without walking it.
        let start = self.tail.partition_point(|r| r.lsn <= self.written);
        self.tail.range(start..)
    }

    /// Records up to `lsn`, taken in `generation`, were written to segment
    /// files. Ignored if records were replaced since they were taken.
    pub fn on_written(&mut self, lsn: Lsn, generation: u64) {
        if generation == self.generation {
            self.written = self.written.max(lsn.min(self.last_lsn()));
        }
    }

    /// Records up to `lsn`, taken in `generation`, are durable (fsync returned).
    pub fn on_flushed(&mut self, lsn: Lsn, generation: u64) {
        if generation == self.generation {
            self.flushed = self.flushed.max(lsn.min(self.written));
        }
    }

    /// Frees hot-tail memory: drops flushed records from the front while the
    /// tail holds more than `keep_bytes`.
    pub fn trim_tail(&mut self, keep_bytes: usize) {
        while self.tail_bytes > keep_bytes && self.tail.front().is_some_and(|r| r.lsn <= self.flushed) {
            if let Some(r) = self.tail.pop_front() {
                self.tail_bytes -= r.encoded_len();
            }
        }
    }

    /// Records from `from` (up to `max_bytes`, at least one) that are in
    /// memory, and no further than `upto`. `None` when `from` is below the
    /// hot tail (the caller reads the disk).
    pub fn read_tail(&self, from: Lsn, upto: Lsn, max_bytes: usize) -> Option<Vec<Record>> {
        let first = self.tail.front()?.lsn;
        if from < first {
            return None;
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in self.tail.iter().skip((from - first) as usize).take_while(|r| r.lsn <= upto) {
            if !out.is_empty() && bytes + r.encoded_len() > max_bytes {
                break;
            }
            bytes += r.encoded_len();
            out.push(r.clone());
        }
        Some(out)
    }

    /// Where this node may truncate its log now, keeping `margin_records`
    /// below the newest snapshot a committed marker names: never above
    /// what is on disk or known committed (R14). `None`: nothing to drop.
    /// The record at the snapshot's LSN itself always stays: a replica
    /// that restored the snapshot reads on from it (log matching).
    pub fn truncation_point(&self, margin_records: Lsn) -> Option<Lsn> {
        let keep = margin_records.max(1);
        let t = self.marks.snapshot().saturating_sub(keep).min(self.flushed).min(self.commit());
        (t > self.base).then_some(t)
    }

    /// The newest snapshot LSN a committed marker in this log names.
    pub fn snapshot_lsn(&self) -> Lsn {
        self.marks.snapshot()
    }

    /// Forgets records at or below `lsn` (the caller checked it against
    /// [`LogState::truncation_point`]; the segment files dropped them).
    pub fn truncate_below(&mut self, lsn: Lsn) {
        let lsn = lsn.min(self.flushed).min(self.commit());
        if lsn <= self.base {
            return;
        }
        self.base_epoch = self.epoch_at(lsn).unwrap_or(self.base_epoch);
        self.epochs.drain(..(lsn - self.base) as usize);
        self.base = lsn;
        while self.tail.front().is_some_and(|r| r.lsn <= lsn) {
            if let Some(r) = self.tail.pop_front() {
                self.tail_bytes -= r.encoded_len();
            }
        }
    }

    /// A peer's log starts after `(base, base_epoch)` (it truncated below a
    /// committed snapshot marker) and this node holds nothing past it:
    /// this node's log starts there too, so it can fill from the peer (a
    /// wiped or new node, or one that was down while the others
    /// truncated). Everything at or below `base` is committed and in a
    /// verified snapshot, so the records dropped here are either in that
    /// snapshot or were replaced. Returns whether the log changed; the
    /// caller empties the segment files.
    pub fn adopt_base(&mut self, base: Lsn, base_epoch: Epoch) -> bool {
        if base <= self.base || self.last_lsn() > base || base > LSN_MAX {
            return false;
        }
        self.truncate_after(self.base);
        self.base = base;
        self.base_epoch = base_epoch;
        self.flushed = base;
        self.written = base;
        self.commit = self.commit.max(base);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sixfold_wire::RecordKind;

    /// The writer in these tests.
    const W: NodeId = 1000;

    fn recs(from: Lsn, to: Lsn, epoch: Epoch) -> Vec<Record> {
        (from..=to)
            .map(|lsn| Record {
                lsn,
                epoch,
                kind: RecordKind::Effects,
                payload: Bytes::from(format!("r{lsn}e{epoch}")),
            })
            .collect()
    }

    fn fresh() -> LogState {
        LogState::recovered(0, 0, Vec::new(), Memory::Intact)
    }

    #[test]
    fn appends_in_order_and_reports_scl() {
        let mut l = fresh();
        let a = l.append(W, 1, 0, 0, 0, recs(1, 3, 1)).unwrap();
        assert_eq!(a, Accepted { scl: 3, promise_raised: true, truncated_from: None, healed: false });
        let a = l.append(W, 1, 3, 1, 2, recs(4, 5, 1)).unwrap();
        assert_eq!(a.scl, 5);
        assert_eq!(l.commit(), 2);
        // A resent batch is idempotent.
        assert_eq!(l.append(W, 1, 3, 1, 2, recs(4, 5, 1)).unwrap().scl, 5);
    }

    #[test]
    fn lower_epochs_are_fenced() {
        let mut l = fresh();
        l.prepare(5, W).unwrap();
        let e = l.append(W, 4, 0, 0, 0, recs(1, 1, 4)).unwrap_err();
        assert_eq!((e.code, e.current_epoch), (ErrorCode::Fenced, 5));
        assert_eq!(l.prepare(5, W).unwrap_err().code, ErrorCode::Fenced);
        assert_eq!(l.prepare(6, W).unwrap(), (0, 0));
    }

    #[test]
    fn gaps_and_mismatched_history_are_refused() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 0, recs(1, 3, 1)).unwrap();
        assert_eq!(l.append(W, 1, 5, 1, 0, recs(6, 6, 1)).unwrap_err().code, ErrorCode::LogMismatch);
        assert_eq!(l.append(W, 2, 3, 2, 0, recs(4, 4, 2)).unwrap_err().code, ErrorCode::LogMismatch);
    }

    /// A node with an older epoch's record at the writer's resend point,
    /// under a longer suffix, drops them (then fills from a peer); a
    /// record at or below its commit LSN, or one that matches, stays.
    #[test]
    fn a_divergent_suffix_under_the_resend_point_is_dropped() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 2, recs(1, 10, 1)).unwrap();
        assert_eq!(l.commit(), 2);
        // The writer of epoch 3 adopted a log whose record 8 is of epoch 2.
        assert_eq!(l.append(W, 3, 8, 2, 8, recs(9, 9, 3)).unwrap_err().code, ErrorCode::LogMismatch);
        assert_eq!(l.drop_divergent(3, 8, 2), Some(7));
        assert_eq!(l.last_lsn(), 7);
        assert_eq!(l.drop_divergent(3, 7, 1), None, "record 7 matches");
        assert_eq!(l.drop_divergent(3, 2, 2), None, "record 2 is committed here");
        assert_eq!(l.drop_divergent(0, 5, 2), None, "a fenced writer cuts nothing");
        assert_eq!(l.last_lsn(), 7);
    }

    #[test]
    fn a_newer_epoch_replaces_conflicting_records() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 0, recs(1, 5, 1)).unwrap();
        l.on_written(5, 0);
        l.on_flushed(5, 0);
        let a = l.append(W, 2, 2, 1, 0, recs(3, 4, 2)).unwrap();
        assert_eq!(a.truncated_from, Some(3));
        assert_eq!(a.scl, 4, "record 5 of epoch 1 is gone");
        assert_eq!(l.epoch_at(3), Some(2));
        assert_eq!(l.flushed(), 2, "the disk must drop the replaced records");
        assert_eq!(l.unwritten().map(|r| r.lsn).collect::<Vec<_>>(), vec![3, 4]);
        // A write of the replaced records that was under way does not count.
        l.on_written(5, 0);
        assert_eq!(l.unwritten().count(), 2);
    }

    #[test]
    fn hot_tail_is_trimmed_only_below_flushed() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 0, recs(1, 10, 1)).unwrap();
        l.trim_tail(0);
        assert_eq!(l.read_tail(1, 10, usize::MAX).map(|v| v.len()), Some(10), "nothing flushed yet");
        l.on_written(6, 0);
        l.on_flushed(6, 0);
        l.trim_tail(0);
        assert_eq!(l.read_tail(1, 10, usize::MAX), None, "flushed records are read from disk");
        assert_eq!(l.read_tail(7, 8, usize::MAX).map(|v| v.len()), Some(2), "bounded by upto");
    }

    #[test]
    fn holes_are_filled_contiguously() {
        let mut l = fresh();
        assert_eq!(l.fill_from(), 1);
        assert_eq!(l.fill(recs(1, 2, 1)).unwrap(), None);
        assert_eq!(l.fill_from(), 2, "a fill starts at the last record, to compare it");
        assert_eq!(l.fill(recs(2, 4, 1)).unwrap(), None);
        assert_eq!(l.last_lsn(), 4);
        assert!(l.fill(recs(6, 6, 1)).is_err());
    }

    /// Hole 1 of the log-protocol issue: a node holding an old writer's
    /// uncommitted records must not join a newer writer's log on top of them.
    #[test]
    fn a_fill_never_joins_logs_across_epochs() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 0, recs(1, 2, 1)).unwrap(); // W1's 1-2, never committed
        // A peer holds W2's log: 1 (epoch 1, committed), 2-4 of epoch 2.
        let mut peer = recs(1, 1, 1);
        peer.extend(recs(2, 4, 2));
        let from = l.fill_from();
        assert_eq!(from, 2);
        assert_eq!(l.fill(peer[from as usize - 1..].to_vec()).unwrap(), Some(1), "record 2 of epoch 1 is dropped");
        assert_eq!(l.epoch_at(2), None);
        let from = l.fill_from();
        assert_eq!(l.fill(peer[from as usize - 1..].to_vec()).unwrap(), None);
        assert_eq!((1..=4).map(|x| l.epoch_at(x).unwrap()).collect::<Vec<_>>(), vec![1, 2, 2, 2]);
        // A peer that is behind (older epoch at our last record) is refused.
        assert_eq!(l.fill(recs(4, 5, 1)).unwrap_err().code, ErrorCode::LogMismatch);
        assert_eq!(l.last_lsn(), 4);
    }

    /// Hole 7: the flusher takes records 2-3 of epoch 1; before it writes
    /// them, an Append of epoch 2 replaces them. The write taken before is
    /// refused, and its completion does not count as written or flushed.
    #[test]
    fn a_write_taken_before_records_were_replaced_never_counts() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 0, recs(1, 3, 1)).unwrap();
        l.on_written(1, l.generation());
        l.on_flushed(1, l.generation());
        let taken: Vec<Lsn> = l.unwritten().map(|r| r.lsn).collect();
        let generation = l.generation();
        assert_eq!(taken, vec![2, 3]);
        l.append(W, 2, 1, 1, 0, recs(2, 3, 2)).unwrap();
        assert!(!l.write_allowed(generation), "the taken records were replaced");
        l.on_written(3, generation);
        l.on_flushed(3, generation);
        assert_eq!(l.flushed_mark().0, 1, "epoch 2's records 2-3 are not on disk");
        assert_eq!(l.unwritten().map(|r| (r.lsn, r.epoch)).collect::<Vec<_>>(), vec![(2, 2), (3, 2)]);
    }

    /// An Append's commit LSN counts only up to what it proved matches.
    #[test]
    fn commit_is_capped_at_the_matched_point() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 0, recs(1, 3, 1)).unwrap();
        // Writer of epoch 2 adopted only record 1 and committed 2-3 of its own elsewhere.
        let a = l.append(W, 2, 1, 1, 3, Vec::new()).unwrap();
        assert_eq!(l.commit(), 1, "records 2-3 of epoch 1 here are not the committed ones");
        assert_eq!(a.scl, 1, "nor are they acknowledged to the writer");
        l.append(W, 2, 1, 1, 3, recs(2, 3, 2)).unwrap();
        assert_eq!(l.commit(), 3);
    }

    #[test]
    fn an_amnesiac_node_heals_once_it_holds_a_writers_own_commit() {
        let mut l = LogState::recovered(1, 0, vec![1], Memory::Restarted);
        let a = l.append(W, 2, 1, 1, 1, recs(2, 2, 2)).unwrap();
        assert!(!a.healed, "commit 1 is of epoch 1: the writer's own record has not committed");
        let a = l.append(W, 2, 2, 2, 2, Vec::new()).unwrap();
        assert!(a.healed);
        assert_eq!(l.memory(), Memory::Intact);
    }

    /// A restarted node resent only the start of what it lost does not
    /// heal on that first part: it may have acknowledged the rest.
    #[test]
    fn a_restarted_node_heals_only_when_it_holds_the_whole_commit() {
        let mut l = LogState::recovered(2, 0, vec![2], Memory::Restarted);
        // The writer (epoch 2) committed up to 5; this node lost 2-5 and
        // gets 2-3 back first.
        let a = l.append(W, 2, 1, 2, 5, recs(2, 3, 2)).unwrap();
        assert!(!a.healed, "records 4-5 it may have acknowledged are still missing");
        assert_eq!(l.memory(), Memory::Restarted);
        let a = l.append(W, 2, 3, 2, 5, recs(4, 5, 2)).unwrap();
        assert!(a.healed);
    }

    /// A wiped node forgot its promise; it must not take an old writer's
    /// Appends until a new recovery prepared it.
    #[test]
    fn a_wiped_node_takes_appends_only_after_a_prepare() {
        let mut l = LogState::recovered(0, 0, Vec::new(), Memory::Wiped);
        assert_eq!(l.append(W, 1, 0, 0, 0, recs(1, 1, 1)).unwrap_err().code, ErrorCode::Unavailable);
        l.prepare(3, W).unwrap();
        assert_eq!(l.append(W, 1, 0, 0, 0, recs(1, 1, 1)).unwrap_err().code, ErrorCode::Fenced);
        assert!(l.append(W, 3, 0, 0, 0, recs(1, 1, 3)).is_ok());
    }

    /// A stale candidate (it starts in epoch 1 and climbs) arms a wiped
    /// node in an epoch that an older writer, fenced since by a newer one,
    /// may still write in: the node takes no Appends from that writer.
    #[test]
    fn a_stale_prepare_does_not_open_a_wiped_node_to_a_fenced_writer() {
        const OLD: NodeId = 7;
        let mut l = LogState::recovered(0, 0, Vec::new(), Memory::Wiped);
        l.prepare(1, W).unwrap();
        let e = l.append(OLD, 1, 0, 0, 0, recs(1, 1, 1)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unavailable, "the old writer of epoch 1 is not the preparer");
        assert_eq!(l.append(OLD, 2, 0, 0, 0, recs(1, 1, 2)).unwrap_err().code, ErrorCode::Unavailable);
        assert!(l.append(W, 1, 0, 0, 0, recs(1, 1, 1)).is_ok(), "the preparer may write");
    }

    #[test]
    fn epochs_and_lsns_are_bounded() {
        let mut l = fresh();
        assert_eq!(l.prepare(u64::MAX, W).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(l.append(W, u64::MAX, 0, 0, 0, recs(1, 1, 1)).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(l.promised(), 0, "nothing persisted");
    }

    fn marker(lsn: Lsn, epoch: Epoch, snap: Lsn) -> Record {
        let payload = sixfold_wire::SnapshotMarker { lsn: snap, epoch, ..Default::default() }.encode();
        Record { lsn, epoch, kind: RecordKind::SnapshotMarker, payload }
    }

    fn flush_all(l: &mut LogState) {
        let last = l.last_lsn();
        l.on_written(last, l.generation());
        l.on_flushed(last, l.generation());
    }

    /// R14: only a committed marker allows truncation, never past what is
    /// on disk, and a margin below the snapshot is kept.
    #[test]
    fn truncation_waits_for_a_committed_marker() {
        let mut l = fresh();
        let mut rs = recs(1, 20, 1);
        rs.push(marker(21, 1, 15));
        l.append(W, 1, 0, 0, 0, rs).unwrap();
        flush_all(&mut l);
        assert_eq!(l.truncation_point(0), None, "the marker is not committed");
        l.append(W, 1, 21, 1, 21, Vec::new()).unwrap();
        assert_eq!(l.truncation_point(0), Some(14), "the record at the snapshot's LSN stays");
        assert_eq!(l.truncation_point(5), Some(10));
        assert_eq!(l.truncation_point(20), None);
        l.truncate_below(10);
        assert_eq!((l.base_mark(), l.epoch_at(10), l.epoch_at(11)), ((10, 1), None, Some(1)));
        assert_eq!(l.truncation_point(5), None, "nothing more to drop");
        // The node's last record and promise are unchanged.
        assert_eq!((l.last_lsn(), l.last_epoch()), (21, 1));
    }

    #[test]
    fn a_replaced_marker_allows_nothing() {
        let mut l = fresh();
        let mut rs = recs(1, 5, 1);
        rs.push(marker(6, 1, 5));
        l.append(W, 1, 0, 0, 5, rs).unwrap();
        flush_all(&mut l);
        // A writer of epoch 2 adopted the log up to 5 only.
        l.append(W, 2, 5, 1, 6, recs(6, 6, 2)).unwrap();
        flush_all(&mut l);
        assert_eq!(l.truncation_point(0), None);
    }

    /// A node behind a peer's base starts its log there, then takes the
    /// writer's Appends, including those that begin below the base.
    #[test]
    fn a_node_behind_the_peers_base_adopts_it() {
        let mut l = fresh();
        l.append(W, 1, 0, 0, 2, recs(1, 3, 1)).unwrap();
        assert!(!l.adopt_base(2, 1), "this node holds records past 2");
        assert!(l.adopt_base(10, 2));
        assert_eq!((l.base_mark(), l.last_lsn(), l.last_epoch(), l.flushed_mark()), ((10, 2), 10, 2, (10, 2)));
        assert_eq!(l.fill_from(), 11);
        assert_eq!(l.prepare(3, W).unwrap(), (2, 10));
        // Records at or below the base are committed: an Append that
        // starts below it is taken from the base on.
        let a = l.append(W, 3, 8, 2, 12, recs(9, 12, 3)).unwrap();
        assert_eq!((a.scl, l.last_lsn(), l.epoch_at(10), l.epoch_at(11)), (12, 12, None, Some(3)));
        assert_eq!(l.epoch_before(11), 2);
        assert!(!l.adopt_base(11, 3), "holds records past 11");
    }
}
