//! Keyspace notifications (`notify-keyspace-events`), as Redis 7.0 sends
//! them: for each key a write changed, an event named after what happened
//! to it (`set`, `lpush`, `del`, `expired`, ...) of a class (`$`, `l`,
//! `g`, `x`, ...), published on `__keyspace@<db>__:<key>` (with `K`) and
//! `__keyevent@<db>__:<event>` (with `E`) when its class is enabled.
//!
//! The events come from the command's name and the keys it touched: a key
//! the command created first gets `new`; a key a write left gone gets
//! `del` (after the command's own event, or instead of it for a store, an
//! expiry in the past or a restore). The messages are queued like any
//! pub/sub message, which the durable writer holds until the write
//! commits: no notification tells of a write that could be lost.

use crate::engine::Engine;
use bytes::Bytes;

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u16 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u16 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u16 = 1 << 2;
/// `$`: strings.
pub const STRING: u16 = 1 << 3;
/// `l`: lists.
pub const LIST: u16 = 1 << 4;
/// `s`: sets.
pub const SET: u16 = 1 << 5;
/// `h`: hashes.
pub const HASH: u16 = 1 << 6;
/// `z`: sorted sets.
pub const ZSET: u16 = 1 << 7;
/// `x`: keys removed as they expired.
pub const EXPIRED: u16 = 1 << 8;
/// `e`: evicted keys (Sixfold evicts none).
pub const EVICTED: u16 = 1 << 9;
/// `t`: streams.
pub const STREAM: u16 = 1 << 10;
/// `m`: reads of missing keys (accepted and reported; not sent).
pub const KEY_MISS: u16 = 1 << 11;
/// `d`: module events (none: no modules).
pub const MODULE: u16 = 1 << 12;
/// `n`: new keys.
pub const NEW: u16 = 1 << 13;
/// `A`: `g$lshzxetd`.
pub const ALL: u16 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const CLASSES: [(u8, u16); 11] = [
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
    (b'n', NEW),
];

/// The flags a `notify-keyspace-events` value sets; `None` for an unknown
/// character.
pub fn parse(v: &[u8]) -> Option<u16> {
    v.iter().try_fold(0u16, |flags, c| {
        let bit = match c {
            b'A' => ALL,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b'm' => KEY_MISS,
            _ => CLASSES.iter().find(|(ch, _)| ch == c)?.1,
        };
        Some(flags | bit)
    })
}

/// The flags as Redis reports them (`AKE`, `$xK`, ...).
pub fn format(flags: u16) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        // As Redis prints it: `n` is set but not shown beside `A`.
        s.push('A');
    } else {
        CLASSES.iter().filter(|(_, bit)| flags & bit != 0).for_each(|(c, _)| s.push(*c as char));
    }
    for (c, bit) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS)] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// What a command did to one key: events, in order.
type Events = Vec<(u16, &'static str)>;

fn side(args: &[Bytes], at: usize, left: &'static str, right: &'static str) -> &'static str {
    if args.get(at).is_some_and(|a| a.eq_ignore_ascii_case(b"LEFT")) { left } else { right }
}

