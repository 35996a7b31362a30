//! The fabric client: one mutually authenticated QUIC stream per storage
//! node, batches of records appended to all six, acknowledgements fed to the
//! [`CommitTracker`]. A node that fails or times out is dropped and
//! reconnected on a later batch; a node that lacks records (LogMismatch)
//! is back-filled from the records this client still holds.

use crate::quorum::{AckOutcome, CommitMode, CommitTracker, STORAGE_NODES};
use sixfold_net::{NetError, framed, tls};
use sixfold_wire::{Epoch, ErrorCode, Lsn, Message, NodeId, Record, Role, encode_run};
use std::net::SocketAddr;
use std::time::Duration;

/// How long one node may take to answer before it is dropped for this batch.
pub const NODE_TIMEOUT_MS: u64 = 2_000;
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT_MS: u64 = 500;
/// Most record bytes sent in one back-fill Append.
const BACKFILL_BYTES_MAX: usize = 4 * 1024 * 1024;

struct Link {
    tx: quinn::SendStream,
    rx: quinn::RecvStream,
    /// The node holds the log up to here (as far as this client knows).
    scl: Lsn,
}

/// Appends to the six storage nodes of a shard.
pub struct Appender {
    endpoint: quinn::Endpoint,
    addrs: Vec<SocketAddr>,
    links: Vec<Option<Link>>,
    me: NodeId,
    epoch: Epoch,
    mode: CommitMode,
    tracker: CommitTracker,
    /// Records this client appended and still holds, from `held_from`.
    held: Vec<Record>,
    held_from: Lsn,
    /// Epoch of the record at `held_from - 1` (0 for none).
    base_epoch: Epoch,
}

/// An append that did not commit.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Fewer than four nodes acknowledged in time.
    #[error("no quorum: only {acked} of {STORAGE_NODES} nodes acknowledged")]
    NoQuorum {
        /// How many did.
        acked: usize,
    },
    /// A node has promised a higher epoch: this writer is fenced.
    #[error("fenced by epoch {0}")]
    Fenced(Epoch),
}

impl Appender {
    /// A client for the nodes at `addrs` (six), writing in `epoch` after a
    /// committed log that ends at `last_lsn` written in `last_epoch`.
    pub fn new(
        endpoint: quinn::Endpoint,
        addrs: Vec<SocketAddr>,
        me: NodeId,
        epoch: Epoch,
        mode: CommitMode,
        last: (Lsn, Epoch),
    ) -> Appender {
        let links = addrs.iter().map(|_| None).collect();
        let tracker = CommitTracker::new(epoch, mode, last.0);
        Appender {
            endpoint,
            addrs,
            links,
            me,
            epoch,
            mode,
            tracker,
            held: Vec::new(),
            held_from: last.0 + 1,
            base_epoch: last.1,
        }
    }

    /// The epoch this client writes in.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The commit LSN.
    pub fn commit_lsn(&self) -> Lsn {
        self.tracker.commit_lsn()
    }

    /// The last LSN appended.
    pub fn last_lsn(&self) -> Lsn {
        self.held_from + self.held.len() as Lsn - 1
    }

    /// Appends `payloads` as records of `kind` and waits until they commit
    /// (or fails). Returns the new commit LSN.
    pub async fn append(&mut self, records: Vec<Record>) -> Result<Lsn, AppendError> {
        self.held.extend(records);
        let target = self.last_lsn();
        let commit = self.tracker.commit_lsn();
        let mut acked = 0;
        let results = futures_join(self, commit).await;
        for (node, r) in results.into_iter().enumerate() {
            match r {
                Ok((epoch, scl, flushed)) => {
                    acked += 1;
                    if let AckOutcome::Fenced(e) = self.tracker.on_ack(node, epoch, scl, flushed) {
                        return Err(AppendError::Fenced(e));
                    }
                }
                Err(e) => {
                    tracing::debug!(node, error = %e, "storage node did not acknowledge");
                    self.links[node] = None;
                }
            }
        }
        if self.tracker.commit_lsn() >= target {
            Ok(self.tracker.commit_lsn())
        } else {
            Err(AppendError::NoQuorum { acked })
        }
    }

    /// Drops records at or below `lsn` from memory (they are durable on four
    /// nodes and will not need back-filling).
    pub fn release_below(&mut self, lsn: Lsn) {
        let n = (lsn.saturating_sub(self.held_from - 1) as usize).min(self.held.len());
        if let Some(r) = n.checked_sub(1).and_then(|i| self.held.get(i)) {
            self.base_epoch = r.epoch;
        }
        self.held.drain(..n);
        self.held_from += n as Lsn;
    }

    /// What node `i` last acknowledged: (SCL, flushed LSN).
    pub fn node_ack(&self, i: usize) -> Option<(Lsn, Lsn)> {
        self.tracker.node(i)
    }

    /// The fabric flushed LSN (on disk on four nodes).
    pub fn fabric_flushed_lsn(&self) -> Lsn {
        self.tracker.fabric_flushed_lsn()
    }
}

