//! Hash commands: HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS
//! HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.

use crate::args::{float, int, is, word};
use crate::cmd::keys::{cursor, scan_opts};
use crate::cmd::strings::add_float_strings;
use crate::exec::{CmdError, CmdResult, Exec};
use crate::util::{glob_match, parse_f64, parse_i64};
use bytes::Bytes;
use sixfold_resp::Frame;

/// `HSET key field value [field value ...]`, `HMSET ...`
pub fn hset(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if a.len() % 2 == 1 {
        let name = String::from_utf8_lossy(&a[0]).to_ascii_lowercase();
        return Err(CmdError::msg(format!("ERR wrong number of arguments for '{name}' command")));
    }
    let h = ex.hash_or_create(&a[1])?;
    let added = a[2..].chunks(2).filter(|fv| h.insert(fv[0].clone(), fv[1].clone()).is_none()).count();
    ex.touch(&a[1]);
    Ok(if is(&a[0], "HMSET") { Frame::ok() } else { Frame::Integer(added as i64) })
}

/// `HSETNX key field value`
pub fn hsetnx(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if ex.hash(&a[1])?.is_some_and(|h| h.contains_key(&a[2])) {
        return Ok(Frame::Integer(0));
    }
    ex.hash_or_create(&a[1])?.insert(a[2].clone(), a[3].clone());
    ex.touch(&a[1]);
    Ok(Frame::Integer(1))
}

/// `HGET key field`
pub fn hget(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(ex.hash(&a[1])?.and_then(|h| h.get(&a[2]).cloned()).map_or(Frame::Null, Frame::Bulk))
}

/// `HMGET key field [field ...]`
pub fn hmget(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let h = ex.hash(&a[1])?;
    let get = |f: &Bytes| h.as_ref().and_then(|h| h.get(f).cloned()).map_or(Frame::Null, Frame::Bulk);
    Ok(Frame::Array(a[2..].iter().map(get).collect()))
}

/// `HDEL key field [field ...]`
pub fn hdel(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let Some(h) = ex.hash(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let n = a[2..].iter().filter(|f| h.remove(*f).is_some()).count();
    if n > 0 {
        ex.drop_if_empty(&a[1]);
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(n as i64))
}

/// `HLEN key`
pub fn hlen(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.hash(&a[1])?.map_or(0, |h| h.len() as i64)))
}

/// `HSTRLEN key field`
pub fn hstrlen(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.hash(&a[1])?.and_then(|h| h.get(&a[2]).map(|v| v.len() as i64)).unwrap_or(0)))
}

/// `HEXISTS key field`
pub fn hexists(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(i64::from(ex.hash(&a[1])?.is_some_and(|h| h.contains_key(&a[2])))))
}

/// `HKEYS`, `HVALS`, `HGETALL`
pub fn hgetall(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let resp3 = ex.resp3;
    let Some(h) = ex.hash(&a[1])? else {
        return Ok(if is(&a[0], "HGETALL") && resp3 { Frame::Map(vec![]) } else { Frame::Array(vec![]) });
    };
    Ok(if is(&a[0], "HKEYS") {
        Frame::Array(h.keys().cloned().map(Frame::Bulk).collect())
    } else if is(&a[0], "HVALS") {
        Frame::Array(h.values().cloned().map(Frame::Bulk).collect())
    } else if resp3 {
        Frame::Map(h.iter().map(|(k, v)| (Frame::Bulk(k.clone()), Frame::Bulk(v.clone()))).collect())
    } else {
        Frame::Array(h.iter().flat_map(|(k, v)| [Frame::Bulk(k.clone()), Frame::Bulk(v.clone())]).collect())
    })
}

/// `HINCRBY key field increment`
pub fn hincrby(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let by = int(&a[3])?;
    let cur = match ex.hash(&a[1])?.and_then(|h| h.get(&a[2]).cloned()) {
        Some(v) => parse_i64(&v).ok_or_else(|| CmdError::msg("ERR hash value is not an integer"))?,
        None => 0,
    };
    let n = cur.checked_add(by).ok_or(CmdError::Overflow)?;
    ex.hash_or_create(&a[1])?.insert(a[2].clone(), Bytes::from(n.to_string()));
    ex.touch(&a[1]);
    Ok(Frame::Integer(n))
}

