//! The payload of a `SnapshotMarker` record: a snapshot that was written,
//! read back and verified holds the state at (`lsn`, `epoch`), whose
//! running log checksum is `log_checksum` (`docs/snapshot-format.md`).
//! Data nodes report the newest marker they applied (INFO persistence);
//! the layout is in `docs/wire-format.md`.
//!
//! Layout, little-endian: version `u8` (1), `lsn u64`, `epoch u64`,
//! `log_checksum [u8; 32]`, `bytes u64`, `keys u64`, `made_unix_ms u64`,
//! `duration_ms u64`, name length `u16`, name (UTF-8).

use crate::{Epoch, Lsn, WireError};
use bytes::{BufMut, Bytes, BytesMut};

/// The marker layout this code writes and reads.
pub const MARKER_VERSION: u8 = 1;
/// Longest snapshot object name a marker carries, in bytes.
pub const MARKER_NAME_BYTES_MAX: usize = 1024;
/// Bytes before the name.
const FIXED_BYTES: usize = 1 + 8 + 8 + 32 + 8 * 4 + 2;

/// A verified snapshot, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotMarker {
    /// The LSN the snapshot holds the state at.
    pub lsn: Lsn,
    /// The epoch of the record at `lsn`.
    pub epoch: Epoch,
    /// The running log checksum at `lsn`.
    pub log_checksum: [u8; 32],
    /// The snapshot's size in bytes.
    pub bytes: u64,
    /// Keys it holds.
    pub keys: u64,
    /// When it was verified (Unix milliseconds, the snapshotter's clock).
    pub made_unix_ms: u64,
    /// How long making it took, from restore to verified.
    pub duration_ms: u64,
    /// Its object name in the store.
    pub name: String,
}

impl SnapshotMarker {
    /// The record payload.
    pub fn encode(&self) -> Bytes {
        let name = &self.name.as_bytes()[..self.name.len().min(MARKER_NAME_BYTES_MAX)];
        let mut b = BytesMut::with_capacity(FIXED_BYTES + name.len());
        b.put_u8(MARKER_VERSION);
        b.put_u64_le(self.lsn);
        b.put_u64_le(self.epoch);
        b.put_slice(&self.log_checksum);
        for n in [self.bytes, self.keys, self.made_unix_ms, self.duration_ms] {
            b.put_u64_le(n);
        }
        b.put_u16_le(name.len() as u16);
        b.put_slice(name);
        b.freeze()
    }

    /// Reads a payload written by [`SnapshotMarker::encode`].
    pub fn decode(b: &[u8]) -> Result<SnapshotMarker, WireError> {
        let (&version, rest) = b.split_first().ok_or(WireError::Truncated)?;
        if version != MARKER_VERSION {
            return Err(WireError::UnknownVersion(version));
        }
        if b.len() < FIXED_BYTES {
            return Err(WireError::Truncated);
        }
        let u64_at = |i: usize| u64::from_le_bytes(rest[i..i + 8].try_into().unwrap_or_default());
        let mut log_checksum = [0u8; 32];
        log_checksum.copy_from_slice(&rest[16..48]);
        let name_len = usize::from(u16::from_le_bytes([rest[80], rest[81]]));
        if name_len > MARKER_NAME_BYTES_MAX {
            return Err(WireError::Invalid(format!("snapshot marker name of {name_len} bytes")));
        }
        let name = rest.get(82..82 + name_len).ok_or(WireError::Truncated)?;
        if rest.len() != 82 + name_len {
            return Err(WireError::Invalid("bytes after the snapshot marker".into()));
        }
        let name =
            std::str::from_utf8(name).map_err(|_| WireError::Invalid("snapshot marker name not UTF-8".into()))?;
        Ok(SnapshotMarker {
            lsn: u64_at(0),
            epoch: u64_at(8),
            log_checksum,
            bytes: u64_at(48),
            keys: u64_at(56),
            made_unix_ms: u64_at(64),
            duration_ms: u64_at(72),
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker() -> SnapshotMarker {
        SnapshotMarker {
            lsn: 1_000_000,
            epoch: 7,
            log_checksum: [0xab; 32],
            bytes: 52_800_000,
            keys: 1_000_000,
            made_unix_ms: 1_800_000_000_000,
            duration_ms: 7_660,
            name: "snapshot-00000000000001000000.snap".into(),
        }
    }

    #[test]
    fn a_marker_round_trips() {
        let m = marker();
        assert_eq!(SnapshotMarker::decode(&m.encode()), Ok(m));
        let empty = SnapshotMarker::default();
        assert_eq!(SnapshotMarker::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn short_long_and_foreign_payloads_are_refused() {
        let b = marker().encode();
        for cut in 0..b.len() {
            assert!(SnapshotMarker::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = b.to_vec();
        long.push(0);
        assert!(SnapshotMarker::decode(&long).is_err());
        let mut other = b.to_vec();
        other[0] = 2;
        assert_eq!(SnapshotMarker::decode(&other), Err(WireError::UnknownVersion(2)));
        let mut bad_name = b.to_vec();
        let last = bad_name.len() - 1;
        bad_name[last] = 0xff;
        assert!(SnapshotMarker::decode(&bad_name).is_err(), "not UTF-8");
    }
}
