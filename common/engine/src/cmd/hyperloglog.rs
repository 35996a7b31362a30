//! HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST, on
//! strings in Redis's own representation (`crate::hll`).
//!
//! Effects: PFADD, PFMERGE and PFDEBUG are logged as themselves, except
//! that when a sparse HLL turned dense on the writer (past its
//! `hll-sparse-max-bytes`, a setting replicas need not share) the command
//! is followed by `PFDEBUG TODENSE key`: applying never converts for size.
//! A PFCOUNT that refreshes the cached cardinality changes the string, so
//! the writer logs it (Redis replicates it too); a replica's PFCOUNT
//! computes without caching, leaving its copy as the log made it.

use super::bitmaps::edit;
use crate::args::is;
use crate::exec::{CmdError, CmdResult, Exec, Mode};
use crate::hll::{self, HllError};
use crate::value::Value;
use bytes::Bytes;
use sixfold_resp::Frame;

impl From<HllError> for CmdError {
    fn from(e: HllError) -> CmdError {
        CmdError::Msg(e.to_string())
    }
}

/// The HLL at `key` (checked), or `None` if missing.
fn read(ex: &mut Exec, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    let Some(s) = ex.string(key)? else { return Ok(None) };
    hll::check(&s)?;
    Ok(Some(s))
}

/// The HLL at `key` for editing: its bytes (moved out, no copy when the
/// value is not shared) and whether it existed; a new empty one if not.
fn take(ex: &mut Exec, key: &[u8]) -> Result<(Vec<u8>, bool), CmdError> {
    match ex.string_value(key)? {
        None => Ok((hll::new_sparse(), false)),
        Some(s) => {
            hll::check(s)?;
            Ok((Vec::from(std::mem::take(s)), true))
        }
    }
}

/// Stores an HLL taken with [`take`] (keeping the key's TTL) and marks
/// the key changed.
fn put(ex: &mut Exec, key: &Bytes, v: Vec<u8>, existed: bool) {
    match ex.string_value(key) {
        Ok(Some(s)) if existed => {
            *s = Bytes::from(v);
            ex.touch(key);
        }
        _ => ex.set(key.clone(), Value::Str(Bytes::from(v)), None),
    }
}

/// Puts back an HLL taken with [`take`] without marking a change.
fn restore(ex: &mut Exec, key: &[u8], v: impl Into<Bytes>) {
    if let Ok(Some(s)) = ex.string_value(key) {
        *s = v.into();
    }
}

/// After a command that left `key` dense from sparse on the writer: logs
/// it followed by the conversion (see the module doc).
fn log_promotion(ex: &mut Exec, args: &[Bytes], key: &Bytes, was_dense: bool, v_dense: bool) {
    if ex.mode == Mode::Execute && v_dense && !was_dense {
        ex.propagate(args.to_vec());
        ex.propagate(vec![Bytes::from_static(b"PFDEBUG"), Bytes::from_static(b"TODENSE"), key.clone()]);
    }
}

fn is_dense(v: &[u8]) -> bool {
    hll::check(v) == Ok(true)
}

/// PFADD key [element ...]
pub fn pfadd(ex: &mut Exec, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (mut v, existed) = take(ex, key)?;
    let was_dense = is_dense(&v);
    let mut updated = !existed;
    for elem in &args[2..] {
        match hll::add(&mut v, elem, ex.hll_sparse_bytes_max) {
            Ok(changed) => updated |= changed,
            Err(e) => return Err(corrupt_part_way(ex, key, v, updated, e)),
        }
    }
    if !updated {
        restore(ex, key, v);
        return Ok(Frame::Integer(0));
    }
    hll::invalidate(&mut v);
    let dense = is_dense(&v);
    put(ex, key, v, existed);
    log_promotion(ex, args, key, was_dense, dense);
    Ok(Frame::Integer(1))
}

/// A corrupt sparse HLL found part-way through a PFADD: as in Redis, the
/// registers already raised stay raised and the error is the reply. The
/// change is logged as the bytes themselves (`SET ... KEEPTTL`): the
/// elements alone would not say where the writer stopped.
fn corrupt_part_way(ex: &mut Exec, key: &Bytes, v: Vec<u8>, changed: bool, e: HllError) -> CmdError {
    if !changed {
        restore(ex, key, v);
        return e.into();
    }
    let bytes = Bytes::from(v);
    restore(ex, key, bytes.clone());
    ex.touch(key);
    ex.propagate(vec![Bytes::from_static(b"SET"), key.clone(), bytes, Bytes::from_static(b"KEEPTTL")]);
    e.into()
}

/// PFCOUNT key [key ...]
pub fn pfcount(ex: &mut Exec, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &args[1..] {
            if let Some(s) = read(ex, key)? {
                hll::merge_into(&mut max, &s)?;
            }
        }
        return Ok(Frame::Integer(hll::count_registers(&max) as i64));
    }
    let key = &args[1];
    let Some(s) = read(ex, key)? else { return Ok(Frame::Integer(0)) };
    if let Some(card) = hll::cached(&s) {
        return Ok(Frame::Integer(card as i64));
    }
    let card = hll::count(&s)?;
    drop(s);
    if ex.mode != Mode::Replica {
        edit(ex, key, 0, |m| hll::set_cached(m, card))?;
    }
    Ok(Frame::Integer(card as i64))
}

