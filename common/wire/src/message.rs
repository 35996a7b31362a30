//! Fabric messages between writers, replicas and storage nodes, serialized
//! with rkyv and validated (bytecheck) before use, in length-prefixed frames.
//!
//! Frame: `u32` little-endian length, then that many bytes of the rkyv
//! archive of a [`Message`]. Records travel inside messages in their own
//! layout ([`crate::record`]), so each keeps its CRC end to end.

use crate::{Epoch, Lsn, NodeId, WireError};
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

/// Largest frame accepted: one record of the largest size
/// ([`crate::record::RECORD_PAYLOAD_BYTES_MAX`]) with room for its header
/// and the message around it, so every valid record can be shipped.
pub const FRAME_BYTES_MAX: usize = crate::record::RECORD_PAYLOAD_BYTES_MAX + 1024 * 1024;
/// Longest a storage node holds a `Read` with `wait_ms` before answering.
pub const READ_WAIT_MS_MAX: u32 = 5_000;
/// Size of the length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Why a request was refused.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The sender's epoch is below the node's promised epoch.
    Fenced,
    /// `prev_lsn/prev_epoch` does not match the node's log.
    LogMismatch,
    /// The request is malformed.
    BadRequest,
    /// The node cannot serve it now (e.g. hot tail full, disk failed).
    Unavailable,
    /// The certificate on the connection does not allow the request.
    Forbidden,
}

/// Whether a storage node may have lost records it acknowledged
/// (`docs/protocol.md`, "Nodes that lost memory").
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Memory {
    /// It holds everything it ever acknowledged: a node of a new cluster,
    /// one that shut down cleanly, or one that caught up with a writer.
    Intact,
    /// It restarted without a clean shutdown: records it held only in
    /// memory may be gone.
    Restarted,
    /// Its data directory was lost: it may have lost records on disk too.
    Wiped,
}

/// Who opens a connection.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The writer (appends).
    Writer,
    /// A replica or snapshotter (reads).
    Reader,
    /// Another storage node (hole filling).
    Peer,
}

/// One fabric message.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// First message on a connection.
    Hello {
        /// Sender's node id.
        node: NodeId,
        /// What the sender is.
        role: Role,
    },
    /// Writer → storage: records after `prev_lsn` (whose epoch is `prev_epoch`).
    Append {
        /// The writer's epoch.
        epoch: Epoch,
        /// LSN just before the first record (0 at the start of the log).
        prev_lsn: Lsn,
        /// Epoch of the record at `prev_lsn` (0 when `prev_lsn` is 0).
        prev_epoch: Epoch,
        /// The writer's commit LSN, piggybacked.
        commit_lsn: Lsn,
        /// Encoded records, contiguous.
        records: Vec<u8>,
    },
    /// Storage → writer: what the node holds.
    Ack {
        /// Epoch the node acknowledges in.
        epoch: Epoch,
        /// Highest LSN held with no gap below (segment complete LSN).
        scl: Lsn,
        /// Highest LSN on disk.
        flushed: Lsn,
    },
    /// Candidate → storage: promise not to accept lower epochs.
    Prepare {
        /// The new epoch.
        epoch: Epoch,
    },
    /// Storage → candidate: promised, with the node's last record.
    Promise {
        /// The epoch promised.
        epoch: Epoch,
        /// Epoch of the node's last record.
        last_epoch: Epoch,
        /// LSN of the node's last record.
        last_lsn: Lsn,
        /// The commit LSN the node learned.
        commit_lsn: Lsn,
        /// Whether it may have lost acknowledged records.
        memory: Memory,
    },
    /// Reader → storage: committed records from `from_lsn` (a `Peer`
    /// connection also gets records above the commit LSN, to fill holes).
    Read {
        /// First LSN wanted.
        from_lsn: Lsn,
        /// Most bytes of records in the answer.
        max_bytes: u32,
        /// When the node holds nothing past `from_lsn`, how long it may
        /// wait for an append or a new commit LSN before it answers (0:
        /// answer at once; the node caps it at `READ_WAIT_MS_MAX`). A
        /// replica's long poll: it learns of records as soon as the node
        /// holds them, and an idle one costs nothing.
        wait_ms: u32,
    },
    /// Storage → reader: records.
    Records {
        /// Encoded records, contiguous, starting at the requested LSN.
        records: Vec<u8>,
        /// The commit LSN the node knows.
        commit_lsn: Lsn,
    },
    /// Writer → storage: answer (with an Ack) once records up to `lsn` are
    /// on this node's disk (`commit = disk`).
    WaitFlushed {
        /// The LSN to wait for.
        lsn: Lsn,
    },
    /// Subscriber → storage: from now on, push `FlushedLsn` on this stream
    /// whenever the node's flushed LSN advances.
    SubscribeFlushed,
    /// Snapshotter → storage: records at or below `lsn` are covered by a
    /// verified snapshot and may be dropped.
    Truncate {
        /// The highest LSN the snapshot covers.
        lsn: Lsn,
    },
    /// Storage → reader: the records asked for were dropped below a
    /// verified snapshot; the node's log starts after `base_lsn`. A node
    /// holding nothing past it starts its own log there and fills from it
    /// (`docs/protocol.md` R14); a replica restores a snapshot.
    Truncated {
        /// The node's log holds no record at or below this.
        base_lsn: Lsn,
        /// Epoch of the record at `base_lsn`.
        base_epoch: Epoch,
    },
    /// Storage → subscribers: records up to `lsn` are on this node's disk.
    FlushedLsn {
        /// Flushed LSN.
        lsn: Lsn,
        /// Epoch of the record at `lsn` on that node: a report counts only
        /// for the writer whose log holds that same record there.
        epoch: Epoch,
    },
    /// A refusal.
    Error {
        /// Why.
        code: ErrorCode,
        /// The node's current (promised) epoch.
        current_epoch: Epoch,
        /// The node's last LSN (where a writer may resume sending).
        last_lsn: Lsn,
        /// Human-readable detail.
        detail: String,
    },
}

