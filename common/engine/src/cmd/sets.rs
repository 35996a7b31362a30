//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
//! SRANDMEMBER SMOVE SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE
//! SDIFFSTORE SSCAN. SPOP is logged as SREM of the members it removed.

use crate::args::{int_in, is, positive, upper, word};
use crate::cmd::hashes::{pick_indices, rand_count};
use crate::cmd::keys::{cursor, scan_opts};
use crate::exec::{CmdError, CmdResult, Exec};
use crate::util::glob_match;
use crate::value::Value;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::HashSet;

type Members = HashSet<Bytes>;

fn set_reply(ex: &Exec, m: impl IntoIterator<Item = Bytes>) -> Frame {
    let items = m.into_iter().map(Frame::Bulk).collect();
    if ex.resp3 { Frame::Set(items) } else { Frame::Array(items) }
}

/// `SADD key member [member ...]`
pub fn sadd(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let s = ex.set_or_create(&a[1])?;
    let n = a[2..].iter().filter(|m| s.insert((*m).clone())).count();
    if n > 0 {
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(n as i64))
}

/// `SREM key member [member ...]`
pub fn srem(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let Some(s) = ex.set_value(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let n = a[2..].iter().filter(|m| s.remove(*m)).count();
    if n > 0 {
        ex.drop_if_empty(&a[1]);
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(n as i64))
}

/// `SMEMBERS key`
pub fn smembers(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let m: Vec<Bytes> = ex.set_value(&a[1])?.map(|s| s.iter().cloned().collect()).unwrap_or_default();
    Ok(set_reply(ex, m))
}

/// `SISMEMBER key member`
pub fn sismember(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(i64::from(ex.set_value(&a[1])?.is_some_and(|s| s.contains(&a[2])))))
}

/// `SMISMEMBER key member [member ...]`
pub fn smismember(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let s = ex.set_value(&a[1])?;
    let has = |m: &Bytes| Frame::Integer(i64::from(s.as_ref().is_some_and(|s| s.contains(m))));
    Ok(Frame::Array(a[2..].iter().map(has).collect()))
}

/// `SCARD key`
pub fn scard(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.set_value(&a[1])?.map_or(0, |s| s.len() as i64)))
}

/// `SPOP key [count]`
pub fn spop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = a.get(2).map(|c| positive(c)).transpose()?;
    ex.suppress_verbatim();
    let Some(s) = ex.set_value(&a[1])? else {
        return Ok(if count.is_some() { set_reply(ex, []) } else { Frame::Null });
    };
    let members: Vec<Bytes> = s.iter().cloned().collect();
    let picked = pick_indices(ex, members.len(), count.unwrap_or(1) as i64);
    let popped: Vec<Bytes> = picked.into_iter().map(|i| members[i].clone()).collect();
    if let Some(s) = ex.set_value(&a[1])? {
        popped.iter().for_each(|m| {
            s.remove(m);
        });
    }
    if !popped.is_empty() {
        ex.drop_if_empty(&a[1]);
        ex.touch(&a[1]);
        let mut eff = vec![word("SREM"), a[1].clone()];
        eff.extend(popped.iter().cloned());
        ex.propagate(eff);
    }
    Ok(match count {
        None => popped.into_iter().next().map_or(Frame::Null, Frame::Bulk),
        Some(_) => set_reply(ex, popped),
    })
}

/// `SRANDMEMBER key [count]`
pub fn srandmember(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = a.get(2).map(|c| rand_count(c)).transpose()?;
    let Some(s) = ex.set_value(&a[1])? else {
        return Ok(if count.is_some() { Frame::Array(vec![]) } else { Frame::Null });
    };
    let members: Vec<Bytes> = s.iter().cloned().collect();
    let picked = pick_indices(ex, members.len(), count.unwrap_or(1));
    let mut out = picked.into_iter().map(|i| Frame::Bulk(members[i].clone()));
    Ok(match count {
        None => out.next().unwrap_or(Frame::Null),
        Some(_) => Frame::Array(out.collect()),
    })
}

