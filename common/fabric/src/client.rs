//! The fabric client: drives the [`Pipeline`] state machine over mutually
//! authenticated QUIC. Each storage node gets one connection with two
//! streams: Appends go out on the first (pipelined, answered in order) and
//! the node pushes its flushed LSN on the second. Small tasks per node move
//! frames between the streams and one event channel; the [`Appender`] owns
//! all state and is stepped by its caller. A node that fails, or leaves an
//! Append unanswered past the node timeout, is dropped and reconnected.

use crate::pipeline::{Limits, Outcome, Pipeline};
use crate::quorum::{CommitMode, STORAGE_NODES};
use sixfold_net::{NetError, framed, tls};
use sixfold_wire::{Epoch, Lsn, Message, NodeId, Record, Role};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT_MS: u64 = 500;
/// Pause before reconnecting to a node that failed.
const RECONNECT_MS: u64 = 200;
/// How long [`Appender::append`] waits for its records to commit.
pub const APPEND_TIMEOUT_MS: u64 = 2_500;
/// Longest wait for an event before timeouts and reconnects are checked.
const TICK_MS: u64 = 20;
/// Events buffered from the node tasks.
const EVENTS_MAX: usize = 4096;

/// What a node task reports.
enum Event {
    Up { node: usize, link: u64, conn: quinn::Connection, tx: mpsc::Sender<Message> },
    Reply { node: usize, link: u64, msg: Message },
    Flushed { node: usize, link: u64, lsn: Lsn, epoch: Epoch },
    Down { node: usize, link: u64, why: String },
}

/// A live link to one node.
struct Link {
    conn: quinn::Connection,
    tx: mpsc::Sender<Message>,
}

