//! Sorted set ranges and algebra: ZRANGE (BYSCORE BYLEX REV LIMIT
//! WITHSCORES), ZRANGESTORE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
//! ZREVRANGEBYLEX, ZREVRANGE, ZCOUNT, ZLEXCOUNT, ZREMRANGEBYRANK/SCORE/LEX,
//! ZUNION ZINTER ZDIFF and their STORE forms.

use crate::args::{int, is, range, upper};
use crate::cmd::zsets::scored;
use crate::exec::{CmdError, CmdResult, Exec};
use crate::value::{Value, ZSet};
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::HashMap;

/// A score bound: `1.5`, `(1.5`, `-inf`, `+inf`.
#[derive(Debug, Clone, Copy)]
struct ScoreBound {
    v: f64,
    excl: bool,
}

fn score_bound(b: &[u8]) -> Result<ScoreBound, CmdError> {
    let bad = || CmdError::msg("ERR min or max is not a float");
    let (excl, rest) = if b.first() == Some(&b'(') { (true, &b[1..]) } else { (false, b) };
    let v = crate::util::parse_f64(rest).ok_or_else(bad)?;
    Ok(ScoreBound { v, excl })
}

/// A lex bound: `[a`, `(a`, `-`, `+`.
#[derive(Debug, Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

fn lex_bound(b: &Bytes) -> Result<LexBound, CmdError> {
    match b.first() {
        Some(b'-') if b.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if b.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(b.slice(1..))),
        Some(b'(') => Ok(LexBound::Excl(b.slice(1..))),
        _ => Err(CmdError::msg("ERR min or max not valid string range item")),
    }
}

fn above_min(m: &[u8], b: &LexBound) -> bool {
    match b {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Incl(x) => m >= &x[..],
        LexBound::Excl(x) => m > &x[..],
    }
}

fn below_max(m: &[u8], b: &LexBound) -> bool {
    match b {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(x) => m <= &x[..],
        LexBound::Excl(x) => m < &x[..],
    }
}

