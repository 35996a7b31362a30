//! Stream consumer groups: XGROUP XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM.
//!
//! Effects, as Redis propagates them: each delivery or claim is logged as
//! `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID
//! id` (its exact time and count), a group's new last ID and read counter
//! as `XGROUP SETID ... ENTRIESREAD n`, and a consumer a read created as
//! `XGROUP CREATECONSUMER`; a replica or a new writer has the same groups.

use super::streams::{block_or_nil, bound, entry_frame, parse_read, read_reply, strict_id};
use crate::args::{int, is, word};
use crate::exec::{CmdError, CmdResult, Exec};
use crate::stream::{Group, Pending, Stream, StreamId};
use bytes::Bytes;
use sixfold_resp::Frame;

/// XAUTOCLAIM's default COUNT.
const AUTOCLAIM_COUNT_DEFAULT: i64 = 100;
/// PEL entries XAUTOCLAIM looks at per entry of COUNT.
const AUTOCLAIM_ATTEMPTS_PER_COUNT: i64 = 10;

fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// The stream at `key` and its group `name`, or Redis's NOGROUP error.
fn stream_group<'e>(ex: &'e mut Exec, key: &[u8], name: &[u8]) -> Result<&'e mut Stream, CmdError> {
    match ex.stream(key)? {
        Some(s) if s.groups.contains_key(name) => Ok(s),
        _ => Err(no_group(key, name)),
    }
}

fn group_of<'s>(s: &'s mut Stream, name: &[u8]) -> &'s mut Group {
    s.groups.get_mut(name).expect("checked by stream_group")
}

/// The effect that gives `id` to `consumer` as `p` says.
fn claim_effect(key: &Bytes, group: &Bytes, id: StreamId, p: &Pending, last: StreamId) -> Vec<Bytes> {
    let mut e = vec![word("XCLAIM"), key.clone(), group.clone(), p.consumer.clone(), word("0"), id.bytes()];
    e.extend([word("TIME"), Bytes::from(p.delivered_ms.to_string()), word("RETRYCOUNT")]);
    e.extend([Bytes::from(p.deliveries.to_string()), word("FORCE"), word("JUSTID"), word("LASTID"), last.bytes()]);
    e
}

/// The consumer a claim gives entries to, seen now; true if created.
fn claim_consumer(g: &mut Group, consumer: &Bytes, now: i64) -> bool {
    let (c, created) = g.consumer(consumer, now);
    c.seen_ms = now;
    created
}

/// The effect (and notification) of a consumer a read or claim created.
fn create_consumer_effect(key: &Bytes, group: &Bytes, consumer: &Bytes) -> Vec<Bytes> {
    vec![word("XGROUP"), word("CREATECONSUMER"), key.clone(), group.clone(), consumer.clone()]
}

