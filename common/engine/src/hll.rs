//! HyperLogLog in Redis's own string representation, so a `GET` of an HLL
//! key returns the bytes Redis would, `PFCOUNT` agrees with Redis, and
//! values move between the two (DUMP/RESTORE, `redis-cli --pipe`).
//!
//! Layout (Redis's `hllhdr`): `HYLL`, one encoding byte (0 dense, 1
//! sparse), three unused bytes, an 8-byte little-endian cached cardinality
//! whose top bit marks it stale, then the registers: 16384 6-bit registers
//! packed little-endian (dense), or run-length opcodes (sparse): `00xxxxxx`
//! a run of up to 64 zero registers, `01xxxxxx yyyyyyyy` up to 16384 zeros,
//! `1vvvvvxx` up to 4 registers of value 1–32. An element's register and
//! run length come from MurmurHash64A with Redis's seed; the estimate is
//! Ertl's improved estimator, as Redis 5+ computes it.

/// Registers (2^14).
pub const REGISTERS: usize = 1 << P;
const P: u32 = 14;
/// Hash bits left after the register index.
const Q: u32 = 64 - P;
const REGISTER_MAX: u8 = 63;
/// Bytes before the registers.
pub const HEADER_BYTES: usize = 16;
/// Length of a dense HLL string.
pub const DENSE_BYTES: usize = HEADER_BYTES + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const SPARSE_VALUE_MAX: u8 = 32;
const SPARSE_VAL_RUN_MAX: usize = 4;
const SPARSE_ZERO_RUN_MAX: usize = 64;
const SPARSE_XZERO_RUN_MAX: usize = 16384;
const CARD: std::ops::Range<usize> = 8..16;

/// Why an HLL operation failed, with Redis's error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// Not a string holding an HLL header (or a dense one of the wrong size).
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// A sparse representation that does not cover exactly the registers.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    Corrupt,
}

/// Checks the header; true for the dense encoding.
pub fn check(s: &[u8]) -> Result<bool, HllError> {
    if s.len() < HEADER_BYTES || &s[..4] != b"HYLL" || s[4] > SPARSE {
        return Err(HllError::NotHll);
    }
    let dense = s[4] == DENSE;
    if dense && s.len() != DENSE_BYTES {
        return Err(HllError::NotHll);
    }
    Ok(dense)
}

/// An empty HLL as Redis creates it: sparse, one run of 16384 zeros.
pub fn new_sparse() -> Vec<u8> {
    let mut v = vec![0u8; HEADER_BYTES];
    v[..4].copy_from_slice(b"HYLL");
    v[4] = SPARSE;
    push_zeros(&mut v, REGISTERS);
    v
}

/// Appends the opcode for a run of `n` (1..=16384) zero registers.
fn push_zeros(v: &mut Vec<u8>, n: usize) {
    debug_assert!((1..=SPARSE_XZERO_RUN_MAX).contains(&n));
    if n > SPARSE_ZERO_RUN_MAX {
        v.extend_from_slice(&[0x40 | ((n - 1) >> 8) as u8, ((n - 1) & 0xff) as u8]);
    } else {
        v.push((n - 1) as u8);
    }
}

/// A sparse VAL opcode: `count` (1..=32) repeated `run` (1..=4) times.
fn val_op(count: u8, run: usize) -> u8 {
    0x80 | ((count - 1) << 2) | (run - 1) as u8
}