/// PFMERGE destkey [sourcekey ...]
pub fn pfmerge(ex: &mut Exec, args: &[Bytes]) -> CmdResult {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut any_dense = false;
    for key in &args[1..] {
        if let Some(s) = read(ex, key)? {
            any_dense |= is_dense(&s);
            hll::merge_into(&mut max, &s)?;
        }
    }
    let dest = &args[1];
    let (mut v, existed) = take(ex, dest)?;
    let was_dense = is_dense(&v);
    if any_dense && let Err(e) = hll::to_dense(&mut v) {
        restore(ex, dest, v);
        return Err(e.into());
    }
    for (i, m) in max.iter().enumerate().filter(|(_, m)| **m > 0) {
        // The destination was checked whole by the merge above.
        let _ = hll::raise(&mut v, i, *m, ex.hll_sparse_bytes_max);
    }
    hll::invalidate(&mut v);
    let dense = is_dense(&v);
    put(ex, dest, v, existed);
    log_promotion(ex, args, dest, was_dense, dense);
    Ok(Frame::ok())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
pub fn pfdebug(ex: &mut Exec, args: &[Bytes]) -> CmdResult {
    let (sub, key) = (&args[1], &args[2]);
    let Some(s) = read(ex, key)? else {
        return Err(CmdError::msg("ERR The specified key does not exist"));
    };
    let dense = is_dense(&s);
    if is(sub, "getreg") || is(sub, "todense") {
        if !dense {
            drop(s);
            let (mut v, _) = take(ex, key)?;
            if let Err(e) = hll::to_dense(&mut v) {
                restore(ex, key, v);
                return Err(e.into());
            }
            put(ex, key, v, true);
        }
        if is(sub, "todense") {
            return Ok(Frame::Integer(i64::from(!dense)));
        }
        let s = ex.string(key)?.unwrap_or_default();
        let regs = &s[hll::HEADER_BYTES..];
        return Ok(Frame::Array((0..hll::REGISTERS).map(|i| Frame::Integer(hll::dense_get(regs, i).into())).collect()));
    }
    if is(sub, "decode") {
        let text = hll::decode(&s).ok_or_else(|| CmdError::msg("ERR HLL encoding is not sparse"))?;
        return Ok(Frame::Bulk(Bytes::from(text)));
    }
    if is(sub, "encoding") {
        return Ok(Frame::Simple(if dense { "dense" } else { "sparse" }.into()));
    }
    Err(CmdError::msg(format!("ERR Unknown PFDEBUG subcommand '{}'", String::from_utf8_lossy(sub))))
}

/// PFSELFTEST: Redis's self-test of the registers and the estimator
/// (1,000 rounds of random register writes; 10 million elements in a
/// dense and a sparse HLL, compared with each other and with the truth at
/// each power of ten).
pub fn pfselftest(ex: &mut Exec, _args: &[Bytes]) -> CmdResult {
    use rand::Rng;
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense)?;
    for _ in 0..1000 {
        let want: Vec<u8> = (0..hll::REGISTERS).map(|_| ex.rng.random_range(0..64u8)).collect();
        for (i, w) in want.iter().enumerate() {
            hll::set_dense(&mut dense, i, *w);
        }
        if let Some(i) = (0..hll::REGISTERS).find(|&i| hll::dense_get(&dense[hll::HEADER_BYTES..], i) != want[i]) {
            let got = hll::dense_get(&dense[hll::HEADER_BYTES..], i);
            return Err(CmdError::msg(format!("TESTFAILED Register {i} should be {} but is {got}", want[i])));
        }
    }
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense)?;
    let mut sparse = hll::new_sparse();
    let (seed, limit) = (ex.rng.random::<u64>(), ex.hll_sparse_bytes_max);
    let relative_error = 1.04 / (hll::REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    for j in 1..=10_000_000u64 {
        let elem = (j ^ seed).to_le_bytes();
        hll::add(&mut dense, &elem, limit)?;
        hll::add(&mut sparse, &elem, limit)?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < limit / 2 && is_dense(&sparse) {
            return Err(CmdError::msg("TESTFAILED sparse encoding not used"));
        }
        let card = hll::count(&dense)?;
        if card != hll::count(&sparse)? {
            return Err(CmdError::msg("TESTFAILED dense/sparse disagree"));
        }
        let error = card.abs_diff(j);
        let error_max = if j == 10 { 1 } else { (relative_error * 6.0 * j as f64).ceil() as u64 };
        if error > error_max {
            return Err(CmdError::msg(format!("TESTFAILED Too big error. card:{j} abserr:{error}")));
        }
        checkpoint *= 10;
    }
    Ok(Frame::ok())
}
