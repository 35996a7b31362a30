//! The replica's read path (DESIGN §5, the Aurora read path): one loop
//! that drives the pure [`Staging`] state machine with what the storage
//! nodes hold ([`crate::puller`], long-polled reads as a `Peer`, above the
//! commit LSN too) and with the writer's commit notifications
//! ([`crate::notify`]), and applies each chain the moment a notification
//! (or a node's own commit LSN, with the epoch of its record there) proves
//! it committed. Nothing staged is visible to clients before that; applied
//! records are retained until the writer's flush confirmation covers them.
//!
//! A storage node's commit LSN is a notification too: the writer tells a
//! node a commit LSN only in an Append that brought it the records up to
//! there, so the node's record at that LSN is the committed one.

use crate::notify::Notice;
use crate::puller::{LONG_POLL_MS, ReadAnswer, ReadAsk};
use crate::retention::RetainedAsk;
use crate::role::{ReplicaStats, follow_leader_changes, serve_when_caught_up};
use crate::source::Staleness;
use crate::staging::{StageError, Staging};
use sixfold_fabric::{ReadError, Records};
use sixfold_node::Shared;
use sixfold_wire::{Epoch, Lsn, Record};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// A storage node whose commit LSN stays below the writer's this long is
/// left for the next one.
const STALE_NODE_MS: u64 = 3_000;
/// Notifications remembered for the lag clock (past it, the newest are
/// not noted: the lag still counts from the oldest not applied).
const LAG_NOTICES_MAX: usize = 4096;
/// Pause before reading again when the staging area is full and the last
/// read proved nothing new (the node lacks what the notifications name).
const FULL_RETRY_MS: u64 = 5;
/// Pause before trying again when no snapshot could be restored past the
/// nodes' truncation point.
const RESTORE_RETRY_MS: u64 = 1_000;

/// The channels the replicator drives.
pub struct Links {
    /// Reads to make.
    pub asks: mpsc::Sender<ReadAsk>,
    /// Their answers, in order.
    pub answers: mpsc::Receiver<ReadAnswer>,
    /// The writer's newest commit notification.
    pub notices: watch::Receiver<Notice>,
    /// The LSN applied, for the upstream link's `REPLCONF ACK`.
    pub acked: watch::Sender<Lsn>,
    /// Storage nodes' reads of retained records ([`crate::retention`]).
    pub retained: mpsc::Receiver<RetainedAsk>,
}

/// The read path's state.
pub struct Replicator {
    core: Shared,
    stats: Arc<ReplicaStats>,
    staging: Staging,
    links: Links,
    /// A read is out.
    asked: bool,
    /// Leave the current node with the next read.
    leave: bool,
    staleness: Staleness,
    started: Instant,
    /// Notified commit LSNs not yet applied, and when each was heard.
    notified: VecDeque<(Lsn, Instant)>,
    /// Where snapshots are, to restore from when the storage nodes
    /// truncated past what this replica applied.
    snapshot_store: Option<String>,
    /// A node answered that its log starts after this LSN, past what this
    /// replica applied.
    behind_base: Option<Lsn>,
}

impl Replicator {
    /// A read path whose last applied record is `staging.applied()`.
    pub fn new(
        core: Shared,
        stats: Arc<ReplicaStats>,
        (staging, snapshot_store): (Staging, Option<String>),
        links: Links,
    ) -> Replicator {
        let (lsn, epoch) = staging.applied();
        stats.applied_lsn.store(lsn, Relaxed);
        stats.applied_epoch.store(epoch, Relaxed);
        let started = Instant::now();
        let notified = VecDeque::new();
        let staleness = Staleness::default();
        Replicator {
            core,
            stats,
            staging,
            links,
            asked: false,
            leave: false,
            staleness,
            started,
            notified,
            snapshot_store,
            behind_base: None,
        }
    }