/// One decoded sparse opcode: its length in bytes, the registers it
/// covers, and their value (0 for the zero runs).
fn opcode(s: &[u8], at: usize) -> (usize, usize, u8) {
    let b = s[at];
    if b & 0xc0 == 0 {
        (1, usize::from(b & 0x3f) + 1, 0)
    } else if b & 0x80 != 0 {
        (1, usize::from(b & 0x3) + 1, ((b >> 2) & 0x1f) + 1)
    } else {
        let low = s.get(at + 1).copied().unwrap_or(0);
        (2, ((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1, 0)
    }
}

/// MurmurHash64A, as Redis hashes HLL elements (little-endian words).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= u64::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^ (h >> R)
}

/// The register an element goes to, and its run length of zero bits
/// plus one (1..=Q+1).
fn register_of(elem: &[u8]) -> (usize, u8) {
    let hash = murmur64a(elem, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Register `i` of dense registers (the byte after the last one reads as
/// zero, as Redis's string terminator does).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let (byte, shift) = (i * 6 / 8, (i * 6) & 7);
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> shift) | (b1 << (8 - shift))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let (byte, shift) = (i * 6 / 8, (i * 6) & 7);
    let v = u16::from(val);
    let mask = u16::from(REGISTER_MAX);
    regs[byte] = ((u16::from(regs[byte]) & !(mask << shift)) | (v << shift)) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        let spill = 8 - shift;
        *next = ((u16::from(*next) & !(mask >> spill)) | (v >> spill)) as u8;
    }
}

/// Sets register `i` of a dense HLL string (PFSELFTEST).
pub fn set_dense(v: &mut [u8], i: usize, val: u8) {
    dense_set(&mut v[HEADER_BYTES..], i, val);
}

/// Raises dense register `i` to `count`; true if it changed.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    let raise = count > dense_get(regs, i);
    if raise {
        dense_set(regs, i, count);
    }
    raise
}

/// Converts a sparse HLL to dense, keeping the header (cached cardinality
/// included); true if it converted, false if it was dense already.
pub fn to_dense(v: &mut Vec<u8>) -> Result<bool, HllError> {
    if v[4] == DENSE {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_BYTES];
    dense[..HEADER_BYTES].copy_from_slice(&v[..HEADER_BYTES]);
    dense[4] = DENSE;
    let (regs, mut idx, mut at) = (&mut dense[HEADER_BYTES..], 0usize, HEADER_BYTES);
    while at < v.len() {
        let (len, run, value) = opcode(v, at);
        if value > 0 {
            if idx + run > REGISTERS {
                break;
            }
            (idx..idx + run).for_each(|i| dense_set(regs, i, value));
        }
        idx += run;
        at += len;
    }
    if idx != REGISTERS {
        return Err(HllError::Corrupt);
    }
    *v = dense;
    Ok(true)
}

/// Adds `elem`; true if a register changed. A sparse HLL becomes dense
/// when a register needs a value over 32 or when it would grow past
/// `sparse_bytes_max` (Redis's `hll-sparse-max-bytes`). On an error the
/// value may be partly changed (the caller keeps the original).
pub fn add(v: &mut Vec<u8>, elem: &[u8], sparse_bytes_max: usize) -> Result<bool, HllError> {
    let (index, count) = register_of(elem);
    raise(v, index, count, sparse_bytes_max)
}

/// Raises register `index` to `count` in either encoding.
pub fn raise(v: &mut Vec<u8>, index: usize, count: u8, sparse_bytes_max: usize) -> Result<bool, HllError> {
    if v[4] == DENSE {
        return Ok(dense_raise(&mut v[HEADER_BYTES..], index, count));
    }
    sparse_raise(v, index, count, sparse_bytes_max)
}

fn sparse_raise(v: &mut Vec<u8>, index: usize, count: u8, sparse_bytes_max: usize) -> Result<bool, HllError> {
    if count > SPARSE_VALUE_MAX {
        return promote(v, index, count);
    }
    // Find the opcode covering `index` (and the one before it).
    let (mut at, mut first, mut prev) = (HEADER_BYTES, 0usize, None);
    let mut found = None;
    while at < v.len() {
        let (len, run, value) = opcode(v, at);
        if index < first + run {
            found = Some((len, run, value));
            break;
        }
        prev = Some(at);
        at += len;
        first += run;
    }
    let Some((len, run, value)) = found else { return Err(HllError::Corrupt) };
    if value >= count {
        return Ok(false);
    }
    let new: Vec<u8> = if run == 1 { vec![val_op(count, 1)] } else { split(index - first, run, value, count) };
    let grows = new.len().saturating_sub(len);
    if grows > 0 && v.len() + grows > sparse_bytes_max {
        return promote(v, index, count);
    }
    // A truncated last XZERO (corrupt input) is replaced as far as it goes.
    v.splice(at..(at + len).min(v.len()), new);
    merge_vals(v, prev.unwrap_or(HEADER_BYTES));
    invalidate(v);
    Ok(true)
}

