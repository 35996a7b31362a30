//! Redis's RDB serialization, as `DUMP`/`RESTORE` and `FUNCTION
//! DUMP`/`RESTORE` carry it, so values move between Redis and Sixfold.
//!
//! A payload is one object (type byte and body), the RDB version (10, as
//! Redis 7.0 writes; two bytes little-endian) and the CRC-64 (Jones,
//! Redis's) of everything before it. Sixfold writes strings as Redis does
//! (integers of up to 11 characters as 8/16/32-bit integers, strings over
//! 20 bytes LZF-compressed when that saves 4 bytes), so a string's payload
//! is byte for byte Redis's; collections in the plain encodings every
//! Redis loads (list, set, hash of RDB strings; sorted set with binary
//! scores). It reads every encoding Redis 7.0 writes or loads for the five
//! types: listpacks, intsets, ziplists, quicklists (both versions), and
//! the old sorted set with text scores. Streams are in `rdb_stream`.

use crate::value::{Value, ZSet};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};

/// The RDB version Redis 7.0 writes (and the newest this reads).
pub const RDB_VERSION: u16 = 10;
/// Strings longer than this are offered to LZF (Redis's rule).
const COMPRESS_BYTES_MIN: usize = 20;
/// Largest string or element count a payload may declare (a corrupted
/// length must not allocate more).
const LEN_MAX: u64 = 512 * 1024 * 1024;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_SET_LISTPACK: u8 = 20;

/// Appends the version and checksum that close a payload.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of a payload whose version this reads and whose checksum
/// holds (Redis's `verifyDumpPayload`).
pub fn unseal(payload: &[u8]) -> Option<&[u8]> {
    let body_len = payload.len().checked_sub(10)?;
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().ok()?);
    (version <= RDB_VERSION && CRC64.checksum(&payload[..body_len + 2]) == crc).then_some(&payload[..body_len])
}

/// An RDB length: 6, 14, 32 or 64 bits.
pub fn put_len(out: &mut Vec<u8>, n: usize) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0x80);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
}

/// A string as Redis's `rdbSaveRawString` writes it.
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11
        && let Some(n) = crate::util::parse_i64(s).filter(|n| n.to_string().as_bytes() == s)
    {
        if let Ok(b) = i8::try_from(n) {
            out.extend_from_slice(&[0xC0, b as u8]);
            return;
        } else if let Ok(h) = i16::try_from(n) {
            out.push(0xC1);
            out.extend_from_slice(&h.to_le_bytes());
            return;
        } else if let Ok(w) = i32::try_from(n) {
            out.push(0xC2);
            out.extend_from_slice(&w.to_le_bytes());
            return;
        }
    }
    if s.len() > COMPRESS_BYTES_MIN
        && let Ok(packed) = lzf::compress(s)
        && packed.len() <= s.len() - 4
    {
        out.push(0xC3);
        put_len(out, packed.len());
        put_len(out, s.len());
        out.extend_from_slice(&packed);
        return;
    }
    put_len(out, s.len());
    out.extend_from_slice(s);
}

/// The next `n` bytes of `r`.
pub fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if r.len() < n {
        return None;
    }
    let (head, rest) = r.split_at(n);
    *r = rest;
    Some(head)
}

/// An RDB length, or the special encoding it announces (`Err`).
pub fn get_len(r: &mut &[u8]) -> Option<Result<u64, u8>> {
    let first = take(r, 1)?[0];
    Some(match first >> 6 {
        0 => Ok(u64::from(first & 0x3f)),
        1 => Ok(u64::from(first & 0x3f) << 8 | u64::from(take(r, 1)?[0])),
        3 => Err(first & 0x3f),
        _ if first == 0x80 => Ok(u64::from(u32::from_be_bytes(take(r, 4)?.try_into().ok()?))),
        _ if first == 0x81 => Ok(u64::from_be_bytes(take(r, 8)?.try_into().ok()?)),
        _ => return None,
    })
}