/// What a range selects.
enum By {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// A parsed range query.
struct Query {
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
}

fn in_score(s: f64, min: ScoreBound, max: ScoreBound) -> bool {
    let lo = if min.excl { s > min.v } else { s >= min.v };
    let hi = if max.excl { s < max.v } else { s <= max.v };
    lo && hi
}

/// Runs a query on one sorted set.
fn select(z: &ZSet, q: &Query) -> Vec<(Bytes, f64)> {
    let items: Box<dyn Iterator<Item = (&Bytes, f64)>> =
        if q.rev { Box::new(z.iter().rev()) } else { Box::new(z.iter()) };
    let picked: Box<dyn Iterator<Item = (&Bytes, f64)>> = match &q.by {
        By::Rank(s, e) => match range(*s, *e, z.len()) {
            Some((s, e)) => Box::new(items.skip(s).take(e - s)),
            None => return Vec::new(),
        },
        By::Score(min, max) => {
            let (min, max) = (*min, *max);
            Box::new(items.filter(move |(_, s)| in_score(*s, min, max)))
        }
        By::Lex(min, max) => Box::new(items.filter(move |(m, _)| above_min(m, min) && below_max(m, max))),
    };
    let picked = picked.map(|(m, s)| (m.clone(), s));
    match q.limit {
        Some((off, _)) if off < 0 => Vec::new(),
        Some((off, cnt)) => picked.skip(off as usize).take(if cnt < 0 { usize::MAX } else { cnt as usize }).collect(),
        None => picked.collect(),
    }
}

fn parse_limit(a: &[Bytes]) -> Result<(i64, i64), CmdError> {
    Ok((int(&a[0])?, int(&a[1])?))
}

/// Parses `start stop [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES]` (ZRANGE, ZRANGESTORE).
fn parse_zrange(a: &[Bytes], store: bool) -> Result<(Query, bool), CmdError> {
    let (mut byscore, mut bylex, mut rev, mut limit, mut ws) = (false, false, false, None, false);
    let mut i = 2;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "BYSCORE" => byscore = true,
            "BYLEX" => bylex = true,
            "REV" => rev = true,
            "WITHSCORES" if !store => ws = true,
            "LIMIT" if i + 2 < a.len() => {
                limit = Some(parse_limit(&a[i + 1..i + 3])?);
                i += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 1;
    }
    if byscore && bylex {
        return Err(CmdError::Syntax);
    }
    if limit.is_some() && !byscore && !bylex {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if ws && bylex {
        return Err(CmdError::msg("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (lo, hi) = if rev && (byscore || bylex) { (&a[1], &a[0]) } else { (&a[0], &a[1]) };
    let by = if byscore {
        By::Score(score_bound(lo)?, score_bound(hi)?)
    } else if bylex {
        By::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        By::Rank(int(&a[0])?, int(&a[1])?)
    };
    Ok((Query { by, rev, limit }, ws))
}

/// Parses the legacy forms: ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
/// ZREVRANGEBYLEX, ZREVRANGE (`a` starts at the first bound).
fn parse_legacy(name: &str, a: &[Bytes]) -> Result<(Query, bool), CmdError> {
    let rev = name.starts_with("ZREV");
    let (mut ws, mut limit) = (false, None);
    let mut i = 2;
    while i < a.len() {
        if is(&a[i], "WITHSCORES") && !name.ends_with("LEX") {
            ws = true;
        } else if is(&a[i], "LIMIT") && i + 2 < a.len() && name.contains("BY") {
            limit = Some(parse_limit(&a[i + 1..i + 3])?);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (lo, hi) = if rev { (&a[1], &a[0]) } else { (&a[0], &a[1]) };
    let by = if name.ends_with("BYSCORE") {
        By::Score(score_bound(lo)?, score_bound(hi)?)
    } else if name.ends_with("BYLEX") {
        By::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        By::Rank(int(&a[0])?, int(&a[1])?)
    };
    Ok((Query { by, rev, limit }, ws))
}

/// ZRANGE and all its legacy forms.
pub fn zrange(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = upper(&a[0]);
    let (q, ws) = if name == "ZRANGE" { parse_zrange(&a[2..], false)? } else { parse_legacy(&name, &a[2..])? };
    let items = ex.zset(&a[1])?.map(|z| select(z, &q)).unwrap_or_default();
    Ok(scored(ex, items, ws))
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`
pub fn zrangestore(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (q, _) = parse_zrange(&a[3..], true)?;
    let items = ex.zset(&a[2])?.map(|z| select(z, &q)).unwrap_or_default();
    store(ex, &a[1], items.into_iter().collect())
}

/// Stores `items` at `dst` (deleting it when empty); replies with the size.
fn store(ex: &mut Exec, dst: &Bytes, items: Vec<(Bytes, f64)>) -> CmdResult {
    let n = items.len();
    let existed = ex.exists(dst);
    if items.is_empty() {
        if existed {
            ex.delete(dst);
        }
    } else {
        let mut z = ZSet::default();
        for (m, s) in items {
            z.insert(m, s);
        }
        ex.set(dst.clone(), Value::ZSet(z), None);
    }
    if existed || n > 0 {
        ex.touch(dst);
    }
    Ok(Frame::Integer(n as i64))
}

/// `ZCOUNT key min max`, `ZLEXCOUNT key min max`
pub fn zcount(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let by = if is(&a[0], "ZCOUNT") {
        By::Score(score_bound(&a[2])?, score_bound(&a[3])?)
    } else {
        By::Lex(lex_bound(&a[2])?, lex_bound(&a[3])?)
    };
    let q = Query { by, rev: false, limit: None };
    Ok(Frame::Integer(ex.zset(&a[1])?.map_or(0, |z| select(z, &q).len() as i64)))
}

/// `ZREMRANGEBYRANK`, `ZREMRANGEBYSCORE`, `ZREMRANGEBYLEX key min max`
pub fn zremrange(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = upper(&a[0]);
    let by = match name.as_str() {
        "ZREMRANGEBYRANK" => By::Rank(int(&a[2])?, int(&a[3])?),
        "ZREMRANGEBYSCORE" => By::Score(score_bound(&a[2])?, score_bound(&a[3])?),
        _ => By::Lex(lex_bound(&a[2])?, lex_bound(&a[3])?),
    };
    let q = Query { by, rev: false, limit: None };
    let Some(z) = ex.zset(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let gone = select(z, &q);
    for (m, _) in &gone {
        z.remove(m);
    }
    if !gone.is_empty() {
        ex.drop_if_empty(&a[1]);
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(gone.len() as i64))
}

/// How scores of the same member combine.
#[derive(Debug, Clone, Copy)]
pub enum Agg {
    /// Sum (default).
    Sum,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

/// Which algebra.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SetOp {
    /// Union.
    Union,
    /// Intersection.
    Inter,
    /// Difference with the first key.
    Diff,
}

/// Reads `key` as weighted (member, score) pairs: sorted sets as they are,
/// plain sets with score 1.
fn load(ex: &mut Exec, key: &Bytes) -> Result<Option<HashMap<Bytes, f64>>, CmdError> {
    match ex.lookup(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z.members().map(|(m, s)| (m.clone(), *s)).collect())),
            Value::Set(s) => Ok(Some(s.iter().map(|m| (m.clone(), 1.0)).collect())),
            _ => Err(CmdError::WrongType),
        },
    }
}

fn aggregate(agg: Agg, a: f64, b: f64) -> f64 {
    match agg {
        Agg::Sum => {
            let s = a + b;
            if s.is_nan() { 0.0 } else { s }
        }
        Agg::Min => a.min(b),
        Agg::Max => a.max(b),
    }
}

fn weigh(s: f64, w: f64) -> f64 {
    let v = s * w;
    if v.is_nan() { 0.0 } else { v }
}

/// Combines the sets at `keys`; the result is sorted by (score, member).
pub fn combine_keys(
    ex: &mut Exec,
    keys: &[Bytes],
    weights: &[f64],
    agg: Agg,
    op: SetOp,
) -> Result<Vec<(Bytes, f64)>, CmdError> {
    let mut sets = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let w = weights.get(i).copied().unwrap_or(1.0);
        sets.push(load(ex, k)?.map(|m| m.into_iter().map(|(k, s)| (k, weigh(s, w))).collect::<HashMap<_, _>>()));
    }
    let mut it = sets.into_iter();
    let mut acc = it.next().flatten().unwrap_or_default();
    for s in it {
        match op {
            SetOp::Union => {
                for (m, sc) in s.unwrap_or_default() {
                    acc.entry(m).and_modify(|c| *c = aggregate(agg, *c, sc)).or_insert(sc);
                }
            }
            SetOp::Inter => {
                let s = s.unwrap_or_default();
                acc.retain(|m, _| s.contains_key(m));
                for (m, c) in acc.iter_mut() {
                    *c = aggregate(agg, *c, s[m]);
                }
            }
            SetOp::Diff => {
                let s = s.unwrap_or_default();
                acc.retain(|m, _| !s.contains_key(m));
            }
        }
    }
    let mut out: Vec<(Bytes, f64)> = acc.into_iter().collect();
    out.sort_by(|a, b| crate::value::Score(a.1).cmp(&crate::value::Score(b.1)).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// `ZUNION|ZINTER|ZDIFF numkeys key ... [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]`
/// and the `...STORE destination numkeys ...` forms.
pub fn zsetop(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = upper(&a[0]);
    let is_store = name.ends_with("STORE");
    let op = match &name[..5] {
        "ZUNIO" => SetOp::Union,
        "ZINTE" => SetOp::Inter,
        _ => SetOp::Diff,
    };
    let at = if is_store { 2 } else { 1 };
    let n = int(&a[at])?;
    if n <= 0 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{}' command",
            name.to_ascii_lowercase()
        )));
    }
    let n = n as usize;
    if n > a.len() - at - 1 {
        return Err(CmdError::Syntax);
    }
    let keys = &a[at + 1..at + 1 + n];
    for k in keys {
        load(ex, k)?;
    }
    let (mut weights, mut agg, mut ws) = (Vec::new(), Agg::Sum, false);
    let mut i = at + 1 + n;
    while i < a.len() {
        let opt = upper(&a[i]);
        if opt == "WEIGHTS" && op != SetOp::Diff && i + n < a.len() {
            for w in &a[i + 1..=i + n] {
                weights
                    .push(crate::util::parse_f64(w).ok_or_else(|| CmdError::msg("ERR weight value is not a float"))?);
            }
            i += n;
        } else if opt == "AGGREGATE" && op != SetOp::Diff && i + 1 < a.len() {
            agg = match upper(&a[i + 1]).as_str() {
                "SUM" => Agg::Sum,
                "MIN" => Agg::Min,
                "MAX" => Agg::Max,
                _ => return Err(CmdError::Syntax),
            };
            i += 1;
        } else if opt == "WITHSCORES" && !is_store {
            ws = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let out = combine_keys(ex, keys, &weights, agg, op)?;
    if is_store {
        return store(ex, &a[1], out);
    }
    Ok(scored(ex, out, ws))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_like_redis() {
        assert!(score_bound(b"(1.5").unwrap().excl);
        assert_eq!(score_bound(b"-inf").unwrap().v, f64::NEG_INFINITY);
        assert!(score_bound(b"x").is_err());
        assert!(lex_bound(&Bytes::from("a")).is_err());
        assert!(matches!(lex_bound(&Bytes::from("-")).unwrap(), LexBound::Min));
    }
}
