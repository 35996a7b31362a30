//! The durable write path (DESIGN §3), behind `--durability fabric`: every
//! effect group becomes an `Effects` log record with the next LSN, records
//! go to the six storage nodes through the fabric `Appender`, and a reply
//! leaves only once the records it depends on are committed (four of six).
//!
//! No dirty reads: the log remembers, per key, the LSN of its last
//! uncommitted write; a command that names such a key waits for that LSN;
//! commands whose keys cannot be known from their arguments wait for every
//! write logged before them.

use bytes::Bytes;
use sixfold_engine::{Effect, encode_group};
use sixfold_node::{Journal, Progress};
use sixfold_wire::RECORD_PAYLOAD_BYTES_MAX;
use sixfold_wire::{Epoch, Lsn, Record, RecordKind};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{Notify, watch};

/// Record bytes queued for the fabric before clients stop being read.
pub const QUEUE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Figures of the durable log, shared with `INFO persistence`.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Last LSN assigned.
    pub last_lsn: AtomicU64,
    /// Commit LSN.
    pub commit_lsn: AtomicU64,
    /// LSN on disk on four storage nodes.
    pub flushed_lsn: AtomicU64,
    /// Record bytes waiting for the fabric.
    pub queued_bytes: AtomicU64,
    /// Record bytes sent to the fabric and not yet on disk on four nodes.
    pub inflight_bytes: AtomicU64,
    /// Each storage node's acknowledged SCL.
    pub node_scl: [AtomicU64; 6],
}

impl LogStats {
    /// Fields of INFO section `section` (`persistence`, `replication`).
    pub fn info(&self, section: &str) -> Vec<(String, String)> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (last, commit, flushed) = (get(&self.last_lsn), get(&self.commit_lsn), get(&self.flushed_lsn));
        let fields: Vec<(&str, u64)> = match section {
            "persistence" => vec![
                ("log_last_lsn", last),
                ("log_commit_lsn", commit),
                ("log_fabric_flushed_lsn", flushed),
                ("log_inflight_lsns", last.saturating_sub(commit)),
                ("log_inflight_bytes", get(&self.inflight_bytes)),
                ("log_queued_bytes", get(&self.queued_bytes)),
            ],
            "replication" => vec![
                ("master_repl_offset", commit),
                ("commit_lsn", commit),
                ("fabric_flushed_lsn", flushed),
                ("storage_nodes", self.node_scl.len() as u64),
            ],
            _ => return Vec::new(),
        };
        let mut v: Vec<(String, String)> = fields.into_iter().map(|(k, n)| (k.to_string(), n.to_string())).collect();
        for (i, scl) in self.node_scl.iter().enumerate() {
            let (acked, lag) = (get(scl), last.saturating_sub(get(scl)));
            v.push(match section {
                "persistence" => (format!("storage_node_{}_ack_lag", i + 1), lag.to_string()),
                _ => (format!("storage_node_{}", i + 1), format!("acked_lsn={acked},lag={lag}")),
            });
        }
        v
    }
}

/// The writer's durable log: records queued for the fabric, the last
/// uncommitted write per key, progress and figures. The core logs effect
/// groups to it ([`Journal`]); the fabric task takes its queue and notes
/// commits, behind its lock only.
pub struct Log {
    epoch: Epoch,
    next_lsn: Lsn,
    queue: VecDeque<Record>,
    queue_bytes: usize,
    /// Last uncommitted write per key.
    pending: HashMap<Bytes, Lsn>,
    /// Last write whose keys are unknown: everything waits for it.
    barrier: Lsn,
    /// Last `Effects` record (0: none).
    last_effects: Lsn,
    /// The commit and flushed LSNs, published by the fabric task.
    pub progress: watch::Receiver<Progress>,
    /// Wakes the fabric task.
    pub wake: Arc<Notify>,
    /// The writer's lease, renewed by the fabric task.
    pub lease: Arc<crate::lease::Lease>,
    /// Figures for INFO.
    pub stats: Arc<LogStats>,
    /// Set while more than [`QUEUE_BYTES_MAX`] record bytes wait for the
    /// fabric: connections stop reading their clients.
    pub backlog_full: Arc<AtomicBool>,
}

