//! CLIENT PAUSE and UNPAUSE, as Redis 7: while a pause holds, a client's
//! command that may change data (WRITE: writes, scripts and functions,
//! PUBLISH, PFCOUNT, an EXEC of such commands; ALL: any command) waits,
//! with everything the client sent after it, until the pause ends or
//! CLIENT UNPAUSE; then they run in order. The waiting command is kept as
//! a blocked command without keys or deadline (`Blocked::postponed`).

use crate::cmd::{self, Spec};
use crate::engine::Engine;
use crate::session::{Blocked, ClientId};
use bytes::Bytes;

/// A pause in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// Unix ms at which it ends.
    pub until_ms: i64,
    /// Every command waits (ALL), not only those that may change data.
    pub all: bool,
}

/// Whether a command may change data (Redis's `CMD_WRITE | CMD_MAY_REPLICATE`).
fn may_write(spec: &Spec, args: &[Bytes]) -> bool {
    cmd::writes(spec, args) || spec.has("may_replicate") || spec.has("@may-replicate")
}

impl Engine {
    /// Starts a pause, or extends the one in force (the later end, and ALL
    /// if either is).
    pub(crate) fn pause_clients(&mut self, until_ms: i64, all: bool) {
        self.pause = Some(match self.pause {
            Some(p) => Pause { until_ms: p.until_ms.max(until_ms), all: p.all || all },
            None => Pause { until_ms, all },
        });
    }

    /// Whether `args` from `id` must wait for the pause to end.
    pub(crate) fn postpones(&self, id: ClientId, args: &[Bytes]) -> bool {
        let Some(p) = self.pause.filter(|p| self.now_ms < p.until_ms) else { return false };
        if p.all {
            return true;
        }
        let Some(spec) = args.first().and_then(|n| cmd::lookup(n)) else { return false };
        let queued_writes = || {
            let queue = self.sessions.get(&id).and_then(|s| s.multi.as_ref());
            queue.is_some_and(|q| {
                q.iter().any(|a| a.first().and_then(|n| cmd::lookup(n)).is_some_and(|s| may_write(s, a)))
            })
        };
        may_write(spec, args) || (spec.name == "exec" && queued_writes())
    }

    /// Holds `args` (and what the client sends next) until the pause ends.
    pub(crate) fn postpone(&mut self, id: ClientId, args: Vec<Bytes>) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.blocked = Some(Blocked { db: s.db, keys: Vec::new(), deadline_ms: None, args, postponed: true });
        }
    }

    /// Ends the pause: the held commands run, client by client in the
    /// order the clients connected.
    pub(crate) fn unpause(&mut self) {
        self.pause = None;
        let mut held: Vec<ClientId> =
            self.sessions.values().filter(|s| s.blocked.as_ref().is_some_and(|b| b.postponed)).map(|s| s.id).collect();
        held.sort_unstable();
        for id in held {
            let Some(b) = self.sessions.get_mut(&id).and_then(|s| s.blocked.take()) else { continue };
            self.run_top(id, b.args);
            self.resume(id);
        }
    }

    /// Ends a pause whose time is up (from [`Engine::tick`]).
    pub(crate) fn unpause_if_due(&mut self) {
        if self.pause.is_some_and(|p| self.now_ms >= p.until_ms) {
            self.unpause();
        }
    }
}
