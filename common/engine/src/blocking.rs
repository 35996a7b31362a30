//! Blocking commands (BLPOP, BZPOPMIN, BLMOVE, XREAD/XREADGROUP BLOCK,
//! ...): a command that found nothing waits on its keys; after commands
//! ran, clients waiting on keys they touched run their command again
//! (in arrival order) until it is served or times out, and the commands
//! they sent meanwhile then run.

use crate::cmd::{self, Handler};
use crate::engine::Engine;
use crate::exec::{CmdError, Mode};
use crate::session::{Blocked, ClientId};
use bytes::Bytes;
use sixfold_resp::Frame;

impl Engine {
    pub(crate) fn block(&mut self, id: ClientId, db: usize, keys: Vec<Bytes>, timeout_ms: u64, args: Vec<Bytes>) {
        let deadline_ms = (timeout_ms > 0).then(|| self.now_ms.saturating_add(timeout_ms as i64));
        for k in &keys {
            self.blocked_on.entry((db, k.clone())).or_default().push_back(id);
        }
        if let Some(s) = self.sessions.get_mut(&id) {
            s.blocked = Some(Blocked { db, keys, deadline_ms, args, postponed: false });
        }
    }

    /// Ends a blocking command (not one held by CLIENT PAUSE) with `error`,
    /// or with the reply of its timeout; false if `id` is not blocked.
    pub(crate) fn end_block(&mut self, id: ClientId, error: Option<Frame>) -> bool {
        let Some(b) = self.sessions.get(&id).and_then(|s| s.blocked.as_ref()).filter(|b| !b.postponed) else {
            return false;
        };
        let reply = error.unwrap_or_else(|| cmd::timeout_reply(&b.args));
        self.unblock(id);
        self.reply(id, &reply);
        self.resume(id);
        true
    }

    pub(crate) fn unblock(&mut self, id: ClientId) {
        let Some(b) = self.sessions.get_mut(&id).and_then(|s| s.blocked.take()) else {
            return;
        };
        for k in b.keys {
            let slot = (b.db, k);
            if let Some(q) = self.blocked_on.get_mut(&slot) {
                q.retain(|c| *c != id);
                if q.is_empty() {
                    self.blocked_on.remove(&slot);
                }
            }
        }
    }

    /// Runs the commands a client sent while it was blocked.
    pub(crate) fn resume(&mut self, id: ClientId) {
        while let Some(s) = self.sessions.get_mut(&id) {
            if s.blocked.is_some() {
                break;
            }
            let Some(args) = s.pending.pop_front() else {
                break;
            };
            self.run_top(id, args);
        }
    }

    /// After commands ran: invalidate watchers of touched keys and serve
    /// clients blocked on keys that now hold data, until nothing changes.
    pub(crate) fn after_commands(&mut self) {
        while !self.touched.is_empty() {
            let touched = std::mem::take(&mut self.touched);
            let mut ready = Vec::new();
            for (db, key) in touched {
                crate::cmd::multi::touch_watchers(self, db, &key);
                if self.blocked_on.contains_key(&(db, key.clone())) && !ready.contains(&(db, key.clone())) {
                    ready.push((db, key));
                }
            }
            for (db, key) in ready {
                self.serve_blocked(db, &key);
            }
        }
    }

    pub(crate) fn serve_blocked(&mut self, db: usize, key: &Bytes) {
        loop {
            let Some(&id) = self.blocked_on.get(&(db, key.clone())).and_then(|q| q.front()) else {
                return;
            };
            let Some(args) = self.sessions.get(&id).and_then(|s| s.blocked.as_ref()).map(|b| b.args.clone()) else {
                return;
            };
            let Some(spec) = cmd::lookup(&args[0]) else {
                return;
            };
            let Handler::Data(f) = spec.handler else {
                return;
            };
            let resp3 = self.sessions.get(&id).is_some_and(|s| s.proto == sixfold_resp::Protocol::Resp3);
            let before = if self.exec_mode() == Mode::Execute { self.notify_before(db, &args) } else { None };
            let mut ex = self.exec(db, self.exec_mode(), resp3, false);
            ex.serving_blocked = true;
            let r = f(&mut ex, &args);
            let (dirty, expired) = (ex.dirty, std::mem::take(&mut ex.expired_keys));
            self.stats.dirty += dirty;
            match r {
                Err(CmdError::WouldBlock { .. }) => return,
                r => {
                    if let Some(b) = before {
                        self.notify_after(b, &args, &expired);
                    }
                    self.after_tracked(id, spec, &args, (0, false));
                    self.finish_group();
                    self.unblock(id);
                    let f = r.unwrap_or_else(|e| Frame::error(e.to_string()));
                    self.reply(id, &f);
                    self.send_deferred_invalidations();
                    self.resume(id);
                }
            }
        }
    }
}
