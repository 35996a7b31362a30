//! String commands: GET SET SETNX SETEX PSETEX MGET MSET MSETNX GETSET GETDEL
//! GETEX APPEND STRLEN GETRANGE SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT.

use crate::args::{float, int, is, word};
use crate::exec::{CmdError, CmdResult, Exec};
use crate::value::Value;
use bytes::{Bytes, BytesMut};
use sixfold_resp::Frame;

/// Largest string a command may build (`proto-max-bulk-len`).
pub const STRING_BYTES_MAX: usize = 512 * 1024 * 1024;

fn too_big() -> CmdError {
    CmdError::msg("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// An expiry option of SET / GETEX.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ttl {
    None,
    At(i64),
    Keep,
    Persist,
}

/// Converts `EX/PX/EXAT/PXAT n` into an absolute unix-ms time.
fn expire_at(ex: &Exec, unit: &[u8], n: &[u8], cmd: &str) -> Result<i64, CmdError> {
    let n = int(n)?;
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let (secs, absolute) = (is(unit, "EX") || is(unit, "EXAT"), is(unit, "EXAT") || is(unit, "PXAT"));
    let ms = if secs { n.checked_mul(1000).ok_or_else(invalid)? } else { n };
    if absolute { Ok(ms) } else { ex.now_ms.checked_add(ms).ok_or_else(invalid) }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`
pub fn set(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut get, mut ttl) = (false, false, false, Ttl::None);
    let mut i = 3;
    while i < a.len() {
        let o = &a[i];
        if is(o, "NX") && !xx {
            nx = true;
        } else if is(o, "XX") && !nx {
            xx = true;
        } else if is(o, "GET") {
            get = true;
        } else if is(o, "KEEPTTL") && ttl == Ttl::None {
            ttl = Ttl::Keep;
        } else if ["EX", "PX", "EXAT", "PXAT"].iter().any(|u| is(o, u)) && ttl == Ttl::None && i + 1 < a.len() {
            ttl = Ttl::At(expire_at(ex, o, &a[i + 1], "set")?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let old = if get { ex.string(&a[1])? } else { None };
    let mut exists = || if get { old.is_some() } else { ex.exists(&a[1]) };
    if (nx || xx) && nx == exists() {
        return Ok(old.map_or(Frame::Null, Frame::Bulk));
    }
    set_string(ex, &a[1], a[2].clone(), ttl);
    Ok(if get { old.map_or(Frame::Null, Frame::Bulk) } else { Frame::ok() })
}

/// Stores a string with the given expiry and logs `SET key value [PXAT t|KEEPTTL]`.
fn set_string(ex: &mut Exec, key: &Bytes, value: Bytes, ttl: Ttl) {
    let mut effect = Vec::with_capacity(5);
    effect.extend([word("SET"), key.clone(), value.clone()]);
    let expire = match ttl {
        Ttl::At(t) => {
            effect.extend([word("PXAT"), Bytes::from(t.to_string())]);
            Some(t)
        }
        Ttl::Keep => {
            effect.push(word("KEEPTTL"));
            ex.lookup(key).and_then(|e| e.expire_at_ms)
        }
        _ => None,
    };
    ex.set(key.clone(), Value::Str(value), expire);
    ex.propagate(effect);
}

/// `SETNX key value`
pub fn setnx(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if ex.exists(&a[1]) {
        return Ok(Frame::Integer(0));
    }
    set_string(ex, &a[1], a[2].clone(), Ttl::None);
    Ok(Frame::Integer(1))
}

/// `SETEX key seconds value`, `PSETEX key ms value`
pub fn setex(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let cmd = String::from_utf8_lossy(&a[0]).to_ascii_lowercase();
    let unit = if cmd == "setex" { "EX" } else { "PX" };
    let t = expire_at(ex, unit.as_bytes(), &a[2], &cmd)?;
    set_string(ex, &a[1], a[3].clone(), Ttl::At(t));
    Ok(Frame::ok())
}

/// `GET key`
pub fn get(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(ex.string(&a[1])?.map_or(Frame::Null, Frame::Bulk))
}

/// `MGET key [key ...]`
pub fn mget(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let vals = a[1..].iter().map(|k| ex.string(k).ok().flatten().map_or(Frame::Null, Frame::Bulk)).collect();
    Ok(Frame::Array(vals))
}

/// `MSET key value [key value ...]`, `MSETNX ...`
pub fn mset(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let nx = is(&a[0], "MSETNX");
    if a.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        return Err(CmdError::msg(format!("ERR wrong number of arguments for '{name}' command")));
    }
    if nx && a[1..].chunks(2).any(|kv| ex.exists(&kv[0])) {
        return Ok(Frame::Integer(0));
    }
    for kv in a[1..].chunks(2) {
        ex.set(kv[0].clone(), Value::Str(kv[1].clone()), None);
    }
    Ok(if nx { Frame::Integer(1) } else { Frame::ok() })
}

/// `GETSET key value`
pub fn getset(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let old = ex.string(&a[1])?;
    set_string(ex, &a[1], a[2].clone(), Ttl::None);
    Ok(old.map_or(Frame::Null, Frame::Bulk))
}

/// `GETDEL key`
pub fn getdel(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let old = ex.string(&a[1])?;
    if old.is_some() {
        ex.delete(&a[1]);
        ex.propagate(vec![word("DEL"), a[1].clone()]);
    }
    Ok(old.map_or(Frame::Null, Frame::Bulk))
}

/// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`
pub fn getex(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let mut ttl = Ttl::None;
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        if ["EX", "PX", "EXAT", "PXAT"].iter().any(|u| is(o, u)) && ttl == Ttl::None && i + 1 < a.len() {
            ttl = Ttl::At(expire_at(ex, o, &a[i + 1], "getex")?);
            i += 1;
        } else if is(o, "PERSIST") && ttl == Ttl::None {
            ttl = Ttl::Persist;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some(v) = ex.string(&a[1])? else {
        return Ok(Frame::Null);
    };
    match ttl {
        Ttl::At(t) if t <= ex.now_ms => {
            ex.delete(&a[1]);
            ex.propagate(vec![word("DEL"), a[1].clone()]);
        }
        Ttl::At(t) => {
            ex.db().set_expire(&a[1], Some(t));
            ex.touch(&a[1]);
            ex.propagate(vec![word("PEXPIREAT"), a[1].clone(), Bytes::from(t.to_string())]);
        }
        Ttl::Persist if ex.lookup(&a[1]).is_some_and(|e| e.expire_at_ms.is_some()) => {
            ex.db().set_expire(&a[1], None);
            ex.touch(&a[1]);
            ex.propagate(vec![word("PERSIST"), a[1].clone()]);
        }
        _ => {}
    }
    Ok(Frame::Bulk(v))
}

/// Replaces the string at `key` keeping its TTL.
fn put_keep_ttl(ex: &mut Exec, key: &Bytes, v: Bytes) {
    let ttl = ex.lookup(key).and_then(|e| e.expire_at_ms);
    ex.set(key.clone(), Value::Str(v), ttl);
}

/// `APPEND key value`
pub fn append(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let old = ex.string(&a[1])?.unwrap_or_default();
    if old.len() + a[2].len() > STRING_BYTES_MAX {
        return Err(too_big());
    }
    let mut v = BytesMut::with_capacity(old.len() + a[2].len());
    v.extend_from_slice(&old);
    v.extend_from_slice(&a[2]);
    let len = v.len();
    put_keep_ttl(ex, &a[1], v.freeze());
    Ok(Frame::Integer(len as i64))
}

/// `STRLEN key`
pub fn strlen(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.string(&a[1])?.map_or(0, |s| s.len() as i64)))
}

/// `GETRANGE key start end` (and `SUBSTR`)
pub fn getrange(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (mut start, mut end) = (int(&a[2])?, int(&a[3])?);
    let s = ex.string(&a[1])?.unwrap_or_default();
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Frame::bulk(""));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        return Ok(Frame::bulk(""));
    }
    Ok(Frame::Bulk(s.slice(start as usize..end as usize + 1)))
}

