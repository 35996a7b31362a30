//! Pub/sub: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH, the
//! sharded forms SSUBSCRIBE SUNSUBSCRIBE SPUBLISH (their own namespace,
//! which patterns do not match; one shard holds every slot), and PUBSUB.
//! Messages are not data: nothing here is logged as an effect.

use crate::args::upper;
use crate::cmd::SessionResult;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::{ClientId, Session};
use crate::util::glob_match;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::{BTreeSet, HashMap};

/// The three kinds of subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn of(cmd: &[u8]) -> Kind {
        match upper(cmd).as_str() {
            "PSUBSCRIBE" | "PUNSUBSCRIBE" => Kind::Pattern,
            "SSUBSCRIBE" | "SUNSUBSCRIBE" | "SPUBLISH" => Kind::Shard,
            _ => Kind::Channel,
        }
    }

    /// The session's set of this kind.
    fn set(self, s: &mut Session) -> &mut BTreeSet<Bytes> {
        match self {
            Kind::Channel => &mut s.channels,
            Kind::Pattern => &mut s.patterns,
            Kind::Shard => &mut s.shard_channels,
        }
    }

    /// The engine's subscribers of this kind.
    fn map(self, e: &mut Engine) -> &mut HashMap<Bytes, BTreeSet<ClientId>> {
        match self {
            Kind::Channel => &mut e.channels,
            Kind::Pattern => &mut e.patterns,
            Kind::Shard => &mut e.shard_channels,
        }
    }

    /// The count a confirmation carries: channels and patterns together,
    /// shard channels on their own (as Redis 7.0 counts).
    fn count(self, s: &Session) -> usize {
        match self {
            Kind::Shard => s.shard_channels.len(),
            _ => s.channels.len() + s.patterns.len(),
        }
    }

    fn name(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Kind::Channel, true) => "subscribe",
            (Kind::Pattern, true) => "psubscribe",
            (Kind::Shard, true) => "ssubscribe",
            (Kind::Channel, false) => "unsubscribe",
            (Kind::Pattern, false) => "punsubscribe",
            (Kind::Shard, false) => "sunsubscribe",
        }
    }
}

fn confirm(kind: &'static str, name: Option<Bytes>, count: usize) -> Frame {
    Frame::Push(vec![Frame::bulk(kind), name.map_or(Frame::Null, Frame::Bulk), Frame::Integer(count as i64)])
}

/// `SUBSCRIBE channel [...]`, `PSUBSCRIBE pattern [...]`, `SSUBSCRIBE shardchannel [...]`
pub fn subscribe(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let kind = Kind::of(&a[0]);
    if e.sessions.get(&id).is_some_and(|s| s.multi.is_some()) {
        return Err(CmdError::msg("ERR Command not allowed inside a transaction".to_string()));
    }
    for name in &a[1..] {
        let Some(s) = e.sessions.get_mut(&id) else {
            break;
        };
        if kind.set(s).insert(name.clone()) {
            kind.map(e).entry(name.clone()).or_default().insert(id);
        }
        let count = e.sessions.get(&id).map_or(0, |s| kind.count(s));
        e.push(id, &confirm(kind.name(true), Some(name.clone()), count));
    }
    Ok(None)
}

/// `UNSUBSCRIBE [channel ...]`, `PUNSUBSCRIBE [pattern ...]`, `SUNSUBSCRIBE [shardchannel ...]`
pub fn unsubscribe(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let kind = Kind::of(&a[0]);
    let Some(s) = e.sessions.get_mut(&id) else {
        return Ok(None);
    };
    let names: Vec<Bytes> = if a.len() > 1 { a[1..].to_vec() } else { kind.set(s).iter().cloned().collect() };
    if names.is_empty() {
        let count = kind.count(s);
        e.push(id, &confirm(kind.name(false), None, count));
    }
    for name in names {
        remove(e, id, &name, kind);
        let count = e.sessions.get(&id).map_or(0, |s| kind.count(s));
        e.push(id, &confirm(kind.name(false), Some(name), count));
    }
    Ok(None)
}

fn remove(e: &mut Engine, id: ClientId, name: &Bytes, kind: Kind) {
    if let Some(s) = e.sessions.get_mut(&id) {
        kind.set(s).remove(name);
    }
    let map = kind.map(e);
    if let Some(ids) = map.get_mut(name) {
        ids.remove(&id);
        if ids.is_empty() {
            map.remove(name);
        }
    }
}

