//! The node's network service: accepts mutually authenticated QUIC
//! connections; on each bidirectional stream the first message is `Hello`
//! (the caller's role), then requests are answered in order. Bad frames get
//! the stream closed; the node keeps serving its other peers.
//!
//! Hole filling: after a restart, and whenever a writer's Append refers to
//! records this node lacks, the node reads the missing records from the
//! replicas' retained records (committed ones, kept until flushed) and
//! from its peers (as a `Peer`, which may read above the commit LSN).

use crate::node::Node;
use sixfold_fabric::{LogReader, ReadError};
use sixfold_net::certs::{CertRole, peer_name};
use sixfold_net::framed;
use sixfold_wire::{ErrorCode, Lsn, Message, Role};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Serves connections from `endpoint` until it closes.
pub async fn serve(node: Arc<Node>, endpoint: quinn::Endpoint, client: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let (node, client) = (node.clone(), client.clone());
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(error = %e, "refused a connection");
                    return;
                }
            };
            // The role comes from the certificate, never from what the
            // peer says it is.
            let name = peer_name(&conn).unwrap_or_default();
            let role = CertRole::of(&name);
            while let Ok((tx, rx)) = conn.accept_bi().await {
                let (node, client, name) = (node.clone(), client.clone(), name.clone());
                tokio::spawn(async move {
                    if let Err(e) = stream(node, client, (role, name), tx, rx).await {
                        tracing::debug!(error = %e, "stream ended");
                    }
                });
            }
        });
    }
}

/// Whether a peer whose certificate has role `cert` may make request
/// `req` on a stream opened with `Hello{role: hello}` (the table in
/// `docs/protocol.md`); the refusal's text otherwise.
pub fn authorize(cert: CertRole, hello: Role, req: &Message) -> Result<(), &'static str> {
    use CertRole::{DataNode, Snapshotter, StorageNode};
    let ok = match req {
        Message::Append { .. } | Message::Prepare { .. } => cert == DataNode,
        Message::WaitFlushed { .. } | Message::SubscribeFlushed => matches!(cert, DataNode | StorageNode),
        Message::Read { .. } if hello == Role::Peer => matches!(cert, DataNode | StorageNode),
        Message::Read { .. } => matches!(cert, DataNode | StorageNode | Snapshotter),
        Message::Truncate { .. } => {
            return Err("Truncate is not accepted: storage nodes truncate only below a verified snapshot marker");
        }
        _ => true,
    };
    if ok { Ok(()) } else { Err("the certificate on this connection does not allow this request") }
}

async fn stream(
    node: Arc<Node>,
    client: quinn::Endpoint,
    (cert, name): (CertRole, String),
    mut tx: quinn::SendStream,
    mut rx: quinn::RecvStream,
) -> Result<(), sixfold_net::NetError> {
    let (from, role) = match framed::recv(&mut rx).await? {
        Message::Hello { node, role } => (node, role),
        _ => {
            let detail = "the first message must be Hello".to_string();
            let m = Message::Error { code: ErrorCode::BadRequest, current_epoch: 0, last_lsn: 0, detail };
            return framed::send(&mut tx, &m).await;
        }
    };
    loop {
        let req = framed::recv(&mut rx).await?;
        if let Err(why) = authorize(cert, role, &req) {
            tracing::warn!(peer = %name, ?cert, why, "refused a request");
            let m = Message::Error {
                code: ErrorCode::Forbidden,
                current_epoch: 0,
                last_lsn: node.last_lsn(),
                detail: format!("{why} (certificate {name:?})"),
            };
            framed::send(&mut tx, &m).await?;
            continue;
        }
        let reply = match req {
            Message::Append { epoch, prev_lsn, prev_epoch, commit_lsn, records } => {
                while node.tail_full() {
                    node.flush_soon();
                    node.space.notified().await;
                }
                let reply = node.append(from, epoch, prev_lsn, prev_epoch, commit_lsn, &records);
                node.publish_news();
                if matches!(reply, Message::Error { code: ErrorCode::LogMismatch, .. }) && prev_lsn > node.last_lsn() {
                    spawn_fill(node.clone(), client.clone());
                }
                reply
            }
            Message::Prepare { epoch } => node.prepare(epoch, from),
            Message::WaitFlushed { lsn } => node.wait_flushed(lsn).await,
            Message::SubscribeFlushed => return push_flushed(&node, &mut tx).await,
            Message::Read { from_lsn, max_bytes, wait_ms } => {
                if wait_ms > 0 {
                    node.wait_for_news(from_lsn, wait_ms).await;
                }
                node.read(from_lsn, max_bytes, role == Role::Peer)
            }
            other => {
                let detail = format!("unexpected request {:?}", std::mem::discriminant(&other));
                Message::Error { code: ErrorCode::BadRequest, current_epoch: 0, last_lsn: node.last_lsn(), detail }
            }
        };
        framed::send(&mut tx, &reply).await?;
    }
}

