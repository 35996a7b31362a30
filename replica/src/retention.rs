//! Serving retained records to storage nodes (DESIGN §5): a replica keeps
//! the records it applied until the writer's flush confirmation covers
//! them ([`crate::staging`]); a storage node that lost its tail (a restart
//! without a clean shutdown, a wiped disk) may read them back to fill its
//! log, over QUIC like from a peer (`Hello{role: Peer}` then `Read`).
//! Only a certificate of the storage-node role may; the records served
//! were applied, so they are committed.

use sixfold_net::certs::{CertRole, peer_name};
use sixfold_net::framed;
use sixfold_wire::{ErrorCode, Lsn, Message, Record, Role, encode_run};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most record bytes in one answer.
pub const RETAINED_READ_BYTES_MAX: usize = 4 * 1024 * 1024;

/// A storage node's read of retained records, for the replicator to answer.
#[derive(Debug)]
pub struct RetainedAsk {
    /// First LSN wanted.
    pub from: Lsn,
    /// Most record bytes.
    pub max_bytes: usize,
    /// The records from `from` on, contiguous (none if `from` is not
    /// retained), and the applied LSN.
    pub reply: oneshot::Sender<(Vec<Record>, Lsn)>,
}

/// Where the server hands reads on: the current replicator (none while
/// this data node is the writer, or between two replicators; a read then
/// gets `Unavailable` at once and the storage node reads elsewhere).
#[derive(Debug, Clone, Default)]
pub struct Desk(Arc<Mutex<Option<mpsc::Sender<RetainedAsk>>>>);

impl Desk {
    /// A new replicator takes the reads: its end of the channel.
    pub fn open(&self) -> mpsc::Receiver<RetainedAsk> {
        let (tx, rx) = mpsc::channel(RETAINED_ASKS_MAX);
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
        rx
    }

    fn sender(&self) -> Option<mpsc::Sender<RetainedAsk>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Reads waiting for the replicator.
const RETAINED_ASKS_MAX: usize = 16;

/// Serves connections from `endpoint` for as long as the process runs,
/// handing reads to whoever holds `desk`.
pub async fn serve(endpoint: quinn::Endpoint, desk: Desk) {
    while let Some(incoming) = endpoint.accept().await {
        let asks = desk.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let name = peer_name(&conn).unwrap_or_default();
            let allowed = CertRole::of(&name) == CertRole::StorageNode;
            while let Ok((tx, rx)) = conn.accept_bi().await {
                let (asks, name) = (asks.clone(), name.clone());
                tokio::spawn(async move {
                    if let Err(e) = stream(tx, rx, allowed, &asks).await {
                        tracing::debug!(peer = %name, error = %e, "retention stream ended");
                    }
                });
            }
        });
    }
}

fn refusal(code: ErrorCode, detail: &str) -> Message {
    Message::Error { code, current_epoch: 0, last_lsn: 0, detail: detail.to_string() }
}

async fn stream(
    mut tx: quinn::SendStream,
    mut rx: quinn::RecvStream,
    allowed: bool,
    desk: &Desk,
) -> Result<(), sixfold_net::NetError> {
    if !matches!(framed::recv(&mut rx).await?, Message::Hello { role: Role::Peer, .. }) {
        return framed::send(&mut tx, &refusal(ErrorCode::BadRequest, "the first message must be Hello as a Peer"))
            .await;
    }
    loop {
        let answer = match framed::recv(&mut rx).await? {
            _ if !allowed => refusal(ErrorCode::Forbidden, "only storage nodes read a replica's retained records"),
            Message::Read { from_lsn, max_bytes, .. } => {
                let (reply, answer) = oneshot::channel();
                let max_bytes = (max_bytes as usize).min(RETAINED_READ_BYTES_MAX);
                let ask = RetainedAsk { from: from_lsn, max_bytes, reply };
                let sent = match desk.sender() {
                    Some(tx) => tx.send(ask).await.is_ok(),
                    None => false,
                };
                match (sent, answer.await) {
                    (true, Ok((records, applied))) => {
                        Message::Records { records: encode_run(&records), commit_lsn: applied }
                    }
                    _ => refusal(ErrorCode::Unavailable, "this data node is not replicating now"),
                }
            }
            _ => refusal(ErrorCode::BadRequest, "a replica answers Read only"),
        };
        framed::send(&mut tx, &answer).await?;
    }
}