impl Log {
    /// A log in `epoch` whose next record is `next_lsn`, serving under `lease`.
    pub fn new(
        epoch: Epoch,
        next_lsn: Lsn,
        progress: watch::Receiver<Progress>,
        lease: Arc<crate::lease::Lease>,
    ) -> Log {
        let stats = LogStats::default();
        stats.last_lsn.store(next_lsn - 1, Ordering::Relaxed);
        stats.commit_lsn.store(progress.borrow().commit, Ordering::Relaxed);
        Log {
            epoch,
            next_lsn,
            queue: VecDeque::new(),
            queue_bytes: 0,
            pending: HashMap::new(),
            barrier: 0,
            last_effects: 0,
            progress,
            wake: Arc::new(Notify::new()),
            lease,
            stats: Arc::new(stats),
            backlog_full: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Logs a `LeaseRenewal` (the writer logged nothing for a while).
    pub fn log_renewal(&mut self) {
        self.enqueue(RecordKind::LeaseRenewal, Bytes::new());
        self.stats.last_lsn.store(self.last_lsn(), Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Queues a record of `kind` with the next LSN; returns that LSN.
    fn enqueue(&mut self, kind: RecordKind, payload: Bytes) -> Lsn {
        let r = Record { lsn: self.next_lsn, epoch: self.epoch, kind, payload };
        self.queue_bytes += r.encoded_len();
        self.queue.push_back(r);
        self.next_lsn += 1;
        self.last_lsn()
    }

    /// Records waiting for the fabric, in LSN order.
    pub fn take_queue(&mut self) -> Vec<Record> {
        self.queue_bytes = 0;
        self.stats.queued_bytes.store(0, Ordering::Relaxed);
        self.backlog_full.store(false, Ordering::Relaxed);
        self.queue.drain(..).collect()
    }

    /// Forgets writes at or below `commit`.
    pub fn on_commit(&mut self, commit: Lsn) {
        self.pending.retain(|_, lsn| *lsn > commit);
    }
}

impl Journal for Log {
    fn epoch(&self) -> Epoch {
        self.epoch
    }

    fn lease_holds(&self) -> bool {
        self.lease.holds()
    }

    /// The LSN a command naming `keys` must wait for before its reply.
    fn wait_for(&self, keys: Option<&[Bytes]>) -> Lsn {
        match keys {
            None => self.last_lsn(),
            Some(keys) => keys.iter().filter_map(|k| self.pending.get(k)).copied().max().unwrap_or(0).max(self.barrier),
        }
    }

    /// Logs effect groups as records and remembers the keys their effects
    /// write (an effect without key positions, such as FLUSHALL, is a
    /// barrier). Returns the last LSN assigned (0 if nothing was logged).
    fn log_groups(&mut self, groups: Vec<Vec<Effect>>) -> Lsn {
        let mut last = 0;
        for g in groups {
            for e in &g {
                match sixfold_engine::cmd::command_keys(&e.args) {
                    Some(keys) => keys.into_iter().for_each(|k| {
                        self.pending.insert(k, self.next_lsn);
                    }),
                    None => self.barrier = self.next_lsn,
                }
            }
            let payload = Bytes::from(encode_group(&g));
            if payload.len() > RECORD_PAYLOAD_BYTES_MAX {
                // The engine already holds a change the log cannot carry:
                // stop before anyone reads it (no reply was sent; a new
                // writer recovers the log without it).
                tracing::error!(bytes = payload.len(), "an effect group is over the record limit; stopping");
                std::process::exit(4);
            }
            last = self.enqueue(RecordKind::Effects, payload);
        }
        if last > 0 {
            self.last_effects = last;
            self.stats.last_lsn.store(last, Ordering::Relaxed);
            self.stats.queued_bytes.store(self.queue_bytes as u64, Ordering::Relaxed);
            self.backlog_full.store(self.queue_bytes > QUEUE_BYTES_MAX, Ordering::Relaxed);
            self.wake.notify_one();
        }
        last
    }

    fn log_marker(&mut self, payload: &[u8]) -> Lsn {
        let lsn = self.enqueue(RecordKind::SnapshotMarker, Bytes::copy_from_slice(payload));
        self.stats.last_lsn.store(lsn, Ordering::Relaxed);
        self.stats.queued_bytes.store(self.queue_bytes as u64, Ordering::Relaxed);
        self.wake.notify_one();
        lsn
    }

    fn refusal(&self, args: &[Bytes]) -> Option<String> {
        too_large(args).then(|| too_large_error(args))
    }

    /// The last LSN assigned.
    fn last_lsn(&self) -> Lsn {
        self.next_lsn - 1
    }

    fn last_effects_lsn(&self) -> Lsn {
        self.last_effects
    }

    fn commit_lsn(&self) -> Lsn {
        self.progress.borrow().commit
    }

    fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Largest request the durable writer runs: its effects must fit one log
/// record ([`RECORD_PAYLOAD_BYTES_MAX`]), and a command's effects may be
/// about as large as its arguments, so half the record limit.
pub const REQUEST_BYTES_DURABLE_MAX: usize = RECORD_PAYLOAD_BYTES_MAX / 2;

/// Whether a request is refused before it runs (hole 4 of the
/// log-protocol issue: a record over the frame limit wedged the log).
pub fn too_large(args: &[Bytes]) -> bool {
    args.iter().map(Bytes::len).sum::<usize>() > REQUEST_BYTES_DURABLE_MAX
}

/// The error a refused request gets.
pub fn too_large_error(args: &[Bytes]) -> String {
    let n: usize = args.iter().map(Bytes::len).sum();
    format!("ERR command of {n} bytes is over the durable log's limit of {REQUEST_BYTES_DURABLE_MAX} bytes per command")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(k: &str) -> Vec<Vec<Effect>> {
        vec![vec![Effect::new(0, vec![Bytes::from("SET"), Bytes::from(k.to_string()), Bytes::from("v")])]]
    }

    #[test]
    fn reads_wait_only_for_their_keys() {
        let (_tx, rx) = watch::channel(Progress::default());
        let mut log =
            Log::new(1, 1, rx, Arc::new(crate::lease::Lease::new(Default::default(), std::time::Instant::now(), true)));
        let a = [Bytes::from("a")];
        let b = [Bytes::from("b")];
        assert_eq!(log.log_groups(group("a")), 1);
        assert_eq!(log.wait_for(Some(&a)), 1, "a read of a dirty key waits");
        assert_eq!(log.wait_for(Some(&b)), 0, "a clean key answers at once");
        assert_eq!(log.wait_for(None), 1, "unknown keys wait for everything");
        log.on_commit(1);
        assert_eq!(log.wait_for(Some(&a)), 0);
        let flush = vec![vec![Effect::new(0, vec![Bytes::from("FLUSHALL")])]];
        assert_eq!(log.log_groups(flush), 2);
        assert_eq!(log.wait_for(Some(&b)), 2, "a write with unknown keys is a barrier");
        assert_eq!(log.take_queue().iter().map(|r| r.lsn).collect::<Vec<_>>(), vec![1, 2]);
    }
}
