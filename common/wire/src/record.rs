//! Log records and their byte layout (on disk and on the wire alike).
//!
//! Layout, little-endian, version 1 (see `docs/wire-format.md`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | CRC32C of bytes 4 .. 32 + payload_len |
//! | 4 | 4 | payload_len |
//! | 8 | 8 | lsn |
//! | 16 | 8 | epoch |
//! | 24 | 1 | kind |
//! | 25 | 1 | layout version (1) |
//! | 26 | 6 | zero |
//! | 32 | payload_len | payload |

use crate::{Epoch, Lsn, WireError};
use bytes::{BufMut, Bytes};

/// Size of a record header.
pub const RECORD_HEADER_BYTES: usize = 32;
/// Largest payload of one record.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;
/// The record layout version this code writes and reads.
pub const RECORD_LAYOUT_VERSION: u8 = 1;

/// What a record holds (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// The effects of one client command or one MULTI/EXEC.
    Effects = 1,
    /// The writer renewed its lease.
    LeaseRenewal = 2,
    /// A new writer took over at this epoch.
    LeaderChange = 3,
    /// A running digest of the log.
    Checksum = 4,
    /// A verified snapshot exists at an LSN.
    SnapshotMarker = 5,
}

impl RecordKind {
    fn from_u8(b: u8) -> Option<RecordKind> {
        Some(match b {
            1 => RecordKind::Effects,
            2 => RecordKind::LeaseRenewal,
            3 => RecordKind::LeaderChange,
            4 => RecordKind::Checksum,
            5 => RecordKind::SnapshotMarker,
            _ => return None,
        })
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Position in the log, from 1, contiguous.
    pub lsn: Lsn,
    /// The writer's term when it was written.
    pub epoch: Epoch,
    /// What it holds.
    pub kind: RecordKind,
    /// The body (for `Effects`: the encoded effect group).
    pub payload: Bytes,
}

impl Record {
    /// Size of the encoded record.
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_BYTES + self.payload.len()
    }

    /// Appends the encoded record (header with CRC, then payload) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(self.encoded_len());
        out.put_u32_le(0);
        out.put_u32_le(self.payload.len() as u32);
        out.put_u64_le(self.lsn);
        out.put_u64_le(self.epoch);
        out.put_u8(self.kind as u8);
        out.put_u8(RECORD_LAYOUT_VERSION);
        out.put_slice(&[0u8; 6]);
        out.put_slice(&self.payload);
        let crc = crc32c::crc32c(&out[start + 4..]);
        out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes the record at the front of `buf`. `Ok(None)` when `buf` holds
    /// only part of a record; an error when the bytes are not a valid record
    /// (bad CRC, unknown kind or version, oversized length).
    pub fn decode(buf: &[u8]) -> Result<Option<(Record, usize)>, WireError> {
        let Some(header) = buf.get(..RECORD_HEADER_BYTES) else {
            return Ok(None);
        };
        let le32 = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let le64 = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let len = le32(4) as usize;
        if len > RECORD_PAYLOAD_BYTES_MAX {
            return Err(WireError::RecordTooLarge(len));
        }
        let Some(body) = buf.get(4..RECORD_HEADER_BYTES + len) else {
            return Ok(None);
        };
        if crc32c::crc32c(body) != le32(0) {
            return Err(WireError::BadCrc { lsn_claimed: le64(8) });
        }
        if header[25] != RECORD_LAYOUT_VERSION {
            return Err(WireError::UnknownVersion(header[25]));
        }
        let kind = RecordKind::from_u8(header[24]).ok_or(WireError::UnknownKind(header[24]))?;
        let payload = Bytes::copy_from_slice(&buf[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len]);
        Ok(Some((Record { lsn: le64(8), epoch: le64(16), kind, payload }, RECORD_HEADER_BYTES + len)))
    }
}

/// Decodes a run of complete records (an Append or Records message body),
/// checking every CRC and that LSNs are contiguous.
pub fn decode_run(mut buf: &[u8]) -> Result<Vec<Record>, WireError> {
    let mut out: Vec<Record> = Vec::new();
    while !buf.is_empty() {
        let (r, n) = Record::decode(buf)?.ok_or(WireError::Truncated)?;
        if let Some(prev) = out.last()
            && r.lsn != prev.lsn + 1
        {
            return Err(WireError::Gap { expected: prev.lsn + 1, got: r.lsn });
        }
        out.push(r);
        buf = &buf[n..];
    }
    Ok(out)
}

/// Encodes records back to back.
pub fn encode_run(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(Record::encoded_len).sum());
    for r in records {
        r.encode(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(lsn: u64, payload: &[u8]) -> Record {
        Record { lsn, epoch: 3, kind: RecordKind::Effects, payload: Bytes::copy_from_slice(payload) }
    }

    #[test]
    fn layout_is_stable() {
        let mut out = Vec::new();
        rec(7, b"abc").encode(&mut out);
        assert_eq!(out.len(), 35);
        assert_eq!(&out[4..8], &3u32.to_le_bytes());
        assert_eq!(&out[8..16], &7u64.to_le_bytes());
        assert_eq!(out[24], 1);
        assert_eq!(out[25], RECORD_LAYOUT_VERSION);
        assert_eq!(&out[32..], b"abc");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut good = Vec::new();
        rec(1, b"hello world").encode(&mut good);
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[byte] ^= 1 << bit;
                let r = Record::decode(&bad);
                assert!(!matches!(r, Ok(Some((ref x, _))) if *x == rec(1, b"hello world")), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn runs_must_be_contiguous() {
        let run = encode_run(&[rec(1, b"a"), rec(2, b"b"), rec(4, b"c")]);
        assert_eq!(decode_run(&run), Err(WireError::Gap { expected: 3, got: 4 }));
        let run = encode_run(&[rec(1, b"a"), rec(2, b"b")]);
        assert_eq!(decode_run(&run).unwrap().len(), 2);
        assert_eq!(decode_run(&run[..run.len() - 1]), Err(WireError::Truncated));
    }

    proptest! {
        #[test]
        fn round_trip(lsn in any::<u64>(), epoch in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = Record { lsn, epoch, kind: RecordKind::LeaseRenewal, payload: payload.into() };
            let mut out = Vec::new();
            r.encode(&mut out);
            let (back, n) = Record::decode(&out).unwrap().unwrap();
            prop_assert_eq!(n, out.len());
            prop_assert_eq!(back, r);
            for cut in 0..out.len() {
                prop_assert_eq!(Record::decode(&out[..cut]).unwrap(), None);
            }
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Record::decode(&b);
            let _ = decode_run(&b);
        }
    }
}