/// Pushes `FlushedLsn` on `tx` whenever the node's flushed LSN advances,
/// until the subscriber goes away.
async fn push_flushed(node: &Node, tx: &mut quinn::SendStream) -> Result<(), sixfold_net::NetError> {
    let mut rx = node.flushed.subscribe();
    loop {
        let (lsn, epoch) = *rx.borrow_and_update();
        framed::send(tx, &Message::FlushedLsn { lsn, epoch }).await?;
        if rx.changed().await.is_err() {
            return Ok(());
        }
    }
}

/// A peer that does not answer a fill's Read within this is left.
const FILL_READ_TIMEOUT_MS: u64 = 10_000;
/// A replica that does not answer a fill's Read within this is left.
const REPLICA_FILL_TIMEOUT_MS: u64 = 500;

/// Starts a hole-filling pass unless one is running.
pub fn spawn_fill(node: Arc<Node>, client: quinn::Endpoint) {
    if node.filling.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async move {
        // Replicas first: what they retained is committed. One that does
        // not answer at once (not started, or serving as the writer) is
        // left quickly, so a real hole waits little for the peers.
        let replicas = node.cfg.replicas.iter().map(|r| (*r, REPLICA_FILL_TIMEOUT_MS));
        let peers = node.cfg.peers.iter().map(|p| (*p, FILL_READ_TIMEOUT_MS));
        for (peer, timeout_ms) in replicas.chain(peers) {
            match fill_from(&node, &client, peer, timeout_ms).await {
                Ok(n) if n > 0 => {
                    tracing::info!(%peer, records = n, last_lsn = node.last_lsn(), "filled a hole from a peer")
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(%peer, error = %e, "peer could not fill"),
            }
        }
        node.filling.store(false, Ordering::Release);
    });
}

/// Reads from `peer` from this node's last record on and joins what
/// matches (log matching, `LogState::fill`); returns how many records came.
async fn fill_from(
    node: &Node,
    client: &quinn::Endpoint,
    peer: std::net::SocketAddr,
    timeout_ms: u64,
) -> Result<u64, ReadError> {
    let me = (node.cfg.node_id, Role::Peer);
    let mut reader = LogReader::open(client, peer, me, Duration::from_millis(timeout_ms)).await?;
    let mut added: u64 = 0;
    loop {
        let from: Lsn = node.fill_from();
        let recs = match reader.read(from, node.cfg.read_bytes_max as u32).await {
            Ok(got) => got.records,
            // The peer truncated past this node's log: start it there (R14).
            Err(ReadError::Truncated { base_lsn, base_epoch }) if node.adopt_base(base_lsn, base_epoch) => continue,
            Err(ReadError::Truncated { .. } | ReadError::Refused { .. }) => return Ok(added),
            Err(e) => return Err(e),
        };
        let before = node.last_lsn();
        if recs.is_empty() || (recs.len() == 1 && from == before) {
            return Ok(added);
        }
        match node.fill(recs) {
            Ok(true) => continue,
            Ok(false) => added += node.last_lsn().saturating_sub(before),
            Err(_) => return Ok(added),
        }
    }
}