/// A plain length within the bound.
fn count(r: &mut &[u8]) -> Option<usize> {
    get_len(r)?.ok().filter(|n| *n <= LEN_MAX).map(|n| n as usize)
}

/// An RDB string in any of its encodings.
pub fn get_string(r: &mut &[u8]) -> Option<Vec<u8>> {
    match get_len(r)? {
        Ok(n) if n <= LEN_MAX => Some(take(r, n as usize)?.to_vec()),
        Ok(_) => None,
        // Integers stored as 8, 16 or 32 bits.
        Err(enc @ 0..=2) => {
            let b = take(r, 1 << enc)?;
            let n = match enc {
                0 => i64::from(b[0] as i8),
                1 => i64::from(i16::from_le_bytes([b[0], b[1]])),
                _ => i64::from(i32::from_le_bytes(b.try_into().ok()?)),
            };
            Some(n.to_string().into_bytes())
        }
        Err(3) => {
            let (packed_len, plain_len) = (count(r)?, count(r)?);
            let out = lzf::decompress(take(r, packed_len)?, plain_len).ok()?;
            (out.len() == plain_len).then_some(out)
        }
        Err(_) => None,
    }
}

/// The payload `DUMP` answers for a value.
pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Value::Str(s) => {
            out.push(TYPE_STRING);
            put_string(&mut out, s);
        }
        Value::List(l) => strings(&mut out, TYPE_LIST, l.len(), l.iter()),
        Value::Set(s) => strings(&mut out, TYPE_SET, s.len(), s.iter()),
        Value::Hash(h) => {
            out.push(TYPE_HASH);
            put_len(&mut out, h.len());
            for (f, v) in h {
                put_string(&mut out, f);
                put_string(&mut out, v);
            }
        }
        Value::ZSet(z) => {
            out.push(TYPE_ZSET_2);
            put_len(&mut out, z.len());
            for (m, s) in z.iter() {
                put_string(&mut out, m);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        Value::Stream(st) => {
            out.push(crate::rdb_stream::TYPE_STREAM_2);
            crate::rdb_stream::dump(&mut out, st);
        }
    }
    seal(out)
}

fn strings<'a>(out: &mut Vec<u8>, kind: u8, n: usize, items: impl Iterator<Item = &'a Bytes>) {
    out.push(kind);
    put_len(out, n);
    items.for_each(|s| put_string(out, s));
}

/// The value a payload body (after [`unseal`]) holds; `None` for a body
/// that is malformed, of a type Sixfold does not hold (modules),
/// or an empty collection (Redis refuses those too).
pub fn load(body: &[u8]) -> Option<Value> {
    let mut r = body;
    let kind = take(&mut r, 1)?[0];
    let v = match kind {
        TYPE_STRING => Value::Str(get_string(&mut r)?.into()),
        TYPE_LIST => Value::List(repeat(&mut r, get_bytes)?.into()),
        TYPE_SET => Value::Set(repeat(&mut r, get_bytes)?.into_iter().collect()),
        TYPE_HASH => Value::Hash(pairs(repeat(&mut r, |r| Some((get_bytes(r)?, get_bytes(r)?)))?)),
        TYPE_ZSET | TYPE_ZSET_2 => {
            let text = kind == TYPE_ZSET;
            zset(repeat(&mut r, |r| Some((get_bytes(r)?, if text { text_score(r)? } else { binary_score(r)? })))?)?
        }
        TYPE_SET_INTSET => Value::Set(intset(&get_string(&mut r)?)?.into_iter().collect()),
        TYPE_SET_LISTPACK => Value::Set(listpack_items(&get_string(&mut r)?)?.into_iter().collect()),
        TYPE_LIST_ZIPLIST => Value::List(ziplist(&get_string(&mut r)?)?.into()),
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => Value::Hash(pairs(flat_pairs(packed(kind, &get_string(&mut r)?)?)?)),
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let items = flat_pairs(packed(kind, &get_string(&mut r)?)?)?;
            let scored = items.into_iter().map(|(m, s)| Some((m, crate::util::parse_f64(&s)?)));
            zset(scored.collect::<Option<Vec<_>>>()?)?
        }
        TYPE_LIST_QUICKLIST => Value::List(quicklist(&mut r, false)?),
        TYPE_LIST_QUICKLIST_2 => Value::List(quicklist(&mut r, true)?),
        crate::rdb_stream::TYPE_STREAM_1 | crate::rdb_stream::TYPE_STREAM_2 | crate::rdb_stream::TYPE_STREAM_3 => {
            Value::Stream(Box::new(crate::rdb_stream::load(&mut r, kind)?))
        }
        _ => return None,
    };
    (r.is_empty() && !v.is_empty_collection()).then_some(v)
}

