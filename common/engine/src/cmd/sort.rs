//! SORT and SORT_RO of a list, set or sorted set: numerically or ALPHA, by
//! the element or by a pattern (`BY weight_*`, `BY obj_*->field`, `BY
//! nosort`), LIMIT, ASC/DESC, GET patterns (`#` is the element) and
//! STORE, as Redis 7.0's `sortCommand`. Elements with equal weights are
//! ordered by their bytes, so the order is total. SORT ... STORE is logged
//! as the list it stored (`DEL` then `RPUSH`), never as the SORT.

use crate::args::{int, is};
use crate::exec::{CmdError, CmdResult, Exec};
use crate::value::Value;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::cmp::Ordering;

/// Elements per `RPUSH` effect of a stored result.
const ELEMENTS_PER_EFFECT: usize = 512;

struct Options {
    by: Option<Bytes>,
    limit: Option<(i64, i64)>,
    get: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

fn options(a: &[Bytes], read_only: bool) -> Result<Options, CmdError> {
    let mut o = Options { by: None, limit: None, get: Vec::new(), desc: false, alpha: false, store: None };
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - i - 1;
        if is(&a[i], "ASC") {
            o.desc = false;
        } else if is(&a[i], "DESC") {
            o.desc = true;
        } else if is(&a[i], "ALPHA") {
            o.alpha = true;
        } else if is(&a[i], "LIMIT") && more >= 2 {
            o.limit = Some((int(&a[i + 1])?, int(&a[i + 2])?));
            i += 2;
        } else if is(&a[i], "STORE") && more >= 1 && !read_only {
            o.store = Some(a[i + 1].clone());
            i += 1;
        } else if is(&a[i], "BY") && more >= 1 {
            o.by = Some(a[i + 1].clone());
            i += 1;
        } else if is(&a[i], "GET") && more >= 1 {
            o.get.push(a[i + 1].clone());
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// What `pattern` names for `element`: `#` is the element itself; the
/// first `*` is replaced by it; `->field` reads a hash field. `None` when
/// there is no `*`, or the key (or field) is missing or of another type.
fn lookup(ex: &mut Exec, pattern: &[u8], element: &Bytes) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(element.clone());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern.windows(2).position(|w| w == b"->").filter(|p| *p > star && p + 2 < pattern.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    match (ex.lookup(&key).map(|e| &e.value), arrow) {
        (Some(Value::Str(s)), None) => Some(s.clone()),
        (Some(Value::Hash(h)), Some(p)) => h.get(&pattern[p + 2..]).cloned(),
        _ => None,
    }
}

/// The elements of the value at `key`, in its own order (`None`: missing).
fn elements(ex: &mut Exec, key: &[u8]) -> Result<Option<Vec<Bytes>>, CmdError> {
    Ok(match ex.lookup(key).map(|e| &e.value) {
        None => None,
        Some(Value::List(l)) => Some(l.iter().cloned().collect()),
        Some(Value::Set(s)) => Some(s.iter().cloned().collect()),
        Some(Value::ZSet(z)) => Some(z.iter().map(|(m, _)| m.clone()).collect()),
        Some(_) => return Err(CmdError::WrongType),
    })
}

/// One element and what it is sorted by.
struct Item {
    element: Bytes,
    score: f64,
    text: Option<Bytes>,
}

/// A weight as C's `strtod` reads it for Redis: leading white space
/// skipped, the empty string is 0, the rest must all be the number.
fn score_of(b: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(b).ok()?.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    if text.is_empty() {
        return Some(0.0);
    }
    text.parse::<f64>().ok().filter(|f| !f.is_nan())
}

/// How to order: by a pattern (else the element), ALPHA, DESC.
struct Order<'a> {
    by: Option<&'a Bytes>,
    alpha: bool,
    desc: bool,
}

fn sorted(ex: &mut Exec, elements: Vec<Bytes>, o: &Order<'_>) -> Result<Vec<Bytes>, CmdError> {
    let by = o.by;
    let mut items = Vec::with_capacity(elements.len());
    for element in elements {
        let weight = match by {
            Some(p) => lookup(ex, p, &element),
            None => Some(element.clone()),
        };
        let mut item = Item { element, score: 0.0, text: None };
        if o.alpha {
            item.text = weight;
        } else if let Some(w) = weight {
            item.score =
                score_of(&w).ok_or_else(|| CmdError::msg("ERR One or more scores can't be converted into double"))?;
        }
        items.push(item);
    }
    let cmp = |x: &Item, y: &Item| {
        let c = if o.alpha {
            match (&x.text, &y.text) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(p), Some(q)) => p.cmp(q),
            }
        } else {
            x.score.partial_cmp(&y.score).unwrap_or(Ordering::Equal)
        };
        let c = c.then_with(|| x.element.cmp(&y.element));
        if o.desc { c.reverse() } else { c }
    };
    items.sort_by(cmp);
    Ok(items.into_iter().map(|i| i.element).collect())
}