fn has(args: &[Bytes], word: &str) -> bool {
    args.iter().skip(1).any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// The events `name` fires on `key` (which it touched), before `new`
/// and `del` are added; `effects` are the command's logged effects.
fn command_events(name: &str, args: &[Bytes], (key, own_db): (&[u8], bool), effects: &[Vec<Bytes>]) -> Events {
    let src = args.get(1).is_some_and(|a| a.as_ref() == key);
    let dst = args.get(2).is_some_and(|a| a.as_ref() == key);
    let expiring = has(args, "EX") || has(args, "PX") || has(args, "EXAT") || has(args, "PXAT");
    let one = |class, event| vec![(class, event)];
    match name {
        "set" if expiring => vec![(STRING, "set"), (GENERIC, "expire")],
        "setex" | "psetex" => vec![(STRING, "set"), (GENERIC, "expire")],
        // MSET sets a key once per time it is named.
        "mset" | "msetnx" => {
            args[1..].iter().step_by(2).filter(|k| k.as_ref() == key).map(|_| (STRING, "set")).collect()
        }
        "set" | "setnx" | "getset" | "bitop" => one(STRING, "set"),
        "append" | "setrange" | "incrbyfloat" => one(STRING, name_of(name)),
        "incr" | "decr" | "incrby" | "decrby" => one(STRING, "incrby"),
        "setbit" | "bitfield" => one(STRING, "setbit"),
        "pfadd" | "pfmerge" => one(STRING, "pfadd"),
        "getex" if has(args, "PERSIST") => one(GENERIC, "persist"),
        "getex" => one(GENERIC, "expire"),
        "del" | "unlink" | "getdel" => one(GENERIC, "del"),
        "expire" | "pexpire" | "expireat" | "pexpireat" => one(GENERIC, "expire"),
        "persist" => one(GENERIC, "persist"),
        "rename" | "renamenx" if src => one(GENERIC, "rename_from"),
        "rename" | "renamenx" => one(GENERIC, "rename_to"),
        "copy" => one(GENERIC, "copy_to"),
        "move" => one(GENERIC, if own_db { "move_from" } else { "move_to" }),
        "restore" | "restore-asking" => one(GENERIC, "restore"),
        "sort" => one(LIST, "sortstore"),
        "lpush" | "lpushx" => one(LIST, "lpush"),
        "rpush" | "rpushx" => one(LIST, "rpush"),
        "lpop" | "blpop" => one(LIST, "lpop"),
        "rpop" | "brpop" => one(LIST, "rpop"),
        "lmpop" => one(
            LIST,
            side(args, 2 + args.get(1).and_then(|n| crate::util::parse_i64(n)).unwrap_or(0) as usize, "lpop", "rpop"),
        ),
        "blmpop" => one(
            LIST,
            side(args, 3 + args.get(2).and_then(|n| crate::util::parse_i64(n)).unwrap_or(0) as usize, "lpop", "rpop"),
        ),
        "linsert" | "lset" | "lrem" | "ltrim" => one(LIST, name_of(name)),
        "lmove" | "blmove" | "rpoplpush" | "brpoplpush" => {
            let (pop, push) = if name.ends_with("move") {
                (side(args, 3, "lpop", "rpop"), side(args, 4, "lpush", "rpush"))
            } else {
                ("rpop", "lpush")
            };
            let mut out = Vec::new();
            if src {
                out.push((LIST, pop));
            }
            if dst {
                out.push((LIST, push));
            }
            out
        }
        "hset" | "hsetnx" | "hmset" => one(HASH, "hset"),
        "hincrby" | "hincrbyfloat" | "hdel" => one(HASH, name_of(name)),
        "sadd" | "srem" | "spop" | "sinterstore" | "sunionstore" | "sdiffstore" => one(SET, name_of(name)),
        "smove" => one(SET, if src { "srem" } else { "sadd" }),
        "zadd" if has(args, "INCR") => one(ZSET, "zincr"),
        "zincrby" => one(ZSET, "zincr"),
        "zadd" | "zrem" | "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" => one(ZSET, name_of(name)),
        "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => one(ZSET, name_of(name)),
        "zpopmin" | "bzpopmin" => one(ZSET, "zpopmin"),
        "zpopmax" | "bzpopmax" => one(ZSET, "zpopmax"),
        "zmpop" | "bzmpop" => one(ZSET, if has(args, "MIN") { "zpopmin" } else { "zpopmax" }),
        "geoadd" => one(ZSET, "zadd"),
        "georadius" | "georadiusbymember" => one(ZSET, "georadiusstore"),
        "geosearchstore" => one(ZSET, "geosearchstore"),
        "xadd" if effects.iter().any(|e| e[0].as_ref() == b"XTRIM") => vec![(STREAM, "xadd"), (STREAM, "xtrim")],
        "xadd" | "xtrim" | "xdel" | "xsetid" => one(STREAM, name_of(name)),
        "xgroup" => one(STREAM, xgroup_event(args)),
        "xreadgroup" | "xclaim" | "xautoclaim"
            if effects.iter().any(|e| e.len() > 1 && e[1].eq_ignore_ascii_case(b"CREATECONSUMER")) =>
        {
            one(STREAM, "xgroup-createconsumer")
        }
        _ => Vec::new(),
    }
}

/// Event names that are the command's own name.
fn name_of(name: &str) -> &'static str {
    const SAME: &[&str] = &[
        "append",
        "setrange",
        "incrbyfloat",
        "linsert",
        "lset",
        "lrem",
        "ltrim",
        "hincrby",
        "hincrbyfloat",
        "hdel",
        "sadd",
        "srem",
        "spop",
        "sinterstore",
        "sunionstore",
        "sdiffstore",
        "zadd",
        "zrem",
        "zremrangebyscore",
        "zremrangebyrank",
        "zremrangebylex",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
        "xadd",
        "xtrim",
        "xdel",
        "xsetid",
    ];
    SAME.iter().find(|s| **s == name).copied().unwrap_or("")
}

fn xgroup_event(args: &[Bytes]) -> &'static str {
    match args.get(1).map(|s| s.to_ascii_lowercase()).as_deref() {
        Some(b"create") => "xgroup-create",
        Some(b"setid") => "xgroup-setid",
        Some(b"destroy") => "xgroup-destroy",
        Some(b"createconsumer") => "xgroup-createconsumer",
        Some(b"delconsumer") => "xgroup-delconsumer",
        _ => "",
    }
}

/// Events after which a key left gone gets only `del` (what was stored,
/// restored or given a past expiry is gone instead).
fn replaced_by_del(event: &str) -> bool {
    event.ends_with("store") || matches!(event, "expire" | "restore" | "set" | "copy_to" | "rename_to")
}