fn get_bytes(r: &mut &[u8]) -> Option<Bytes> {
    get_string(r).map(Bytes::from)
}

/// A length, then that many items.
fn repeat<T>(r: &mut &[u8], mut item: impl FnMut(&mut &[u8]) -> Option<T>) -> Option<Vec<T>> {
    let n = count(r)?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        out.push(item(r)?);
    }
    Some(out)
}

fn pairs(items: Vec<(Bytes, Bytes)>) -> HashMap<Bytes, Bytes> {
    items.into_iter().collect()
}

fn flat_pairs(items: Vec<Bytes>) -> Option<Vec<(Bytes, Bytes)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Some(out)
}

fn zset(items: Vec<(Bytes, f64)>) -> Option<Value> {
    let mut z = ZSet::default();
    for (m, s) in items {
        if s.is_nan() {
            return None;
        }
        z.insert(m, s);
    }
    Some(Value::ZSet(z))
}

fn binary_score(r: &mut &[u8]) -> Option<f64> {
    Some(f64::from_le_bytes(take(r, 8)?.try_into().ok()?))
}

/// The old sorted set's score: a length byte (253 NaN, 254 +inf, 255
/// -inf) and the score as text.
fn text_score(r: &mut &[u8]) -> Option<f64> {
    match take(r, 1)?[0] {
        253 => Some(f64::NAN),
        254 => Some(f64::INFINITY),
        255 => Some(f64::NEG_INFINITY),
        n => std::str::from_utf8(take(r, usize::from(n))?).ok()?.parse().ok(),
    }
}

/// A listpack's or a ziplist's elements, by the type that holds it.
fn packed(kind: u8, blob: &[u8]) -> Option<Vec<Bytes>> {
    if matches!(kind, TYPE_HASH_ZIPLIST | TYPE_ZSET_ZIPLIST) { ziplist(blob) } else { listpack_items(blob) }
}

/// Quicklist nodes: ziplists (version 1), or listpack / plain elements
/// (version 2).
fn quicklist(r: &mut &[u8], v2: bool) -> Option<VecDeque<Bytes>> {
    let nodes = count(r)?;
    let mut out = VecDeque::new();
    for _ in 0..nodes {
        let container = if v2 { count(r)? } else { 2 };
        let blob = get_string(r)?;
        match (v2, container) {
            (false, _) => out.extend(ziplist(&blob)?),
            (true, 1) => out.push_back(Bytes::from(blob)),
            (true, 2) => out.extend(listpack_items(&blob)?),
            _ => return None,
        }
    }
    Some(out)
}

/// An intset: encoding (2, 4 or 8 bytes per element), count, elements,
/// little-endian.
fn intset(blob: &[u8]) -> Option<Vec<Bytes>> {
    let mut r = blob;
    let width = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?) as usize;
    let n = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || r.len() != n.checked_mul(width)? {
        return None;
    }
    let int = |c: &[u8]| match width {
        2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
        4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        _ => i64::from_le_bytes(c.try_into().unwrap_or_default()),
    };
    Some(r.chunks(width).map(|c| Bytes::from(int(c).to_string())).collect())
}