/// Appends to the six storage nodes of a shard.
pub struct Appender {
    endpoint: quinn::Endpoint,
    addrs: Vec<SocketAddr>,
    me: NodeId,
    pipe: Pipeline,
    links: Vec<Option<Link>>,
    /// Current link number per node (events of older links are ignored).
    link_ids: Vec<u64>,
    connecting: Vec<bool>,
    retry_at: Vec<Instant>,
    started: Instant,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
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
        let (events_tx, events_rx) = mpsc::channel(EVENTS_MAX);
        let n = addrs.len();
        let now = Instant::now();
        Appender {
            endpoint,
            addrs,
            me,
            pipe: Pipeline::new(epoch, mode, last, Limits::default()),
            links: (0..n).map(|_| None).collect(),
            link_ids: vec![0; n],
            connecting: vec![false; n],
            retry_at: vec![now; n],
            started: now,
            events_tx,
            events_rx,
        }
    }

    /// A client for a writer that recovered (see
    /// [`Pipeline::after_recovery`]): records up to `committed` are known
    /// committed, `suffix` (adopted above them) is sent again and counts as
    /// committed only with this writer's first record.
    pub fn after_recovery(
        endpoint: quinn::Endpoint,
        addrs: Vec<SocketAddr>,
        me: NodeId,
        epoch: Epoch,
        mode: CommitMode,
        committed: (Lsn, Epoch),
        suffix: Vec<Record>,
    ) -> Appender {
        let mut app = Appender::new(endpoint, addrs, me, epoch, mode, committed);
        app.pipe = Pipeline::after_recovery(epoch, mode, committed, suffix, Limits::default());
        app
    }

    /// The epoch this client writes in.
    pub fn epoch(&self) -> Epoch {
        self.pipe.epoch()
    }

    /// The commit LSN.
    pub fn commit_lsn(&self) -> Lsn {
        self.pipe.commit_lsn()
    }

    /// The last LSN appended.
    pub fn last_lsn(&self) -> Lsn {
        self.pipe.last_lsn()
    }

    /// The highest LSN whose commit four nodes acknowledged learning
    /// ([`Pipeline::lease_lsn`]).
    pub fn lease_lsn(&self) -> Lsn {
        self.pipe.lease_lsn()
    }

    /// What node `i` last acknowledged: (SCL, flushed LSN).
    pub fn node_ack(&self, i: usize) -> Option<(Lsn, Lsn)> {
        self.pipe.node_ack(i)
    }

    /// The fabric flushed LSN (on disk on four nodes).
    pub fn fabric_flushed_lsn(&self) -> Lsn {
        self.pipe.fabric_flushed_lsn()
    }

    /// Record bytes held: sent or to send, not yet on disk on four nodes.
    pub fn held_bytes(&self) -> usize {
        self.pipe.held_bytes()
    }

    /// Whether there is room for more records (held bytes under the bound).
    pub fn accepts(&self) -> bool {
        self.pipe.accepts()
    }

    /// Drops held records at or below `lsn` (a node that lacks them fills
    /// them from its peers). Records on disk on four nodes are dropped
    /// without being asked.
    pub fn release_below(&mut self, lsn: Lsn) {
        self.pipe.release_below(lsn);
    }

    /// Queues records (their LSNs continue the log) and sends what the
    /// windows allow.
    pub fn push(&mut self, records: Vec<Record>) {
        self.pipe.push(records);
        self.pump();
    }

    /// Appends `records` and waits until everything appended commits, at
    /// most [`APPEND_TIMEOUT_MS`]. Returns the commit LSN.
    pub async fn append(&mut self, records: Vec<Record>) -> Result<Lsn, AppendError> {
        self.push(records);
        let target = self.last_lsn();
        let deadline = Instant::now() + Duration::from_millis(APPEND_TIMEOUT_MS);
        while self.commit_lsn() < target {
            if Instant::now() >= deadline {
                return Err(AppendError::NoQuorum { acked: self.pipe.acked_at_least(target) });
            }
            self.step().await?;
        }
        Ok(self.commit_lsn())
    }

    /// Waits until every reachable node has answered its Appends and heard
    /// of the current commit LSN (at most [`APPEND_TIMEOUT_MS`]).
    pub async fn settle(&mut self) -> Result<(), AppendError> {
        let deadline = Instant::now() + Duration::from_millis(APPEND_TIMEOUT_MS);
        self.pump();
        while !self.pipe.settled() && Instant::now() < deadline {
            self.step().await?;
        }
        Ok(())
    }

    /// Waits for one event (at most a short tick), handles it, and sends
    /// what can be sent. Returns the commit LSN. Cancel-safe.
    pub async fn step(&mut self) -> Result<Lsn, AppendError> {
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(TICK_MS), self.events_rx.recv()).await {
            self.handle(ev)?;
            while let Ok(ev) = self.events_rx.try_recv() {
                self.handle(ev)?;
            }
        }
        self.pump();
        Ok(self.commit_lsn())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn handle(&mut self, ev: Event) -> Result<(), AppendError> {
        let now = self.now_ms();
        let (node, link) = match &ev {
            Event::Up { node, link, .. }
            | Event::Reply { node, link, .. }
            | Event::Flushed { node, link, .. }
            | Event::Down { node, link, .. } => (*node, *link),
        };
        if link != self.link_ids[node] {
            if let Event::Up { conn, .. } = ev {
                conn.close(0u32.into(), b"stale");
            }
            return Ok(());
        }
        let outcome = match ev {
            Event::Up { conn, tx, .. } => {
                self.connecting[node] = false;
                self.links[node] = Some(Link { conn, tx });
                self.pipe.on_connected(node);
                Outcome::Ok
            }
            Event::Reply { msg, .. } => self.pipe.on_reply(node, msg, now),
            Event::Flushed { lsn, epoch, .. } => self.pipe.on_flushed(node, lsn, epoch),
            Event::Down { why, .. } => Outcome::Drop(why),
        };
        match outcome {
            Outcome::Ok => Ok(()),
            Outcome::Fenced(e) => Err(AppendError::Fenced(e)),
            Outcome::Drop(why) => {
                self.drop_link(node, &why);
                Ok(())
            }
        }
    }

    fn drop_link(&mut self, node: usize, why: &str) {
        tracing::debug!(node, why, "dropping the link to a storage node");
        if let Some(l) = self.links[node].take() {
            l.conn.close(0u32.into(), b"dropped");
        }
        self.link_ids[node] += 1;
        self.connecting[node] = false;
        self.retry_at[node] = Instant::now() + Duration::from_millis(RECONNECT_MS);
        self.pipe.on_lost(node);
    }

    /// Sends what every window allows, drops overdue nodes, reconnects.
    fn pump(&mut self) {
        let now = self.now_ms();
        for node in self.pipe.overdue(now) {
            self.drop_link(node, "timed out");
        }
        for node in 0..self.addrs.len().min(STORAGE_NODES) {
            if self.links[node].is_none() {
                self.maybe_connect(node);
                continue;
            }
            while let Some(msg) = self.pipe.poll_send(node, now) {
                let sent = self.links[node].as_ref().is_some_and(|l| l.tx.try_send(msg).is_ok());
                if !sent {
                    self.drop_link(node, "send queue closed");
                    break;
                }
            }
        }
    }

    fn maybe_connect(&mut self, node: usize) {
        if self.connecting[node] || Instant::now() < self.retry_at[node] {
            return;
        }
        self.connecting[node] = true;
        self.link_ids[node] += 1;
        let (ep, addr, me, link) = (self.endpoint.clone(), self.addrs[node], self.me, self.link_ids[node]);
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let ev = match open_link(&ep, addr, me, node, link, &events).await {
                Ok((conn, tx)) => Event::Up { node, link, conn, tx },
                Err(e) => Event::Down { node, link, why: format!("connect: {e}") },
            };
            let _ = events.send(ev).await;
        });
    }
}

