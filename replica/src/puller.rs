//! Reading storage nodes' logs for the replica: one node at a time, as a
//! `Peer` (records the node holds above the commit LSN too, which the
//! replica stages until a notification commits them). The replicator
//! ([`crate::replicator`]) asks for each read; a read may wait on the node
//! for news (the long poll of `Message::Read`), so an idle replica sends a
//! read every [`LONG_POLL_MS`] and nothing more. A node that errs or does
//! not answer in time is left for the next one ([`Source`]), as is one the
//! replicator finds lagging or diverged.

use crate::source::Source;
use sixfold_fabric::{LogReader, ReadError, Records};
use sixfold_wire::{Lsn, NodeId, Role};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// Longest a read waits on a storage node for news.
pub const LONG_POLL_MS: u32 = 1_000;
/// Pause before trying the next node after a failure.
const RETRY_MS: u64 = 100;

/// Where and how to read.
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
    /// Most record bytes asked for per Read.
    pub read_bytes_max: u32,
    /// A node that does not answer a Read within this (plus the read's
    /// wait) is left.
    pub read_timeout_ms: u64,
}

/// One read the replicator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAsk {
    /// First LSN wanted.
    pub from: Lsn,
    /// How long the node may wait for news (0: answer at once).
    pub wait_ms: u32,
    /// Leave the current node for the next one first.
    pub leave: bool,
}

/// What a read brought: the node's records and commit LSN.
pub type ReadAnswer = Result<Records, ReadError>;

/// Reads what the replicator asks, from one storage node at a time.
pub struct Puller {
    endpoint: quinn::Endpoint,
    s: PullSettings,
    source: Source,
    reader: Option<LogReader>,
}

impl Puller {
    /// A puller reading from the replica's own zone first.
    pub fn new(endpoint: quinn::Endpoint, s: PullSettings) -> Puller {
        let source = Source::new(&s.zones, &s.own_zone);
        Puller { endpoint, s, source, reader: None }
    }

    /// Answers every ask on `asks` in order on `answers`, until either
    /// side closes.
    pub async fn run(mut self, mut asks: mpsc::Receiver<ReadAsk>, answers: mpsc::Sender<ReadAnswer>) {
        while let Some(ask) = asks.recv().await {
            if ask.leave {
                self.leave("the replicator left it");
            }
            let answer = self.read(ask).await;
            if let Err(e) = &answer {
                self.leave(&e.to_string());
                tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
            }
            if answers.send(answer).await.is_err() {
                return;
            }
        }
    }

    fn leave(&mut self, why: &str) {
        let node = self.source.current();
        tracing::info!(node = node + 1, why, "leaving storage node for the next one");
        self.reader = None;
        self.source.failed();
    }

    async fn read(&mut self, ask: ReadAsk) -> ReadAnswer {
        let timeout = Duration::from_millis(self.s.read_timeout_ms);
        let reader = match &mut self.reader {
            Some(r) => r,
            None => {
                let addr = self.s.storage[self.source.current()];
                let me = (self.s.node_id, Role::Peer);
                self.reader.insert(LogReader::open(&self.endpoint, addr, me, timeout).await?)
            }
        };
        reader.read_waiting(ask.from, self.s.read_bytes_max, ask.wait_ms).await
    }
}
