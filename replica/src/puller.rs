//! The pull loop: reads committed records ([`LogReader`]) from one storage node at a time
//! and sends them in batches into a bounded channel. A node that errs, does
//! not answer within the read timeout, or knows of committed records it
//! cannot serve (its log lags) is left for the next one ([`Source`]).

use crate::source::Source;
use sixfold_fabric::{LogReader, ReadError, Records};
use sixfold_wire::{Lsn, NodeId, Record, Role};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Where and how to pull.
#[derive(Debug, Clone)]
pub struct PullSettings {
    /// The shard's six storage nodes.
    pub storage: Vec<SocketAddr>,
    /// Each storage node's zone (same order).
    pub zones: Vec<String>,
    /// This replica's zone.
    pub own_zone: String,
    /// This data node's id on the fabric.
    pub node_id: NodeId,
    /// Most record bytes asked for per Read (one batch).
    pub read_bytes_max: u32,
    /// A node that does not answer a Read within this is left.
    pub read_timeout_ms: u64,
    /// Pause between Reads while caught up.
    pub idle_poll_ms: u64,
    /// The writer's commit LSN as the data node last heard it (0: not yet).
    pub writer_commit: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// A node whose commit LSN stays below the writer's this long is left.
    pub stale_ms: u64,
}

/// Committed records for the data node to apply, in LSN order.
#[derive(Debug)]
pub struct Batch {
    /// The records (may be empty: then only `commit_lsn` is news).
    pub records: Vec<Record>,
    /// The commit LSN the serving node knew.
    pub commit_lsn: Lsn,
    /// Encoded size of `records`.
    pub bytes: usize,
}

/// Why a pull session ended.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The Read failed (network, time, refusal, or a bad answer).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The node knows of committed records it does not hold.
    #[error("the node's log lags behind the commit LSN {0}")]
    Lagging(Lsn),
    /// The data node stopped taking batches.
    #[error("the applier is gone")]
    Closed,
}

/// Record bytes pulled and not yet applied (the applier subtracts what it
/// applied), and the most there ever were.
#[derive(Debug, Default)]
pub struct BufferGauge {
    /// Bytes now.
    pub bytes: AtomicU64,
    /// Peak bytes.
    pub peak_bytes: AtomicU64,
}

impl BufferGauge {
    fn add(&self, n: u64) {
        let now = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        self.peak_bytes.fetch_max(now, Ordering::Relaxed);
    }

    /// The applier applied `n` bytes.
    pub fn applied(&self, n: u64) {
        self.bytes.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Pause before trying the next node after a failure.
const RETRY_MS: u64 = 100;

/// Pulls from `from_lsn` on, forever.
pub struct Puller {
    endpoint: quinn::Endpoint,
    s: PullSettings,
    source: Source,
    next: Lsn,
    /// The commit LSN last passed on (`None`: nothing yet, so even a
    /// commit LSN of 0 is news: the data node learns it is caught up).
    sent_commit: Option<Lsn>,
    tx: mpsc::Sender<Batch>,
    gauge: Arc<BufferGauge>,
}

impl Puller {
    /// A puller whose next record is `from_lsn`, sending into `tx` (its
    /// capacity bounds the apply buffer).
    /// `gauge` counts the bytes sent and not yet applied.
    pub fn new(
        endpoint: quinn::Endpoint,
        s: PullSettings,
        from_lsn: Lsn,
        tx: mpsc::Sender<Batch>,
        gauge: Arc<BufferGauge>,
    ) -> Puller {
        let source = Source::new(&s.zones, &s.own_zone);
        Puller { endpoint, s, source, next: from_lsn, sent_commit: None, tx, gauge }
    }

    /// Runs until the receiving side closes.
    pub async fn run(mut self) {
        loop {
            let node = self.source.current();
            match self.session(self.s.storage[node]).await {
                Err(PullError::Closed) => return,
                Err(e) => {
                    tracing::info!(node = node + 1, error = %e, "leaving storage node for the next one");
                    self.source.failed();
                    tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                }
                Ok(()) => {}
            }
        }
    }

    async fn session(&mut self, addr: SocketAddr) -> Result<(), PullError> {
        let timeout = Duration::from_millis(self.s.read_timeout_ms);
        let mut reader = LogReader::open(&self.endpoint, addr, (self.s.node_id, Role::Reader), timeout).await?;
        let mut stalled_since: Option<Instant> = None;
        let mut staleness = crate::source::Staleness::default();
        let started = Instant::now();
        loop {
            let Records { records, commit_lsn, bytes } = reader.read(self.next, self.s.read_bytes_max).await?;
            let writer_commit = self.s.writer_commit.load(std::sync::atomic::Ordering::Relaxed);
            let now_ms = started.elapsed().as_millis() as u64;
            if staleness.observe(commit_lsn, writer_commit, now_ms, self.s.stale_ms) {
                return Err(PullError::Lagging(commit_lsn));
            }
            let Some(last) = records.last().map(|r| r.lsn) else {
                if commit_lsn >= self.next {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > timeout {
                        return Err(PullError::Lagging(commit_lsn));
                    }
                }
                if self.sent_commit.is_none_or(|c| commit_lsn > c) {
                    self.send(Batch { records, commit_lsn, bytes: 0 }).await?;
                }
                tokio::time::sleep(Duration::from_millis(self.s.idle_poll_ms)).await;
                continue;
            };
            stalled_since = None;
            self.next = last + 1;
            self.send(Batch { records, commit_lsn, bytes }).await?;
        }
    }

    async fn send(&mut self, b: Batch) -> Result<(), PullError> {
        self.sent_commit = Some(self.sent_commit.unwrap_or(0).max(b.commit_lsn));
        let bytes = b.bytes as u64;
        // Reserve first: a full channel (the bound) stops pulling here.
        let permit = self.tx.reserve().await.map_err(|_| PullError::Closed)?;
        self.gauge.add(bytes);
        permit.send(b);
        Ok(())
    }
}