/// Connects to node `node`, opens the append stream and the flush-report
/// stream, and starts the tasks that move their frames.
async fn open_link(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    me: NodeId,
    node: usize,
    link: u64,
    events: &mpsc::Sender<Event>,
) -> Result<(quinn::Connection, mpsc::Sender<Message>), NetError> {
    let conn = tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), tls::connect(endpoint, addr))
        .await
        .map_err(|_| NetError::Quic("connect timed out".into()))??;
    let (mut tx, mut rx) = conn.open_bi().await.map_err(|e| NetError::Quic(e.to_string()))?;
    framed::send(&mut tx, &Message::Hello { node: me, role: Role::Writer }).await?;
    let (mut ftx, mut frx) = conn.open_bi().await.map_err(|e| NetError::Quic(e.to_string()))?;
    framed::send(&mut ftx, &Message::Hello { node: me, role: Role::Writer }).await?;
    framed::send(&mut ftx, &Message::SubscribeFlushed).await?;
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(Limits::default().inflight_appends_max + 1);
    let down = move |why: String| Event::Down { node, link, why };
    let ev = events.clone();
    tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            if let Err(e) = framed::send(&mut tx, &msg).await {
                let _ = ev.send(down(format!("send: {e}"))).await;
                return;
            }
        }
        let _ = tx.finish();
    });
    let ev = events.clone();
    tokio::spawn(async move {
        loop {
            match framed::recv(&mut rx).await {
                Ok(msg) => {
                    if ev.send(Event::Reply { node, link, msg }).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = ev.send(down(format!("receive: {e}"))).await;
                    return;
                }
            }
        }
    });
    let ev = events.clone();
    tokio::spawn(async move {
        while let Ok(Message::FlushedLsn { lsn, epoch }) = framed::recv(&mut frx).await {
            if ev.send(Event::Flushed { node, link, lsn, epoch }).await.is_err() {
                return;
            }
        }
        drop(ftx);
    });
    Ok((conn, out_tx))
}
