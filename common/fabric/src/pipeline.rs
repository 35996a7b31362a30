//! The writer's append pipeline as a pure state machine (no sockets, no
//! clock: the driver passes time in): which records each of the six storage
//! nodes still needs, how many Appends may be in flight to each, what to do
//! with every answer, and the commit point ([`CommitTracker`]).
//!
//! Appends to one node are pipelined: the next one leaves without waiting
//! for the previous answer, up to [`Limits::inflight_appends_max`] and
//! [`Limits::inflight_bytes_max`]. A node answers in order. When an Append
//! does not match its log (`LogMismatch`), every later Append in flight
//! fails too; the pipeline starts a new *generation* from where the node's
//! log ends and ignores the failures of the old one.
//!
//! Group commit: while an Append is in flight to a node, new records wait
//! for its answer and leave together as one Append, unless they already
//! fill [`Limits::group_bytes_min`] (then they are pipelined, so a large
//! stream of records is not held to one round trip at a time). Under many
//! small writes a node gets one Append per round trip instead of one per
//! write.

use crate::quorum::{AckOutcome, COMMIT_QUORUM, CommitMode, CommitTracker, STORAGE_NODES};
use sixfold_wire::{Epoch, ErrorCode, Lsn, Message, Record, encode_run};
use std::collections::VecDeque;

/// Bounds of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most record bytes in one Append (at least one record).
    pub batch_bytes_max: usize,
    /// While an Append is in flight to a node, the next one leaves only
    /// once this many record bytes wait (else at the answer): group commit.
    /// 0 sends whatever the window allows at once.
    pub group_bytes_min: usize,
    /// Most Appends in flight to one node.
    pub inflight_appends_max: usize,
    /// Most record bytes in flight to one node.
    pub inflight_bytes_max: usize,
    /// Most record bytes held (not yet on disk on four nodes) before the
    /// pipeline refuses new records.
    pub held_bytes_max: usize,
    /// A node whose oldest Append is unanswered this long (plus the time
    /// its bytes take at [`Limits::link_bytes_per_ms_min`]) is dropped.
    pub node_timeout_ms: u64,
    /// The slowest link speed assumed: a large Append gets longer to be
    /// answered (otherwise a record of tens of MiB is resent forever).
    pub link_bytes_per_ms_min: u64,
    /// Pause before resending to a node that must first fill a hole from
    /// its peers.
    pub fill_wait_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            batch_bytes_max: 1024 * 1024,
            group_bytes_min: 64 * 1024,
            inflight_appends_max: 4,
            inflight_bytes_max: 16 * 1024 * 1024,
            held_bytes_max: 128 * 1024 * 1024,
            node_timeout_ms: 2_000,
            link_bytes_per_ms_min: 2_000,
            fill_wait_ms: 50,
        }
    }
}

/// One Append in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Sent {
    generation: u64,
    prev_lsn: Lsn,
    bytes: usize,
    at_ms: u64,
    /// The commit LSN the node learns when it accepts this Append: the one
    /// sent, capped at the Append's last LSN (the node counts no more).
    commit: Lsn,
}

/// What the pipeline knows about one node.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
struct NodeState {
    up: bool,
    /// Highest LSN sent in the current generation.
    sent_to: Lsn,
    generation: u64,
    inflight: VecDeque<Sent>,
    inflight_bytes: usize,
    /// Highest LSN the node acknowledged holding with no gap below (this link).
    scl: Lsn,
    /// Do not send before this time.
    resend_at_ms: u64,
    /// Commit LSN last sent to the node.
    told_commit: Lsn,
    /// Highest commit LSN the node acknowledged learning (this link).
    acked_commit: Lsn,
    /// Highest flushed LSN the node reported (a report may overtake the
    /// Ack of the records it covers).
    flushed: Lsn,
}

/// What an answer meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// State updated (the commit LSN may have moved).
    Ok,
    /// A node has promised a higher epoch: this writer is fenced.
    Fenced(Epoch),
    /// The node's link must be dropped (and reconnected later).
    Drop(String),
}