/// The opcodes replacing a run of `run` registers of `value` whose
/// `offset`-th becomes `count`.
fn split(offset: usize, run: usize, value: u8, count: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    let fill = |out: &mut Vec<u8>, n: usize| {
        if value == 0 { push_zeros(out, n) } else { out.push(val_op(value, n)) }
    };
    if offset > 0 {
        fill(&mut out, offset);
    }
    out.push(val_op(count, 1));
    if offset + 1 < run {
        fill(&mut out, run - offset - 1);
    }
    out
}

/// Merges adjacent VAL opcodes of equal value, scanning up to five
/// opcodes from `from` (Redis's step 4).
fn merge_vals(v: &mut Vec<u8>, from: usize) {
    let is_val = |b: u8| b & 0x80 != 0;
    let (mut at, mut scan) = (from, 5);
    while at < v.len() && scan > 0 {
        scan -= 1;
        let (len, run, value) = opcode(v, at);
        if value == 0 {
            at += len;
            continue;
        }
        if at + 1 < v.len() && is_val(v[at + 1]) {
            let (_, run2, value2) = opcode(v, at + 1);
            if value == value2 && run + run2 <= SPARSE_VAL_RUN_MAX {
                v[at + 1] = val_op(value, run + run2);
                v.remove(at);
                continue;
            }
        }
        at += 1;
    }
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, HllError> {
    to_dense(v)?;
    let raised = dense_raise(&mut v[HEADER_BYTES..], index, count);
    debug_assert!(raised, "a promotion always raises the register");
    Ok(raised)
}

/// Raises `max[i]` to each register of `v` (PFMERGE, PFCOUNT of several
/// keys).
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), HllError> {
    if v[4] == DENSE {
        let regs = &v[HEADER_BYTES..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let (mut idx, mut at) = (0usize, HEADER_BYTES);
    while at < v.len() {
        let (len, run, value) = opcode(v, at);
        if value > 0 {
            if idx + run > REGISTERS {
                break;
            }
            max[idx..idx + run].iter_mut().for_each(|m| *m = (*m).max(value));
        }
        idx += run;
        at += len;
    }
    if idx == REGISTERS { Ok(()) } else { Err(HllError::Corrupt) }
}

/// The estimate of an HLL string.
pub fn count(v: &[u8]) -> Result<u64, HllError> {
    let mut histogram = [0u64; 64];
    if v[4] == DENSE {
        let regs = &v[HEADER_BYTES..];
        (0..REGISTERS).for_each(|i| histogram[usize::from(dense_get(regs, i))] += 1);
    } else {
        let (mut idx, mut at) = (0usize, HEADER_BYTES);
        while at < v.len() {
            let (len, run, value) = opcode(v, at);
            histogram[usize::from(value)] += run as u64;
            idx += run;
            at += len;
        }
        if idx != REGISTERS {
            return Err(HllError::Corrupt);
        }
    }
    Ok(estimate(&histogram))
}

/// The estimate of one register per byte (the union PFCOUNT builds).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histogram = [0u64; 64];
    regs.iter().for_each(|r| histogram[usize::from(*r & REGISTER_MAX)] += 1);
    estimate(&histogram)
}

/// Ertl's estimator ("New cardinality estimation algorithms for
/// HyperLogLog sketches", arXiv:1702.01284) from the register histogram.
fn estimate(histogram: &[u64; 64]) -> u64 {
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// The cached cardinality, if valid.
pub fn cached(v: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(v[CARD].try_into().unwrap_or_default());
    (card >> 63 == 0).then_some(card)
}

/// Stores the cached cardinality.
pub fn set_cached(v: &mut [u8], card: u64) {
    v[CARD].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
pub fn invalidate(v: &mut [u8]) {
    v[CARD.end - 1] |= 0x80;
}

/// The sparse opcodes as PFDEBUG DECODE prints them (`z:64 Z:300 v:3,2`);
/// `None` for a dense HLL.
pub fn decode(v: &[u8]) -> Option<String> {
    if v[4] == DENSE {
        return None;
    }
    let mut parts = Vec::new();
    let mut at = HEADER_BYTES;
    while at < v.len() {
        let (len, run, value) = opcode(v, at);
        parts.push(match (len, value) {
            (_, 1..) => format!("v:{value},{run}"),
            (1, _) => format!("z:{run}"),
            _ => format!("Z:{run}"),
        });
        at += len;
    }
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn dense_registers_hold_values_without_touching_neighbours() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut regs = vec![0u8; DENSE_BYTES - HEADER_BYTES];
        let want: Vec<u8> = (0..REGISTERS).map(|_| rng.random_range(0..=REGISTER_MAX)).collect();
        for (i, w) in want.iter().enumerate() {
            dense_set(&mut regs, i, *w);
        }
        assert!((0..REGISTERS).all(|i| dense_get(&regs, i) == want[i]));
    }

    #[test]
    fn sparse_and_dense_agree_and_estimates_stay_within_bounds() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        let mut checkpoint = 1u64;
        for j in 1..=200_000u64 {
            let e = (j ^ 0x5bd1_e995).to_le_bytes();
            add(&mut sparse, &e, usize::MAX).unwrap();
            add(&mut dense, &e, usize::MAX).unwrap();
            if j == checkpoint {
                assert_eq!(sparse[4], SPARSE, "{j} elements stay sparse with no size limit");
                assert_eq!(count(&sparse), count(&dense));
                let err = (count(&dense).unwrap() as f64 - j as f64).abs();
                assert!(err <= (1.04 / (REGISTERS as f64).sqrt() * 6.0 * j as f64).ceil().max(1.0), "{j}: {err}");
                checkpoint *= 10;
            }
        }
        // A sparse HLL converted to dense has the same registers.
        let mut converted = sparse.clone();
        to_dense(&mut converted).unwrap();
        assert_eq!(converted[HEADER_BYTES..], dense[HEADER_BYTES..]);
    }

    #[test]
    fn a_sparse_hll_is_promoted_past_its_size_limit_or_a_large_count() {
        let mut v = new_sparse();
        let mut n = 0u32;
        while v[4] == SPARSE {
            add(&mut v, &n.to_le_bytes(), 3000).unwrap();
            assert!(v[4] == DENSE || v.len() <= 3000);
            n += 1;
        }
        assert_eq!(v.len(), DENSE_BYTES);
        let mut w = new_sparse();
        assert!(raise(&mut w, 5, 33, 3000).unwrap());
        assert_eq!((w[4], dense_get(&w[HEADER_BYTES..], 5)), (DENSE, 33));
    }

    #[test]
    fn corrupt_sparse_values_are_detected() {
        let mut short = new_sparse();
        short.truncate(HEADER_BYTES);
        assert_eq!(add(&mut short, b"x", 3000), Err(HllError::Corrupt));
        assert_eq!(count(&short), Err(HllError::Corrupt));
        let mut long = new_sparse();
        push_zeros(&mut long, 10);
        assert_eq!(count(&long), Err(HllError::Corrupt));
        assert_eq!(to_dense(&mut long), Err(HllError::Corrupt));
        assert_eq!(check(b"HYLL\x00"), Err(HllError::NotHll));
        assert_eq!(check(&new_sparse()), Ok(false));
    }

    proptest::proptest! {
        /// A sparse body of any bytes: every operation answers or reports
        /// corruption, never panics.
        #[test]
        fn any_sparse_body_is_handled(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300), elems in 1u32..50) {
            let mut v = new_sparse();
            v.truncate(HEADER_BYTES);
            v.extend_from_slice(&body);
            let _ = count(&v);
            let _ = decode(&v);
            let mut max = vec![0u8; REGISTERS];
            let _ = merge_into(&mut max, &v);
            for e in 0..elems {
                if add(&mut v, &e.to_le_bytes(), 200).is_err() {
                    break;
                }
            }
            let _ = to_dense(&mut v);
        }
    }
}
