//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET
//! LREM LTRIM LINSERT LPOS LMOVE RPOPLPUSH LMPOP and the blocking BLPOP BRPOP
//! BLMOVE BRPOPLPUSH BLMPOP (logged as their non-blocking forms).

use crate::args::{int, int_in, is, positive, range, timeout_ms, upper, word};
use crate::exec::{CmdError, CmdResult, Exec};
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::VecDeque;

/// `LPUSH`, `RPUSH`, `LPUSHX`, `RPUSHX key element [element ...]`
pub fn push(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = upper(&a[0]);
    if name.ends_with('X') && ex.list(&a[1])?.is_none() {
        return Ok(Frame::Integer(0));
    }
    let l = ex.list_or_create(&a[1])?;
    for e in &a[2..] {
        if name.starts_with('L') { l.push_front(e.clone()) } else { l.push_back(e.clone()) }
    }
    let n = l.len();
    ex.touch(&a[1]);
    Ok(Frame::Integer(n as i64))
}

fn pop_n(l: &mut VecDeque<Bytes>, left: bool, n: usize) -> Vec<Bytes> {
    (0..n).map_while(|_| if left { l.pop_front() } else { l.pop_back() }).collect()
}

/// Pops up to `n` elements of `key` and records the change.
fn pop_from(ex: &mut Exec, key: &Bytes, left: bool, n: usize) -> Result<Option<Vec<Bytes>>, CmdError> {
    let Some(l) = ex.list(key)? else {
        return Ok(None);
    };
    let out = pop_n(l, left, n);
    if !out.is_empty() {
        ex.drop_if_empty(key);
        ex.touch(key);
    }
    Ok(Some(out))
}

/// `LPOP key [count]`, `RPOP key [count]`
pub fn pop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let left = is(&a[0], "LPOP");
    if a.len() > 3 {
        return Err(CmdError::msg(format!(
            "ERR wrong number of arguments for '{}' command",
            upper(&a[0]).to_lowercase()
        )));
    }
    let count = a.get(2).map(|c| positive(c)).transpose()?;
    let got = pop_from(ex, &a[1], left, count.unwrap_or(1))?;
    Ok(match (got, count) {
        (None, Some(_)) => Frame::NullArray,
        (None, None) => Frame::Null,
        (Some(v), Some(_)) => Frame::Array(v.into_iter().map(Frame::Bulk).collect()),
        (Some(v), None) => v.into_iter().next().map_or(Frame::Null, Frame::Bulk),
    })
}

/// `LLEN key`
pub fn llen(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.list(&a[1])?.map_or(0, |l| l.len() as i64)))
}

/// `LRANGE key start stop`
pub fn lrange(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    let Some(l) = ex.list(&a[1])? else {
        return Ok(Frame::Array(vec![]));
    };
    let Some((s, e)) = range(s, e, l.len()) else {
        return Ok(Frame::Array(vec![]));
    };
    Ok(Frame::Array(l.range(s..e).cloned().map(Frame::Bulk).collect()))
}

fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// `LINDEX key index`
pub fn lindex(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let Some(l) = ex.list(&a[1])? else {
        return Ok(Frame::Null);
    };
    let i = int(&a[2])?;
    Ok(index(i, l.len()).map_or(Frame::Null, |i| Frame::Bulk(l[i].clone())))
}

