//! Stream commands: XADD XTRIM XDEL XLEN XRANGE XREVRANGE XSETID XREAD.
//! Consumer groups are in `stream_groups`, XINFO in `stream_info`.
//!
//! Effects: XADD is logged with the ID it chose, and a trim it made as the
//! exact `XTRIM key MAXLEN = <length>` (an approximate trim depends on the
//! node layout, a setting replicas need not share); XTRIM likewise.

use crate::args::{int, is};
use crate::db::Entry;
use crate::exec::{CmdError, CmdResult, Exec};
use crate::stream::{Stream, StreamId, TrimTo};
use crate::value::Value;
use bytes::Bytes;
use sixfold_resp::Frame;

/// Redis's error for an ID that does not parse.
pub const BAD_ID: &str = "ERR Invalid stream ID specified as stream command argument";
/// The most entries an approximate trim removes when no LIMIT is given,
/// per node slot (Redis: 100 × `stream-node-max-entries`).
const TRIM_LIMIT_PER_NODE_ENTRY: u64 = 100;
/// The cap on that default limit, in entries.
const TRIM_LIMIT_DEFAULT_MAX: u64 = 1_000_000;

impl Exec<'_> {
    /// The stream at `key`; `WRONGTYPE` for other types.
    pub fn stream(&mut self, key: &[u8]) -> Result<Option<&mut Stream>, CmdError> {
        match self.lookup(key) {
            None => Ok(None),
            Some(Entry { value: Value::Stream(s), .. }) => Ok(Some(s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// The stream at `key`, created empty if missing.
    pub fn stream_or_create(&mut self, key: &[u8]) -> Result<&mut Stream, CmdError> {
        if self.lookup(key).is_none() {
            self.db().insert(Bytes::copy_from_slice(key), Value::Stream(Box::default()), None);
        }
        match self.db().get_mut(key) {
            Some(Entry { value: Value::Stream(s), .. }) => Ok(s),
            _ => Err(CmdError::WrongType),
        }
    }
}

/// A strict ID (`ms-seq` or `ms`; no `-`, `+` or `*`).
pub fn strict_id(b: &[u8]) -> Result<StreamId, CmdError> {
    StreamId::parse(b, 0).ok_or_else(|| CmdError::msg(BAD_ID))
}

/// A range bound: `-`, `+`, an ID (a missing sequence is `missing_seq`),
/// or `(ID` exclusive; returns the inclusive bound.
pub fn bound(b: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, CmdError> {
    if b.len() > 1 && b[0] == b'(' {
        let id = StreamId::parse(&b[1..], missing_seq).ok_or_else(|| CmdError::msg(BAD_ID))?;
        let stepped = if start { id.next() } else { id.prev() };
        let which = if start { "start" } else { "end" };
        return stepped.ok_or_else(|| CmdError::msg(format!("ERR invalid {which} ID for the interval")));
    }
    match b {
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => StreamId::parse(b, missing_seq).ok_or_else(|| CmdError::msg(BAD_ID)),
    }
}

/// One entry as Redis replies it: `[id, [field, value, ...]]`.
pub fn entry_frame(id: StreamId, fields: &[Bytes]) -> Frame {
    Frame::Array(vec![Frame::Bulk(id.bytes()), Frame::Array(fields.iter().cloned().map(Frame::Bulk).collect())])
}

/// Entries as a reply array.
pub fn entries_frame(entries: &[(StreamId, &Vec<Bytes>)]) -> Frame {
    Frame::Array(entries.iter().map(|(id, f)| entry_frame(*id, f)).collect())
}

/// The trimming part of XADD and XTRIM.
#[derive(Debug, Default)]
struct Trim {
    to: Option<TrimTo>,
    approx: bool,
    limit: Option<u64>,
}

/// What XADD asks besides its fields.
#[derive(Debug, Default)]
struct AddArgs {
    trim: Trim,
    no_mkstream: bool,
    /// `None` for `*`; the ID and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// Where the fields start.
    fields_at: usize,
}

/// Parses the trimming options (and, for XADD, NOMKSTREAM and the ID)
/// from `a[2..]`, as Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_or_trim(a: &[Bytes], xadd: bool) -> Result<AddArgs, CmdError> {
    let mut p = AddArgs::default();
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = &a[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (is(opt, "MAXLEN") || is(opt, "MINID")) && more > 0 {
            if p.trim.to.is_some() {
                return Err(CmdError::msg(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            p.trim.approx = false;
            if more >= 2 && (a[i + 1].as_ref() == b"~" || a[i + 1].as_ref() == b"=") {
                p.trim.approx = a[i + 1].as_ref() == b"~";
                i += 1;
            }
            p.trim.to = Some(if is(opt, "MAXLEN") {
                let n = int(&a[i + 1])?;
                if n < 0 {
                    return Err(CmdError::msg("ERR The MAXLEN argument must be >= 0."));
                }
                TrimTo::MaxLen(n as u64)
            } else {
                TrimTo::MinId(strict_id(&a[i + 1])?)
            });
            i += 2;
            continue;
        } else if is(opt, "LIMIT") && more > 0 {
            let n = int(&a[i + 1])?;
            if n < 0 {
                return Err(CmdError::msg("ERR The LIMIT argument must be >= 0."));
            }
            p.trim.limit = Some(n as u64);
            i += 2;
            continue;
        } else if xadd && is(opt, "NOMKSTREAM") {
            p.no_mkstream = true;
        } else if xadd {
            p.id = Some(add_id(opt)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    p.fields_at = i + 1;
    if p.trim.limit.is_some_and(|l| l > 0) && p.trim.to.is_none() {
        return Err(CmdError::msg("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && p.trim.to.is_none() {
        return Err(CmdError::msg("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if p.trim.limit.is_some() && !p.trim.approx {
        return Err(CmdError::msg("ERR syntax error, LIMIT cannot be used without the special ~ option"));
    }
    Ok(p)
}

/// XADD's explicit ID: `ms-seq`, `ms`, or `ms-*` (sequence not given).
fn add_id(b: &[u8]) -> Result<(StreamId, bool), CmdError> {
    if let Some(ms) = b.strip_suffix(b"-*") {
        return Ok((
            StreamId::parse(ms, 0).filter(|_| !ms.contains(&b'-')).ok_or_else(|| CmdError::msg(BAD_ID))?,
            false,
        ));
    }
    Ok((strict_id(b)?, true))
}

/// Trims `s` as `t` says (the default LIMIT of `~` from the node size);
/// returns the entries removed.
fn apply_trim(s: &mut Stream, t: &Trim, node_entries_max: u64) -> u64 {
    let Some(to) = t.to else {
        return 0;
    };
    let limit = match (t.approx, t.limit) {
        (false, _) => 0,
        (true, Some(l)) => l,
        (true, None) => match node_entries_max.saturating_mul(TRIM_LIMIT_PER_NODE_ENTRY) {
            0 => 10_000,
            n => n.min(TRIM_LIMIT_DEFAULT_MAX),
        },
    };
    s.trim(to, t.approx, limit)
}

/// The ID XADD gives an entry, or Redis's error.
fn next_id(s: &Stream, given: Option<(StreamId, bool)>, now_ms: i64) -> Result<StreamId, CmdError> {
    let smaller = || CmdError::msg("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    let last = s.last_id;
    match given {
        None => {
            let now = u64::try_from(now_ms).unwrap_or(0);
            if now > last.ms { Ok(StreamId::new(now, 0)) } else { last.next().ok_or_else(smaller) }
        }
        Some((id, false)) if id.ms == last.ms => {
            last.seq.checked_add(1).map(|seq| StreamId::new(id.ms, seq)).ok_or_else(smaller)
        }
        Some((id, false)) if id.ms > last.ms => Ok(StreamId::new(id.ms, 0)),
        Some((id, true)) if id > last => Ok(id),
        Some(_) => Err(smaller()),
    }
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]`
pub fn xadd(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let p = parse_add_or_trim(a, true)?;
    let fields = a.get(p.fields_at..).unwrap_or_default();
    if fields.is_empty() || fields.len() % 2 == 1 {
        return Err(CmdError::msg("ERR wrong number of arguments for 'xadd' command"));
    }
    if let Some((StreamId::MIN, true)) = p.id {
        return Err(CmdError::msg("ERR The ID specified in XADD must be greater than 0-0"));
    }
    if p.no_mkstream && ex.stream(&a[1])?.is_none() {
        return Ok(Frame::Null);
    }
    let (now, node_max) = (ex.now_ms, ex.stream_node_entries_max);
    let s = ex.stream_or_create(&a[1])?;
    if s.last_id == StreamId::MAX {
        return Err(CmdError::msg("ERR The stream has exhausted the last possible ID, unable to add more items"));
    }
    // A new stream's last ID is 0-0, so only an existing stream refuses.
    let id = next_id(s, p.id, now)?;
    s.add(id, fields.to_vec(), node_max);
    let trimmed = apply_trim(s, &p.trim, node_max);
    let len = s.len();
    ex.touch(&a[1]);
    let mut effect = vec![Bytes::from_static(b"XADD"), a[1].clone(), id.bytes()];
    effect.extend_from_slice(fields);
    ex.propagate(effect);
    if trimmed > 0 {
        ex.propagate(exact_trim(&a[1], len));
    }
    Ok(Frame::Bulk(id.bytes()))
}

/// The exact trim that leaves `len` entries.
fn exact_trim(key: &Bytes, len: usize) -> Vec<Bytes> {
    ["XTRIM", "", "MAXLEN", "="]
        .iter()
        .map(|w| if w.is_empty() { key.clone() } else { Bytes::from_static(w.as_bytes()) })
        .chain(std::iter::once(Bytes::from(len.to_string())))
        .collect()
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
pub fn xtrim(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let p = parse_add_or_trim(a, false)?;
    let node_max = ex.stream_node_entries_max;
    let Some(s) = ex.stream(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let removed = apply_trim(s, &p.trim, node_max);
    let len = s.len();
    ex.suppress_verbatim();
    if removed > 0 {
        ex.touch(&a[1]);
        ex.propagate(exact_trim(&a[1], len));
    }
    Ok(Frame::Integer(removed as i64))
}

/// `XDEL key id [id ...]`
pub fn xdel(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if ex.stream(&a[1])?.is_none() {
        return Ok(Frame::Integer(0));
    }
    let ids = a[2..].iter().map(|b| strict_id(b)).collect::<Result<Vec<_>, _>>()?;
    let Some(s) = ex.stream(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let mut deleted = 0;
    for id in ids {
        if s.delete(id) {
            deleted += 1;
            s.max_deleted = s.max_deleted.max(id);
        }
    }
    if deleted > 0 {
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(deleted))
}

/// `XLEN key`
pub fn xlen(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.stream(&a[1])?.map_or(0, |s| s.len() as i64)))
}

/// `XRANGE key start end [COUNT count]`, `XREVRANGE key end start [COUNT count]`
pub fn xrange(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let rev = is(&a[0], "XREVRANGE");
    let (lo, hi) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let (from, to) = (bound(lo, 0, true)?, bound(hi, u64::MAX, false)?);
    let mut count: Option<usize> = None;
    let mut i = 4;
    while i < a.len() {
        if is(&a[i], "COUNT") && i + 1 < a.len() {
            count = Some(int(&a[i + 1])?.max(0) as usize);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(s) = ex.stream(&a[1])? else {
        return Ok(Frame::Array(vec![]));
    };
    if count == Some(0) {
        return Ok(Frame::NullArray);
    }
    Ok(entries_frame(&s.range(from, to, count.unwrap_or(0), rev)))
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
pub fn xsetid(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let id = strict_id(&a[2])?;
    let (mut added, mut max_del) = (None, StreamId::MIN);
    let mut i = 3;
    while i < a.len() {
        let more = i + 1 < a.len();
        if is(&a[i], "ENTRIESADDED") && more {
            let n = int(&a[i + 1])?;
            if n < 0 {
                return Err(CmdError::msg("ERR entries_added must be positive"));
            }
            added = Some(n as u64);
        } else if is(&a[i], "MAXDELETEDID") && more {
            max_del = strict_id(&a[i + 1])?;
            if id < max_del {
                return Err(CmdError::msg(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let Some(s) = ex.stream(&a[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    if let Some((&top, _)) = s.entries.iter().next_back() {
        if id < top {
            return Err(CmdError::msg("ERR The ID specified in XSETID is smaller than the target stream top item"));
        }
        if added.is_some_and(|n| (s.len() as u64) > n) {
            return Err(CmdError::msg(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if let Some(n) = added {
        s.entries_added = n;
    }
    if max_del != StreamId::MIN {
        s.max_deleted = max_del;
    }
    ex.touch(&a[1]);
    Ok(Frame::ok())
}

/// XREAD's and XREADGROUP's options.
#[derive(Debug, Default)]
pub struct ReadArgs {
    /// COUNT (0: no limit).
    pub count: usize,
    /// BLOCK in milliseconds.
    pub block_ms: Option<u64>,
    /// GROUP name and consumer.
    pub group: Option<(Bytes, Bytes)>,
    /// NOACK.
    pub noack: bool,
    /// Where the keys start, and how many there are.
    pub streams_at: usize,
    /// Streams named.
    pub streams: usize,
}

/// Parses XREAD's or XREADGROUP's options, as Redis's `xreadCommand`.
pub fn parse_read(a: &[Bytes]) -> Result<ReadArgs, CmdError> {
    let group_cmd = is(&a[0], "XREADGROUP");
    let mut r = ReadArgs::default();
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let o = &a[i];
        if is(o, "BLOCK") && more > 0 {
            i += 1;
            let ms = crate::util::parse_i64(&a[i])
                .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::msg("ERR timeout is negative"));
            }
            r.block_ms = Some(ms as u64);
        } else if is(o, "COUNT") && more > 0 {
            i += 1;
            r.count = int(&a[i])?.max(0) as usize;
        } else if is(o, "STREAMS") && more > 0 {
            r.streams_at = i + 1;
            let n = a.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                let (name, symbol) = if group_cmd { ("xreadgroup", '>') } else { ("xread", '$') };
                return Err(CmdError::msg(format!(
                    "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{symbol}' must be specified."
                )));
            }
            r.streams = n / 2;
            break;
        } else if is(o, "GROUP") && more >= 2 {
            if !group_cmd {
                return Err(CmdError::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if is(o, "NOACK") {
            if !group_cmd {
                return Err(CmdError::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(CmdError::Syntax);
    }
    if group_cmd && r.group.is_none() {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// The reply of XREAD and XREADGROUP: per stream served, its key and
/// entries (a map in RESP3); a null array when none was.
pub fn read_reply(served: Vec<(Bytes, Frame)>, resp3: bool) -> Frame {
    if served.is_empty() {
        Frame::NullArray
    } else if resp3 {
        Frame::Map(served.into_iter().map(|(k, f)| (Frame::Bulk(k), f)).collect())
    } else {
        Frame::Array(served.into_iter().map(|(k, f)| Frame::Array(vec![Frame::Bulk(k), f])).collect())
    }
}

/// Blocks a read that found nothing, if it asked to (a read in MULTI or a
/// script answers as if it timed out); `rewritten` is the command to run
/// again when a key changes.
pub fn block_or_nil(ex: &mut Exec, r: &ReadArgs, keys: Vec<Bytes>, rewritten: Vec<Bytes>) -> CmdResult {
    match r.block_ms {
        Some(ms) if !ex.in_multi => {
            ex.block_as = Some(rewritten);
            Err(CmdError::WouldBlock { keys, timeout_ms: ms })
        }
        _ => Ok(Frame::NullArray),
    }
}

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`
pub fn xread(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let r = parse_read(a)?;
    let keys = &a[r.streams_at..r.streams_at + r.streams];
    let mut after = Vec::with_capacity(r.streams);
    for (key, id) in keys.iter().zip(&a[r.streams_at + r.streams..]) {
        let s = ex.stream(key)?;
        after.push(match id.as_ref() {
            b"$" => s.map_or(StreamId::MIN, |s| s.last_id),
            b">" => {
                return Err(CmdError::msg(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            _ => strict_id(id)?,
        });
    }
    let mut served = Vec::new();
    for (key, gt) in keys.iter().zip(&after) {
        let Some(s) = ex.stream(key)? else { continue };
        let Some(start) = gt.next() else { continue };
        let found = s.range(start, StreamId::MAX, r.count, false);
        if !found.is_empty() {
            served.push((key.clone(), entries_frame(&found)));
        }
    }
    if !served.is_empty() {
        return Ok(read_reply(served, ex.resp3));
    }
    let mut again: Vec<Bytes> = a[..r.streams_at + r.streams].to_vec();
    again.extend(after.iter().map(|id| id.bytes()));
    block_or_nil(ex, &r, keys.to_vec(), again)
}
