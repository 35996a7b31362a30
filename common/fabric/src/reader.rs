//! Reading a storage node's log: one stream, `Read` after `Read`, each
//! answer checked (records from the LSN asked for, contiguous) and bounded
//! in time. The one copy of this loop: a new writer's recovery reads the
//! adopted log with it, a replica pulls committed records with it, and a
//! storage node fills a hole from a peer with it.

use sixfold_net::{NetError, framed, tls};
use sixfold_wire::{Epoch, ErrorCode, Lsn, Message, NodeId, Record, Role, decode_run};
use std::net::SocketAddr;
use std::time::Duration;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Network or framing failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The node did not answer in time.
    #[error("no answer within {0} ms")]
    Timeout(u128),
    /// The node dropped the records asked for below a verified snapshot.
    #[error("records up to {base_lsn} were truncated below a snapshot")]
    Truncated {
        /// The node's log starts after this.
        base_lsn: Lsn,
        /// Epoch of the record there.
        base_epoch: Epoch,
    },
    /// The node refused the Read.
    #[error("refused ({code:?}): {detail}")]
    Refused {
        /// Why.
        code: ErrorCode,
        /// The node's words.
        detail: String,
    },
    /// An answer that is not records from the LSN asked for, in order.
    #[error("bad answer: {0}")]
    BadAnswer(String),
}

/// Records one Read brought.
#[derive(Debug, Default)]
pub struct Records {
    /// Contiguous, from the LSN asked for (empty: none there, or none the
    /// node may give this reader yet).
    pub records: Vec<Record>,
    /// The commit LSN the node knew.
    pub commit_lsn: Lsn,
    /// Encoded size of `records`.
    pub bytes: usize,
}

/// Connects to storage node `addr` (within `timeout`) and opens a stream on
/// which it said `Hello` as `me` in `role`: what each request stream to a
/// storage node starts with, other than the writer's Appends.
pub async fn open_stream(
    ep: &quinn::Endpoint,
    addr: SocketAddr,
    (me, role): (NodeId, Role),
    timeout: Duration,
) -> Result<(quinn::SendStream, quinn::RecvStream), ReadError> {
    let conn = tokio::time::timeout(timeout, tls::connect(ep, addr))
        .await
        .map_err(|_| ReadError::Timeout(timeout.as_millis()))??;
    let (mut tx, rx) = conn.open_bi().await.map_err(|e| NetError::Quic(e.to_string()))?;
    framed::send(&mut tx, &Message::Hello { node: me, role }).await?;
    Ok((tx, rx))
}

/// An open read stream to one storage node.
pub struct LogReader {
    tx: quinn::SendStream,
    rx: quinn::RecvStream,
    timeout: Duration,
}

impl LogReader {
    /// Connects to `addr` as `me` in `role` (a `Reader` gets committed
    /// records only, a `Peer` everything the node holds); connecting and
    /// every Read after are bounded by `timeout`.
    pub async fn open(
        ep: &quinn::Endpoint,
        addr: SocketAddr,
        (me, role): (NodeId, Role),
        timeout: Duration,
    ) -> Result<LogReader, ReadError> {
        let (tx, rx) = open_stream(ep, addr, (me, role), timeout).await?;
        Ok(LogReader { tx, rx, timeout })
    }

    /// Reads records from `from` on, at most `max_bytes` of them (at least
    /// one if there is one).
    pub async fn read(&mut self, from: Lsn, max_bytes: u32) -> Result<Records, ReadError> {
        self.read_waiting(from, max_bytes, 0).await
    }

    /// [`LogReader::read`], but a node that holds nothing past `from` may
    /// wait up to `wait_ms` for an append or a commit before it answers
    /// (the long poll of `Message::Read`); the answer is awaited that much
    /// longer than the read timeout.
    pub async fn read_waiting(&mut self, from: Lsn, max_bytes: u32, wait_ms: u32) -> Result<Records, ReadError> {
        let wait_ms = wait_ms.min(sixfold_wire::message::READ_WAIT_MS_MAX);
        framed::send(&mut self.tx, &Message::Read { from_lsn: from, max_bytes, wait_ms }).await?;
        let limit = self.timeout + Duration::from_millis(u64::from(wait_ms));
        let answer = tokio::time::timeout(limit, framed::recv(&mut self.rx))
            .await
            .map_err(|_| ReadError::Timeout(limit.as_millis()))??;
        let (records, commit_lsn) = match answer {
            Message::Records { records, commit_lsn } => (records, commit_lsn),
            Message::Error { code, detail, .. } => return Err(ReadError::Refused { code, detail }),
            Message::Truncated { base_lsn, base_epoch } => return Err(ReadError::Truncated { base_lsn, base_epoch }),
            other => return Err(ReadError::BadAnswer(format!("{:?}", std::mem::discriminant(&other)))),
        };
        let recs = decode_run(&records).map_err(|e| ReadError::BadAnswer(e.to_string()))?;
        check_run(&recs, from)?;
        Ok(Records { records: recs, commit_lsn, bytes: records.len() })
    }
}

/// `recs` start at `from` and go on without a gap.
fn check_run(recs: &[Record], from: Lsn) -> Result<(), ReadError> {
    match recs.iter().zip(from..).find(|(r, lsn)| r.lsn != *lsn) {
        None => Ok(()),
        Some((r, lsn)) => Err(ReadError::BadAnswer(format!("record {} where {lsn} was due", r.lsn))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sixfold_wire::RecordKind;

    fn rec(lsn: Lsn) -> Record {
        Record { lsn, epoch: 1, kind: RecordKind::Effects, payload: Default::default() }
    }

    #[test]
    fn a_run_must_start_where_asked_and_have_no_gap() {
        assert!(check_run(&[], 5).is_ok());
        assert!(check_run(&[rec(5), rec(6)], 5).is_ok());
        assert!(check_run(&[rec(6)], 5).is_err(), "starts late");
        assert!(check_run(&[rec(5), rec(7)], 5).is_err(), "a gap");
    }
}
