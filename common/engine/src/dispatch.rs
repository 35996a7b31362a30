//! The command pipeline: a client's command is checked (known, arity,
//! authentication, MONITOR, a replica's redirects, loading, a lapsed
//! lease, a failover), queued inside MULTI, or dispatched and timed
//! (command statistics, SLOWLOG, the latency monitor); a data command
//! runs against an [`Exec`] and is logged as its effects, with keyspace
//! notifications and client-side caching after it.

use crate::cmd::{self, Handler, Spec};
use crate::effects::Effect;
use crate::engine::{Engine, OOM_ERROR};
use crate::exec::{CmdError, Mode};
use crate::session::{ClientId, ReplyMode};
use bytes::Bytes;
use sixfold_resp::Frame;

/// Redis's reply to an unknown command.
fn unknown_command(args: &[Bytes]) -> Frame {
    let mut rest = String::new();
    for a in args.iter().skip(1) {
        rest.push_str(&format!("'{}' ", String::from_utf8_lossy(&a[..a.len().min(128)])));
        if rest.len() > 128 {
            break;
        }
    }
    Frame::error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(&args[0][..args[0].len().min(128)]),
        rest
    ))
}

pub(crate) fn check_arity(spec: &Spec, argc: usize) -> Result<(), Frame> {
    if cmd::arity_fits(spec.arity, argc) {
        Ok(())
    } else {
        Err(Frame::error(format!("ERR wrong number of arguments for '{}' command", spec.name)))
    }
}

/// Whether a data command reads or writes keys it names (a replica
/// serves keyless reads such as DBSIZE and SCAN to every connection).
fn names_keys(spec: &Spec, args: &[Bytes]) -> bool {
    matches!(spec.handler, Handler::Data(_)) && cmd::command_keys(args).is_some_and(|k| !k.is_empty())
}

impl Engine {
    /// Runs one top-level command and writes its reply.
    pub(crate) fn run_top(&mut self, id: ClientId, args: Vec<Bytes>) {
        if self.postpones(id, &args) {
            self.postpone(id, args);
            return;
        }
        self.dispatched = false;
        let reply = self.run_command(id, &args);
        if let Some(Frame::Error(m)) = &reply {
            if !self.dispatched
                && let Some(spec) = cmd::lookup(&args[0])
            {
                self.stats.cmdstats.rejected(spec, &args);
            }
            self.stats.cmdstats.error_reply(m);
        }
        self.finish_group();
        if let Some(f) = reply {
            self.reply(id, &f);
        }
        self.send_deferred_invalidations();
        if let Some(s) = self.sessions.get_mut(&id) {
            s.reply_mode = match s.reply_mode {
                ReplyMode::SkipNext => ReplyMode::Skip,
                ReplyMode::Skip => ReplyMode::On,
                m => m,
            };
        }
    }