/// The state kept from before a data command, when notifications are on.
pub(crate) struct Before {
    touched_at: usize,
    effects_at: usize,
    /// Keys of the command in its database that existed.
    existed: Vec<Bytes>,
    db: usize,
}

impl Engine {
    /// Before data command `args` runs in `db`: what [`Engine::notify_after`]
    /// needs; `None` while notifications are off.
    pub(crate) fn notify_before(&mut self, db: usize, args: &[Bytes]) -> Option<Before> {
        if self.config.notify_flags & (KEYSPACE | KEYEVENT) == 0 {
            return None;
        }
        let keys = match crate::cmd::command_keys(args) {
            Some(keys) => keys,
            // SORT's source and STORE destination.
            None => args
                .iter()
                .skip(1)
                .take(1)
                .chain(args.windows(2).filter(|w| w[0].eq_ignore_ascii_case(b"STORE")).map(|w| &w[1]))
                .cloned()
                .collect(),
        };
        let now = self.now_ms;
        let existed = keys.into_iter().filter(|k| self.ks.dbs[db].get(k).is_some_and(|e| !e.is_expired(now))).collect();
        Some(Before { touched_at: self.touched.len(), effects_at: self.cur.len(), existed, db })
    }

    /// After the command: publishes the events of the keys it touched and
    /// of those it found expired (`expired`).
    pub(crate) fn notify_after(&mut self, b: Before, args: &[Bytes], expired: &[(usize, Bytes)]) {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let effects: Vec<Vec<Bytes>> =
            self.cur[b.effects_at.min(self.cur.len())..].iter().map(|e| e.args.clone()).collect();
        let mut touched: Vec<(usize, Bytes)> = self.touched[b.touched_at.min(self.touched.len())..].to_vec();
        for (db, key) in expired {
            self.publish_event(EXPIRED, "expired", *db, key);
            if let Some(i) = touched.iter().position(|t| t.0 == *db && t.1 == *key) {
                touched.remove(i);
            }
        }
        let mut seen: Vec<(usize, Bytes)> = Vec::new();
        let mut all: Vec<(u16, &'static str, usize, Bytes)> = Vec::new();
        for (db, key) in touched {
            if seen.contains(&(db, key.clone())) {
                continue;
            }
            seen.push((db, key.clone()));
            let mut events = command_events(&name, args, (&key, db == b.db), &effects);
            let now = self.now_ms;
            let exists = self.ks.dbs[db].get(&key).is_some_and(|e| !e.is_expired(now));
            // A key in another database (MOVE, COPY ... DB) is one the
            // command placed there; RENAME and COPY replace their
            // destination with a new key.
            let replaced = matches!(name.as_str(), "rename" | "renamenx" | "copy") && args[2] == key;
            let existed = db == b.db && b.existed.contains(&key) && !replaced;
            if events.is_empty() || (!exists && !existed) {
                // Nothing there before or after (a store of nothing).
                continue;
            }
            if exists && !existed {
                events.insert(0, (NEW, "new"));
            }
            if !exists && !events.iter().any(|(_, e)| matches!(*e, "del" | "rename_from" | "move_from")) {
                if events.iter().any(|(_, e)| replaced_by_del(e)) {
                    events = vec![(GENERIC, "del")];
                } else {
                    events.push((GENERIC, "del"));
                }
            }
            all.extend(events.into_iter().map(|(class, event)| (class, event, db, key.clone())));
        }
        // A key RENAME, MOVE or COPY creates is added before either key's event.
        if matches!(name.as_str(), "rename" | "renamenx" | "move" | "copy") {
            all.sort_by_key(|e| e.1 != "new");
        }
        for (class, event, db, key) in all {
            self.publish_event(class, event, db, &key);
        }
    }

    /// Publishes one event, if its class is on.
    pub(crate) fn publish_event(&mut self, class: u16, event: &str, db: usize, key: &[u8]) {
        let flags = self.config.notify_flags;
        if flags & class == 0 {
            return;
        }
        if flags & KEYSPACE != 0 {
            let mut ch = format!("__keyspace@{db}__:").into_bytes();
            ch.extend_from_slice(key);
            crate::cmd::pubsub::publish_message(self, &Bytes::from(ch), &Bytes::copy_from_slice(event.as_bytes()));
        }
        if flags & KEYEVENT != 0 {
            let ch = Bytes::from(format!("__keyevent@{db}__:{event}"));
            crate::cmd::pubsub::publish_message(self, &ch, &Bytes::copy_from_slice(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_and_print_as_redis() {
        assert_eq!(parse(b"KEA").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse(b"Kx$").map(format).as_deref(), Some("$xK"));
        assert_eq!(parse(b"nAK").map(format).as_deref(), Some("AK"));
        assert_eq!(parse(b"n$K").map(format).as_deref(), Some("$nK"));
        assert_eq!(parse(b"").map(format).as_deref(), Some(""));
        assert_eq!(parse(b"Q"), None);
    }
}
