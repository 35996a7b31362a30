//! `XINFO STREAM [FULL [COUNT n]] | GROUPS | CONSUMERS | HELP`, as Redis
//! 7.0 answers them. `radix-tree-nodes` counts Sixfold's nodes plus one:
//! Redis's figure is the inner nodes of its radix tree, which Sixfold has not.

use super::streams::entry_frame;
use crate::args::{int, is, word};
use crate::exec::{CmdError, CmdResult, Exec};
use crate::stream::{Group, Stream, StreamId};
use bytes::Bytes;
use sixfold_resp::Frame;

/// Entries, pending entries and consumers `XINFO STREAM FULL` lists by default.
const FULL_COUNT_DEFAULT: usize = 10;

fn map(pairs: Vec<(&'static str, Frame)>) -> Frame {
    Frame::Map(pairs.into_iter().map(|(k, v)| (Frame::Bulk(word(k)), v)).collect())
}

fn id(i: StreamId) -> Frame {
    Frame::Bulk(i.bytes())
}

fn int_of(n: usize) -> Frame {
    Frame::Integer(n as i64)
}

/// `XINFO <subcommand> ...`
pub fn xinfo(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    super::check_subcommand("xinfo", a)?;
    let sub = crate::args::upper(&a[1]);
    if sub == "HELP" {
        return Ok(super::help("XINFO", XINFO_HELP));
    }
    let now = ex.now_ms;
    let key = a[2].clone();
    let Some(s) = ex.stream(&key)? else {
        return Err(CmdError::NoSuchKey);
    };
    match sub.as_str() {
        "CONSUMERS" => {
            let g = s.groups.get(&a[3]).ok_or_else(|| {
                CmdError::msg(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&a[3]),
                    String::from_utf8_lossy(&key)
                ))
            })?;
            Ok(Frame::Array(
                g.consumers
                    .iter()
                    .map(|(n, c)| {
                        let idle = (now - c.seen_ms).max(0);
                        map(vec![
                            ("name", Frame::Bulk(n.clone())),
                            ("pending", int_of(c.pending.len())),
                            ("idle", Frame::Integer(idle)),
                        ])
                    })
                    .collect(),
            ))
        }
        "GROUPS" => Ok(Frame::Array(s.groups.iter().map(|(n, g)| group_summary(s, n, g)).collect())),
        _ => stream_info(s, &a[3..]),
    }
}

fn group_summary(s: &Stream, name: &Bytes, g: &Group) -> Frame {
    map(vec![
        ("name", Frame::Bulk(name.clone())),
        ("consumers", int_of(g.consumers.len())),
        ("pending", int_of(g.pel.len())),
        ("last-delivered-id", id(g.last_id)),
        ("entries-read", g.entries_read.map_or(Frame::Null, |n| Frame::Integer(n as i64))),
        ("lag", s.lag(g).map_or(Frame::Null, Frame::Integer)),
    ])
}

/// `XINFO STREAM key [FULL [COUNT count]]` (`rest` after the key).
fn stream_info(s: &Stream, rest: &[Bytes]) -> CmdResult {
    let full = match rest.len() {
        0 => None,
        1 if is(&rest[0], "FULL") => Some(FULL_COUNT_DEFAULT),
        3 if is(&rest[0], "FULL") && is(&rest[1], "COUNT") => {
            let n = int(&rest[2])?;
            Some(if n < 0 { FULL_COUNT_DEFAULT } else { n as usize })
        }
        _ => {
            return Err(CmdError::msg(
                "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
            ));
        }
    };
    let mut out = vec![
        ("length", int_of(s.len())),
        ("radix-tree-keys", int_of(s.node_count())),
        ("radix-tree-nodes", int_of(s.node_count() + 1)),
        ("last-generated-id", id(s.last_id)),
        ("max-deleted-entry-id", id(s.max_deleted)),
        ("entries-added", Frame::Integer(s.entries_added as i64)),
        ("recorded-first-entry-id", id(s.first_id())),
    ];
    let Some(count) = full else {
        let edge = |e: Option<(&StreamId, &Vec<Bytes>)>| e.map_or(Frame::Null, |(i, f)| entry_frame(*i, f));
        out.push(("groups", int_of(s.groups.len())));
        out.push(("first-entry", edge(s.entries.iter().next())));
        out.push(("last-entry", edge(s.entries.iter().next_back())));
        return Ok(map(out));
    };
    let entries = s.range(StreamId::MIN, StreamId::MAX, count, false);
    out.push(("entries", super::streams::entries_frame(&entries)));
    out.push(("groups", Frame::Array(s.groups.iter().map(|(n, g)| group_full(s, n, g, count)).collect())));
    Ok(map(out))
}

fn limit(count: usize) -> usize {
    if count == 0 { usize::MAX } else { count }
}

fn group_full(s: &Stream, name: &Bytes, g: &Group, count: usize) -> Frame {
    let pel = g.pel.iter().take(limit(count)).map(|(i, p)| {
        Frame::Array(vec![
            id(*i),
            Frame::Bulk(p.consumer.clone()),
            Frame::Integer(p.delivered_ms),
            Frame::Integer(p.deliveries as i64),
        ])
    });
    let consumers = g.consumers.iter().map(|(n, c)| {
        let pending = c.pending.iter().take(limit(count)).map(|i| {
            let p = &g.pel[i];
            Frame::Array(vec![id(*i), Frame::Integer(p.delivered_ms), Frame::Integer(p.deliveries as i64)])
        });
        map(vec![
            ("name", Frame::Bulk(n.clone())),
            ("seen-time", Frame::Integer(c.seen_ms)),
            ("pel-count", int_of(c.pending.len())),
            ("pending", Frame::Array(pending.collect())),
        ])
    });
    map(vec![
        ("name", Frame::Bulk(name.clone())),
        ("last-delivered-id", id(g.last_id)),
        ("entries-read", g.entries_read.map_or(Frame::Null, |n| Frame::Integer(n as i64))),
        ("lag", s.lag(g).map_or(Frame::Null, Frame::Integer)),
        ("pel-count", int_of(g.pel.len())),
        ("pending", Frame::Array(pel.collect())),
        ("consumers", Frame::Array(consumers.collect())),
    ])
}

/// XINFO HELP's lines, as Redis 7.0 has them.
const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];
