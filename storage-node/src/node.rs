//! A running storage node: the log state, the segment store and the
//! promise file, and the operations the network layer calls. Disk work runs
//! in `block_in_place`/blocking tasks; after an fsync or other disk error on
//! the durable path the process stops rather than continue.

use crate::log::{LogState, Refusal};
use crate::metrics as m;
use crate::promise::PromiseFile;
use crate::segments::SegmentStore;
use sixfold_wire::Memory;
use sixfold_wire::{Epoch, ErrorCode, Lsn, Message, NodeId, Record, decode_run, encode_run};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

/// Settings of one storage node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id.
    pub node_id: NodeId,
    /// Its zone (a, b, c).
    pub zone: String,
    /// QUIC listen address.
    pub listen: SocketAddr,
    /// Where segments and the promise live.
    pub data_dir: PathBuf,
    /// The other storage nodes of the shard (hole filling).
    pub peers: Vec<SocketAddr>,
    /// Replicas serving their retained records (`--fabric-listen`): read
    /// first when filling a hole, since they hold committed records only.
    pub replicas: Vec<SocketAddr>,
    /// Fault injection (a slow disk): each flush waits this long first.
    pub fault_flush_delay_ms: u64,
    /// Size at which a segment file is sealed and a new one started.
    pub segment_bytes_max: u64,
    /// Bound of the in-memory hot tail; past it the node stops reading
    /// appends until the flusher catches up.
    pub hot_tail_bytes_max: usize,
    /// Flushed records kept in memory for fast reads.
    pub hot_tail_keep_bytes: usize,
    /// Most record bytes in one Read answer.
    pub read_bytes_max: usize,
    /// Records kept below the newest committed snapshot marker's LSN when
    /// the log is truncated (a replica that far behind still reads the
    /// log instead of restoring a snapshot).
    pub truncate_margin_records: Lsn,
    /// Write segments through io-uring when the kernel allows it.
    pub io_uring: bool,
    /// Group fsync window: flushes start at most this often (0: at once),
    /// unless a caller waits for the disk ([`Node::flush_soon`]).
    pub flush_interval_us: u64,
    /// An empty data directory belongs to a node of a new cluster (it has
    /// acknowledged nothing). Without it, an empty directory is a wiped
    /// node's: it may have lost acknowledged records (`docs/protocol.md`).
    pub new_cluster: bool,
}

/// The node's shared state.
pub struct Node {
    /// Settings.
    pub cfg: NodeConfig,
    log: Mutex<LogState>,
    store: Mutex<SegmentStore>,
    promise: PromiseFile,
    /// Wakes the flusher.
    pub flush_wanted: Notify,
    /// Ends the flusher's group fsync window early.
    flush_urgent: Notify,
    /// Wakes appenders waiting for hot-tail space.
    pub space: Notify,
    /// The flushed LSN, for subscribers.
    pub flushed: watch::Sender<(Lsn, Epoch)>,
    /// What the log holds: (last LSN, commit LSN, generation), for reads
    /// that wait for news ([`Node::wait_for_news`]).
    news: watch::Sender<(Lsn, Lsn, u64)>,
    /// A hole-filling pass is running.
    pub filling: AtomicBool,
    /// The log's generation, mirrored for the flusher (set before the
    /// segment store is truncated, read under the store's lock).
    generation: AtomicU64,
}

/// What a node in memory state `m` is after a crash: what it held only in
/// memory is gone.
fn after_crash(m: Memory) -> Memory {
    match m {
        Memory::Intact | Memory::Restarted => Memory::Restarted,
        Memory::Wiped => Memory::Wiped,
    }
}

/// Stops the process after a failure on the durable path.
pub fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    tracing::error!(error = %e, "{what}; stopping: a storage node does not continue after a disk error");
    std::process::exit(1);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(_) => fatal("a thread panicked holding node state", "poisoned lock"),
    }
}

fn error(r: Refusal, last_lsn: Lsn) -> Message {
    Message::Error { code: r.code, current_epoch: r.current_epoch, last_lsn, detail: r.detail }
}

