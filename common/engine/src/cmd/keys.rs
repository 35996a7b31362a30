//! Generic key commands: DEL UNLINK EXISTS EXPIRE PEXPIRE EXPIREAT PEXPIREAT
//! TTL PTTL EXPIRETIME PEXPIRETIME PERSIST TYPE RENAME RENAMENX KEYS SCAN
//! RANDOMKEY DBSIZE FLUSHDB FLUSHALL COPY TOUCH OBJECT.

use crate::args::{int, is, upper, word};
use crate::db::DATABASES;
use crate::exec::{CmdError, CmdResult, Exec, Mode};
use crate::util::glob_match;
use crate::value::Value;
use bytes::Bytes;
use sixfold_resp::Frame;

/// `DEL key [key ...]`, `UNLINK ...`
pub fn del(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let n = a[1..].iter().filter(|k| ex.delete(k)).count();
    Ok(Frame::Integer(n as i64))
}

/// `EXISTS key [key ...]`, `TOUCH key [key ...]`
pub fn exists(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let n = a[1..].iter().filter(|k| ex.exists(k)).count();
    Ok(Frame::Integer(n as i64))
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and PEXPIRE, EXPIREAT, PEXPIREAT.
pub fn expire(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = upper(&a[0]);
    let n = int(&a[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        match upper(o).as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            _ => {
                return Err(CmdError::msg(format!("ERR Unsupported option {}", String::from_utf8_lossy(o))));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::msg("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(CmdError::msg("ERR GT and LT options at the same time are not compatible"));
    }
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{}' command", name.to_ascii_lowercase()));
    let ms = if name == "EXPIRE" || name == "EXPIREAT" { n.checked_mul(1000).ok_or_else(invalid)? } else { n };
    let at = if name.ends_with("AT") { ms } else { ms.checked_add(ex.now_ms).ok_or_else(invalid)? };
    let Some(entry) = ex.lookup(&a[1]) else {
        return Ok(Frame::Integer(0));
    };
    let cur = entry.expire_at_ms;
    let skip = (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|c| at <= c))
        || (lt && cur.is_some_and(|c| at >= c));
    if skip {
        return Ok(Frame::Integer(0));
    }
    // A time already past deletes the key, except when applying the log: the
    // writer logged a future time; the key stays until the logged DEL.
    if at <= ex.now_ms && ex.mode != Mode::Apply {
        ex.delete(&a[1]);
        ex.propagate(vec![word("DEL"), a[1].clone()]);
    } else {
        ex.db().set_expire(&a[1], Some(at));
        ex.touch(&a[1]);
        ex.propagate(vec![word("PEXPIREAT"), a[1].clone(), Bytes::from(at.to_string())]);
    }
    Ok(Frame::Integer(1))
}

/// `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`
pub fn ttl(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = upper(&a[0]);
    let now = ex.now_ms;
    let Some(entry) = ex.lookup(&a[1]) else {
        return Ok(Frame::Integer(-2));
    };
    let Some(at) = entry.expire_at_ms else {
        return Ok(Frame::Integer(-1));
    };
    let left = (at - now).max(0);
    Ok(Frame::Integer(match name.as_str() {
        "TTL" => (left + 500) / 1000,
        "PTTL" => left,
        "EXPIRETIME" => at / 1000,
        _ => at,
    }))
}

/// `PERSIST key`
pub fn persist(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if ex.lookup(&a[1]).is_none_or(|e| e.expire_at_ms.is_none()) {
        return Ok(Frame::Integer(0));
    }
    ex.db().set_expire(&a[1], None);
    ex.touch(&a[1]);
    Ok(Frame::Integer(1))
}

/// `TYPE key`
pub fn type_(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let t = ex.lookup(&a[1]).map_or("none", |e| e.value.type_name());
    Ok(Frame::Simple(t.into()))
}

/// `RENAME key newkey`, `RENAMENX key newkey`
pub fn rename(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let nx = is(&a[0], "RENAMENX");
    let Some(entry) = ex.lookup(&a[1]).cloned() else {
        return Err(CmdError::NoSuchKey);
    };
    if a[1] == a[2] {
        return Ok(if nx { Frame::Integer(0) } else { Frame::ok() });
    }
    if nx && ex.exists(&a[2]) {
        return Ok(Frame::Integer(0));
    }
    ex.exists(&a[2]);
    ex.db().remove(&a[1]);
    ex.touch(&a[1]);
    ex.db().remove(&a[2]);
    ex.set(a[2].clone(), entry.value, entry.expire_at_ms);
    Ok(if nx { Frame::Integer(1) } else { Frame::ok() })
}

/// `COPY source destination [DB n] [REPLACE]`
pub fn copy(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let (mut db, mut replace) = (ex.db, false);
    let mut i = 3;
    while i < a.len() {
        if is(&a[i], "REPLACE") {
            replace = true;
        } else if is(&a[i], "DB") && i + 1 < a.len() {
            let n = int(&a[i + 1])?;
            if !(0..DATABASES as i64).contains(&n) {
                return Err(CmdError::msg("ERR DB index is out of range"));
            }
            db = n as usize;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if db == ex.db && a[1] == a[2] {
        return Err(CmdError::msg("ERR source and destination objects are the same"));
    }
    let Some(entry) = ex.lookup(&a[1]).cloned() else {
        return Ok(Frame::Integer(0));
    };
    ex.expire_if_needed(db, &a[2]);
    if ex.ks.dbs[db].get(&a[2]).is_some() {
        if !replace {
            return Ok(Frame::Integer(0));
        }
        ex.ks.dbs[db].remove(&a[2]);
    }
    ex.ks.dbs[db].insert(a[2].clone(), entry.value, entry.expire_at_ms);
    ex.touch_in(db, &a[2]);
    Ok(Frame::Integer(1))
}

/// `MOVE key db`: the key (with its TTL) to another database, unless it
/// is missing here or present there.
pub fn move_key(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let n = int(&a[2])?;
    if !(0..DATABASES as i64).contains(&n) {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    let db = n as usize;
    if db == ex.db {
        return Err(CmdError::msg("ERR source and destination objects are the same"));
    }
    let Some(entry) = ex.lookup(&a[1]).cloned() else {
        return Ok(Frame::Integer(0));
    };
    ex.expire_if_needed(db, &a[1]);
    if ex.ks.dbs[db].get(&a[1]).is_some() {
        return Ok(Frame::Integer(0));
    }
    ex.delete(&a[1]);
    ex.ks.dbs[db].insert(a[1].clone(), entry.value, entry.expire_at_ms);
    ex.touch_in(db, &a[1]);
    Ok(Frame::Integer(1))
}

/// `SWAPDB index1 index2`: the two databases trade contents; clients that
/// watch or wait on a key of either see it change.
pub fn swapdb(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let index = |b: &Bytes, which: &str| {
        crate::util::parse_i64(b).ok_or_else(|| CmdError::msg(format!("ERR invalid {which} DB index")))
    };
    let (x, y) = (index(&a[1], "first")?, index(&a[2], "second")?);
    if ![x, y].iter().all(|n| (0..DATABASES as i64).contains(n)) {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    let (x, y) = (x as usize, y as usize);
    if ex.track_touched {
        for db in [x, y] {
            let keys: Vec<Bytes> = ex.ks.dbs[db].iter().map(|(k, _)| k.clone()).collect();
            keys.iter().for_each(|k| ex.touch_in(db, k));
        }
    }
    ex.ks.dbs.swap(x, y);
    ex.mark_dirty();
    Ok(Frame::ok())
}

/// `KEYS pattern`
pub fn keys(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let now = ex.now_ms;
    let all = a[1].as_ref() == b"*";
    let out = ex
        .db()
        .iter()
        .filter(|(k, e)| !e.is_expired(now) && (all || glob_match(&a[1], k)))
        .map(|(k, _)| Frame::Bulk(k.clone()))
        .collect();
    Ok(Frame::Array(out))
}

/// Parsed `MATCH`, `COUNT`, `TYPE` options of the SCAN family.
pub struct ScanOpts {
    /// MATCH pattern.
    pub pattern: Option<Bytes>,
    /// COUNT hint.
    pub count: usize,
    /// TYPE filter (SCAN only).
    pub kind: Option<String>,
}

/// Parses a SCAN cursor (`ERR invalid cursor`).
pub fn cursor(b: &[u8]) -> Result<u64, CmdError> {
    std::str::from_utf8(b).ok().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| CmdError::msg("ERR invalid cursor"))
}

/// Parses SCAN options from `a` (after the cursor).
pub fn scan_opts(a: &[Bytes], allow_type: bool) -> Result<ScanOpts, CmdError> {
    let mut o = ScanOpts { pattern: None, count: 10, kind: None };
    let mut i = 0;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(CmdError::Syntax);
        }
        match upper(&a[i]).as_str() {
            "MATCH" => o.pattern = Some(a[i + 1].clone()),
            "COUNT" => {
                let n = int(&a[i + 1])?;
                if n < 1 {
                    return Err(CmdError::Syntax);
                }
                o.count = n as usize;
            }
            "TYPE" if allow_type => o.kind = Some(String::from_utf8_lossy(&a[i + 1]).to_ascii_lowercase()),
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    Ok(o)
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
pub fn scan(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let cur = cursor(&a[1])?;
    let o = scan_opts(&a[2..], true)?;
    let (keys, next) = ex.db().scan_slots(cur as usize, o.count);
    let now = ex.now_ms;
    let mut out = Vec::new();
    for k in keys {
        let Some(e) = ex.db().get(&k) else { continue };
        if e.is_expired(now) {
            continue;
        }
        if o.kind.as_deref().is_some_and(|t| t != e.value.type_name()) {
            continue;
        }
        if o.pattern.as_ref().is_some_and(|p| !glob_match(p, &k)) {
            continue;
        }
        out.push(Frame::Bulk(k));
    }
    Ok(Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(out)]))
}

/// `RANDOMKEY`
pub fn randomkey(ex: &mut Exec, _a: &[Bytes]) -> CmdResult {
    use rand::Rng;
    const TRIES_MAX: usize = 100;
    for _ in 0..TRIES_MAX {
        let db = ex.db;
        let rng = &mut *ex.rng;
        let Some(k) = ex.ks.dbs[db].random_key(|n| rng.random_range(0..n)) else {
            return Ok(Frame::Null);
        };
        if !ex.expire_if_needed(db, &k) {
            return Ok(Frame::Bulk(k));
        }
    }
    Ok(Frame::Null)
}

/// `DBSIZE`
pub fn dbsize(ex: &mut Exec, _a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.db().len() as i64))
}

/// `FLUSHDB [ASYNC|SYNC]`, `FLUSHALL [ASYNC|SYNC]`
pub fn flush(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if a.len() > 2 || (a.len() == 2 && !is(&a[1], "ASYNC") && !is(&a[1], "SYNC")) {
        return Err(CmdError::Syntax);
    }
    let dbs: Vec<usize> = if is(&a[0], "FLUSHALL") { (0..ex.ks.dbs.len()).collect() } else { vec![ex.db] };
    for db in dbs {
        let keys: Vec<Bytes> = ex.ks.dbs[db].iter().map(|(k, _)| k.clone()).collect();
        for k in keys {
            ex.touch_in(db, &k);
        }
        ex.ks.dbs[db].clear();
    }
    ex.mark_dirty();
    Ok(Frame::ok())
}

/// `OBJECT ENCODING key` | `OBJECT HELP`
/// What `OBJECT REFCOUNT` answers: Redis's shared integers (0..10000)
/// report `OBJ_SHARED_REFCOUNT`.
fn refcount(v: &Value) -> i64 {
    const SHARED_INTEGERS: i64 = 10_000;
    match v {
        Value::Str(s) if v.encoding() == "int" => {
            crate::util::parse_i64(s).filter(|n| (0..SHARED_INTEGERS).contains(n)).map_or(1, |_| i64::from(i32::MAX))
        }
        _ => 1,
    }
}

pub fn object(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    match (upper(&a[1]).as_str(), a.len()) {
        ("ENCODING", 3) => Ok(ex.peek(&a[2]).map_or(Frame::Null, |e| Frame::bulk(e.value.encoding()))),
        ("IDLETIME", 3) => {
            let clock_s = ex.ks.dbs[ex.db].clock_s;
            Ok(ex.peek(&a[2]).map_or(Frame::Null, |e| Frame::Integer(e.idle_s(clock_s).into())))
        }
        // Redis shares the integers 0..10000 (a refcount that never
        // changes) and reports 1 for everything else.
        ("REFCOUNT", 3) => Ok(ex.peek(&a[2]).map_or(Frame::Null, |e| Frame::Integer(refcount(&e.value)))),
        // Access frequency is tracked only under an LFU policy; Sixfold's
        // only policy is noeviction, so Redis's answer for that applies.
        ("FREQ", 3) => match ex.peek(&a[2]) {
            None => Ok(Frame::Null),
            Some(_) => Err(CmdError::msg(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            )),
        },
        ("HELP", 2) => Ok(Frame::Array(
            [
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple((*s).into()))
            .collect(),
        )),
        (sub @ ("ENCODING" | "FREQ" | "IDLETIME" | "REFCOUNT"), _) => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'object|{}' command", sub.to_lowercase())))
        }
        _ => {
            Err(CmdError::msg(format!("ERR unknown subcommand '{}'. Try OBJECT HELP.", String::from_utf8_lossy(&a[1]))))
        }
    }
}
