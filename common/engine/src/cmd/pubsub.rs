//! Pub/sub: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB.
//! Messages are not data: nothing here is logged as an effect.

use crate::args::upper;
use crate::cmd::SessionResult;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use crate::util::glob_match;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::BTreeSet;

fn confirm(kind: &'static str, name: Option<Bytes>, count: usize) -> Frame {
    Frame::Push(vec![Frame::bulk(kind), name.map_or(Frame::Null, Frame::Bulk), Frame::Integer(count as i64)])
}

/// `SUBSCRIBE channel [channel ...]`, `PSUBSCRIBE pattern [pattern ...]`
pub fn subscribe(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let pattern = upper(&a[0]) == "PSUBSCRIBE";
    if e.sessions.get(&id).is_some_and(|s| s.multi.is_some()) {
        return Err(CmdError::msg("ERR Command not allowed inside a transaction".to_string()));
    }
    for name in &a[1..] {
        let Some(s) = e.sessions.get_mut(&id) else {
            break;
        };
        let set = if pattern { &mut s.patterns } else { &mut s.channels };
        if set.insert(name.clone()) {
            let map = if pattern { &mut e.patterns } else { &mut e.channels };
            map.entry(name.clone()).or_default().insert(id);
        }
        let count = s.subscriptions();
        let kind = if pattern { "psubscribe" } else { "subscribe" };
        e.push(id, &confirm(kind, Some(name.clone()), count));
    }
    Ok(None)
}

/// `UNSUBSCRIBE [channel ...]`, `PUNSUBSCRIBE [pattern ...]`
pub fn unsubscribe(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let pattern = upper(&a[0]) == "PUNSUBSCRIBE";
    let kind = if pattern { "punsubscribe" } else { "unsubscribe" };
    let Some(s) = e.sessions.get(&id) else {
        return Ok(None);
    };
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].to_vec()
    } else if pattern {
        s.patterns.iter().cloned().collect()
    } else {
        s.channels.iter().cloned().collect()
    };
    if names.is_empty() {
        let count = s.subscriptions();
        e.push(id, &confirm(kind, None, count));
    }
    for name in names {
        remove(e, id, &name, pattern);
        let count = e.sessions.get(&id).map_or(0, |s| s.subscriptions());
        e.push(id, &confirm(kind, Some(name), count));
    }
    Ok(None)
}

fn remove(e: &mut Engine, id: ClientId, name: &Bytes, pattern: bool) {
    if let Some(s) = e.sessions.get_mut(&id) {
        if pattern {
            s.patterns.remove(name)
        } else {
            s.channels.remove(name)
        };
    }
    let map = if pattern { &mut e.patterns } else { &mut e.channels };
    if let Some(ids) = map.get_mut(name) {
        ids.remove(&id);
        if ids.is_empty() {
            map.remove(name);
        }
    }
}

/// Drops every subscription of `id` without replies (disconnect, RESET).
pub fn unsubscribe_all(e: &mut Engine, id: ClientId) {
    let Some(s) = e.sessions.get(&id) else { return };
    let (chans, pats): (Vec<Bytes>, Vec<Bytes>) =
        (s.channels.iter().cloned().collect(), s.patterns.iter().cloned().collect());
    chans.iter().for_each(|c| remove(e, id, c, false));
    pats.iter().for_each(|p| remove(e, id, p, true));
}

/// `PUBLISH channel message`
pub fn publish(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let (ch, msg) = (&a[1], &a[2]);
    let mut n = 0;
    let direct: Vec<ClientId> = e.channels.get(ch).map(|s| s.iter().copied().collect()).unwrap_or_default();
    let m = Frame::Push(vec![Frame::bulk("message"), Frame::Bulk(ch.clone()), Frame::Bulk(msg.clone())]);
    for c in direct {
        e.push(c, &m);
        n += 1;
    }
    let pats: Vec<(Bytes, BTreeSet<ClientId>)> =
        e.patterns.iter().filter(|(p, _)| glob_match(p, ch)).map(|(p, s)| (p.clone(), s.clone())).collect();
    for (p, ids) in pats {
        let pm = Frame::Push(vec![
            Frame::bulk("pmessage"),
            Frame::Bulk(p),
            Frame::Bulk(ch.clone()),
            Frame::Bulk(msg.clone()),
        ]);
        for c in ids {
            e.push(c, &pm);
            n += 1;
        }
    }
    e.stats.pubsub_messages += n as u64;
    Ok(Some(Frame::Integer(n)))
}

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | HELP`
pub fn pubsub(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    match upper(&a[1]).as_str() {
        "CHANNELS" if a.len() <= 3 => {
            let chans = e
                .channels
                .keys()
                .filter(|c| a.get(2).is_none_or(|p| glob_match(p, c)))
                .map(|c| Frame::Bulk(c.clone()))
                .collect();
            Ok(Some(Frame::Array(chans)))
        }
        "NUMSUB" => {
            let out = a[2..]
                .iter()
                .flat_map(|c| [Frame::Bulk(c.clone()), Frame::Integer(e.channels.get(c).map_or(0, |s| s.len() as i64))])
                .collect();
            Ok(Some(Frame::Array(out)))
        }
        "NUMPAT" if a.len() == 2 => Ok(Some(Frame::Integer(e.patterns.len() as i64))),
        "HELP" if a.len() == 2 => {
            Ok(Some(crate::cmd::help("PUBSUB", &["CHANNELS [<pattern>]", "NUMPAT", "NUMSUB [<channel> ...]", "HELP"])))
        }
        _ => Err(crate::cmd::unknown_subcommand(&a[1], "PUBSUB")),
    }
}
