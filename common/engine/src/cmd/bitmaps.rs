//! Bitmap commands on strings: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO. Bit 0 is the most significant bit of the first byte, as in
//! Redis. Every write here is deterministic, so it is logged as itself.
//! A string is changed in place when nothing else holds it (`Bytes` that
//! are unique become mutable without a copy).

use crate::args::{int, is};
use crate::exec::{CmdError, CmdResult, Exec};
use bytes::{Bytes, BytesMut};
use sixfold_resp::Frame;

/// Largest bit offset plus one (512 MiB of bits, Redis's limit).
const BITS_MAX: u64 = 4 * 1024 * 1024 * 1024;

fn bad_offset() -> CmdError {
    CmdError::msg("ERR bit offset is not an integer or out of range")
}

/// A bit offset argument: below 2³² (512 MiB of bits, Redis's
/// `proto-max-bulk-len` bound); `#n` (BITFIELD) is the n-th field of
/// `width` bits.
fn offset(b: &[u8], width: Option<u64>) -> Result<u64, CmdError> {
    let (hash, digits) = match (b.first(), width) {
        (Some(b'#'), Some(_)) => (true, &b[1..]),
        _ => (false, b),
    };
    let n = crate::util::parse_i64(digits).filter(|n| *n >= 0).ok_or_else(bad_offset)? as u64;
    let bits = if hash { n.checked_mul(width.unwrap_or(1)).ok_or_else(bad_offset)? } else { n };
    if bits >= BITS_MAX {
        return Err(bad_offset());
    }
    Ok(bits)
}

/// A BITFIELD offset for a field of `width` bits.
pub(super) fn field_offset(b: &[u8], width: u64) -> Result<u64, CmdError> {
    offset(b, Some(width))
}

/// Changes the string at `key` (created empty if missing) in place,
/// grown with zero bytes to at least `len` bytes.
pub(super) fn edit<R>(
    ex: &mut Exec,
    key: &Bytes,
    len: usize,
    f: impl FnOnce(&mut BytesMut) -> R,
) -> Result<R, CmdError> {
    let s = ex.string_or_create(key)?;
    let mut m = std::mem::take(s).try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..]));
    if m.len() < len {
        m.resize(len, 0);
    }
    let r = f(&mut m);
    *s = m.freeze();
    ex.touch(key);
    Ok(r)
}

fn get_bit(s: &[u8], bit: u64) -> u8 {
    s.get((bit / 8) as usize).map_or(0, |b| (b >> (7 - bit % 8)) & 1)
}

/// The bits of byte `i` within `[first, last]` (a mask).
fn mask_in(i: u64, first: u64, last: u64) -> u8 {
    let lo = if i == first / 8 { 0xffu8 >> (first % 8) } else { 0xff };
    let hi = if i == last / 8 { 0xffu8 << (7 - last % 8) } else { 0xff };
    lo & hi
}

/// Set bits in `[first, last]`, a byte at a time.
fn count_ones(s: &[u8], first: u64, last: u64) -> u64 {
    (first / 8..=last / 8).map(|i| u64::from((s[i as usize] & mask_in(i, first, last)).count_ones())).sum()
}

/// The first bit equal to `want` in `[first, last]`, skipping whole bytes.
fn find_bit(s: &[u8], want: u8, first: u64, last: u64) -> Option<u64> {
    let skip = if want == 1 { 0x00 } else { 0xff };
    (first / 8..=last / 8).find_map(|i| {
        let mask = mask_in(i, first, last);
        let byte = s[i as usize];
        if (byte & mask) == (skip & mask) {
            return None;
        }
        (0..8).map(|j| i * 8 + j).find(|b| (first..=last).contains(b) && get_bit(s, *b) == want)
    })
}

/// `SETBIT key offset value`
pub fn setbit(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let bit = offset(&a[2], None)?;
    let on = match &a[3][..] {
        b"0" => false,
        b"1" => true,
        _ => return Err(CmdError::msg("ERR bit is not an integer or out of range")),
    };
    // A bit already as asked, in a string long enough, changes nothing
    // (as in Redis: no write logged, no notification).
    if let Some(s) = ex.string(&a[1])?
        && (s.len() as u64) > bit / 8
        && get_bit(&s, bit) == u8::from(on)
    {
        return Ok(Frame::Integer(i64::from(on)));
    }
    let old = edit(ex, &a[1], (bit / 8 + 1) as usize, |m| {
        let (byte, mask) = ((bit / 8) as usize, 1u8 << (7 - bit % 8));
        let old = m[byte] & mask != 0;
        if on {
            m[byte] |= mask
        } else {
            m[byte] &= !mask
        }
        old
    })?;
    Ok(Frame::Integer(i64::from(old)))
}