/// Appends the frame of `msg` to `out`.
pub fn encode_frame(msg: &Message, out: &mut Vec<u8>) -> Result<(), WireError> {
    let body = rkyv::to_bytes::<rkyv::rancor::Error>(msg).map_err(|e| WireError::Encode(e.to_string()))?;
    if body.len() > FRAME_BYTES_MAX {
        return Err(WireError::FrameTooLarge(body.len()));
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// Decodes the frame at the front of `buf`: `Ok(None)` if incomplete,
/// otherwise the validated message and the bytes used.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(None);
    };
    let Some(body) = buf.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, FRAME_HEADER_BYTES + len)))
}

/// The body length announced by a frame header, checked against the limit.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(h) = buf.get(..FRAME_HEADER_BYTES) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(WireError::FrameTooLarge(len));
    }
    Ok(Some(len))
}

/// Validates and deserializes a frame body.
pub fn decode_body(body: &[u8]) -> Result<Message, WireError> {
    let mut aligned = AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    rkyv::from_bytes::<Message, rkyv::rancor::Error>(&aligned).map_err(|e| WireError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello { node: 3, role: Role::Writer },
            Message::Append { epoch: 2, prev_lsn: 10, prev_epoch: 1, commit_lsn: 9, records: vec![1, 2, 3] },
            Message::Ack { epoch: 2, scl: 11, flushed: 8 },
            Message::Prepare { epoch: 5 },
            Message::Promise { epoch: 5, last_epoch: 2, last_lsn: 11, commit_lsn: 9, memory: Memory::Restarted },
            Message::Read { from_lsn: 1, max_bytes: 4096, wait_ms: 100 },
            Message::Records { records: vec![], commit_lsn: 4 },
            Message::FlushedLsn { lsn: 7, epoch: 2 },
            Message::WaitFlushed { lsn: 9 },
            Message::SubscribeFlushed,
            Message::Truncate { lsn: 5 },
            Message::Truncated { base_lsn: 5, base_epoch: 2 },
            Message::Error { code: ErrorCode::Fenced, current_epoch: 6, last_lsn: 3, detail: "fenced".into() },
        ]
    }

    #[test]
    fn frames_round_trip_and_stream() {
        let mut stream = Vec::new();
        for m in samples() {
            encode_frame(&m, &mut stream).unwrap();
        }
        let mut at = 0;
        for m in samples() {
            let (got, n) = decode_frame(&stream[at..]).unwrap().unwrap();
            assert_eq!(got, m);
            at += n;
        }
        assert_eq!(at, stream.len());
        assert_eq!(decode_frame(&stream[..3]).unwrap(), None);
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let header = ((FRAME_BYTES_MAX + 1) as u32).to_le_bytes();
        assert_eq!(decode_frame(&header), Err(WireError::FrameTooLarge(FRAME_BYTES_MAX + 1)));
    }

    proptest! {
        #[test]
        fn garbage_bodies_are_rejected_not_trusted(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut frame = (b.len() as u32).to_le_bytes().to_vec();
            frame.extend_from_slice(&b);
            let _ = decode_frame(&frame);
        }
    }
}