    /// Checks, queues (MULTI) or executes one command; `None` when the
    /// reply was written already or the client blocked.
    fn run_command(&mut self, id: ClientId, args: &[Bytes]) -> Option<Frame> {
        let name = args.first()?;
        self.stats.commands += 1;
        let Some(spec) = cmd::lookup(name) else {
            return Some(self.reject_in_multi(id, unknown_command(args)));
        };
        if let Err(e) = check_arity(spec, args.len()) {
            return Some(self.reject_in_multi(id, e));
        }
        let s = self.sessions.get_mut(&id)?;
        s.last_ms = self.now_ms;
        s.last_cmd = spec.name;
        if !s.authenticated && !spec.has("no_auth") {
            return Some(Frame::error("NOAUTH Authentication required."));
        }
        if s.monitor
            && let Some(e) = cmd::monitor::refusal(spec)
        {
            return Some(self.reject_in_multi(id, Frame::error(e.to_string())));
        }
        let writes = cmd::writes(spec, args);
        if let Some(writer) = &self.config.replica_of
            && (writes || (!s.readonly && !self.config.replica_reads_any && names_keys(spec, args)))
        {
            // Redis Cluster's rule: a replica redirects writes, and reads
            // of keys on connections that did not ask for READONLY, to the
            // writer, so a client that follows -MOVED never reads a value
            // older than a write it saw acknowledged.
            if writer.is_empty() {
                let e = Frame::error("CLUSTERDOWN The cluster is down: this shard is electing its writer");
                return Some(self.reject_in_multi(id, e));
            }
            let slot = cmd::command_keys(args).and_then(|k| k.first().map(|k| cmd::cluster::key_slot(k))).unwrap_or(0);
            return Some(self.reject_in_multi(id, Frame::error(format!("MOVED {slot} {writer}"))));
        }
        if self.loading && matches!(spec.handler, Handler::Data(_)) {
            return Some(self.reject_in_multi(id, Frame::error("LOADING Sixfold is replaying the log")));
        }
        let runs_commands = cmd::runs_commands(spec.name);
        let refusal = if self.lease_lapsed && (matches!(spec.handler, Handler::Data(_)) || runs_commands || writes) {
            Some("TRYAGAIN this writer's lease has lapsed: another writer may have taken over")
        } else if self.failover_target.is_some() && (writes || runs_commands) {
            Some("TRYAGAIN writes are paused: a failover to another data node is in progress")
        } else {
            None
        };
        if let Some(text) = refusal {
            let e = Frame::error(text);
            if spec.name == "exec" {
                // The transaction is discarded, as after -EXECABORT (an
                // EXEC without MULTI has nothing to discard).
                let _ = cmd::multi::discard(self, id, args);
                return Some(e);
            }
            return Some(self.reject_in_multi(id, e));
        }
        if s.subscriptions() > 0 && s.proto == sixfold_resp::Protocol::Resp2 && !spec.has("@pubsub-ok") {
            return Some(Frame::error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        if s.multi.is_some() && !spec.has("@multi-ctl") {
            if spec.has("no_multi") {
                return Some(
                    self.reject_in_multi(id, Frame::error("ERR Command not allowed inside a transaction".to_string())),
                );
            }
            // Queueing takes memory: over `maxmemory` nothing is queued (Redis).
            if self.over_maxmemory() {
                return Some(self.reject_in_multi(id, Frame::error(OOM_ERROR)));
            }
            if let Some(q) = self.sessions.get_mut(&id).and_then(|s| s.multi.as_mut()) {
                q.push(args.to_vec());
            }
            return Some(Frame::Simple("QUEUED".into()));
        }
        self.dispatch(id, spec, args, false)
    }

    fn reject_in_multi(&mut self, id: ClientId, err: Frame) -> Frame {
        if let Some(s) = self.sessions.get_mut(&id)
            && s.multi.is_some()
        {
            s.multi_error = true;
        }
        err
    }

    /// Executes a checked command (also used by EXEC for queued commands
    /// and by scripts), timed for SLOWLOG.
    pub(crate) fn dispatch(
        &mut self,
        id: ClientId,
        spec: &'static Spec,
        args: &[Bytes],
        in_multi: bool,
    ) -> Option<Frame> {
        self.dispatched = true;
        if !self.monitors.is_empty() {
            cmd::monitor::feed(self, id, spec, args, true);
        }
        let started = self.clock.raw();
        let reply = self.dispatch_untimed(id, spec, args, in_multi);
        if !self.monitors.is_empty() {
            cmd::monitor::feed(self, id, spec, args, false);
        }
        let nanos = self.clock.delta_as_nanos(started, self.clock.raw());
        let usec = nanos / 1000;
        self.stats.cmdstats.ran(spec, args, nanos, reply.as_ref());
        if in_multi
            && let Some(Frame::Error(m)) = &reply
            && !self.scripts.watch().running()
        {
            // An error in EXEC's reply reaches the client (a script's
            // commands' errors reach the script).
            self.stats.cmdstats.error_reply(m);
        }
        if reply.is_some() {
            self.latency_monitor.note_command(spec.has("fast"), usec, self.now_ms / 1000);
        }
        // A command that blocked ran only its first try (Redis times it
        // when it is served).
        if reply.is_some() && self.slowlog.wants(usec) && !spec.has("skip_slowlog") {
            self.note_slow(id, args, usec);
        }
        reply
    }

    /// Adds the command to SLOWLOG if it ran long enough.
    fn note_slow(&mut self, id: ClientId, args: &[Bytes], duration_us: u64) {
        let unix_s = self.now_ms / 1000;
        // A script's commands run as Redis's script client, with no address or name.
        let (peer, name) = match self.sessions.get(&id) {
            Some(s) if !self.scripts.watch().running() => (s.info.addr.as_str(), s.name.clone().unwrap_or_default()),
            _ => ("?:0", Bytes::new()),
        };
        self.slowlog.note(args, duration_us, (unix_s, peer, &name));
    }

    fn dispatch_untimed(&mut self, id: ClientId, spec: &'static Spec, args: &[Bytes], in_multi: bool) -> Option<Frame> {
        match spec.handler {
            Handler::Session(f) => match f(self, id, args) {
                Ok(r) => r,
                Err(e) => Some(Frame::error(e.to_string())),
            },
            Handler::Data(f) => {
                let s = self.sessions.get(&id)?;
                let (db, resp3) = (s.db, s.proto == sixfold_resp::Protocol::Resp3);
                // Inside MULTI the check was made as the command was queued;
                // a script makes its own (`scripting::run_command`).
                if cmd::has_flag(spec, args, "denyoom") && !in_multi && self.over_maxmemory() {
                    return Some(Frame::error(OOM_ERROR));
                }
                let before = if self.exec_mode() == Mode::Execute { self.notify_before(db, args) } else { None };
                let touched_at = self.touched.len();
                let mut ex = self.exec(db, self.exec_mode(), resp3, in_multi);
                let r = f(&mut ex, args);
                let (dirty, rewritten, block_as) = (ex.dirty, ex.rewritten, ex.block_as.take());
                let expired = std::mem::take(&mut ex.expired_keys);
                self.stats.expired_keys += ex.expired;
                if dirty > 0 && !rewritten {
                    self.cur.push(Effect::new(db, args.to_vec()));
                }
                if let Some(b) = before {
                    self.notify_after(b, args, &expired);
                }
                self.after_tracked(id, spec, args, (touched_at, in_multi));
                self.stats.dirty += dirty;
                match r {
                    Ok(f) => Some(f),
                    Err(CmdError::WouldBlock { keys, timeout_ms }) => {
                        self.block(id, db, keys, timeout_ms, block_as.unwrap_or_else(|| args.to_vec()));
                        None
                    }
                    Err(e) => Some(Frame::error(e.to_string())),
                }
            }
        }
    }

    /// Whether `maxmemory` is set and the process uses more.
    pub(crate) fn over_maxmemory(&self) -> bool {
        self.config.maxmemory_bytes > 0 && (self.used_memory)() as u64 > self.config.maxmemory_bytes
    }
}