/// `SMOVE source destination member`
pub fn smove(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if ex.set_value(&a[1])?.is_none() {
        return Ok(Frame::Integer(0));
    }
    ex.set_value(&a[2])?;
    if a[1] == a[2] {
        return Ok(Frame::Integer(i64::from(ex.set_value(&a[1])?.is_some_and(|s| s.contains(&a[3])))));
    }
    if !ex.set_value(&a[1])?.is_some_and(|s| s.remove(&a[3])) {
        return Ok(Frame::Integer(0));
    }
    ex.drop_if_empty(&a[1]);
    ex.touch(&a[1]);
    // A member the destination holds already leaves it unchanged.
    if ex.set_or_create(&a[2])?.insert(a[3].clone()) {
        ex.touch(&a[2]);
    }
    Ok(Frame::Integer(1))
}

/// Loads the sets at `keys` (missing keys are empty; WRONGTYPE for others).
fn load(ex: &mut Exec, keys: &[Bytes]) -> Result<Vec<Option<Members>>, CmdError> {
    keys.iter().map(|k| Ok(ex.set_value(k)?.map(|s| s.clone()))).collect()
}

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

fn combine(sets: Vec<Option<Members>>, op: Op) -> Members {
    let mut it = sets.into_iter();
    let first = it.next().flatten().unwrap_or_default();
    match op {
        Op::Union => it.flatten().fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        Op::Diff => it.flatten().fold(first, |acc, s| acc.into_iter().filter(|m| !s.contains(m)).collect()),
        Op::Inter => {
            let rest: Vec<Option<Members>> = it.collect();
            if rest.iter().any(|s| s.is_none()) {
                return Members::new();
            }
            first.into_iter().filter(|m| rest.iter().flatten().all(|s| s.contains(m))).collect()
        }
    }
}

fn op_of(name: &str) -> Op {
    if name.starts_with("SINTER") {
        Op::Inter
    } else if name.starts_with("SUNION") {
        Op::Union
    } else {
        Op::Diff
    }
}

/// `SINTER`, `SUNION`, `SDIFF key [key ...]`
pub fn sop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let sets = load(ex, &a[1..])?;
    let out = combine(sets, op_of(&upper(&a[0])));
    Ok(set_reply(ex, out))
}

/// `SINTERSTORE`, `SUNIONSTORE`, `SDIFFSTORE destination key [key ...]`
pub fn sopstore(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let sets = load(ex, &a[2..])?;
    let out = combine(sets, op_of(&upper(&a[0])));
    let n = out.len();
    let existed = ex.exists(&a[1]);
    if out.is_empty() {
        if existed {
            ex.delete(&a[1]);
        }
    } else {
        ex.set(a[1].clone(), Value::Set(out), None);
    }
    if existed || n > 0 {
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(n as i64))
}

/// Parses `numkeys key [key ...] [LIMIT limit]` of SINTERCARD / ZINTERCARD.
pub fn intercard_args(a: &[Bytes]) -> Result<(&[Bytes], usize), CmdError> {
    let n = int_in(&a[1], 1, i64::MAX, "numkeys should be greater than 0")? as usize;
    if n > a.len() - 2 {
        return Err(CmdError::msg("ERR Number of keys can't be greater than number of args"));
    }
    let limit = match &a[2 + n..] {
        [] => 0,
        [l, v] if is(l, "LIMIT") => int_in(v, 0, i64::MAX, "LIMIT can't be negative")? as usize,
        _ => return Err(CmdError::Syntax),
    };
    Ok((&a[2..2 + n], limit))
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn sintercard(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (keys, limit) = intercard_args(a)?;
    let n = combine(load(ex, keys)?, Op::Inter).len();
    Ok(Frame::Integer(if limit > 0 { n.min(limit) } else { n } as i64))
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`: the whole set at once.
pub fn sscan(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    cursor(&a[2])?;
    let o = scan_opts(&a[3..], false)?;
    let members: Vec<Frame> = ex
        .set_value(&a[1])?
        .map(|s| {
            s.iter().filter(|m| o.pattern.as_ref().is_none_or(|p| glob_match(p, m))).cloned().map(Frame::Bulk).collect()
        })
        .unwrap_or_default();
    Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(members)]))
}