/// Appends of one writer epoch to the six nodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pipeline {
    epoch: Epoch,
    limits: Limits,
    tracker: CommitTracker,
    /// Records appended and still held, from `held_from`.
    held: VecDeque<Record>,
    held_from: Lsn,
    held_bytes: usize,
    /// Epoch of the record at `held_from - 1` (0 for none).
    base_epoch: Epoch,
    nodes: [NodeState; STORAGE_NODES],
}

impl Pipeline {
    /// A pipeline for `epoch` after a committed log ending at `last = (lsn, epoch)`.
    pub fn new(epoch: Epoch, mode: CommitMode, last: (Lsn, Epoch), limits: Limits) -> Pipeline {
        Pipeline {
            epoch,
            limits,
            tracker: CommitTracker::new(epoch, mode, last.0),
            held: VecDeque::new(),
            held_from: last.0 + 1,
            held_bytes: 0,
            base_epoch: last.1,
            nodes: Default::default(),
        }
    }

    /// A pipeline for a writer that recovered: records up to `committed =
    /// (lsn, epoch)` are known committed; `suffix` (the adopted records
    /// above it) is held and sent like new records, but counts as committed
    /// only once a record of this writer's own epoch does (the first record
    /// pushed after it, normally the `LeaderChange`).
    pub fn after_recovery(
        epoch: Epoch,
        mode: CommitMode,
        committed: (Lsn, Epoch),
        suffix: Vec<Record>,
        limits: Limits,
    ) -> Pipeline {
        let mut p = Pipeline::new(epoch, mode, committed, limits);
        p.push(suffix);
        p.tracker.commit_from(p.last_lsn() + 1);
        p
    }

    /// Renumbers the nodes: node `i` becomes what node `perm[i]` was (the
    /// model checker's symmetry reduction).
    pub fn permute_nodes(&mut self, perm: &[usize; STORAGE_NODES]) {
        let nodes = self.nodes.clone();
        for (i, &from) in perm.iter().enumerate() {
            self.nodes[i] = nodes[from].clone();
        }
        self.tracker.permute_nodes(perm);
    }

    /// The epoch written in.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The commit LSN.
    pub fn commit_lsn(&self) -> Lsn {
        self.tracker.commit_lsn()
    }

    /// The highest LSN whose commit four nodes acknowledged learning: a
    /// writer's lease runs only from records at or below it, so a
    /// candidate bounds every lease it fences by the commit LSNs that the
    /// storage nodes promise with (`docs/protocol.md` R12).
    pub fn lease_lsn(&self) -> Lsn {
        let mut known = self.nodes.each_ref().map(|n| n.acked_commit);
        known.sort_unstable_by(|a, b| b.cmp(a));
        known[COMMIT_QUORUM - 1].min(self.commit_lsn())
    }

    /// The LSN on disk on four nodes.
    pub fn fabric_flushed_lsn(&self) -> Lsn {
        self.tracker.fabric_flushed_lsn()
    }

    /// What node `i` last acknowledged: (SCL, flushed LSN).
    pub fn node_ack(&self, i: usize) -> Option<(Lsn, Lsn)> {
        self.tracker.node(i)
    }

    /// The last LSN appended.
    pub fn last_lsn(&self) -> Lsn {
        self.held_from + self.held.len() as Lsn - 1
    }

    /// Record bytes held (not yet released).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Whether there is room for more records.
    pub fn accepts(&self) -> bool {
        self.held_bytes < self.limits.held_bytes_max
    }

    /// Nodes whose acknowledged SCL reaches `lsn`.
    pub fn acked_at_least(&self, lsn: Lsn) -> usize {
        (0..STORAGE_NODES).filter(|&i| self.node_ack(i).is_some_and(|(scl, _)| scl >= lsn)).count()
    }

    /// Adds records; their LSNs must continue the log.
    pub fn push(&mut self, records: Vec<Record>) {
        for r in records {
            debug_assert_eq!(r.lsn, self.last_lsn() + 1, "records must continue the log");
            self.held_bytes += r.encoded_len();
            self.held.push_back(r);
        }
    }