/// `LSET key index element`
pub fn lset(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let Some(l) = ex.list(&a[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let i = int(&a[2])?;
    let i = index(i, l.len()).ok_or(CmdError::IndexOutOfRange)?;
    l[i] = a[3].clone();
    ex.touch(&a[1]);
    Ok(Frame::ok())
}

/// `LREM key count element`
pub fn lrem(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let count = int(&a[2])?;
    let Some(l) = ex.list(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
    let mut removed = 0;
    let mut kept: VecDeque<Bytes> = VecDeque::with_capacity(l.len());
    if count >= 0 {
        for e in l.drain(..) {
            if removed < limit && e == a[3] { removed += 1 } else { kept.push_back(e) }
        }
    } else {
        for e in l.drain(..).rev() {
            if removed < limit && e == a[3] { removed += 1 } else { kept.push_front(e) }
        }
    }
    *l = kept;
    if removed > 0 {
        ex.drop_if_empty(&a[1]);
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(removed as i64))
}

/// `LTRIM key start stop`
pub fn ltrim(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    let Some(l) = ex.list(&a[1])? else {
        return Ok(Frame::ok());
    };
    let before = l.len();
    match range(s, e, l.len()) {
        Some((s, e)) => {
            l.truncate(e);
            l.drain(..s);
        }
        None => l.clear(),
    }
    if l.len() != before {
        ex.drop_if_empty(&a[1]);
        ex.touch(&a[1]);
    }
    Ok(Frame::ok())
}

/// `LINSERT key BEFORE|AFTER pivot element`
pub fn linsert(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let after = match upper(&a[2]).as_str() {
        "BEFORE" => false,
        "AFTER" => true,
        _ => return Err(CmdError::Syntax),
    };
    let Some(l) = ex.list(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let Some(pos) = l.iter().position(|e| *e == a[3]) else {
        return Ok(Frame::Integer(-1));
    };
    l.insert(if after { pos + 1 } else { pos }, a[4].clone());
    let n = l.len();
    ex.touch(&a[1]);
    Ok(Frame::Integer(n as i64))
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
pub fn lpos(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(CmdError::Syntax);
        }
        let opt = upper(&a[i]);
        let n = match opt.as_str() {
            "COUNT" => int_in(&a[i + 1], 0, i64::MAX, "COUNT can't be negative")?,
            "MAXLEN" => int_in(&a[i + 1], 0, i64::MAX, "MAXLEN can't be negative")?,
            _ => int(&a[i + 1])?,
        };
        match opt.as_str() {
            "RANK" if n == 0 => {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
            "RANK" if n == i64::MIN => return Err(CmdError::msg("ERR value is out of range")),
            "RANK" => rank = n,
            "COUNT" if n < 0 => return Err(CmdError::msg("ERR COUNT can't be negative")),
            "COUNT" => count = Some(n as usize),
            "MAXLEN" if n < 0 => return Err(CmdError::msg("ERR MAXLEN can't be negative")),
            "MAXLEN" => maxlen = n as usize,
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    let Some(l) = ex.list(&a[1])? else {
        return Ok(if count.is_some() { Frame::Array(vec![]) } else { Frame::Null });
    };
    let want = match count {
        Some(0) => usize::MAX,
        Some(c) => c,
        None => 1,
    };
    let scan = if maxlen == 0 { l.len() } else { maxlen.min(l.len()) };
    let idx: Box<dyn Iterator<Item = usize>> =
        if rank > 0 { Box::new(0..scan) } else { Box::new((l.len() - scan..l.len()).rev()) };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found = Vec::new();
    for i in idx {
        if l[i] == a[2] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(Frame::Integer(i as i64));
            if found.len() >= want {
                break;
            }
        }
    }
    Ok(if count.is_some() { Frame::Array(found) } else { found.pop().unwrap_or(Frame::Null) })
}

fn side(b: &[u8]) -> Result<bool, CmdError> {
    match upper(b).as_str() {
        "LEFT" => Ok(true),
        "RIGHT" => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// Moves one element; `None` when the source is empty.
fn do_move(ex: &mut Exec, src: &Bytes, dst: &Bytes, from_left: bool, to_left: bool) -> Result<Option<Bytes>, CmdError> {
    if ex.list(src)?.is_none() {
        return Ok(None);
    }
    ex.list(dst)?;
    let Some(v) = pop_from(ex, src, from_left, 1)?.and_then(|mut v| v.pop()) else {
        return Ok(None);
    };
    let l = ex.list_or_create(dst)?;
    if to_left {
        l.push_front(v.clone())
    } else {
        l.push_back(v.clone())
    }
    ex.touch(dst);
    Ok(Some(v))
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`, `RPOPLPUSH source destination`
pub fn lmove(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (from, to) = if is(&a[0], "RPOPLPUSH") { (false, true) } else { (side(&a[3])?, side(&a[4])?) };
    Ok(do_move(ex, &a[1], &a[2], from, to)?.map_or(Frame::Null, Frame::Bulk))
}

/// Parses `numkeys key [key ...] <rest>`; returns the keys and the
/// (non-empty) rest.
pub fn numkeys_args(a: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), CmdError> {
    let n = int_in(&a[0], 1, i64::MAX, "numkeys should be greater than 0")? as usize;
    if n + 1 >= a.len() {
        return Err(CmdError::Syntax);
    }
    Ok((&a[1..=n], &a[n + 1..]))
}

/// Parses an optional trailing `COUNT n` (must be > 0).
pub fn count_opt(rest: &[Bytes]) -> Result<usize, CmdError> {
    match rest {
        [] => Ok(1),
        [c, n] if is(c, "COUNT") => Ok(int_in(n, 1, i64::MAX, "count should be greater than 0")? as usize),
        _ => Err(CmdError::Syntax),
    }
}

/// Pops from the first non-empty list of `keys`, logging `LPOP/RPOP key n`.
fn mpop(ex: &mut Exec, keys: &[Bytes], left: bool, n: usize) -> Result<Option<(Bytes, Vec<Bytes>)>, CmdError> {
    for k in keys {
        if let Some(v) = pop_from(ex, k, left, n)? {
            let cmd = if left { "LPOP" } else { "RPOP" };
            ex.propagate(vec![word(cmd), k.clone(), Bytes::from(v.len().to_string())]);
            return Ok(Some((k.clone(), v)));
        }
    }
    ex.suppress_verbatim();
    Ok(None)
}

fn mpop_reply(got: Option<(Bytes, Vec<Bytes>)>) -> Frame {
    got.map_or(Frame::NullArray, |(k, v)| {
        Frame::Array(vec![Frame::Bulk(k), Frame::Array(v.into_iter().map(Frame::Bulk).collect())])
    })
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub fn lmpop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (keys, rest) = numkeys_args(&a[1..])?;
    let left = side(&rest[0])?;
    let n = count_opt(&rest[1..])?;
    Ok(mpop_reply(mpop(ex, keys, left, n)?))
}

/// Blocks when nothing was found, unless inside MULTI.
fn block_or(ex: &Exec, keys: &[Bytes], timeout: u64, nil: Frame) -> CmdResult {
    if ex.in_multi { Ok(nil) } else { Err(CmdError::WouldBlock { keys: keys.to_vec(), timeout_ms: timeout }) }
}

/// `BLPOP key [key ...] timeout`, `BRPOP ...`
pub fn blpop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let timeout = timeout_ms(&a[a.len() - 1])?;
    let keys = &a[1..a.len() - 1];
    let left = is(&a[0], "BLPOP");
    for k in keys {
        ex.list(k)?;
    }
    match mpop(ex, keys, left, 1)? {
        Some((k, mut v)) => Ok(Frame::Array(vec![Frame::Bulk(k), Frame::Bulk(v.remove(0))])),
        None => block_or(ex, keys, timeout, Frame::NullArray),
    }
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`, `BRPOPLPUSH source destination timeout`
pub fn blmove(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let brpoplpush = is(&a[0], "BRPOPLPUSH");
    let (from, to) = if brpoplpush { (false, true) } else { (side(&a[3])?, side(&a[4])?) };
    let timeout = timeout_ms(&a[a.len() - 1])?;
    match do_move(ex, &a[1], &a[2], from, to)? {
        Some(v) => {
            let dir = |l: bool| word(if l { "LEFT" } else { "RIGHT" });
            ex.propagate(vec![word("LMOVE"), a[1].clone(), a[2].clone(), dir(from), dir(to)]);
            Ok(Frame::Bulk(v))
        }
        None => block_or(ex, &a[1..2], timeout, Frame::Null),
    }
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub fn blmpop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let timeout = timeout_ms(&a[1])?;
    let (keys, rest) = numkeys_args(&a[2..])?;
    let left = side(&rest[0])?;
    let n = count_opt(&rest[1..])?;
    match mpop(ex, keys, left, n)? {
        Some(got) => Ok(mpop_reply(Some(got))),
        None => block_or(ex, keys, timeout, Frame::NullArray),
    }
}