/// `GETBIT key offset`
pub fn getbit(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let bit = offset(&a[2], None)?;
    let s = ex.string(&a[1])?.unwrap_or_default();
    Ok(Frame::Integer(i64::from(get_bit(&s, bit))))
}

/// A `start end [BYTE|BIT]` range over `len` bytes as a bit range
/// `[first, last]`, or `None` when empty; `bits` says BIT was given.
fn range(len: u64, start: i64, end: i64, bits: bool) -> Option<(u64, u64)> {
    let total = if bits { len * 8 } else { len } as i64;
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end || total == 0 {
        return None;
    }
    let unit = if bits { 1 } else { 8 };
    Some((start as u64 * unit, end as u64 * unit + unit - 1))
}

/// The optional `start [end [BYTE|BIT]]` of BITCOUNT / BITPOS: (start,
/// end, in bits, end given).
fn range_args(a: &[Bytes], default_end: i64) -> Result<(i64, i64, bool, bool), CmdError> {
    let start = a.first().map(|s| int(s)).transpose()?.unwrap_or(0);
    let end = a.get(1).map(|s| int(s)).transpose()?;
    let bits = match a.get(2) {
        None => false,
        Some(u) if is(u, "BIT") => true,
        Some(u) if is(u, "BYTE") => false,
        Some(_) => return Err(CmdError::Syntax),
    };
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    Ok((start, end.unwrap_or(default_end), bits, end.is_some()))
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
pub fn bitcount(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    // As Redis 7.0: the key first (a missing one counts 0 whatever follows).
    let Some(s) = ex.string(&a[1])? else { return Ok(Frame::Integer(0)) };
    if a.len() == 3 {
        return Err(CmdError::Syntax);
    }
    let (start, end, bits, _) = range_args(&a[2..], -1)?;
    if start < 0 && end < 0 && start > end {
        return Ok(Frame::Integer(0));
    }
    let Some((first, last)) = range(s.len() as u64, start, end, bits) else { return Ok(Frame::Integer(0)) };
    Ok(Frame::Integer(count_ones(&s, first, last) as i64))
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`
pub fn bitpos(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let want = match &a[2][..] {
        b"0" => 0u8,
        b"1" => 1,
        _ => return Err(CmdError::msg("ERR The bit argument must be 1 or 0.")),
    };
    let Some(s) = ex.string(&a[1])? else { return Ok(Frame::Integer(if want == 1 { -1 } else { 0 })) };
    let (start, end, bits, end_given) = range_args(&a[3..], -1)?;
    let Some((first, last)) = range(s.len() as u64, start, end, bits) else { return Ok(Frame::Integer(-1)) };
    if let Some(b) = find_bit(&s, want, first, last) {
        return Ok(Frame::Integer(b as i64));
    }
    // No clear bit in a range that runs to the end of the string: the
    // first one past it (the string is as if padded with zeros).
    Ok(Frame::Integer(if want == 0 && !end_given { last as i64 + 1 } else { -1 }))
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`
pub fn bitop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let op = crate::args::upper(&a[1]);
    if !matches!(op.as_str(), "AND" | "OR" | "XOR" | "NOT") {
        return Err(CmdError::Syntax);
    }
    if op == "NOT" && a.len() != 4 {
        return Err(CmdError::msg("ERR BITOP NOT must be called with a single source key."));
    }
    let mut sources = Vec::with_capacity(a.len() - 3);
    for k in &a[3..] {
        sources.push(ex.string(k)?.unwrap_or_default());
    }
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let byte = |i: usize| sources.iter().map(move |s| s.get(i).copied().unwrap_or(0));
    let out: Vec<u8> = (0..len)
        .map(|i| match op.as_str() {
            "AND" => byte(i).fold(0xff, |x, y| x & y),
            "OR" => byte(i).fold(0, |x, y| x | y),
            "XOR" => byte(i).fold(0, |x, y| x ^ y),
            _ => !byte(i).next().unwrap_or(0),
        })
        .collect();
    if out.is_empty() {
        ex.delete(&a[2]);
        return Ok(Frame::Integer(0));
    }
    ex.set(a[2].clone(), crate::value::Value::Str(Bytes::from(out)), None);
    Ok(Frame::Integer(len as i64))
}

pub use super::bitfield::{bitfield, bitfield_ro};