/// Drops every subscription of `id` without replies (disconnect, RESET).
pub fn unsubscribe_all(e: &mut Engine, id: ClientId) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        let Some(s) = e.sessions.get_mut(&id) else { return };
        let names: Vec<Bytes> = kind.set(s).iter().cloned().collect();
        names.iter().for_each(|n| remove(e, id, n, kind));
    }
}

/// Pushes `m` to the subscribers `ids`; how many there were.
fn deliver(e: &mut Engine, ids: Vec<ClientId>, m: &Frame) -> i64 {
    ids.iter().for_each(|c| e.push(*c, m));
    ids.len() as i64
}

/// `PUBLISH channel message`, `SPUBLISH shardchannel message`
pub fn publish(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    Ok(Some(Frame::Integer(publish_to(e, Kind::of(&a[0]), &a[1], &a[2]))))
}

/// Publishes `msg` on channel `ch` (keyspace notifications); how many
/// subscribers got it.
pub fn publish_message(e: &mut Engine, ch: &Bytes, msg: &Bytes) -> i64 {
    publish_to(e, Kind::Channel, ch, msg)
}

fn publish_to(e: &mut Engine, kind: Kind, ch: &Bytes, msg: &Bytes) -> i64 {
    let direct: Vec<ClientId> = kind.map(e).get(ch).map(|s| s.iter().copied().collect()).unwrap_or_default();
    let name = if kind == Kind::Shard { "smessage" } else { "message" };
    let m = Frame::Push(vec![Frame::bulk(name), Frame::Bulk(ch.clone()), Frame::Bulk(msg.clone())]);
    let mut n = deliver(e, direct, &m);
    if kind == Kind::Channel {
        let pats: Vec<(Bytes, BTreeSet<ClientId>)> =
            e.patterns.iter().filter(|(p, _)| glob_match(p, ch)).map(|(p, s)| (p.clone(), s.clone())).collect();
        for (p, ids) in pats {
            let pm = Frame::Push(vec![
                Frame::bulk("pmessage"),
                Frame::Bulk(p),
                Frame::Bulk(ch.clone()),
                Frame::Bulk(msg.clone()),
            ]);
            n += deliver(e, ids.into_iter().collect(), &pm);
        }
    }
    e.stats.pubsub_messages += n as u64;
    n
}

/// The channels of `map` matching the optional pattern.
fn channels(map: &HashMap<Bytes, BTreeSet<ClientId>>, pattern: Option<&Bytes>) -> Frame {
    let names = map.keys().filter(|c| pattern.is_none_or(|p| glob_match(p, c)));
    Frame::Array(names.map(|c| Frame::Bulk(c.clone())).collect())
}

/// Each channel of `names` with its number of subscribers in `map`.
fn numsub(map: &HashMap<Bytes, BTreeSet<ClientId>>, names: &[Bytes]) -> Frame {
    let count = |c: &Bytes| Frame::Integer(map.get(c).map_or(0, |s| s.len() as i64));
    Frame::Array(names.iter().flat_map(|c| [Frame::Bulk(c.clone()), count(c)]).collect())
}

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT |
/// SHARDCHANNELS [pattern] | SHARDNUMSUB [shardchannel ...] | HELP`
pub fn pubsub(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    match upper(&a[1]).as_str() {
        "CHANNELS" if a.len() <= 3 => Ok(Some(channels(&e.channels, a.get(2)))),
        "SHARDCHANNELS" if a.len() <= 3 => Ok(Some(channels(&e.shard_channels, a.get(2)))),
        "NUMSUB" => Ok(Some(numsub(&e.channels, &a[2..]))),
        "SHARDNUMSUB" => Ok(Some(numsub(&e.shard_channels, &a[2..]))),
        "NUMPAT" if a.len() == 2 => Ok(Some(Frame::Integer(e.patterns.len() as i64))),
        "HELP" if a.len() == 2 => Ok(Some(crate::cmd::help(
            "PUBSUB",
            &[
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ],
        ))),
        _ => Err(crate::cmd::unknown_subcommand(&a[1], "PUBSUB")),
    }
}
