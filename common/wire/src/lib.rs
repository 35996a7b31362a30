//! Sixfold's wire and disk formats: LSNs, epochs and node ids; log records
//! with a CRC32C over header and payload ([`record`]); fabric messages in
//! validated rkyv frames ([`message`]). The byte layouts are documented in
//! `docs/wire-format.md`. No I/O.

pub mod marker;
pub mod message;
pub mod record;

pub use marker::SnapshotMarker;
pub use message::{ErrorCode, Memory, Message, Role, decode_frame, encode_frame};
pub use record::{RECORD_PAYLOAD_BYTES_MAX, Record, RecordKind, decode_run, encode_run};

/// Log sequence number: position of a record in a shard's log, from 1.
pub type Lsn = u64;
/// A writer's term; a higher epoch fences every lower one.
pub type Epoch = u64;
/// Highest epoch a node accepts: epochs are bounded so `epoch + 1` never
/// wraps (a request above it is refused).
pub const EPOCH_MAX: Epoch = u32::MAX as Epoch;
/// Highest LSN a node accepts (same reason).
pub const LSN_MAX: Lsn = 1 << 62;
/// A storage or data node's id.
pub type NodeId = u32;

/// Bytes that are not a valid record or message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The record's CRC does not match its bytes.
    #[error("record CRC mismatch (header claims LSN {lsn_claimed})")]
    BadCrc {
        /// The LSN the (untrusted) header claims.
        lsn_claimed: Lsn,
    },
    /// A record kind this code does not know.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// A record layout version this code does not know.
    #[error("unknown record layout version {0}")]
    UnknownVersion(u8),
    /// A record longer than the limit.
    #[error("record payload of {0} bytes is over the limit")]
    RecordTooLarge(usize),
    /// A run of records ends in the middle of one.
    #[error("truncated record")]
    Truncated,
    /// A run of records skips LSNs.
    #[error("LSN gap: expected {expected}, got {got}")]
    Gap {
        /// The LSN that should have come.
        expected: Lsn,
        /// The LSN that came.
        got: Lsn,
    },
    /// A frame longer than the limit.
    #[error("frame of {0} bytes is over the limit")]
    FrameTooLarge(usize),
    /// A frame that does not validate as a message.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// A message that could not be serialized.
    #[error("cannot encode message: {0}")]
    Encode(String),
}
