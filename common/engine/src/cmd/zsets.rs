//! Sorted set commands: ZADD ZREM ZSCORE ZMSCORE ZINCRBY ZCARD ZCOUNT
//! ZLEXCOUNT ZRANK ZREVRANK ZPOPMIN ZPOPMAX BZPOPMIN BZPOPMAX ZMPOP BZMPOP
//! ZRANDMEMBER ZSCAN ZINTERCARD. Ranges and set algebra live in
//! [`super::zranges`].

use crate::args::{float, is, positive, timeout_ms, upper, word};
use crate::cmd::hashes::{pick_indices, rand_count};
use crate::cmd::keys::{cursor, scan_opts};
use crate::cmd::lists::{count_opt, numkeys_args};
use crate::exec::{CmdError, CmdResult, Exec};
use crate::util::glob_match;
use bytes::Bytes;
use sixfold_resp::{Frame, format_double};

/// Members with scores as a reply: flat in RESP2, pairs in RESP3.
pub fn scored(ex: &Exec, items: Vec<(Bytes, f64)>, with_scores: bool) -> Frame {
    Frame::Array(if !with_scores {
        items.into_iter().map(|(m, _)| Frame::Bulk(m)).collect()
    } else if ex.resp3 {
        items.into_iter().map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)])).collect()
    } else {
        items.into_iter().flat_map(|(m, s)| [Frame::Bulk(m), Frame::Double(s)]).collect()
    })
}

/// Members with their scores, in order.
type Scored = Vec<(Bytes, f64)>;

