//! The state digest: a BLAKE3 hash of the whole keyspace that does not
//! depend on hash-table order.
//!
//! Each key contributes the BLAKE3 hash of a canonical encoding of
//! `(db, key, expiry, type, value)`, where sets and hashes are sorted and
//! lists and sorted sets are in their order; the digest is the XOR of those
//! per-key hashes (keys are unique, so nothing cancels). Two engines have
//! equal digests exactly when they hold the same data with the same expiry
//! times. Replicas and snapshots are verified with it.

use crate::db::Keyspace;
use crate::value::Value;

/// A 32-byte digest of the keyspace.
pub fn digest(ks: &Keyspace) -> [u8; 32] {
    let mut acc = [0u8; 32];
    for (dbi, db) in ks.dbs.iter().enumerate() {
        for (key, entry) in db.iter() {
            let mut h = blake3::Hasher::new();
            h.update(&(dbi as u32).to_le_bytes());
            field(&mut h, key);
            h.update(&entry.expire_at_ms.unwrap_or(-1).to_le_bytes());
            h.update(entry.value.type_name().as_bytes());
            value(&mut h, &entry.value);
            for (a, b) in acc.iter_mut().zip(h.finalize().as_bytes()) {
                *a ^= b;
            }
        }
    }
    acc
}

/// The digest of the function libraries (name and code each), XORed
/// into the keyspace's by [`crate::Engine::digest`]: a restore that lost
/// a library does not verify.
pub fn libraries_digest<'a>(libs: impl Iterator<Item = (&'a str, &'a [u8])>) -> [u8; 32] {
    let mut acc = [0u8; 32];
    for (name, code) in libs {
        let mut h = blake3::Hasher::new();
        h.update(b"function-library");
        field(&mut h, name.as_bytes());
        field(&mut h, code);
        for (a, b) in acc.iter_mut().zip(h.finalize().as_bytes()) {
            *a ^= b;
        }
    }
    acc
}

/// A digest as lowercase hex.
pub fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn field(h: &mut blake3::Hasher, b: &[u8]) {
    h.update(&(b.len() as u64).to_le_bytes());
    h.update(b);
}

fn value(h: &mut blake3::Hasher, v: &Value) {
    match v {
        Value::Str(s) => field(h, s),
        Value::List(l) => l.iter().for_each(|e| field(h, e)),
        Value::Set(s) => {
            let mut m: Vec<_> = s.iter().collect();
            m.sort();
            m.into_iter().for_each(|e| field(h, e));
        }
        Value::Hash(map) => {
            let mut m: Vec<_> = map.iter().collect();
            m.sort();
            for (k, v) in m {
                field(h, k);
                field(h, v);
            }
        }
        Value::ZSet(z) => {
            for (m, s) in z.iter() {
                field(h, m);
                h.update(&s.to_bits().to_le_bytes());
            }
        }
        Value::Stream(st) => stream(h, st),
    }
}

/// A stream's entries, counters and groups (not when consumers were last
/// seen: a replica applies at its own time).
fn stream(h: &mut blake3::Hasher, st: &crate::stream::Stream) {
    let id = |h: &mut blake3::Hasher, i: crate::stream::StreamId| {
        h.update(&i.ms.to_le_bytes());
        h.update(&i.seq.to_le_bytes());
    };
    for (i, fields) in &st.entries {
        id(h, *i);
        fields.iter().for_each(|f| field(h, f));
    }
    h.update(b"stream-counters");
    id(h, st.last_id);
    id(h, st.max_deleted);
    h.update(&st.entries_added.to_le_bytes());
    for (name, g) in &st.groups {
        field(h, name);
        id(h, g.last_id);
        h.update(&g.entries_read.map_or(u64::MAX, |n| n).to_le_bytes());
        for (i, p) in &g.pel {
            id(h, *i);
            field(h, &p.consumer);
            h.update(&p.delivered_ms.to_le_bytes());
            h.update(&p.deliveries.to_le_bytes());
        }
        for (c, consumer) in &g.consumers {
            field(h, c);
            h.update(&(consumer.pending.len() as u64).to_le_bytes());
        }
    }
}