/// `HINCRBYFLOAT key field increment`, logged as `HSET key field result`.
pub fn hincrbyfloat(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let by = float(&a[3])?;
    if !by.is_finite() {
        return Err(CmdError::msg("ERR value is NaN or Infinity"));
    }
    let old = ex.hash(&a[1])?.and_then(|h| h.get(&a[2]).cloned());
    let cur = match &old {
        Some(v) => parse_f64(v).ok_or_else(|| CmdError::msg("ERR hash value is not a float"))?,
        None => 0.0,
    };
    let text = add_float_strings(cur, old.as_deref(), by, &a[3])
        .ok_or_else(|| CmdError::msg("ERR increment would produce NaN or Infinity"))?;
    let text = Bytes::from(text);
    ex.hash_or_create(&a[1])?.insert(a[2].clone(), text.clone());
    ex.touch(&a[1]);
    ex.propagate(vec![word("HSET"), a[1].clone(), a[2].clone(), text.clone()]);
    Ok(Frame::Bulk(text))
}

/// Parses the count of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER.
pub fn rand_count(b: &[u8]) -> Result<i64, CmdError> {
    let n = int(b)?;
    if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
        return Err(CmdError::msg("ERR value is out of range"));
    }
    Ok(n)
}

/// Picks `count` indices below `len`: distinct when `count > 0` (at most
/// `len`), with repeats when negative (exactly `-count`).
pub fn pick_indices(ex: &mut Exec, len: usize, count: i64) -> Vec<usize> {
    if count < 0 {
        return (0..count.unsigned_abs()).map(|_| ex.random_below(len)).collect();
    }
    let want = (count as usize).min(len);
    let mut idx: Vec<usize> = (0..len).collect();
    for i in 0..want {
        let j = i + ex.random_below(len - i);
        idx.swap(i, j);
    }
    idx.truncate(want);
    idx
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub fn hrandfield(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let with_values = match a.len() {
        2 | 3 => false,
        4 if is(&a[3], "WITHVALUES") => true,
        _ => return Err(CmdError::Syntax),
    };
    let count = if a.len() >= 3 { Some(rand_count(&a[2])?) } else { None };
    let resp3 = ex.resp3;
    let Some(h) = ex.hash(&a[1])? else {
        return Ok(if count.is_some() { Frame::Array(vec![]) } else { Frame::Null });
    };
    let pairs: Vec<(Bytes, Bytes)> = h.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let picked = pick_indices(ex, pairs.len(), count.unwrap_or(1));
    if count.is_none() {
        return Ok(picked.first().map_or(Frame::Null, |&i| Frame::Bulk(pairs[i].0.clone())));
    }
    let out = picked.iter().map(|&i| &pairs[i]);
    Ok(Frame::Array(if !with_values {
        out.map(|(k, _)| Frame::Bulk(k.clone())).collect()
    } else if resp3 {
        out.map(|(k, v)| Frame::Array(vec![Frame::Bulk(k.clone()), Frame::Bulk(v.clone())])).collect()
    } else {
        out.flat_map(|(k, v)| [Frame::Bulk(k.clone()), Frame::Bulk(v.clone())]).collect()
    }))
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: the whole hash in one
/// reply (cursor 0), as Redis does for small hashes.
pub fn hscan(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    cursor(&a[2])?;
    let o = scan_opts(&a[3..], false)?;
    let mut out = Vec::new();
    if let Some(h) = ex.hash(&a[1])? {
        for (k, v) in h.iter() {
            if o.pattern.as_ref().is_none_or(|p| glob_match(p, k)) {
                out.push(Frame::Bulk(k.clone()));
                out.push(Frame::Bulk(v.clone()));
            }
        }
    }
    Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(out)]))
}
