//! Effects: the deterministic commands a write is logged as (DESIGN §2).
//!
//! An effect is a Redis command that, applied in order to the state the
//! writer had before the write, reproduces the writer's state exactly: it
//! never depends on the clock, on randomness or on expiry. The effects of one
//! client command (or one MULTI/EXEC) form one group, logged as one record.

use bytes::Bytes;

/// One deterministic command in one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Database number.
    pub db: u32,
    /// The command and its arguments.
    pub args: Vec<Bytes>,
}

impl Effect {
    /// An effect in database `db`.
    pub fn new(db: usize, args: Vec<Bytes>) -> Effect {
        Effect { db: db as u32, args }
    }

    /// The effect as text, for logs and tests: `db 0: SET k v`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        format!("db {}: {}", self.db, parts.join(" "))
    }
}

/// Most effects in one group, and arguments in one effect, a decoder accepts.
const GROUP_ITEMS_MAX: usize = 1 << 24;

/// An effect-group payload that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad effect group: {0}")]
pub struct EffectDecodeError(pub &'static str);

/// Encodes an effect group as the payload of an `Effects` log record
/// (little-endian): `u32` effect count, then per effect `u32` db, `u32`
/// argument count, and per argument `u32` length and bytes.
pub fn encode_group(group: &[Effect]) -> Vec<u8> {
    let size: usize = group.iter().map(|e| 8 + e.args.iter().map(|a| 4 + a.len()).sum::<usize>()).sum();
    let mut out = Vec::with_capacity(4 + size);
    out.extend_from_slice(&(group.len() as u32).to_le_bytes());
    for e in group {
        out.extend_from_slice(&e.db.to_le_bytes());
        out.extend_from_slice(&(e.args.len() as u32).to_le_bytes());
        for a in &e.args {
            out.extend_from_slice(&(a.len() as u32).to_le_bytes());
            out.extend_from_slice(a);
        }
    }
    out
}

/// Decodes an effect group payload, checking every length against the
/// bytes present.
pub fn decode_group(payload: &[u8]) -> Result<Vec<Effect>, EffectDecodeError> {
    let mut r = Reader { buf: payload };
    let n = r.count()?;
    let mut group = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let db = r.u32()?;
        let argc = r.count()?;
        let mut args = Vec::with_capacity(argc.min(1024));
        for _ in 0..argc {
            let len = r.u32()? as usize;
            args.push(Bytes::copy_from_slice(r.take(len)?));
        }
        group.push(Effect { db, args });
    }
    if !r.buf.is_empty() {
        return Err(EffectDecodeError("trailing bytes"));
    }
    Ok(group)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EffectDecodeError> {
        if self.buf.len() < n {
            return Err(EffectDecodeError("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, EffectDecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&mut self) -> Result<usize, EffectDecodeError> {
        let n = self.u32()? as usize;
        if n > GROUP_ITEMS_MAX { Err(EffectDecodeError("count over the limit")) } else { Ok(n) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_trip_and_truncation_is_detected() {
        let g = vec![
            Effect::new(0, vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("v")]),
            Effect::new(3, vec![Bytes::from("DEL"), Bytes::new()]),
        ];
        let bytes = encode_group(&g);
        assert_eq!(decode_group(&bytes).unwrap(), g);
        for cut in 0..bytes.len() {
            assert!(decode_group(&bytes[..cut]).is_err());
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode_group(&extra).is_err());
    }
}