/// `SETRANGE key offset value`
pub fn setrange(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let off = int(&a[2])?;
    if off < 0 {
        return Err(CmdError::msg("ERR offset is out of range"));
    }
    let old = ex.string(&a[1])?;
    let val = &a[3];
    if val.is_empty() {
        return Ok(Frame::Integer(old.map_or(0, |s| s.len() as i64)));
    }
    let off = off as usize;
    if off + val.len() > STRING_BYTES_MAX {
        return Err(too_big());
    }
    let mut v = BytesMut::from(&old.unwrap_or_default()[..]);
    if v.len() < off + val.len() {
        v.resize(off + val.len(), 0);
    }
    v[off..off + val.len()].copy_from_slice(val);
    let len = v.len();
    put_keep_ttl(ex, &a[1], v.freeze());
    Ok(Frame::Integer(len as i64))
}

/// `INCR`, `DECR`, `INCRBY key n`, `DECRBY key n`
pub fn incr(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = crate::args::upper(&a[0]);
    let by = match name.as_str() {
        "INCR" => 1,
        "DECR" => -1,
        "INCRBY" => int(&a[2])?,
        _ => {
            let n = int(&a[2])?;
            n.checked_neg().ok_or_else(|| CmdError::msg("ERR decrement would overflow"))?
        }
    };
    let cur = match ex.string(&a[1])? {
        Some(s) => int(&s)?,
        None => 0,
    };
    let n = cur.checked_add(by).ok_or(CmdError::Overflow)?;
    put_keep_ttl(ex, &a[1], Bytes::from(n.to_string()));
    Ok(Frame::Integer(n))
}

/// Formats a float result the way INCRBYFLOAT/HINCRBYFLOAT do (no exponent).
pub fn human_float(f: f64) -> String {
    if f == 0.0 { "0".into() } else { format!("{f}") }
}

/// Adds two decimal strings as INCRBYFLOAT does. Integers are added
/// exactly (Redis's long double holds every 64-bit integer); anything else
/// in f64. `None` when the result is not finite.
pub fn add_float_strings(cur: f64, cur_text: Option<&[u8]>, by: f64, by_text: &[u8]) -> Option<String> {
    let exact = cur_text.map_or(Some(0), crate::util::parse_i64).zip(crate::util::parse_i64(by_text));
    if let Some((x, y)) = exact {
        return Some((i128::from(x) + i128::from(y)).to_string());
    }
    let n = cur + by;
    n.is_finite().then(|| human_float(n))
}

/// `INCRBYFLOAT key increment`, logged as `SET key result KEEPTTL`.
pub fn incrbyfloat(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let old = ex.string(&a[1])?;
    let cur = match &old {
        Some(s) => float(s)?,
        None => 0.0,
    };
    let by = float(&a[2])?;
    let text = add_float_strings(cur, old.as_deref(), by, &a[2])
        .ok_or_else(|| CmdError::msg("ERR increment would produce NaN or Infinity"))?;
    let text = Bytes::from(text);
    put_keep_ttl(ex, &a[1], text.clone());
    ex.propagate(vec![word("SET"), a[1].clone(), text.clone(), word("KEEPTTL")]);
    Ok(Frame::Bulk(text))
}