    /// Drops held records at or below `lsn` (they are on disk on four
    /// nodes; a node that lacks them fills them from its peers).
    pub fn release_below(&mut self, lsn: Lsn) {
        while self.held_from <= lsn {
            let Some(r) = self.held.pop_front() else { break };
            self.held_bytes -= r.encoded_len();
            self.base_epoch = r.epoch;
            self.held_from += 1;
        }
    }

    /// Record bytes held from `from` on (counted up to the group bound).
    fn bytes_from(&self, from: Lsn) -> usize {
        let skip = from.saturating_sub(self.held_from) as usize;
        let mut bytes = 0;
        for r in self.held.iter().skip(skip) {
            bytes += r.encoded_len();
            if bytes >= self.limits.group_bytes_min {
                break;
            }
        }
        bytes
    }

    fn epoch_at(&self, lsn: Lsn) -> Epoch {
        if lsn < self.held_from { self.base_epoch } else { self.held[(lsn - self.held_from) as usize].epoch }
    }

    /// A new link to node `i`: its position is unknown, so sending starts
    /// right after the committed base (the node says where its log ends).
    pub fn on_connected(&mut self, i: usize) {
        let start = self.held_from - 1;
        self.nodes[i] =
            NodeState { up: true, sent_to: start, generation: self.nodes[i].generation + 1, ..NodeState::default() };
    }

    /// The link to node `i` is gone; what it held in memory may be lost.
    pub fn on_lost(&mut self, i: usize) {
        self.nodes[i] = NodeState { generation: self.nodes[i].generation + 1, ..NodeState::default() };
        self.tracker.on_node_reset(i);
    }

    /// The next Append for node `i`, if it is up, lacks records, and its
    /// window has room.
    pub fn poll_send(&mut self, i: usize, now_ms: u64) -> Option<Message> {
        let (held_from, last, limits) = (self.held_from, self.last_lsn(), self.limits);
        let commit_lsn = self.tracker.commit_lsn();
        let n = &self.nodes[i];
        let from = (n.sent_to + 1).max(held_from);
        // With nothing new to send, an idle node still hears of a new
        // commit LSN (an empty Append); a busy one hears of it with the next.
        let tell_commit = n.told_commit < commit_lsn && n.inflight.is_empty();
        if !n.up
            || (from > last && !tell_commit)
            || now_ms < n.resend_at_ms
            || n.inflight.len() >= limits.inflight_appends_max
            || n.inflight_bytes >= limits.inflight_bytes_max
            || (!n.inflight.is_empty() && self.bytes_from(from) < limits.group_bytes_min)
        {
            return None;
        }
        let (mut bytes, mut batch) = (0, Vec::new());
        for r in self.held.iter().skip((from - held_from) as usize) {
            if !batch.is_empty() && bytes + r.encoded_len() > limits.batch_bytes_max {
                break;
            }
            bytes += r.encoded_len();
            batch.push(r.clone());
        }
        let prev_lsn = from - 1;
        let prev_epoch = self.epoch_at(prev_lsn);
        let n = &mut self.nodes[i];
        n.sent_to = prev_lsn + batch.len() as Lsn;
        let commit = commit_lsn.min(n.sent_to);
        n.inflight.push_back(Sent { generation: n.generation, prev_lsn, bytes, at_ms: now_ms, commit });
        n.inflight_bytes += bytes;
        n.told_commit = commit_lsn;
        Some(Message::Append { epoch: self.epoch, prev_lsn, prev_epoch, commit_lsn, records: encode_run(&batch) })
    }