/// Sends what each node lacks, concurrently; returns each node's ack
/// `(epoch, scl, flushed)` or why it gave none.
async fn futures_join(a: &mut Appender, commit: Lsn) -> Vec<Result<(Epoch, Lsn, Lsn), NetError>> {
    let (endpoint, me, epoch, disk) = (a.endpoint.clone(), a.me, a.epoch, a.mode == CommitMode::Disk);
    let held = Held { records: &a.held, from: a.held_from, base_epoch: a.base_epoch };
    let tasks = a.links.iter_mut().zip(&a.addrs).map(|(link, addr)| {
        let endpoint = endpoint.clone();
        async move {
            let fut = sync_node(link, &endpoint, *addr, (me, epoch, commit, disk), held);
            match tokio::time::timeout(Duration::from_millis(NODE_TIMEOUT_MS), fut).await {
                Ok(r) => r,
                Err(_) => Err(NetError::Quic("timed out".into())),
            }
        }
    });
    futures::future::join_all(tasks).await
}

/// The records a client still holds.
#[derive(Clone, Copy)]
struct Held<'a> {
    records: &'a [Record],
    from: Lsn,
    base_epoch: Epoch,
}

impl Held<'_> {
    fn last(&self) -> Lsn {
        self.from + self.records.len() as Lsn - 1
    }

    fn epoch_at(&self, lsn: Lsn) -> Epoch {
        if lsn < self.from { self.base_epoch } else { self.records[(lsn - self.from) as usize].epoch }
    }

    /// Records from `from`, at most [`BACKFILL_BYTES_MAX`] bytes (at least one).
    fn batch(&self, from: Lsn) -> Vec<Record> {
        let mut bytes = 0;
        let start = ((from - self.from) as usize).min(self.records.len());
        let mut out = Vec::new();
        for r in &self.records[start..] {
            bytes += r.encoded_len();
            if !out.is_empty() && bytes > BACKFILL_BYTES_MAX {
                break;
            }
            out.push(r.clone());
        }
        out
    }
}

async fn open_link(endpoint: &quinn::Endpoint, addr: SocketAddr, me: NodeId, scl: Lsn) -> Result<Link, NetError> {
    let conn = tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), tls::connect(endpoint, addr))
        .await
        .map_err(|_| NetError::Quic("connect timed out".into()))??;
    let (mut tx, rx) = conn.open_bi().await.map_err(|e| NetError::Quic(e.to_string()))?;
    framed::send(&mut tx, &Message::Hello { node: me, role: Role::Writer }).await?;
    Ok(Link { tx, rx, scl })
}

/// Brings one node up to date with the held records; returns its ack
/// `(epoch, scl, flushed)`.
async fn sync_node(
    link: &mut Option<Link>,
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    (me, epoch, commit, disk): (NodeId, Epoch, Lsn, bool),
    held: Held<'_>,
) -> Result<(Epoch, Lsn, Lsn), NetError> {
    if link.is_none() {
        // Position unknown: start right after the committed base.
        *link = Some(open_link(endpoint, addr, me, held.from - 1).await?);
    }
    let Some(l) = link.as_mut() else {
        return Err(NetError::Closed);
    };
    loop {
        let from = (l.scl + 1).max(held.from);
        let prev_lsn = from - 1;
        let records = encode_run(&held.batch(from));
        let msg = Message::Append { epoch, prev_lsn, prev_epoch: held.epoch_at(prev_lsn), commit_lsn: commit, records };
        framed::send(&mut l.tx, &msg).await?;
        match framed::recv(&mut l.rx).await? {
            Message::Ack { epoch, scl, flushed } => {
                l.scl = scl;
                if scl >= held.last() && (!disk || flushed >= held.last()) {
                    return Ok((epoch, scl, flushed));
                }
                if scl >= held.last() {
                    return wait_flushed(l, held.last()).await;
                }
            }
            Message::Error { code: ErrorCode::Fenced, current_epoch, .. } => return Ok((current_epoch, 0, 0)),
            Message::Error { code: ErrorCode::LogMismatch, last_lsn, .. } if prev_lsn >= held.from => {
                // Resend from where the node's log ends, or from the committed
                // base when its history differs (log matching replaces it).
                l.scl = if last_lsn < prev_lsn { last_lsn.max(held.from - 1) } else { held.from - 1 };
            }
            Message::Error { code, detail, .. } => {
                return Err(NetError::Quic(format!("{code:?}: {detail}")));
            }
            other => return Err(NetError::Quic(format!("unexpected answer {other:?}"))),
        }
    }
}

/// Waits until the node has records up to `lsn` on disk.
async fn wait_flushed(l: &mut Link, lsn: Lsn) -> Result<(Epoch, Lsn, Lsn), NetError> {
    framed::send(&mut l.tx, &Message::WaitFlushed { lsn }).await?;
    match framed::recv(&mut l.rx).await? {
        Message::Ack { epoch, scl, flushed } => Ok((epoch, scl, flushed)),
        other => Err(NetError::Quic(format!("unexpected answer to WaitFlushed: {other:?}"))),
    }
}
