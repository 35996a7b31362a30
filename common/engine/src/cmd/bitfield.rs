//! BITFIELD and BITFIELD_RO: signed (`i1`..`i64`) and unsigned (`u1`..`u63`)
//! integers at any bit offset of a string (`#n`: the n-th field of that
//! width), with GET, SET, INCRBY and the OVERFLOW policies WRAP, SAT and
//! FAIL, computed as Redis's `bitops.c` does (its overflow checks, its
//! wrapping, its string growth before any write).

use crate::args::{int, is};
use crate::exec::{CmdError, CmdResult, Exec};
use bytes::Bytes;
use sixfold_resp::Frame;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One operation, parsed.
struct Field {
    op: Op,
    signed: bool,
    bits: u64,
    offset: u64,
    overflow: Overflow,
}

fn field_type(b: &[u8]) -> Result<(bool, u64), CmdError> {
    let bad = || {
        CmdError::msg(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match b.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(bad()),
    };
    let bits = crate::util::parse_i64(&b[1..]).ok_or_else(bad)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(bad());
    }
    Ok((signed, bits as u64))
}

/// Parses every operation first: an error changes nothing.
fn parse(a: &[Bytes], read_only: bool) -> Result<Vec<Field>, CmdError> {
    let (mut out, mut overflow, mut i) = (Vec::new(), Overflow::Wrap, 2);
    while i < a.len() {
        let word = &a[i];
        let need = if is(word, "GET") {
            2
        } else if is(word, "OVERFLOW") {
            1
        } else if is(word, "SET") || is(word, "INCRBY") {
            3
        } else {
            return Err(CmdError::Syntax);
        };
        if i + need >= a.len() {
            return Err(CmdError::Syntax);
        }
        if is(word, "OVERFLOW") {
            overflow = match crate::args::upper(&a[i + 1]).as_str() {
                "WRAP" => Overflow::Wrap,
                "SAT" => Overflow::Sat,
                "FAIL" => Overflow::Fail,
                _ => return Err(CmdError::msg("ERR Invalid OVERFLOW type specified")),
            };
            i += 2;
            continue;
        }
        let op = if is(word, "GET") {
            Op::Get
        } else if is(word, "SET") {
            Op::Set(0)
        } else {
            Op::IncrBy(0)
        };
        let (signed, bits) = field_type(&a[i + 1])?;
        let offset = super::bitmaps::field_offset(&a[i + 2], bits)?;
        let op = match op {
            Op::Get => op,
            Op::Set(_) => Op::Set(int(&a[i + 3])?),
            Op::IncrBy(_) => Op::IncrBy(int(&a[i + 3])?),
        };
        if read_only && op != Op::Get {
            return Err(CmdError::msg("ERR BITFIELD_RO only supports the GET subcommand"));
        }
        out.push(Field { op, signed, bits, offset, overflow });
        i += need + 1;
    }
    Ok(out)
}

fn get_unsigned(s: &[u8], offset: u64, bits: u64) -> u64 {
    (offset..offset + bits).fold(0u64, |v, b| {
        let byte = s.get((b / 8) as usize).copied().unwrap_or(0);
        v << 1 | u64::from((byte >> (7 - b % 8)) & 1)
    })
}

fn get_signed(s: &[u8], offset: u64, bits: u64) -> i64 {
    let mut v = get_unsigned(s, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

fn set_bits(s: &mut [u8], offset: u64, bits: u64, value: u64) {
    for j in 0..bits {
        let bit = (value >> (bits - 1 - j)) & 1;
        let b = offset + j;
        let (byte, mask) = ((b / 8) as usize, 1u8 << (7 - b % 8));
        if bit == 1 { s[byte] |= mask } else { s[byte] &= !mask }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr`
/// overflows, and the value the policy gives then.
fn unsigned_overflow(value: u64, incr: i64, bits: u64, policy: Overflow) -> (bool, u64) {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits as u32).unwrap_or(0));
    if value > max || (incr > 0 && incr > max_incr) {
        return (true, if policy == Overflow::Wrap { wrap() } else { max });
    }
    if incr < 0 && incr < min_incr {
        return (true, if policy == Overflow::Wrap { wrap() } else { 0 });
    }
    (false, value.wrapping_add(incr as u64))
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u64, policy: Overflow) -> (bool, i64) {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 { c |= mask } else { c &= !mask }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        return (true, if policy == Overflow::Wrap { wrap() } else { max });
    }
    if value < min || (bits != 64 && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr) {
        return (true, if policy == Overflow::Wrap { wrap() } else { min });
    }
    (false, value.wrapping_add(incr))
}

/// The field's value.
fn get(s: &[u8], f: &Field) -> i64 {
    if f.signed { get_signed(s, f.offset, f.bits) } else { get_unsigned(s, f.offset, f.bits) as i64 }
}

/// Runs one operation on `s` (long enough for every write); its reply:
/// the value read, the old value (SET), the new one (INCRBY), or nil when
/// OVERFLOW FAIL refused it.
fn apply(s: &mut [u8], f: &Field) -> Frame {
    let (value, incr_by) = match f.op {
        Op::Get => return Frame::Integer(get(s, f)),
        Op::Set(v) => (v, 0),
        Op::IncrBy(n) => (0, n),
    };
    let incr = matches!(f.op, Op::IncrBy(_));
    let (reply, new, overflow) = if f.signed {
        let old = get_signed(s, f.offset, f.bits);
        let (over, v) = signed_overflow(if incr { old } else { value }, incr_by, f.bits, f.overflow);
        (if incr { v } else { old }, v as u64, over)
    } else {
        let old = get_unsigned(s, f.offset, f.bits);
        let (over, v) = unsigned_overflow(if incr { old } else { value as u64 }, incr_by, f.bits, f.overflow);
        (if incr { v as i64 } else { old as i64 }, v, over)
    };
    if overflow && f.overflow == Overflow::Fail {
        return Frame::Null;
    }
    set_bits(s, f.offset, f.bits, new);
    Frame::Integer(reply)
}

fn run(ex: &mut Exec, a: &[Bytes], read_only: bool) -> CmdResult {
    let fields = parse(a, read_only)?;
    let writes = fields.iter().filter(|f| f.op != Op::Get);
    let Some(end) = writes.map(|f| f.offset + f.bits).max() else {
        let s = ex.string(&a[1])?.unwrap_or_default();
        return Ok(Frame::Array(fields.iter().map(|f| Frame::Integer(get(&s, f))).collect()));
    };
    let replies =
        super::bitmaps::edit(ex, &a[1], end.div_ceil(8) as usize, |s| fields.iter().map(|f| apply(s, f)).collect())?;
    Ok(Frame::Array(replies))
}

/// `BITFIELD key [GET type offset | SET type offset value | INCRBY type
/// offset increment | OVERFLOW WRAP|SAT|FAIL] ...`
pub fn bitfield(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    run(ex, a, false)
}

/// `BITFIELD_RO key [GET type offset] ...`
pub fn bitfield_ro(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    run(ex, a, true)
}