    /// Node `i` answered its oldest Append in flight.
    pub fn on_reply(&mut self, i: usize, reply: Message, now_ms: u64) -> Outcome {
        let Some(sent) = self.nodes[i].inflight.pop_front() else {
            return Outcome::Drop(format!("answer without a request: {reply:?}"));
        };
        self.nodes[i].inflight_bytes -= sent.bytes;
        match reply {
            Message::Ack { epoch, scl, flushed } => {
                self.nodes[i].scl = scl;
                self.nodes[i].acked_commit = self.nodes[i].acked_commit.max(sent.commit);
                self.ack(i, epoch, scl, flushed)
            }
            Message::Error { code: ErrorCode::Fenced, current_epoch, .. } => Outcome::Fenced(current_epoch),
            Message::Error { code: ErrorCode::LogMismatch, last_lsn, detail, .. } => {
                tracing::debug!(node = i, prev_lsn = sent.prev_lsn, last_lsn, detail, "log mismatch");
                if sent.generation == self.nodes[i].generation {
                    self.resync(i, sent.prev_lsn, last_lsn, now_ms);
                }
                Outcome::Ok
            }
            Message::Error { code, detail, .. } => Outcome::Drop(format!("{code:?}: {detail}")),
            other => Outcome::Drop(format!("unexpected answer {other:?}")),
        }
    }

    /// Node `i` reported its flushed LSN and the epoch of its record
    /// there. A report about a record this writer's log does not hold at
    /// that LSN (sent before the node replaced it) is ignored.
    pub fn on_flushed(&mut self, i: usize, flushed: Lsn, epoch: Epoch) -> Outcome {
        let ours = flushed < self.held_from
            || self.held.get((flushed - self.held_from) as usize).map(|r| r.epoch) == Some(epoch);
        if !ours {
            return Outcome::Ok;
        }
        let scl = self.nodes[i].scl;
        self.ack(i, self.epoch, scl, flushed)
    }

    fn ack(&mut self, i: usize, epoch: Epoch, scl: Lsn, flushed: Lsn) -> Outcome {
        let flushed = flushed.max(self.nodes[i].flushed);
        self.nodes[i].flushed = flushed;
        if let AckOutcome::Fenced(e) = self.tracker.on_ack(i, epoch, scl, flushed) {
            return Outcome::Fenced(e);
        }
        self.release_durable();
        Outcome::Ok
    }

    /// Drops records that are on disk on four nodes and that every node up
    /// has acknowledged (so no node needs them resent); past half the held
    /// bound, a lagging node no longer holds them back (it fills from peers).
    fn release_durable(&mut self) {
        let durable = self.tracker.fabric_flushed_lsn().min(self.tracker.commit_lsn());
        let lagging = self.nodes.iter().filter(|n| n.up).map(|n| n.scl).min().unwrap_or(durable);
        let upto = if self.held_bytes > self.limits.held_bytes_max / 2 { durable } else { durable.min(lagging) };
        self.release_below(upto);
    }

    /// Starts a new generation for node `i` after a mismatch at `prev_lsn`:
    /// resend from where its log ends, or from the committed base when its
    /// history differs there (log matching replaces it). When even the base
    /// does not match, the node is filling from its peers: wait a little.
    fn resync(&mut self, i: usize, prev_lsn: Lsn, node_last: Lsn, now_ms: u64) {
        let base = self.held_from - 1;
        let n = &mut self.nodes[i];
        n.generation += 1;
        n.sent_to = if node_last < prev_lsn { node_last.max(base) } else { base };
        if prev_lsn <= base {
            n.resend_at_ms = now_ms + self.limits.fill_wait_ms;
        }
    }

    /// True when every node up has answered all its Appends and heard of
    /// the current commit LSN.
    pub fn settled(&self) -> bool {
        let commit = self.tracker.commit_lsn();
        self.nodes.iter().filter(|n| n.up).all(|n| n.inflight.is_empty() && n.told_commit >= commit)
    }