    /// Runs until the puller goes away (the role's tasks were stopped).
    pub async fn run(mut self) {
        let mut throttle = false;
        loop {
            if !self.asked && self.staging.should_read() {
                if throttle {
                    tokio::time::sleep(Duration::from_millis(FULL_RETRY_MS)).await;
                }
                let wait_ms = if self.staging.wants_more() { LONG_POLL_MS } else { 0 };
                let ask = ReadAsk { from: self.staging.read_from(), wait_ms, leave: std::mem::take(&mut self.leave) };
                if self.links.asks.send(ask).await.is_err() {
                    return;
                }
                self.asked = true;
            }
            let before = self.progress();
            let staged_to = self.staging.staged_to();
            tokio::select! {
                answer = self.links.answers.recv() => {
                    let Some(answer) = answer else { return };
                    self.asked = false;
                    self.on_answer(answer);
                    if let Some(base) = self.behind_base.take() {
                        self.restore(base).await;
                    }
                }
                changed = self.links.notices.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let n = *self.links.notices.borrow_and_update();
                    self.on_notice(n);
                }
                Some(ask) = self.links.retained.recv() => self.answer_retained(ask),
            }
            self.apply_ready();
            // Only a drop moves the staged LSN back (to the applied one).
            let dropped = staged_to.saturating_sub(self.staging.staged_to());
            if dropped > 0 {
                tracing::info!(dropped, "dropped staged records another epoch replaced");
                self.stats.staged_discarded.fetch_add(dropped, Relaxed);
            }
            throttle = !self.staging.wants_more() && self.progress() == before;
        }
    }

    /// What the read path has: staged, seen, applied.
    fn progress(&self) -> (Lsn, Lsn, (Lsn, Epoch)) {
        (self.staging.staged_to(), self.staging.commit().0, self.staging.applied())
    }

    /// Retained records from `ask.from` on, contiguous, within its bytes.
    fn answer_retained(&self, ask: RetainedAsk) {
        let mut bytes = 0;
        let records: Vec<Record> = self
            .staging
            .retained_from(ask.from)
            .zip(ask.from..)
            .take_while(|(r, lsn)| {
                bytes += r.encoded_len();
                r.lsn == *lsn && (bytes <= ask.max_bytes || *lsn == ask.from)
            })
            .map(|(r, _)| r.clone())
            .collect();
        let _ = ask.reply.send((records, self.staging.applied().0));
    }

    fn on_notice(&mut self, n: Notice) {
        self.staging.on_commit(n.commit, n.epoch);
        self.staging.on_flushed(n.flushed);
        self.stats.commit_lsn.fetch_max(n.commit, Relaxed);
        if self.notified.back().is_none_or(|&(l, _)| n.commit > l) && self.notified.len() < LAG_NOTICES_MAX {
            self.notified.push_back((n.commit, Instant::now()));
        }
    }

    fn on_answer(&mut self, answer: ReadAnswer) {
        let Records { records, commit_lsn, .. } = match answer {
            Ok(r) => r,
            Err(ReadError::Truncated { base_lsn, .. }) if base_lsn >= self.staging.read_from() => {
                self.behind_base = Some(base_lsn);
                return;
            }
            Err(_) => return,
        };
        let now_ms = self.started.elapsed().as_millis() as u64;
        let writer_commit = self.stats.writer_commit.load(Relaxed);
        if self.staleness.observe(commit_lsn, writer_commit, now_ms, STALE_NODE_MS) {
            self.leave = true;
            self.staleness = Staleness::default();
        }
        let node_commit = committed_in(&records, commit_lsn);
        match self.staging.on_read(records) {
            Ok(()) | Err(StageError::WrongStart { .. }) => {}
            Err(e) => {
                tracing::info!(error = %e, "the storage node's log is not this replica's: reading another");
                self.leave = true;
            }
        }
        if let Some((lsn, epoch)) = node_commit {
            self.staging.on_commit(lsn, epoch);
            self.stats.commit_lsn.fetch_max(lsn, Relaxed);
        }
    }

    /// The storage nodes dropped records this replica still needs (below a
    /// snapshot, R14): restore the newest snapshot, in place, and read the
    /// log on from there. Without a store, or while no snapshot is past
    /// what was applied, it keeps trying the nodes (one may still hold
    /// the records) and says why it does not progress.
    async fn restore(&mut self, base: Lsn) {
        let applied = self.staging.applied();
        let Some(url) = self.snapshot_store.clone() else {
            tracing::error!(
                base,
                applied = applied.0,
                "the log was truncated past this replica and no --snapshot-store is set: it cannot catch up"
            );
            return;
        };
        tracing::warn!(
            base,
            applied = applied.0,
            "the log was truncated past this replica: restoring the newest snapshot"
        );
        let Some(at) = crate::restore::restore_newest(&self.core, &url, &self.stats, applied.0).await else {
            tokio::time::sleep(Duration::from_millis(RESTORE_RETRY_MS)).await;
            return;
        };
        let (staged_max, retained_max) =
            (self.stats.staged_bytes_max.load(Relaxed), self.stats.retained_bytes_max.load(Relaxed));
        self.staging = Staging::new(at, staged_max as usize, retained_max as usize);
        self.stats.restored_snapshots.fetch_add(1, Relaxed);
        self.publish();
    }

    /// Applies what the staging area proves committed, under the core lock
    /// (reads on this node see it at once, in log order); stops the process
    /// if a record does not apply (the replica would no longer be the log's).
    fn apply_ready(&mut self) {
        let ready = self.staging.take_ready();
        if let Some(last) = ready.last() {
            if let Err(e) = self.core.lock().apply_records(&ready) {
                tracing::error!(error = %e, "stopping: a committed record does not apply");
                std::process::exit(4);
            }
            self.stats.applied_lsn.store(last.lsn, Relaxed);
            self.stats.applied_epoch.store(last.epoch, Relaxed);
            follow_leader_changes(&self.core, &self.stats, &ready);
            serve_when_caught_up(&self.core, &self.stats);
            self.links.acked.send_if_modified(|a| std::mem::replace(a, last.lsn) != last.lsn);
        }
        self.publish();
    }

    /// INFO and metrics: staging, retention, and the lag in LSNs and
    /// milliseconds from the notifications.
    fn publish(&mut self) {
        let (applied, _) = self.staging.applied();
        while self.notified.front().is_some_and(|&(l, _)| l <= applied) {
            self.notified.pop_front();
        }
        let lag_ms = self.notified.front().map_or(0, |(_, at)| at.elapsed().as_millis() as u64);
        let s = &self.stats;
        s.lag_ms.store(lag_ms, Relaxed);
        s.staged_to.store(self.staging.staged_to(), Relaxed);
        s.staged_bytes.store(self.staging.staged_bytes() as u64, Relaxed);
        s.staged_bytes_peak.fetch_max(self.staging.staged_bytes() as u64, Relaxed);
        s.retained_bytes.store(self.staging.retained_bytes() as u64, Relaxed);
        s.retained_bytes_peak.fetch_max(self.staging.retained_bytes() as u64, Relaxed);
        crate::metrics::publish(applied, s.commit_lsn.load(Relaxed), s);
    }
}