/// A signed integer of `bits` bits from its low bits.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |acc, x| acc << 8 | u64::from(*x))
}

/// A listpack's elements: a 6-byte header, entries (encoding, data,
/// back-length), the 0xFF end byte.
pub(crate) fn listpack_items(blob: &[u8]) -> Option<Vec<Bytes>> {
    let mut r = blob;
    let total = le(take(&mut r, 4)?) as usize;
    take(&mut r, 2)?;
    if total != blob.len() {
        return None;
    }
    let mut out = Vec::new();
    loop {
        let b = *r.first()?;
        if b == 0xFF {
            return (r.len() == 1).then_some(out);
        }
        let (head, data): (usize, usize) = match b {
            0x00..=0x7F => (1, 0),
            0x80..=0xBF => (1, usize::from(b & 0x3f)),
            0xC0..=0xDF => (2, 0),
            0xE0..=0xEF => (2, usize::from(b & 0x0f) << 8 | usize::from(*r.get(1)?)),
            0xF0 => (5, le(r.get(1..5)?) as usize),
            0xF1..=0xF4 => (1, [2, 3, 4, 8][usize::from(b - 0xF1)]),
            _ => return None,
        };
        let entry = take(&mut r, head + data)?;
        out.push(match b {
            0x00..=0x7F => Bytes::from((b & 0x7f).to_string()),
            0xC0..=0xDF => Bytes::from(sign_extend(u64::from(b & 0x1f) << 8 | u64::from(entry[1]), 13).to_string()),
            0xF1..=0xF4 => Bytes::from(sign_extend(le(&entry[1..]), data as u32 * 8).to_string()),
            _ => Bytes::copy_from_slice(&entry[head..]),
        });
        take(&mut r, backlen_bytes(head + data))?;
    }
}

