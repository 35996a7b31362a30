//! The storage node's log as a state machine with no I/O: fencing by
//! `promised_epoch`, log matching on `prev_lsn/prev_epoch` (a record at an
//! LSN from an older epoch is replaced by the newer epoch's, as in Raft),
//! the in-memory hot tail and its bound, and the flushed and commit LSNs.
//! The node's I/O layer persists what this decides (promises, segment
//! writes and truncations) before it answers.

use sixfold_wire::{Epoch, ErrorCode, Lsn, Memory, Record};
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
    /// Highest LSN held with no gap below.
    pub scl: Lsn,
    /// The promised epoch rose to the Append's: persist it before acking.
    pub promise_raised: bool,
    /// Records from this LSN on were replaced (an older epoch's): the disk
    /// must drop them before the new ones are written.
    pub truncated_from: Option<Lsn>,
}

/// The log of one storage node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogState {
    promised: Epoch,
    /// Records at or below `base` were dropped (below a snapshot).
    base: Lsn,
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
        }
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
        self.epochs.last().copied().unwrap_or(0)
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

    /// Highest LSN on disk.
    pub fn flushed(&self) -> Lsn {
        self.flushed
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

    /// `Prepare{epoch}`: promise iff `epoch` is above the promised epoch.
    /// On success the caller persists the promise, then answers with
    /// `(last_epoch, last_lsn)`.
    pub fn prepare(&mut self, epoch: Epoch) -> Result<(Epoch, Lsn), Refusal> {
        if epoch <= self.promised {
            return Err(self.refuse(ErrorCode::Fenced, format!("epoch {epoch} not above promised {}", self.promised)));
        }
        self.promised = epoch;
        Ok((self.last_epoch(), self.last_lsn()))
    }

    /// `Append`: checks the epoch and log matching, then keeps the records.
    pub fn append(
        &mut self,
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
        // At `base` (the start of the log, or a snapshot) there is nothing to compare.
        let matches = prev_lsn == self.base || self.epoch_at(prev_lsn) == Some(prev_epoch);
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
        for r in records {
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
        self.commit = self.commit.max(commit);
        Ok(Accepted { scl: self.last_lsn(), promise_raised, truncated_from })
    }

    /// Where a fill asks a peer to start.
    pub fn fill_from(&self) -> Lsn {
        self.last_lsn() + 1
    }

    /// Whether a disk write of records taken in `generation` may go ahead.
    pub fn write_allowed(&self, _generation: u64) -> bool {
        true
    }

    /// Records read back from a peer to fill a hole (must continue the
    /// log). Returns the LSN the log was cut back to, if it was.
    pub fn fill(&mut self, records: Vec<Record>) -> Result<Option<Lsn>, Refusal> {
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

    /// Forgets records at or below `lsn` (a verified snapshot covers them).
    pub fn truncate_below(&mut self, lsn: Lsn) {
        let lsn = lsn.min(self.flushed);
        if lsn <= self.base {
            return;
        }
        self.epochs.drain(..(lsn - self.base) as usize);
        self.base = lsn;
        while self.tail.front().is_some_and(|r| r.lsn <= lsn) {
            if let Some(r) = self.tail.pop_front() {
                self.tail_bytes -= r.encoded_len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sixfold_wire::RecordKind;

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
        let a = l.append(1, 0, 0, 0, recs(1, 3, 1)).unwrap();
        assert_eq!(a, Accepted { scl: 3, promise_raised: true, truncated_from: None });
        let a = l.append(1, 3, 1, 2, recs(4, 5, 1)).unwrap();
        assert_eq!(a.scl, 5);
        assert_eq!(l.commit(), 2);
        // A resent batch is idempotent.
        assert_eq!(l.append(1, 3, 1, 2, recs(4, 5, 1)).unwrap().scl, 5);
    }

    #[test]
    fn lower_epochs_are_fenced() {
        let mut l = fresh();
        l.prepare(5).unwrap();
        let e = l.append(4, 0, 0, 0, recs(1, 1, 4)).unwrap_err();
        assert_eq!((e.code, e.current_epoch), (ErrorCode::Fenced, 5));
        assert_eq!(l.prepare(5).unwrap_err().code, ErrorCode::Fenced);
        assert_eq!(l.prepare(6).unwrap(), (0, 0));
    }

    #[test]
    fn gaps_and_mismatched_history_are_refused() {
        let mut l = fresh();
        l.append(1, 0, 0, 0, recs(1, 3, 1)).unwrap();
        assert_eq!(l.append(1, 5, 1, 0, recs(6, 6, 1)).unwrap_err().code, ErrorCode::LogMismatch);
        assert_eq!(l.append(2, 3, 2, 0, recs(4, 4, 2)).unwrap_err().code, ErrorCode::LogMismatch);
    }

    #[test]
    fn a_newer_epoch_replaces_conflicting_records() {
        let mut l = fresh();
        l.append(1, 0, 0, 0, recs(1, 5, 1)).unwrap();
        l.on_written(5, 0);
        l.on_flushed(5, 0);
        let a = l.append(2, 2, 1, 0, recs(3, 4, 2)).unwrap();
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
        l.append(1, 0, 0, 0, recs(1, 10, 1)).unwrap();
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
        l.append(1, 0, 0, 0, recs(1, 2, 1)).unwrap();
        assert_eq!(l.fill(recs(3, 4, 1)).unwrap(), None);
        assert!(l.fill(recs(6, 6, 1)).is_err());
    }
}
