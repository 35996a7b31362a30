//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH, with Redis 7 semantics
//! for queued-command errors (EXECABORT) and for watched keys that expire.

use crate::cmd::{SessionResult, lookup};
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::{ClientId, Watched};
use bytes::Bytes;
use sixfold_resp::Frame;

fn session_err() -> CmdError {
    CmdError::msg("ERR no such client")
}

/// `MULTI`
pub fn multi(e: &mut Engine, id: ClientId, _a: &[Bytes]) -> SessionResult {
    let s = e.sessions.get_mut(&id).ok_or_else(session_err)?;
    if s.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    s.multi = Some(Vec::new());
    s.multi_error = false;
    Ok(Some(Frame::ok()))
}

/// `DISCARD`
pub fn discard(e: &mut Engine, id: ClientId, _a: &[Bytes]) -> SessionResult {
    let s = e.sessions.get_mut(&id).ok_or_else(session_err)?;
    if s.multi.take().is_none() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    unwatch(e, id);
    Ok(Some(Frame::ok()))
}

/// `EXEC`
pub fn exec(e: &mut Engine, id: ClientId, _a: &[Bytes]) -> SessionResult {
    let now = e.now_ms;
    let s = e.sessions.get_mut(&id).ok_or_else(session_err)?;
    let Some(queue) = s.multi.take() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    if std::mem::take(&mut s.multi_error) {
        unwatch(e, id);
        return Err(CmdError::msg("EXECABORT Transaction discarded because of previous errors."));
    }
    let expired_since_watch = s
        .watched
        .iter()
        .any(|w| !w.expired_at_watch && e.ks.dbs[w.db].get(&w.key).is_some_and(|en| en.is_expired(now)));
    if s.dirty_cas || expired_since_watch {
        unwatch(e, id);
        return Ok(Some(Frame::NullArray));
    }
    unwatch(e, id);
    let writes = || queue.iter().any(|a| a.first().and_then(|n| lookup(n)).is_some_and(|spec| super::writes(spec, a)));
    if e.config.replica_of.is_some() && writes() {
        // Queued while this node was the writer, which it no longer is
        // (Redis 7 answers so too): nothing runs, nothing is logged.
        return Err(CmdError::msg("READONLY You can't write against a read only replica."));
    }
    let mut replies = Vec::with_capacity(queue.len());
    for args in queue {
        let Some(spec) = args.first().and_then(|n| lookup(n)) else {
            continue;
        };
        replies.push(e.dispatch(id, spec, &args, true).unwrap_or(Frame::Null));
    }
    Ok(Some(Frame::Array(replies)))
}

/// `WATCH key [key ...]`
pub fn watch(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let now = e.now_ms;
    let s = e.sessions.get_mut(&id).ok_or_else(session_err)?;
    if s.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let db = s.db;
    for k in &a[1..] {
        if s.watched.iter().any(|w| w.db == db && w.key == *k) {
            continue;
        }
        let expired_at_watch = e.ks.dbs[db].get(k).is_some_and(|en| en.is_expired(now));
        s.watched.push(Watched { db, key: k.clone(), expired_at_watch });
        e.watchers.entry((db, k.clone())).or_default().push(id);
    }
    Ok(Some(Frame::ok()))
}

/// `UNWATCH`
pub fn unwatch_cmd(e: &mut Engine, id: ClientId, _a: &[Bytes]) -> SessionResult {
    unwatch(e, id);
    Ok(Some(Frame::ok()))
}

/// Forgets every key `id` watches.
pub fn unwatch(e: &mut Engine, id: ClientId) {
    let Some(s) = e.sessions.get_mut(&id) else {
        return;
    };
    s.dirty_cas = false;
    for w in std::mem::take(&mut s.watched) {
        let slot = (w.db, w.key);
        if let Some(ids) = e.watchers.get_mut(&slot) {
            ids.retain(|c| *c != id);
            if ids.is_empty() {
                e.watchers.remove(&slot);
            }
        }
    }
}

/// A key changed: clients watching it will fail their EXEC, except that the
/// deletion of a key that was already expired when watched is no change.
pub fn touch_watchers(e: &mut Engine, db: usize, key: &Bytes) {
    let Some(ids) = e.watchers.get(&(db, key.clone())) else {
        return;
    };
    let gone = e.ks.dbs[db].get(key).is_none();
    for id in ids.clone() {
        let Some(s) = e.sessions.get_mut(&id) else {
            continue;
        };
        for w in s.watched.iter_mut().filter(|w| w.db == db && w.key == *key) {
            if w.expired_at_watch && gone {
                w.expired_at_watch = false;
            } else {
                s.dirty_cas = true;
            }
        }
    }
}