/// How many bytes a listpack entry of `len` bytes (encoding and data)
/// takes to give its length backwards (7 bits a byte).
pub(crate) fn backlen_bytes(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// A ziplist's elements: a 10-byte header, entries (previous length,
/// encoding, data), the 0xFF end byte.
fn ziplist(blob: &[u8]) -> Option<Vec<Bytes>> {
    let mut r = blob;
    let total = le(take(&mut r, 4)?) as usize;
    take(&mut r, 6)?;
    if total != blob.len() {
        return None;
    }
    let mut out = Vec::new();
    loop {
        if *r.first()? == 0xFF {
            return (r.len() == 1).then_some(out);
        }
        let prev = take(&mut r, 1)?[0];
        if prev == 0xFE {
            take(&mut r, 4)?;
        }
        let b = take(&mut r, 1)?[0];
        out.push(match b >> 6 {
            0 => Bytes::copy_from_slice(take(&mut r, usize::from(b & 0x3f))?),
            1 => {
                let n = usize::from(b & 0x3f) << 8 | usize::from(take(&mut r, 1)?[0]);
                Bytes::copy_from_slice(take(&mut r, n)?)
            }
            2 => {
                let n = u32::from_be_bytes(take(&mut r, 4)?.try_into().ok()?) as usize;
                Bytes::copy_from_slice(take(&mut r, n)?)
            }
            _ => {
                let n = match b {
                    0xC0 => sign_extend(le(take(&mut r, 2)?), 16),
                    0xD0 => sign_extend(le(take(&mut r, 4)?), 32),
                    0xE0 => sign_extend(le(take(&mut r, 8)?), 64),
                    0xF0 => sign_extend(le(take(&mut r, 3)?), 24),
                    0xFE => sign_extend(le(take(&mut r, 1)?), 8),
                    0xF1..=0xFD => i64::from(b & 0x0f) - 1,
                    _ => return None,
                };
                Bytes::from(n.to_string())
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_form_and_integer_strings_decode() {
        for n in [0usize, 63, 64, 16_383, 16_384, 70_000] {
            let mut out = Vec::new();
            put_len(&mut out, n);
            assert_eq!(get_len(&mut &out[..]), Some(Ok(n as u64)));
        }
        assert_eq!(get_string(&mut &[0xC0, 0xFB][..]), Some(b"-5".to_vec()));
        assert_eq!(get_string(&mut &[0xC1, 0x39, 0x30][..]), Some(b"12345".to_vec()));
        assert_eq!(get_string(&mut &[0xC2, 0x15, 0xCD, 0x5B, 0x07][..]), Some(b"123456789".to_vec()));
        for s in ["0", "-128", "300", "-70000", "2147483648", "007", "12345678901", "x"] {
            let mut out = Vec::new();
            put_string(&mut out, s.as_bytes());
            assert_eq!(get_string(&mut &out[..]), Some(s.as_bytes().to_vec()), "{s}");
        }
    }

    #[test]
    fn values_round_trip_and_damage_is_refused() {
        let b = |s: &str| Bytes::from(s.to_string());
        let mut z = ZSet::default();
        z.insert(b("m"), 1.5);
        z.insert(b("n"), f64::NEG_INFINITY);
        let values = [
            Value::Str(b(&"long value ".repeat(20))),
            Value::List([b("a"), b("1"), b("")].into()),
            Value::Set([b("x"), b("-3")].into_iter().collect()),
            Value::Hash([(b("f"), b("v")), (b("g"), b("12"))].into_iter().collect()),
            Value::ZSet(z),
        ];
        for v in values {
            let p = dump(&v);
            assert_eq!(load(unseal(&p).unwrap()), Some(v.clone()));
            for i in 0..p.len() {
                let mut bad = p.clone();
                bad[i] ^= 0x10;
                assert!(unseal(&bad).is_none(), "a flipped byte at {i} is caught");
            }
        }
        assert_eq!(load(&[TYPE_LIST, 0]), None, "an empty list is refused");
    }

    #[test]
    fn listpack_entries_of_every_width_decode() {
        // 7-bit 5, 13-bit -2, string "ab", 16-bit 1000, 32-bit 70000.
        let mut entries = vec![0x05, 1, 0xDF, 0xFE, 2, 0x82, b'a', b'b', 3, 0xF1, 0xE8, 0x03, 3];
        entries.extend_from_slice(&[0xF3, 0x70, 0x11, 0x01, 0x00, 5]);
        let total = 6 + entries.len() + 1;
        let mut blob = (total as u32).to_le_bytes().to_vec();
        blob.extend_from_slice(&5u16.to_le_bytes());
        blob.extend_from_slice(&entries);
        blob.push(0xFF);
        let got: Vec<String> =
            listpack_items(&blob).unwrap().iter().map(|e| String::from_utf8_lossy(e).into_owned()).collect();
        assert_eq!(got, ["5", "-2", "ab", "1000", "70000"]);
    }

    proptest::proptest! {
        /// Any body (a type byte and noise, or a valid value's body with
        /// bytes changed) loads or is refused, never panics; what loads
        /// dumps and loads again to itself.
        #[test]
        fn any_body_loads_or_is_refused(kind in 0u8..22, noise in proptest::collection::vec(proptest::num::u8::ANY, 0..200), flip in 0usize..64) {
            let mut body = vec![kind];
            body.extend_from_slice(&noise);
            let valid = dump(&Value::List([Bytes::from("a"), Bytes::from("12")].into()));
            let mut damaged = unseal(&valid).map(<[u8]>::to_vec).unwrap_or_default();
            let at = flip % damaged.len().max(1);
            if let Some(b) = damaged.get_mut(at) {
                *b ^= noise.first().copied().unwrap_or(1);
            }
            for b in [&body, &damaged] {
                if let Some(v) = load(b) {
                    proptest::prop_assert_eq!(unseal(&dump(&v)).and_then(load), Some(v));
                }
            }
        }
    }
}