impl Node {
    /// Opens the data directory: loads the promise, recovers the segments
    /// (verifying every CRC and cutting a torn or corrupt tail).
    pub fn open(cfg: NodeConfig) -> std::io::Result<Arc<Node>> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let promise = PromiseFile::new(&cfg.data_dir);
        // The file holds what this node would be after a crash, except
        // after a clean shutdown (intact); a directory without it lost
        // everything, unless it is a new cluster's.
        let (promised, memory) = match promise.load()? {
            Some(stored) => stored,
            None if cfg.new_cluster => (0, Memory::Intact),
            None => (0, Memory::Wiped),
        };
        promise.store(promised, after_crash(memory))?;
        // Records gone from a sealed segment were on disk: this node lost
        // part of its disk, as if wiped. Recorded before the cut is made.
        let mut lost_disk = |_: &std::path::Path| promise.store(promised, Memory::Wiped);
        let dir = cfg.data_dir.join("segments");
        let (store, rec) = SegmentStore::open_with(&dir, cfg.segment_bytes_max, cfg.io_uring, &mut lost_disk)?;
        tracing::info!(io = store.io_kind(), "segment writes");
        if let Some(cut) = &rec.cut {
            tracing::warn!(%cut, sealed = rec.sealed_lost, "recovery cut the log; the lost part will be filled from peers");
        }
        let memory = if rec.sealed_lost { Memory::Wiped } else { memory };
        let marks = rec.marks.len();
        let log = LogState::recovered(promised, rec.base, rec.epochs, memory).with_recovered(rec.base_epoch, rec.marks);
        tracing::info!(promised, base = log.base(), last_lsn = log.last_lsn(), marks, ?memory, "recovered the log");
        metrics::gauge!(m::BASE_LSN).set(log.base() as f64);
        let (flushed, _) = watch::channel(log.flushed_mark());
        let (news, _) = watch::channel((log.last_lsn(), log.commit(), log.generation()));
        Ok(Arc::new(Node {
            cfg,
            log: Mutex::new(log),
            store: Mutex::new(store),
            promise,
            flush_wanted: Notify::new(),
            flush_urgent: Notify::new(),
            space: Notify::new(),
            flushed,
            news,
            filling: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }))
    }

    /// True while the hot tail is over its bound.
    pub fn tail_full(&self) -> bool {
        lock(&self.log).tail_bytes() > self.cfg.hot_tail_bytes_max
    }

    /// The node's last LSN.
    pub fn last_lsn(&self) -> Lsn {
        lock(&self.log).last_lsn()
    }

    /// Handles an Append from writer `from` (the caller then tells reads
    /// waiting for news: [`Node::publish_news`]).
    pub fn append(
        &self,
        from: NodeId,
        epoch: Epoch,
        prev_lsn: Lsn,
        prev_epoch: Epoch,
        commit: Lsn,
        records: &[u8],
    ) -> Message {
        let records = match decode_run(records) {
            Ok(r) => r,
            Err(e) => {
                let r = Refusal { code: ErrorCode::BadRequest, current_epoch: 0, detail: e.to_string() };
                return error(r, self.last_lsn());
            }
        };
        let (count, bytes) = (records.len() as u64, records.iter().map(|r| r.payload.len() as u64).sum::<u64>());
        let mut log = lock(&self.log);
        let result = log.append(from, epoch, prev_lsn, prev_epoch, commit, records);
        let (last, flushed) = (log.last_lsn(), log.flushed());
        metrics::gauge!(m::SCL).set(last as f64);
        metrics::gauge!(m::COMMIT_LSN).set(log.commit() as f64);
        metrics::gauge!(m::HOT_TAIL_BYTES).set(log.tail_bytes() as f64);
        match result {
            Ok(acc) => {
                metrics::counter!(m::APPENDS).increment(count);
                metrics::counter!(m::APPEND_REQUESTS).increment(1);
                metrics::counter!(m::APPEND_BYTES).increment(bytes);
                if let Some(from) = acc.truncated_from {
                    self.truncate_store(log.generation(), from - 1);
                }
                if acc.promise_raised || acc.healed {
                    if acc.healed {
                        tracing::info!(commit = log.commit(), "caught up with the writer: memory intact again");
                    }
                    tokio::task::block_in_place(|| self.promise.store(epoch, after_crash(log.memory())))
                        .unwrap_or_else(|e| fatal("storing the promise", e));
                }
                drop(log);
                self.flush_wanted.notify_one();
                Message::Ack { epoch, scl: acc.scl, flushed }
            }
            Err(r) => {
                if r.code == ErrorCode::Fenced {
                    metrics::counter!(m::FENCED).increment(1);
                }
                if r.code == ErrorCode::LogMismatch
                    && let Some(lsn) = log.drop_divergent(epoch, prev_lsn, prev_epoch)
                {
                    tracing::info!(
                        lsn,
                        "the writer's log differs from this node's here: dropped this node's records above"
                    );
                    self.truncate_store(log.generation(), lsn);
                    return error(r, log.last_lsn());
                }
                error(r, last)
            }
        }
    }

    /// Tells reads waiting for news what the log holds now (after an
    /// Append, whichever way it went: it may have cut the log back).
    pub fn publish_news(&self) {
        self.publish(&lock(&self.log));
    }

    fn publish(&self, log: &LogState) {
        let now = (log.last_lsn(), log.commit(), log.generation());
        self.news.send_if_modified(|v| std::mem::replace(v, now) != now);
    }

    /// Returns once the node holds a record past `from`, or its log or
    /// commit LSN changed, or `wait_ms` passed (at most
    /// [`sixfold_wire::message::READ_WAIT_MS_MAX`]).
    pub async fn wait_for_news(&self, from: Lsn, wait_ms: u32) {
        let mut rx = self.news.subscribe();
        if rx.borrow_and_update().0 > from {
            return;
        }
        let wait = std::time::Duration::from_millis(u64::from(wait_ms.min(sixfold_wire::message::READ_WAIT_MS_MAX)));
        let _ = tokio::time::timeout(wait, rx.changed()).await;
    }

    /// Drops segment records above `lsn` after the log replaced them in
    /// `generation` (the flusher then skips any write it took before).
    fn truncate_store(&self, generation: u64, lsn: Lsn) {
        self.generation.store(generation, Ordering::Release);
        let truncated = tokio::task::block_in_place(|| lock(&self.store).truncate_after(lsn));
        truncated.unwrap_or_else(|e| fatal("truncating segments", e));
    }

    /// Answers with an Ack once records up to `lsn` (or the node's whole
    /// log, if shorter) are on disk.
    pub async fn wait_flushed(&self, lsn: Lsn) -> Message {
        let target = lsn.min(self.last_lsn());
        let mut rx = self.flushed.subscribe();
        self.flush_soon();
        let _ = rx.wait_for(|f| f.0 >= target).await;
        let log = lock(&self.log);
        Message::Ack { epoch: log.promised(), scl: log.last_lsn(), flushed: log.flushed() }
    }

    /// Handles a Prepare from writer `from`: promise, persist, answer.
    pub fn prepare(&self, epoch: Epoch, from: NodeId) -> Message {
        let mut log = lock(&self.log);
        match log.prepare(epoch, from) {
            Ok((last_epoch, last_lsn)) => {
                tokio::task::block_in_place(|| self.promise.store(epoch, after_crash(log.memory())))
                    .unwrap_or_else(|e| fatal("storing the promise", e));
                let (commit_lsn, memory) = (log.commit(), log.memory());
                Message::Promise { epoch, last_epoch, last_lsn, commit_lsn, memory }
            }
            Err(r) => error(r, log.last_lsn()),
        }
    }

    /// Handles a Read: committed records (all held records for a peer).
    pub fn read(&self, from: Lsn, max_bytes: u32, peer: bool) -> Message {
        let max = (max_bytes as usize).min(self.cfg.read_bytes_max);
        let log = lock(&self.log);
        let commit = log.commit();
        let upto = if peer { log.last_lsn() } else { commit };
        if from <= log.base() {
            return Message::Truncated { base_lsn: log.base(), base_epoch: log.base_mark().1 };
        }
        if from > upto {
            return Message::Records { records: Vec::new(), commit_lsn: commit };
        }
        if let Some(recs) = log.read_tail(from, upto, max) {
            return Message::Records { records: encode_run(&recs), commit_lsn: commit };
        }
        drop(log);
        let recs = tokio::task::block_in_place(|| lock(&self.store).read(from, upto, max));
        match recs {
            Ok(recs) if recs.is_empty() => {
                // Truncated since the base was looked at (the files go first).
                let log = lock(&self.log);
                if from <= log.base() {
                    return Message::Truncated { base_lsn: log.base(), base_epoch: log.base_mark().1 };
                }
                Message::Records { records: Vec::new(), commit_lsn: commit }
            }
            Ok(recs) => Message::Records { records: encode_run(&recs), commit_lsn: commit },
            Err(e) => fatal("reading segments", e),
        }
    }

    /// Where the next fill asks a peer to start.
    pub fn fill_from(&self) -> Lsn {
        lock(&self.log).fill_from()
    }

    /// Joins records a peer sent (from [`Node::fill_from`]) under log
    /// matching; returns whether the log was cut back (ask again).
    pub fn fill(&self, records: Vec<Record>) -> Result<bool, Refusal> {
        metrics::counter!(m::HOLES_FILLED).increment(records.len() as u64);
        let mut log = lock(&self.log);
        let cut = log.fill(records);
        self.publish(&log);
        let cut = cut?;
        if let Some(lsn) = cut {
            tracing::info!(lsn, "a peer holds a newer epoch's record: dropped this node's record above it");
            self.truncate_store(log.generation(), lsn);
        }
        drop(log);
        self.flush_wanted.notify_one();
        Ok(cut.is_some())
    }

    /// A peer's log starts after `(base, base_epoch)` and this node holds
    /// nothing past it: start this node's log there (`LogState::adopt_base`),
    /// with the segment files emptied. Returns whether it did.
    pub fn adopt_base(&self, base: Lsn, base_epoch: Epoch) -> bool {
        let mut log = lock(&self.log);
        if !log.adopt_base(base, base_epoch) {
            return false;
        }
        tracing::warn!(base, "the peers truncated below a snapshot past this node's log: this node's log starts there");
        self.truncate_store(log.generation(), 0);
        metrics::gauge!(m::BASE_LSN).set(base as f64);
        self.publish(&log);
        true
    }

    /// Truncates below the truncation point (R14: the newest committed
    /// snapshot marker's LSN less the margin): the log forgets the records
    /// of the whole segment files below it, then the files are deleted.
    fn truncate_if_due(&self) {
        let point = {
            let log = lock(&self.log);
            metrics::gauge!(m::SNAPSHOT_LSN).set(log.snapshot_lsn() as f64);
            log.truncation_point(self.cfg.truncate_margin_records)
        };
        let Some(point) = point else { return };
        // Where the files will start once the whole ones below the point go.
        let Some(base) = lock(&self.store).base_after_drop(point) else { return };
        // The log forgets them first: a read that then finds a file gone
        // finds the base moved too, and answers `Truncated`.
        let (base, snapshot) = {
            let mut log = lock(&self.log);
            log.truncate_below(base);
            (log.base(), log.snapshot_lsn())
        };
        let dropped = tokio::task::block_in_place(|| lock(&self.store).drop_below(point));
        if let Err(e) = dropped {
            fatal("dropping segments below a snapshot", e);
        }
        // Reported once the files are gone too.
        tracing::info!(base, snapshot, "truncated the log below a snapshot");
        metrics::gauge!(m::BASE_LSN).set(base as f64);
    }

    /// Clean shutdown: waits until every record is on disk, then records
    /// that this node lost nothing it acknowledged (it must not answer
    /// anything after this).
    pub async fn shut_down(&self) {
        let target = self.last_lsn();
        let mut rx = self.flushed.subscribe();
        self.flush_soon();
        let _ = rx.wait_for(|f| f.0 >= target).await;
        let log = lock(&self.log);
        if log.flushed() >= log.last_lsn() && log.memory() == Memory::Intact {
            tokio::task::block_in_place(|| self.promise.store(log.promised(), Memory::Intact))
                .unwrap_or_else(|e| fatal("storing the promise", e));
            tracing::info!(last_lsn = log.last_lsn(), "everything on disk: shut down cleanly");
        }
    }

    /// Asks for a flush now, not at the end of the group fsync window (a
    /// caller waits for the disk).
    pub fn flush_soon(&self) {
        self.flush_wanted.notify_one();
        self.flush_urgent.notify_one();
    }

    /// Waits out the group fsync window that began at `last` (the previous
    /// flush's start), unless a caller asks for the disk meanwhile.
    async fn group_window(&self, last: tokio::time::Instant) {
        let due = last + std::time::Duration::from_micros(self.cfg.flush_interval_us);
        if due > tokio::time::Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = self.flush_urgent.notified() => {}
            }
        }
    }

    /// The flusher: writes the unwritten records to segments and fsyncs them
    /// in groups (at most one flush per group fsync window), reports the
    /// flushed LSN, trims the hot tail.
    pub async fn flusher(self: Arc<Self>) {
        let mut last = tokio::time::Instant::now();
        loop {
            self.flush_wanted.notified().await;
            loop {
                self.group_window(last).await;
                last = tokio::time::Instant::now();
                let (recs, generation, prev_epoch) = {
                    let log = lock(&self.log);
                    let recs = log.unwritten().cloned().collect::<Vec<_>>();
                    let prev = recs.first().map_or(0, |r| log.epoch_before(r.lsn));
                    (recs, log.generation(), prev)
                };
                let Some(last) = recs.last().map(|r| r.lsn) else {
                    break;
                };
                if self.cfg.fault_flush_delay_ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(self.cfg.fault_flush_delay_ms)).await;
                }
                let node = self.clone();
                let written = tokio::task::spawn_blocking(move || {
                    let mut store = lock(&node.store);
                    // Records replaced since they were taken must not reach
                    // the segments (the truncation already happened or
                    // waits for this lock and would come after them).
                    if node.generation.load(Ordering::Acquire) != generation {
                        return Ok(());
                    }
                    store.append(&recs, prev_epoch)?;
                    let t = std::time::Instant::now();
                    store.sync()?;
                    metrics::histogram!(m::FSYNC_SECONDS).record(t.elapsed().as_secs_f64());
                    Ok::<(), std::io::Error>(())
                })
                .await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => fatal("writing or syncing a segment", e),
                    Err(e) => fatal("the flusher task failed", e),
                }
                let flushed = {
                    let mut log = lock(&self.log);
                    log.on_written(last, generation);
                    log.on_flushed(last, generation);
                    log.trim_tail(self.cfg.hot_tail_keep_bytes);
                    metrics::gauge!(m::HOT_TAIL_BYTES).set(log.tail_bytes() as f64);
                    log.flushed_mark()
                };
                metrics::gauge!(m::FLUSHED_LSN).set(flushed.0 as f64);
                self.flushed.send_replace(flushed);
                self.space.notify_waiters();
                self.truncate_if_due();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sixfold_wire::RecordKind;
    use std::time::Duration;

    fn node(name: &str, flush_interval_us: u64) -> Arc<Node> {
        let dir = std::env::temp_dir().join(format!("sixfold-node-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = NodeConfig {
            node_id: 1,
            zone: "a".into(),
            listen: ([127, 0, 0, 1], 0).into(),
            data_dir: dir,
            peers: Vec::new(),
            replicas: Vec::new(),
            fault_flush_delay_ms: 0,
            segment_bytes_max: 1 << 20,
            hot_tail_bytes_max: 1 << 20,
            hot_tail_keep_bytes: 1 << 16,
            read_bytes_max: 1 << 20,
            truncate_margin_records: 0,
            io_uring: false,
            flush_interval_us,
            new_cluster: true,
        };
        Node::open(cfg).unwrap()
    }

    fn append(n: &Node, lsn: Lsn) -> Message {
        let r = Record { lsn, epoch: 1, kind: RecordKind::Effects, payload: Bytes::from_static(b"x") };
        n.append(9, 1, lsn - 1, u64::from(lsn > 1), 0, &encode_run(&[r]))
    }

    /// Records that arrive within the group fsync window share one flush,
    /// and a caller waiting for the disk does not wait out the window.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_in_one_window_share_a_flush_and_a_waiter_ends_it() {
        let n = node("window", 60_000_000);
        tokio::spawn(n.clone().flusher());
        let mut flushed = n.flushed.subscribe();
        assert!(matches!(append(&n, 1), Message::Ack { .. }));
        // The first flush may start at once or at the window's end; either
        // way a waiter gets the disk now, not in a minute.
        let acked = tokio::time::timeout(Duration::from_secs(5), n.wait_flushed(1)).await;
        assert!(matches!(acked, Ok(Message::Ack { flushed: 1, .. })), "{acked:?}");
        flushed.borrow_and_update();
        for lsn in 2..=5 {
            assert!(matches!(append(&n, lsn), Message::Ack { .. }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!flushed.has_changed().unwrap(), "no flush before the window ends");
        let acked = tokio::time::timeout(Duration::from_secs(5), n.wait_flushed(5)).await;
        assert!(matches!(acked, Ok(Message::Ack { flushed: 5, .. })), "{acked:?}");
        assert_eq!(flushed.borrow_and_update().0, 5, "the waiter ended the window: records 2-5 on disk");
    }
}