/// The LIMIT window over `len` elements.
fn window(limit: Option<(i64, i64)>, len: usize) -> std::ops::Range<usize> {
    let Some((offset, count)) = limit else { return 0..len };
    let start = offset.max(0) as usize;
    let end = if count < 0 { len } else { start.saturating_add(count as usize).min(len) };
    start.min(len)..end.max(start.min(len))
}

fn run(ex: &mut Exec, a: &[Bytes], read_only: bool) -> CmdResult {
    let o = options(a, read_only)?;
    let by = o.by.as_ref().filter(|p| p.contains(&b'*'));
    let dont_sort = o.by.is_some() && by.is_none();
    let kind = ex.lookup(&a[1]).map(|e| e.value.type_name());
    let mut list = elements(ex, &a[1])?.unwrap_or_default();
    if !dont_sort {
        list = sorted(ex, list, &Order { by, alpha: o.alpha, desc: o.desc })?;
    } else if kind == Some("set") && o.store.is_some() {
        // A set's own order is its hash table's: what is stored is sorted.
        list = sorted(ex, list, &Order { by: None, alpha: true, desc: o.desc })?;
    } else if o.desc && kind == Some("zset") {
        // BY nosort keeps a sorted set's order, DESC reversing it.
        list.reverse();
    }
    let range = window(o.limit, list.len());
    let mut out = Vec::new();
    for element in &list[range] {
        if o.get.is_empty() {
            out.push(Some(element.clone()));
        }
        for p in &o.get {
            out.push(lookup(ex, p, element));
        }
    }
    let Some(dest) = &o.store else {
        return Ok(Frame::Array(out.into_iter().map(|x| x.map_or(Frame::Null, Frame::Bulk)).collect()));
    };
    store(ex, dest, out)
}

/// STORE: the result replaces `dest` (missing elements as empty strings).
fn store(ex: &mut Exec, dest: &Bytes, out: Vec<Option<Bytes>>) -> CmdResult {
    let n = out.len();
    ex.suppress_verbatim();
    ex.delete(dest);
    ex.propagate(vec![Bytes::from_static(b"DEL"), dest.clone()]);
    if n > 0 {
        let values: Vec<Bytes> = out.into_iter().map(Option::unwrap_or_default).collect();
        for chunk in values.chunks(ELEMENTS_PER_EFFECT) {
            let mut args = vec![Bytes::from_static(b"RPUSH"), dest.clone()];
            args.extend(chunk.iter().cloned());
            ex.propagate(args);
        }
        ex.set(dest.clone(), Value::List(values.into()), None);
    } else {
        ex.touch(dest);
    }
    Ok(Frame::Integer(n as i64))
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
/// [ALPHA] [STORE destination]`
pub fn sort(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    run(ex, a, false)
}

/// `SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...]
/// [ASC|DESC] [ALPHA]`
pub fn sort_ro(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    run(ex, a, true)
}