/// The commit a node's answer proves: its commit LSN, or the last record
/// it sent when that is lower, with the epoch of the record there (`None`
/// when the commit LSN is below the records sent).
pub fn committed_in(records: &[Record], node_commit: Lsn) -> Option<(Lsn, Epoch)> {
    let first = records.first()?.lsn;
    let lsn = node_commit.min(records.last()?.lsn);
    let i = usize::try_from(lsn.checked_sub(first)?).ok()?;
    records.get(i).map(|r| (lsn, r.epoch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sixfold_wire::RecordKind;

    #[test]
    fn a_nodes_commit_lsn_counts_within_what_it_sent() {
        let recs: Vec<Record> = (5..=8)
            .map(|lsn| Record {
                lsn,
                epoch: if lsn < 7 { 1 } else { 2 },
                kind: RecordKind::Effects,
                payload: Default::default(),
            })
            .collect();
        assert_eq!(committed_in(&recs, 6), Some((6, 1)));
        assert_eq!(committed_in(&recs, 7), Some((7, 2)));
        assert_eq!(committed_in(&recs, 100), Some((8, 2)), "everything sent is at or below its commit");
        assert_eq!(committed_in(&recs, 4), None, "committed below what was sent");
        assert_eq!(committed_in(&[], 9), None);
    }
}