    /// Nodes whose oldest Append has waited longer than the node timeout.
    pub fn overdue(&self, now_ms: u64) -> Vec<usize> {
        let (limit, speed) = (self.limits.node_timeout_ms, self.limits.link_bytes_per_ms_min.max(1));
        let late = |s: &Sent| {
            let allowed = limit.saturating_add(s.bytes as u64 / speed);
            now_ms.saturating_sub(s.at_ms) > allowed
        };
        (0..STORAGE_NODES).filter(|&i| self.nodes[i].inflight.front().is_some_and(late)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sixfold_wire::{RecordKind, decode_run};

    fn recs(from: Lsn, n: u64) -> Vec<Record> {
        (from..from + n)
            .map(|lsn| Record { lsn, epoch: 1, kind: RecordKind::Effects, payload: Bytes::from(vec![b'x'; 100]) })
            .collect()
    }

    fn ack(scl: Lsn) -> Message {
        Message::Ack { epoch: 1, scl, flushed: 0 }
    }

    fn lsns(m: &Message) -> (Lsn, Vec<Lsn>) {
        let Message::Append { prev_lsn, records, .. } = m else { panic!("not an append: {m:?}") };
        (*prev_lsn, decode_run(records).unwrap().iter().map(|r| r.lsn).collect())
    }

    fn all_up() -> Pipeline {
        let limits = Limits { batch_bytes_max: 1000, group_bytes_min: 0, inflight_appends_max: 3, ..Limits::default() };
        let mut p = Pipeline::new(1, CommitMode::Memory, (0, 0), limits);
        (0..STORAGE_NODES).for_each(|i| p.on_connected(i));
        p
    }

    #[test]
    fn small_records_wait_for_the_append_in_flight_and_leave_together() {
        let limits = Limits { batch_bytes_max: 10_000, group_bytes_min: 1_000, ..Limits::default() };
        let mut p = Pipeline::new(1, CommitMode::Memory, (0, 0), limits);
        (0..STORAGE_NODES).for_each(|i| p.on_connected(i));
        p.push(recs(1, 1));
        assert_eq!(lsns(&p.poll_send(0, 0).unwrap()), (0, vec![1]), "an idle node gets a record at once");
        p.push(recs(2, 3));
        assert!(p.poll_send(0, 0).is_none(), "small records wait while an Append is in flight");
        p.on_reply(0, ack(1), 1);
        assert_eq!(lsns(&p.poll_send(0, 1).unwrap()), (1, vec![2, 3, 4]), "at the answer they leave as one");
        p.push(recs(5, 20));
        let next = p.poll_send(0, 1).expect("a group's worth of bytes is pipelined");
        assert_eq!(lsns(&next).1.len(), 20);
        assert!(p.poll_send(0, 1).is_none());
    }

    #[test]
    fn appends_pipeline_up_to_the_window_and_commit_at_four_acks() {
        let mut p = all_up();
        p.push(recs(1, 40));
        let sent: Vec<_> = std::iter::from_fn(|| p.poll_send(0, 0)).collect();
        assert_eq!(sent.len(), 3, "three Appends in flight, no more");
        assert_eq!(lsns(&sent[0]), (0, (1..=7).collect()), "batches are bounded in bytes");
        assert_eq!(lsns(&sent[1]).0, 7, "the next Append continues without waiting");
        for i in 1..4 {
            while p.poll_send(i, 0).is_some() {}
        }
        for i in 0..3 {
            assert_eq!(p.on_reply(i, ack(7), 1), Outcome::Ok);
        }
        assert_eq!(p.commit_lsn(), 0, "three acks do not commit");
        p.on_reply(3, ack(7), 1);
        assert_eq!(p.commit_lsn(), 7);
        assert!(p.poll_send(0, 1).is_some(), "an answer opens the window again");
        // Everything sent and answered: an idle node still learns the commit LSN.
        let mut p = all_up();
        p.push(recs(1, 2));
        for i in 0..STORAGE_NODES {
            p.poll_send(i, 0).unwrap();
            p.on_reply(i, ack(2), 0);
        }
        assert!(!p.settled(), "nodes 1-4 have not heard of the commit");
        let Some(Message::Append { commit_lsn, records, prev_lsn, .. }) = p.poll_send(0, 0) else {
            panic!("no commit-carrying append")
        };
        assert_eq!((commit_lsn, prev_lsn, decode_run(&records).unwrap().len()), (2, 2, 0));
        assert!(p.poll_send(0, 0).is_none(), "told once");
        p.on_reply(0, ack(2), 0);
        for i in 1..4 {
            p.poll_send(i, 0).unwrap();
            p.on_reply(i, ack(2), 0);
        }
        assert!(p.settled());
    }

    /// The lease runs only from records whose commit four nodes
    /// acknowledged learning, counted no further than each Append reached.
    #[test]
    fn the_lease_lsn_is_the_commit_four_nodes_acknowledged_learning() {
        let mut p = all_up();
        p.push(recs(1, 3));
        for i in 0..4 {
            p.poll_send(i, 0).unwrap();
            p.on_reply(i, ack(3), 0);
        }
        assert_eq!((p.commit_lsn(), p.lease_lsn()), (3, 0), "committed, but no node has heard so");
        p.push(recs(4, 4));
        // Nodes 4 and 5 lag: their first Append carries records 1-4 and commit 3.
        for i in 4..6 {
            p.poll_send(i, 0).unwrap();
            p.on_reply(i, ack(4), 0);
        }
        for i in 0..2 {
            p.poll_send(i, 0).unwrap();
            p.on_reply(i, ack(4), 0);
        }
        assert_eq!(p.lease_lsn(), 3, "four nodes acknowledged an Append carrying commit 3");
        assert_eq!(p.commit_lsn(), 4);
        let mut q = all_up();
        q.push(recs(1, 6));
        for i in 0..4 {
            q.poll_send(i, 0).unwrap();
            q.on_reply(i, ack(6), 0);
        }
        q.push(recs(7, 7));
        for i in 0..4 {
            q.poll_send(i, 0).unwrap();
            q.on_reply(i, ack(7), 0);
        }
        assert_eq!(q.lease_lsn(), 6);
        q.on_lost(3);
        assert_eq!(q.lease_lsn(), 0, "a node whose link was lost may have lost what it learned");
    }

    #[test]
    fn a_mismatch_restarts_from_the_nodes_log_end_and_ignores_the_old_generation() {
        let mut p = all_up();
        p.push(recs(1, 20));
        let _ = (p.poll_send(0, 0), p.poll_send(0, 0), p.poll_send(0, 0));
        let mismatch = |last| Message::Error {
            code: ErrorCode::LogMismatch,
            current_epoch: 1,
            last_lsn: last,
            detail: String::new(),
        };
        // The node holds nothing: resend from the base (it is filling).
        p.release_below(0);
        assert_eq!(p.on_reply(0, mismatch(0), 10), Outcome::Ok);
        assert_eq!(p.on_reply(0, mismatch(0), 10), Outcome::Ok, "later failures of the old generation are ignored");
        assert!(p.poll_send(0, 20).is_none(), "waits before resending from the base");
        let next = p.poll_send(0, 10 + Limits::default().fill_wait_ms).unwrap();
        assert_eq!(lsns(&next).0, 0);
        // A node that has 5 of them continues from 6.
        let mut p = all_up();
        p.push(recs(1, 20));
        let first = p.poll_send(1, 0).unwrap();
        let second = p.poll_send(1, 0).unwrap();
        assert_eq!((lsns(&first).0, lsns(&second).0), (0, 7));
        p.on_reply(1, ack(7), 0);
        p.on_reply(1, mismatch(5), 0);
        assert_eq!(lsns(&p.poll_send(1, 0).unwrap()).0, 5);
    }

    #[test]
    fn fencing_timeouts_and_flush_reports() {
        let mut p = Pipeline::new(1, CommitMode::Disk, (0, 0), Limits::default());
        (0..STORAGE_NODES).for_each(|i| p.on_connected(i));
        p.push(recs(1, 5));
        for i in 0..STORAGE_NODES {
            p.poll_send(i, 0);
        }
        for i in 0..4 {
            p.on_reply(i, ack(5), 5);
        }
        assert_eq!(p.commit_lsn(), 0, "disk mode waits for fsync");
        for i in 0..4 {
            p.on_flushed(i, 5, 1);
        }
        assert_eq!(p.commit_lsn(), 5);
        assert_eq!(p.last_lsn(), 5, "released records keep the LSN count");
        assert_eq!(p.overdue(5 + Limits::default().node_timeout_ms + 1), vec![4, 5], "unanswered nodes are overdue");
        p.on_lost(4);
        assert!(p.poll_send(4, 0).is_none(), "no sends to a node that is down");
        let fenced = Message::Error { code: ErrorCode::Fenced, current_epoch: 2, last_lsn: 0, detail: String::new() };
        assert_eq!(p.on_reply(5, fenced, 9), Outcome::Fenced(2));
    }

    #[test]
    fn a_flush_report_that_overtakes_its_ack_still_counts() {
        let mut p = Pipeline::new(1, CommitMode::Disk, (0, 0), Limits::default());
        (0..STORAGE_NODES).for_each(|i| p.on_connected(i));
        p.push(recs(1, 5));
        for i in 0..4 {
            p.poll_send(i, 0);
            p.on_flushed(i, 5, 1);
            p.on_reply(i, Message::Ack { epoch: 1, scl: 5, flushed: 0 }, 0);
        }
        assert_eq!(p.commit_lsn(), 5, "the flush reports came first; the acks complete them");
    }

    /// Hole 2 of the log-protocol issue (Raft's figure 8): a new writer
    /// announces as committed only what it knows committed until a record
    /// of its own epoch commits.
    #[test]
    fn a_new_writer_announces_no_adopted_record_before_its_own_commits() {
        let adopted: Vec<Record> = (2..=3)
            .map(|lsn| Record { lsn, epoch: 1, kind: RecordKind::Effects, payload: Bytes::from_static(b"a") })
            .collect();
        let mut p = Pipeline::after_recovery(2, CommitMode::Memory, (1, 1), adopted, Limits::default());
        (0..STORAGE_NODES).for_each(|i| p.on_connected(i));
        let commit_of = |m: &Message| match m {
            Message::Append { commit_lsn, .. } => *commit_lsn,
            _ => panic!("not an append"),
        };
        for i in 0..4 {
            let m = p.poll_send(i, 0).unwrap();
            assert_eq!(lsns(&m), (1, vec![2, 3]), "the adopted suffix is sent again");
            assert_eq!(commit_of(&m), 1, "only the known commit is announced");
            assert_eq!(p.on_reply(i, Message::Ack { epoch: 2, scl: 3, flushed: 0 }, 0), Outcome::Ok);
        }
        assert_eq!(p.commit_lsn(), 1, "four acks of the adopted records alone commit nothing");
        p.push(vec![Record { lsn: 4, epoch: 2, kind: RecordKind::LeaderChange, payload: Bytes::new() }]);
        for i in 0..4 {
            let m = p.poll_send(i, 0).unwrap();
            assert_eq!(commit_of(&m), 1);
            p.on_reply(i, Message::Ack { epoch: 2, scl: 4, flushed: 0 }, 0);
        }
        assert_eq!(p.commit_lsn(), 4, "the writer's own record commits everything before it");
    }

    /// Hole 6: a flush report about a record the node has since replaced
    /// (it was sent before the truncation) does not count.
    #[test]
    fn a_flush_report_of_a_replaced_record_does_not_count() {
        let mut p = Pipeline::new(2, CommitMode::Disk, (0, 0), Limits::default());
        (0..STORAGE_NODES).for_each(|i| p.on_connected(i));
        let two: Vec<Record> =
            (1..=5).map(|lsn| Record { lsn, epoch: 2, kind: RecordKind::Effects, payload: Bytes::new() }).collect();
        p.push(two);
        for i in 0..4 {
            p.poll_send(i, 0);
            p.on_flushed(i, 5, 1);
            p.on_reply(i, Message::Ack { epoch: 2, scl: 5, flushed: 0 }, 0);
        }
        assert_eq!(p.commit_lsn(), 0, "the reports were about epoch 1's records 1-5");
        for i in 0..4 {
            p.on_flushed(i, 5, 2);
        }
        assert_eq!(p.commit_lsn(), 5);
    }

    #[test]
    fn held_records_are_bounded() {
        let limits = Limits { held_bytes_max: 1000, ..Limits::default() };
        let mut p = Pipeline::new(1, CommitMode::Memory, (0, 0), limits);
        p.push(recs(1, 5));
        assert!(p.accepts());
        p.push(recs(6, 5));
        assert!(!p.accepts(), "over the bound the pipeline refuses records");
        p.release_below(10);
        assert!(p.accepts());
    }
}