fn nan_error() -> CmdError {
    CmdError::msg("ERR resulting score is not a number (NaN)")
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
pub fn zadd(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) = (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            "CH" => ch = true,
            "INCR" => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &a[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if nx && xx {
        return Err(CmdError::msg("ERR XX and NX options at the same time are not compatible"));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(CmdError::msg("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if incr && pairs.len() > 2 {
        return Err(CmdError::msg("ERR INCR option supports a single increment-element pair"));
    }
    let scores: Vec<f64> = pairs.chunks(2).map(|p| float(&p[0])).collect::<Result<_, _>>()?;
    if xx && ex.zset(&a[1])?.is_none() {
        return Ok(if incr { Frame::Null } else { Frame::Integer(0) });
    }
    let z = ex.zset_or_create(&a[1])?;
    let (mut added, mut changed, mut last) = (0, 0, None);
    for (p, &score) in pairs.chunks(2).zip(&scores) {
        let cur = z.score(&p[1]);
        if (nx && cur.is_some()) || (xx && cur.is_none()) {
            continue;
        }
        let new = match (incr, cur) {
            (true, Some(c)) => c + score,
            _ => score,
        };
        if new.is_nan() {
            ex.drop_if_empty(&a[1]);
            return Err(nan_error());
        }
        if let Some(c) = cur {
            if (gt && new <= c) || (lt && new >= c) {
                continue;
            }
            if c != new {
                z.insert(p[1].clone(), new);
                changed += 1;
            }
        } else {
            z.insert(p[1].clone(), new);
            added += 1;
        }
        last = Some(new);
    }
    ex.drop_if_empty(&a[1]);
    if added + changed > 0 {
        ex.touch(&a[1]);
    }
    Ok(if incr {
        last.map_or(Frame::Null, Frame::Double)
    } else {
        Frame::Integer(if ch { added + changed } else { added })
    })
}

/// `ZINCRBY key increment member`
pub fn zincrby(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let by = float(&a[2])?;
    let cur = ex.zset(&a[1])?.and_then(|z| z.score(&a[3])).unwrap_or(0.0);
    let new = cur + by;
    if new.is_nan() {
        return Err(nan_error());
    }
    ex.zset_or_create(&a[1])?.insert(a[3].clone(), new);
    ex.touch(&a[1]);
    Ok(Frame::Double(new))
}

/// `ZREM key member [member ...]`
pub fn zrem(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let Some(z) = ex.zset(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let n = a[2..].iter().filter(|m| z.remove(m)).count();
    if n > 0 {
        ex.drop_if_empty(&a[1]);
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(n as i64))
}

/// `ZSCORE key member`
pub fn zscore(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(ex.zset(&a[1])?.and_then(|z| z.score(&a[2])).map_or(Frame::Null, Frame::Double))
}

/// `ZMSCORE key member [member ...]`
pub fn zmscore(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let z = ex.zset(&a[1])?;
    let get = |m: &Bytes| z.as_ref().and_then(|z| z.score(m)).map_or(Frame::Null, Frame::Double);
    Ok(Frame::Array(a[2..].iter().map(get).collect()))
}

/// `ZCARD key`
pub fn zcard(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.zset(&a[1])?.map_or(0, |z| z.len() as i64)))
}

/// `ZRANK key member [WITHSCORE]`, `ZREVRANK ...`
pub fn zrank(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let with_score = match a.len() {
        3 => false,
        4 if is(&a[3], "WITHSCORE") => true,
        _ => return Err(CmdError::Syntax),
    };
    let rev = is(&a[0], "ZREVRANK");
    let Some(z) = ex.zset(&a[1])? else {
        return Ok(if with_score { Frame::NullArray } else { Frame::Null });
    };
    let (Some(r), Some(s)) = (z.rank(&a[2]), z.score(&a[2])) else {
        return Ok(if with_score { Frame::NullArray } else { Frame::Null });
    };
    let r = if rev { z.len() - 1 - r } else { r } as i64;
    Ok(if with_score { Frame::Array(vec![Frame::Integer(r), Frame::Double(s)]) } else { Frame::Integer(r) })
}

/// Pops up to `n` members from the low (`min`) or high end of `key`.
fn pop_ends(ex: &mut Exec, key: &Bytes, min: bool, n: usize) -> Result<Option<Vec<(Bytes, f64)>>, CmdError> {
    let Some(z) = ex.zset(key)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    while out.len() < n {
        let Some((m, s)) = (if min { z.first() } else { z.last() }) else {
            break;
        };
        z.remove(&m);
        out.push((m, s));
    }
    if !out.is_empty() {
        ex.drop_if_empty(key);
        ex.touch(key);
    }
    Ok(Some(out))
}

/// `ZPOPMIN key [count]`, `ZPOPMAX key [count]`
pub fn zpop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = a.get(2).map(|c| positive(c)).transpose()?;
    let got = pop_ends(ex, &a[1], is(&a[0], "ZPOPMIN"), count.unwrap_or(1))?.unwrap_or_default();
    if count.is_none() || !ex.resp3 {
        let flat = got.into_iter().flat_map(|(m, s)| [Frame::Bulk(m), Frame::Double(s)]).collect();
        return Ok(Frame::Array(flat));
    }
    Ok(scored(ex, got, true))
}

/// Pops from the first non-empty sorted set of `keys`, logged as `ZPOPMIN/ZPOPMAX key n`.
fn mpop(ex: &mut Exec, keys: &[Bytes], min: bool, n: usize) -> Result<Option<(Bytes, Scored)>, CmdError> {
    for k in keys {
        if let Some(v) = pop_ends(ex, k, min, n)? {
            let cmd = if min { "ZPOPMIN" } else { "ZPOPMAX" };
            ex.propagate(vec![word(cmd), k.clone(), Bytes::from(v.len().to_string())]);
            return Ok(Some((k.clone(), v)));
        }
    }
    ex.suppress_verbatim();
    Ok(None)
}

fn minmax(b: &[u8]) -> Result<bool, CmdError> {
    match upper(b).as_str() {
        "MIN" => Ok(true),
        "MAX" => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]` and
/// `BZMPOP timeout numkeys ...`
pub fn zmpop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let blocking = is(&a[0], "BZMPOP");
    let timeout = if blocking { timeout_ms(&a[1])? } else { 0 };
    let (keys, rest) = numkeys_args(&a[if blocking { 2 } else { 1 }..])?;
    let min = minmax(&rest[0])?;
    let n = count_opt(&rest[1..])?;
    match mpop(ex, keys, min, n)? {
        Some((k, v)) => Ok(Frame::Array(vec![Frame::Bulk(k), scored_pairs(ex, v)])),
        None if blocking && !ex.in_multi => Err(CmdError::WouldBlock { keys: keys.to_vec(), timeout_ms: timeout }),
        None => Ok(Frame::NullArray),
    }
}

fn scored_pairs(ex: &Exec, v: Vec<(Bytes, f64)>) -> Frame {
    let _ = ex;
    Frame::Array(v.into_iter().map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)])).collect())
}

/// `BZPOPMIN key [key ...] timeout`, `BZPOPMAX ...`
pub fn bzpop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let timeout = timeout_ms(&a[a.len() - 1])?;
    let keys = &a[1..a.len() - 1];
    for k in keys {
        ex.zset(k)?;
    }
    match mpop(ex, keys, is(&a[0], "BZPOPMIN"), 1)? {
        Some((k, mut v)) => {
            let (m, s) = v.remove(0);
            Ok(Frame::Array(vec![Frame::Bulk(k), Frame::Bulk(m), Frame::Double(s)]))
        }
        None if ex.in_multi => Ok(Frame::NullArray),
        None => Err(CmdError::WouldBlock { keys: keys.to_vec(), timeout_ms: timeout }),
    }
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub fn zrandmember(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let with_scores = match a.len() {
        2 | 3 => false,
        4 if is(&a[3], "WITHSCORES") => true,
        _ => return Err(CmdError::Syntax),
    };
    let count = if a.len() >= 3 { Some(rand_count(&a[2])?) } else { None };
    let Some(z) = ex.zset(&a[1])? else {
        return Ok(if count.is_some() { Frame::Array(vec![]) } else { Frame::Null });
    };
    let items: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (m.clone(), s)).collect();
    let picked = pick_indices(ex, items.len(), count.unwrap_or(1));
    if count.is_none() {
        return Ok(picked.first().map_or(Frame::Null, |&i| Frame::Bulk(items[i].0.clone())));
    }
    let chosen = picked.into_iter().map(|i| items[i].clone()).collect();
    Ok(scored(ex, chosen, with_scores))
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: the whole set at once.
pub fn zscan(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    cursor(&a[2])?;
    let o = scan_opts(&a[3..], false)?;
    let mut out = Vec::new();
    if let Some(z) = ex.zset(&a[1])? {
        for (m, s) in z.iter() {
            if o.pattern.as_ref().is_none_or(|p| glob_match(p, m)) {
                out.push(Frame::Bulk(m.clone()));
                out.push(Frame::bulk(format_double(s)));
            }
        }
    }
    Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(out)]))
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn zintercard(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (keys, limit) = crate::cmd::sets::intercard_args(a)?;
    let n = super::zranges::combine_keys(ex, keys, &[], super::zranges::Agg::Sum, super::zranges::SetOp::Inter)?.len();
    Ok(Frame::Integer(if limit > 0 { n.min(limit) } else { n } as i64))
}