/// The effect that sets a group's last ID and read counter.
fn setid_effect(key: &Bytes, group: &Bytes, g: &Group) -> Vec<Bytes> {
    let read = g.entries_read.map_or("-1".to_string(), |n| n.to_string());
    vec![word("XGROUP"), word("SETID"), key.clone(), group.clone(), g.last_id.bytes(), word("ENTRIESREAD"), read.into()]
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...] id [id ...]`
pub fn xreadgroup(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let r = parse_read(a)?;
    let (group, consumer) = r.group.clone().expect("parse_read requires GROUP");
    let keys = &a[r.streams_at..r.streams_at + r.streams];
    let mut wanted = Vec::with_capacity(r.streams);
    for (key, id) in keys.iter().zip(&a[r.streams_at + r.streams..]) {
        if ex.serving_blocked {
            // What a client blocked on the group waited for went away.
            match ex.stream(key)? {
                None => return Err(CmdError::msg("UNBLOCKED the stream key no longer exists")),
                Some(s) if !s.groups.contains_key(&group) => {
                    return Err(CmdError::msg(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    ));
                }
                Some(_) => {}
            }
        }
        if !ex.stream(key)?.is_some_and(|s| s.groups.contains_key(&group)) {
            return Err(CmdError::msg(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&group)
            )));
        }
        wanted.push(match id.as_ref() {
            b"$" => {
                return Err(CmdError::msg(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of \
                     this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would \
                     just return an empty result set.",
                ));
            }
            b">" => None,
            _ => Some(strict_id(id)?),
        });
    }
    ex.suppress_verbatim();
    let mut served = Vec::new();
    for (key, want) in keys.iter().zip(wanted) {
        if let Some(f) = read_group_stream(ex, key, (&group, &consumer), want, &r)? {
            served.push((key.clone(), f));
        }
    }
    if !served.is_empty() {
        return Ok(read_reply(served, ex.resp3));
    }
    block_or_nil(ex, &r, keys.to_vec(), a.to_vec())
}

/// Serves one stream of an XREADGROUP: the consumer's history after
/// `want`, or (`None`) entries the group has not delivered yet; `None`
/// when there are none of the latter.
fn read_group_stream(
    ex: &mut Exec,
    key: &Bytes,
    (group, consumer): (&Bytes, &Bytes),
    want: Option<StreamId>,
    r: &super::streams::ReadArgs,
) -> Result<Option<Frame>, CmdError> {
    let now = ex.now_ms;
    let s = stream_group(ex, key, group)?;
    if want.is_none() && s.entries.last_key_value().is_none_or(|(top, _)| *top <= s.groups[group].last_id) {
        // Nothing new: Redis creates the consumer only once it serves it.
        return Ok(None);
    }
    let g = group_of(s, group);
    let (c, created) = g.consumer(consumer, now);
    c.seen_ms = now;
    let mut effects = Vec::new();
    if created {
        effects.push(create_consumer_effect(key, group, consumer));
    }
    let reply = match want {
        Some(after) => Some(history(s, key, (group, consumer), after, r.count, now, &mut effects)),
        None => deliver(s, key, (group, consumer), r, now, &mut effects),
    };
    let changed = !effects.is_empty();
    for e in effects {
        ex.propagate(e);
    }
    if changed {
        ex.touch(key);
    }
    Ok(reply)
}

/// The consumer's pending entries after `after` (each delivered once more;
/// one deleted since shows as its ID and a null).
fn history(
    s: &mut Stream,
    key: &Bytes,
    (group, consumer): (&Bytes, &Bytes),
    after: StreamId,
    count: usize,
    now: i64,
    effects: &mut Vec<Vec<Bytes>>,
) -> Frame {
    let Some(start) = after.next() else {
        return Frame::Array(vec![]);
    };
    let g = s.groups.get_mut(group).expect("checked");
    let ids: Vec<StreamId> = g.consumers[consumer]
        .pending
        .range(start..)
        .take(if count == 0 { usize::MAX } else { count })
        .copied()
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match s.entries.get(&id) {
            None => out.push(Frame::Array(vec![Frame::Bulk(id.bytes()), Frame::NullArray])),
            Some(fields) => {
                out.push(entry_frame(id, fields));
                let g = s.groups.get_mut(group).expect("checked");
                if let Some(p) = g.pel.get_mut(&id) {
                    p.delivered_ms = now;
                    p.deliveries += 1;
                    effects.push(claim_effect(key, group, id, p, g.last_id));
                }
            }
        }
    }
    Frame::Array(out)
}

/// Delivers entries past the group's last ID to the consumer; `None`
/// when there are none.
fn deliver(
    s: &mut Stream,
    key: &Bytes,
    (group, consumer): (&Bytes, &Bytes),
    r: &super::streams::ReadArgs,
    now: i64,
    effects: &mut Vec<Vec<Bytes>>,
) -> Option<Frame> {
    let start = s.groups[group].last_id.next()?;
    let found: Vec<(StreamId, Vec<Bytes>)> =
        s.range(start, StreamId::MAX, r.count, false).into_iter().map(|(id, f)| (id, f.clone())).collect();
    if found.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(found.len());
    for (id, fields) in &found {
        s.advance_group(group, *id);
        out.push(entry_frame(*id, fields));
        if !r.noack {
            let g = s.groups.get_mut(group).expect("checked");
            g.assign(*id, consumer, now, 1);
            effects.push(claim_effect(key, group, *id, &g.pel[id], g.last_id));
        }
    }
    effects.push(setid_effect(key, group, &s.groups[group]));
    Some(Frame::Array(out))
}

/// `XACK key group id [id ...]`
pub fn xack(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let Some(s) = ex.stream(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    if !s.groups.contains_key(&a[2]) {
        return Ok(Frame::Integer(0));
    }
    let ids = a[3..].iter().map(|b| strict_id(b)).collect::<Result<Vec<_>, _>>()?;
    let Some(s) = ex.stream(&a[1])? else {
        return Ok(Frame::Integer(0));
    };
    let g = group_of(s, &a[2]);
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    if acked > 0 {
        ex.touch(&a[1]);
    }
    Ok(Frame::Integer(acked as i64))
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
pub fn xpending(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    if a.len() != 3 && !(6..=9).contains(&a.len()) {
        return Err(CmdError::Syntax);
    }
    let mut range = None;
    if a.len() >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(&a[3], "IDLE") {
            min_idle = int(&a[4])?;
            if a.len() < 8 {
                return Err(CmdError::Syntax);
            }
            at = 5;
        }
        let count = int(&a[at + 2])?.max(0) as usize;
        let from = bound(&a[at], 0, true)?;
        let to = bound(&a[at + 1], u64::MAX, false)?;
        range = Some((min_idle, from, to, count, a.get(at + 3).cloned()));
    }
    let now = ex.now_ms;
    let s = stream_group(ex, &a[1], &a[2])?;
    let g = group_of(s, &a[2]);
    let Some((min_idle, from, to, count, consumer)) = range else {
        return Ok(pending_summary(g));
    };
    let ids: Vec<StreamId> = match &consumer {
        Some(c) => match g.consumers.get(c) {
            None => return Ok(Frame::Array(vec![])),
            Some(c) => c.pending.range(from..=to.max(from)).copied().collect(),
        },
        None => g.pel.range(from..=to.max(from)).map(|(id, _)| *id).collect(),
    };
    let mut out = Vec::new();
    for id in ids.into_iter().filter(|id| *id <= to) {
        if out.len() >= count {
            break;
        }
        let p = &g.pel[&id];
        let idle = (now - p.delivered_ms).max(0);
        if min_idle > 0 && idle < min_idle {
            continue;
        }
        out.push(Frame::Array(vec![
            Frame::Bulk(id.bytes()),
            Frame::Bulk(p.consumer.clone()),
            Frame::Integer(idle),
            Frame::Integer(p.deliveries as i64),
        ]));
    }
    Ok(Frame::Array(out))
}

/// XPENDING's summary: count, first and last ID, pending per consumer.
fn pending_summary(g: &Group) -> Frame {
    let (Some((first, _)), Some((last, _))) = (g.pel.iter().next(), g.pel.iter().next_back()) else {
        return Frame::Array(vec![Frame::Integer(0), Frame::Null, Frame::Null, Frame::NullArray]);
    };
    let per: Vec<Frame> = g
        .consumers
        .iter()
        .filter(|(_, c)| !c.pending.is_empty())
        .map(|(n, c)| Frame::Array(vec![Frame::Bulk(n.clone()), Frame::Bulk(c.pending.len().to_string().into())]))
        .collect();
    Frame::Array(vec![
        Frame::Integer(g.pel.len() as i64),
        Frame::Bulk(first.bytes()),
        Frame::Bulk(last.bytes()),
        Frame::Array(per),
    ])
}

/// XCLAIM's options.
#[derive(Default)]
struct ClaimOpts {
    delivered_ms: Option<i64>,
    retry: Option<u64>,
    force: bool,
    just_id: bool,
    last_id: Option<StreamId>,
}

fn claim_opts(a: &[Bytes], now: i64) -> Result<ClaimOpts, CmdError> {
    let mut o = ClaimOpts::default();
    let num = |b: &[u8], what: &str| {
        int(b).map_err(|_| CmdError::msg(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    let mut j = 0;
    while j < a.len() {
        let more = j + 1 < a.len();
        match () {
            _ if is(&a[j], "FORCE") => o.force = true,
            _ if is(&a[j], "JUSTID") => o.just_id = true,
            _ if is(&a[j], "IDLE") && more => {
                j += 1;
                o.delivered_ms = Some(now.saturating_sub(num(&a[j], "IDLE")?));
            }
            _ if is(&a[j], "TIME") && more => {
                j += 1;
                o.delivered_ms = Some(num(&a[j], "TIME")?);
            }
            _ if is(&a[j], "RETRYCOUNT") && more => {
                j += 1;
                o.retry = Some(num(&a[j], "RETRYCOUNT")?.max(0) as u64);
            }
            _ if is(&a[j], "LASTID") && more => {
                j += 1;
                o.last_id = Some(strict_id(&a[j])?);
            }
            _ => {
                return Err(CmdError::msg(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(&a[j])
                )));
            }
        }
        j += 1;
    }
    Ok(o)
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]`
pub fn xclaim(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let now = ex.now_ms;
    stream_group(ex, &a[1], &a[2])?;
    let min_idle = int(&a[4]).map_err(|_| CmdError::msg("ERR Invalid min-idle-time argument for XCLAIM"))?.max(0);
    let ids: Vec<StreamId> = a[5..].iter().map_while(|b| StreamId::parse(b, 0)).collect();
    let mut o = claim_opts(&a[5 + ids.len()..], now)?;
    // A time ahead of the clock (or negative) is taken as now, as Redis
    // does; a logged time is applied as it is (a replica's clock differs).
    let applying = ex.mode == crate::exec::Mode::Apply;
    let at = o.delivered_ms.map_or(now, |t| if !applying && (t < 0 || t > now) { now } else { t });
    o.delivered_ms = Some(at);
    ex.suppress_verbatim();
    let (key, group, consumer) = (&a[1], &a[2], &a[3]);
    let s = stream_group(ex, key, group)?;
    let mut effects = Vec::new();
    let mut setid = false;
    if let Some(l) = o.last_id {
        let g = group_of(s, group);
        if l > g.last_id {
            g.last_id = l;
            setid = true;
        }
    }
    let mut out = Vec::new();
    for id in ids {
        let last = s.groups[group].last_id;
        let exists = s.entries.contains_key(&id);
        let g = group_of(s, group);
        if !exists {
            if let Some(p) = g.pel.get(&id).cloned() {
                effects.push(claim_effect(key, group, id, &p, last));
                g.ack(id);
            }
            continue;
        }
        let p = match g.pel.get(&id) {
            Some(p) if min_idle > 0 && now - p.delivered_ms < min_idle => continue,
            Some(p) => p.clone(),
            None if o.force => Pending { consumer: Bytes::new(), delivered_ms: now, deliveries: 1 },
            None => continue,
        };
        let deliveries = o.retry.unwrap_or(if o.just_id { p.deliveries } else { p.deliveries + 1 });
        if claim_consumer(g, consumer, now) {
            effects.push(create_consumer_effect(key, group, consumer));
        }
        g.assign(id, consumer, at, deliveries);
        effects.push(claim_effect(key, group, id, &g.pel[&id], last));
        out.push(if o.just_id { Frame::Bulk(id.bytes()) } else { entry_frame(id, &s.entries[&id]) });
    }
    if setid && effects.is_empty() {
        effects.push(setid_effect(key, group, &s.groups[group]));
    }
    let changed = !effects.is_empty();
    for e in effects {
        ex.propagate(e);
    }
    if changed {
        ex.touch(key);
    }
    Ok(Frame::Array(out))
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
pub fn xautoclaim(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let now = ex.now_ms;
    let min_idle = int(&a[4]).map_err(|_| CmdError::msg("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?.max(0);
    let start = bound(&a[5], 0, true)?;
    let (mut count, mut just_id) = (AUTOCLAIM_COUNT_DEFAULT, false);
    let mut j = 6;
    while j < a.len() {
        if is(&a[j], "COUNT") && j + 1 < a.len() {
            let max = i64::MAX / AUTOCLAIM_ATTEMPTS_PER_COUNT;
            count = int(&a[j + 1])
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::msg("ERR COUNT must be > 0"))?;
            j += 1;
        } else if is(&a[j], "JUSTID") {
            just_id = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    ex.suppress_verbatim();
    let (key, group, consumer) = (&a[1], &a[2], &a[3]);
    let s = stream_group(ex, key, group)?;
    let mut attempts = count * AUTOCLAIM_ATTEMPTS_PER_COUNT;
    let (mut claimed, mut deleted, mut effects) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = start;
    let mut cursor = StreamId::MIN;
    while let Some((&id, p)) = s.groups[group].pel.range(next..).next() {
        let p = p.clone();
        if attempts == 0 || count == 0 {
            cursor = id;
            break;
        }
        attempts -= 1;
        next = match id.next() {
            Some(n) => n,
            None => StreamId::MAX,
        };
        let last = s.groups[group].last_id;
        if !s.entries.contains_key(&id) {
            effects.push(claim_effect(key, group, id, &p, last));
            group_of(s, group).ack(id);
            deleted.push(Frame::Bulk(id.bytes()));
            count -= 1;
        } else if min_idle == 0 || now - p.delivered_ms >= min_idle {
            let deliveries = if just_id { p.deliveries } else { p.deliveries + 1 };
            let g = group_of(s, group);
            if claim_consumer(g, consumer, now) {
                effects.push(create_consumer_effect(key, group, consumer));
            }
            g.assign(id, consumer, now, deliveries);
            effects.push(claim_effect(key, group, id, &g.pel[&id], last));
            claimed.push(if just_id { Frame::Bulk(id.bytes()) } else { entry_frame(id, &s.entries[&id]) });
            count -= 1;
        }
        if id == StreamId::MAX {
            break;
        }
    }
    let changed = !effects.is_empty();
    for e in effects {
        ex.propagate(e);
    }
    if changed {
        ex.touch(key);
    }
    Ok(Frame::Array(vec![Frame::Bulk(cursor.bytes()), Frame::Array(claimed), Frame::Array(deleted)]))
}

/// `XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...`
pub fn xgroup(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    super::check_subcommand("xgroup", a)?;
    let sub = crate::args::upper(&a[1]);
    if sub == "HELP" {
        return Ok(super::help("XGROUP", XGROUP_HELP));
    }
    if (sub == "SETID" && !matches!(a.len(), 5 | 7)) || (sub == "CREATE" && a.len() > 8) {
        return Err(subcommand_syntax(&a[1]));
    }
    let mut entries_read: Option<i64> = None;
    let mut mkstream = false;
    if sub == "CREATE" {
        let mut i = 5;
        while i < a.len() {
            if is(&a[i], "MKSTREAM") {
                mkstream = true;
                i += 1;
            } else if is(&a[i], "ENTRIESREAD") && i + 1 < a.len() {
                entries_read = Some(entries_read_arg(&a[i + 1])?);
                i += 2;
            } else {
                return Err(subcommand_syntax(&a[1]));
            }
        }
    } else if sub == "SETID" && a.len() == 7 {
        if !is(&a[5], "ENTRIESREAD") {
            return Err(subcommand_syntax(&a[1]));
        }
        entries_read = Some(entries_read_arg(&a[6])?);
    }
    let (key, name) = (&a[2], &a[3]);
    let exists = ex.stream(key)?.is_some();
    if !exists && !mkstream {
        return Err(CmdError::msg(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the \
             MKSTREAM option to create an empty stream automatically.",
        ));
    }
    let has_group = exists && ex.stream(key)?.is_some_and(|s| s.groups.contains_key(name));
    if !has_group && matches!(sub.as_str(), "SETID" | "CREATECONSUMER" | "DELCONSUMER") {
        return Err(CmdError::msg(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(key)
        )));
    }
    let reply = match sub.as_str() {
        "CREATE" => {
            let last = ex.stream(key)?.map_or(StreamId::MIN, |s| s.last_id);
            let id = if a[4].as_ref() == b"$" { last } else { strict_id(&a[4])? };
            let s = ex.stream_or_create(key)?;
            if s.groups.contains_key(name) {
                return Err(CmdError::msg("BUSYGROUP Consumer Group name already exists"));
            }
            let read = entries_read.and_then(|n| u64::try_from(n).ok());
            s.groups.insert(name.clone(), Group { last_id: id, entries_read: read, ..Default::default() });
            Frame::ok()
        }
        "SETID" => {
            let s = stream_group(ex, key, name)?;
            let id = match a[4].as_ref() {
                b"$" => s.last_id,
                b"-" => StreamId::MIN,
                b"+" => StreamId::MAX,
                other => strict_id(other)?,
            };
            let g = group_of(s, name);
            g.last_id = id;
            g.entries_read = entries_read.and_then(|n| u64::try_from(n).ok());
            Frame::ok()
        }
        "DESTROY" => {
            let s = ex.stream(key)?.expect("exists");
            Frame::Integer(i64::from(s.groups.remove(name).is_some()))
        }
        "CREATECONSUMER" => {
            let now = ex.now_ms;
            let s = stream_group(ex, key, name)?;
            Frame::Integer(i64::from(group_of(s, name).consumer(&a[4], now).1))
        }
        "DELCONSUMER" => {
            let s = stream_group(ex, key, name)?;
            let g = group_of(s, name);
            let pending = g.consumers.remove(&a[4]).map(|c| c.pending).unwrap_or_default();
            pending.iter().for_each(|id| {
                g.pel.remove(id);
            });
            Frame::Integer(pending.len() as i64)
        }
        _ => return Err(subcommand_syntax(&a[1])),
    };
    if !matches!(reply, Frame::Integer(0)) || sub == "DELCONSUMER" {
        ex.touch(key);
    }
    Ok(reply)
}

fn entries_read_arg(b: &[u8]) -> Result<i64, CmdError> {
    let n = int(b)?;
    if n < 0 && n != -1 {
        return Err(CmdError::msg("ERR value for ENTRIESREAD must be positive or -1"));
    }
    Ok(n)
}

fn subcommand_syntax(sub: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// XGROUP HELP's lines, as Redis 7.0 has them.
const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];
