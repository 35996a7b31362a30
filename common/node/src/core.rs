//! The shared core: the [`Engine`] behind one lock. Commands run one at a
//! time, in arrival order, on the I/O thread that received them (with
//! `--io-threads 1`, a single thread does everything, as Redis does), so the
//! common path has no thread hand-off. Clients that get output because of
//! another client's command (pub/sub, unblocked pops, CLIENT KILL) are woken
//! through their `Notify` and drain their own output.

use crate::acks::Registry;
use crate::journal::{Journal, Progress};
use crate::listener::SharedLimits;
use crate::lock::Held;
use bytes::Bytes;
use parking_lot::Mutex;
use sixfold_engine::cmd::replication::{ReplConf, WaitFor, parse_replconf, parse_wait};
use sixfold_engine::scripting::ScriptWatch;
use sixfold_engine::{ClientId, ClientInfo, Config, Engine, InfoExtra, ShardView, SnapshotFacts, decode_group};
use sixfold_wire::{Lsn, Record, RecordKind, SnapshotMarker};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio::sync::watch;

/// A client's output and when it may leave.
pub struct Output {
    /// Bytes to write.
    pub out: Bytes,
    /// Close the connection after writing.
    pub close: bool,
    /// The LSN that must commit first (0: none).
    pub wait: Lsn,
    /// The epoch of the log `wait` belongs to: once this node stopped
    /// being that log's writer, the output never leaves.
    pub epoch: sixfold_wire::Epoch,
    /// A WAIT or WAITAOF that stopped the batch, and what follows it.
    pub then: Option<Then>,
    /// Whether the client has authenticated, after the batch (its next
    /// requests are decoded with a stranger's limits until it has).
    pub authenticated: bool,
    /// A replica asked for commit notifications (`REPLCONF NOTIFY`): after
    /// this output the connection only carries them.
    pub notify: bool,
}

/// A WAIT or WAITAOF the connection blocks on, then the rest of its batch.
pub struct Then {
    /// What it waits for.
    pub wait: WaitFor,
    /// The client's last write (0: none).
    pub last_write: Lsn,
    /// Commands after it.
    pub rest: Vec<Vec<Bytes>>,
    /// The protocol error that followed the batch.
    pub error: Option<String>,
}

/// How long a script that runs long pauses, when it hands its runtime
/// worker to another thread, for that thread to take it (repeated until
/// it has: once taken, the call is a no-op).
const HANDOFF_WAIT: Duration = Duration::from_micros(200);
/// How often a client waiting for a script checks whether it became busy.
pub(crate) const BUSY_POLL: Duration = Duration::from_millis(5);
/// Period of the expiry cycle when no client is blocked.
const TICK_MS: u64 = 100;
/// Period while clients wait in blocking commands (timeout precision).
const BLOCKED_TICK_MS: u64 = 10;
/// How often the allocator's statistics are refreshed for maxmemory
/// while the engine asks for them.
const MEMORY_PROBE_MS: u64 = 10;
/// How often they are refreshed otherwise (INFO's used_memory, metrics).
const IDLE_MEMORY_PROBE_MS: u64 = 1_000;

/// The writer's durable log, behind its own lock (see [`crate::journal`]).
pub type SharedJournal = Arc<Mutex<dyn Journal>>;

/// Locks the durable log (as the core sees it, or the writer's own type);
/// see [`crate::lock`].
pub fn lock_journal<J: ?Sized>(j: &Mutex<J>) -> Held<'_, J> {
    crate::lock::lock(j)
}

/// The engine and the wake-up handles of its clients.
pub struct Core {
    engine: Engine,
    /// The durable log, while this node is the writer.
    log: Option<SharedJournal>,
    /// Each client's last logged write (for WAIT and WAITAOF).
    last_write: HashMap<ClientId, Lsn>,
    /// Replicas that announced themselves with REPLCONF.
    replicas: Arc<Registry>,
    wakers: HashMap<ClientId, Arc<Notify>>,
    limits: Arc<SharedLimits>,
    stopped: Arc<Notify>,
    /// A writer's `REPLCONF TAKEOVER <lsn>` (planned failover): this
    /// replica takes over once it applied the LSN (0: none).
    takeover: Arc<AtomicU64>,
    /// A `SnapshotMarker` this writer logged and its LSN: INFO reports it
    /// once that LSN commits.
    marked: Option<(Lsn, SnapshotFacts)>,
    /// The snapshot store check of markers and its verdicts.
    verdicts: crate::markers::Verdicts,
    /// Set when a FAILOVER was asked for ([`Shared::take_failover`]).
    failover: Arc<AtomicBool>,
}

/// The core as the connection tasks share it, and the durable log's
/// progress while this node is the writer.
#[derive(Clone)]
pub struct Shared {
    core: Arc<Mutex<Core>>,
    durable: Arc<RwLock<Option<Durable>>>,
    /// The running script, seen without the lock.
    script: Arc<ScriptWatch>,
    /// A FAILOVER waits to be picked up ([`Shared::take_failover`]).
    failover: Arc<AtomicBool>,
}

/// What a connection needs to hold replies until commit.
#[derive(Clone)]
pub struct Durable {
    /// The epoch of the log.
    pub epoch: sixfold_wire::Epoch,
    /// The commit and flushed LSNs.
    pub progress: watch::Receiver<Progress>,
    /// Replies waiting for their commit, woken by the fabric task.
    pub commits: Arc<crate::commits::Commits>,
    /// Too many record bytes wait for the fabric: stop reading clients.
    pub backlog_full: Arc<std::sync::atomic::AtomicBool>,
    /// How long a reply may wait for its commit.
    pub commit_timeout: Duration,
    /// The replicas and what they applied (WAIT).
    pub replicas: Arc<Registry>,
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Shared {
    /// A new core; `stopped` is notified once SHUTDOWN ran.
    /// A writer's log is installed later ([`Shared::promote`]).
    pub fn new(cfg: Config, seed: u64, limits: Arc<SharedLimits>, stopped: Arc<Notify>) -> Shared {
        let mut engine = Engine::new(cfg, seed);
        engine.set_memory_probe(memory_probe());
        // Settings the engine took from a `[config]` table (a password, a
        // bulk limit) bind the first connection already.
        limits.bulk_bytes_max.store(engine.config().proto_max_bulk_len, Ordering::Relaxed);
        limits.password_set.store(engine.config().requirepass.is_some(), Ordering::Relaxed);
        let script = engine.script_watch();
        // A script that runs long moves off the runtime's worker: tasks
        // queued there (the listener's, other clients', even the one slot
        // other workers cannot steal from) must run meanwhile, to answer
        // -BUSY and to deliver SCRIPT KILL.
        script.on_long_run(|| crate::lock::off_the_runtime(|| std::thread::sleep(HANDOFF_WAIT)));
        let failover = Arc::new(AtomicBool::new(false));
        let core = Core {
            failover: failover.clone(),
            engine,
            log: None,
            last_write: HashMap::new(),
            replicas: Arc::new(Registry::default()),
            wakers: HashMap::new(),
            limits,
            stopped,
            takeover: Arc::new(AtomicU64::new(0)),
            marked: None,
            verdicts: Default::default(),
        };
        Shared { core: Arc::new(Mutex::new(core)), durable: Arc::new(RwLock::new(None)), script, failover }
    }

    /// The writer was fenced by a newer one (its fabric task has ended):
    /// it becomes a replica in place ([`Engine::demote`]). If every write
    /// it executed committed, its data is the committed log's and it goes
    /// on from there; otherwise its data is dropped and replayed from the
    /// first LSN. Returns the last record the data holds (LSN, epoch; (0,
    /// 0): none), and the new writer's address if a planned failover named
    /// it. Every commit LSN a writer publishes is at or above its
    /// `LeaderChange`, so the record there is of its epoch.
    pub fn demote(&self) -> ((Lsn, sixfold_wire::Epoch), Option<String>) {
        *self.durable.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let mut core = self.lock();
        let target = core.engine.failover_target().map(str::to_string);
        let Some(log) = core.log.take() else { return ((0, 0), target) };
        let (commit, last_write, epoch) = {
            let j = lock_journal(&*log);
            (j.commit_lsn(), j.last_effects_lsn(), j.epoch())
        };
        let keep = last_write <= commit;
        tracing::warn!(commit, last_write, keep, "demoted: serving as a replica");
        core.engine.demote(keep);
        core.last_write.clear();
        // A marker not yet committed may never be: the log it shows
        // replicates in now.
        core.marked = None;
        core.after(None);
        (if keep { (commit, epoch) } else { (0, 0) }, target)
    }

    /// A replica's core becomes the writer's, in place: its engine (with
    /// the data it applied and its clients) now executes writes, logged to
    /// `log`; replies wait for their commit as `durable` says; INFO and
    /// ROLE/CLUSTER show `info` and `shard`. One lock: no command runs as a
    /// writer's before its effects have a log to go to.
    pub fn promote(&self, log: SharedJournal, durable: Durable, (info, shard): (InfoExtra, ShardView)) {
        let mut core = self.lock();
        core.engine.promote("fabric");
        core.engine.set_info_extra(info);
        core.engine.set_shard_view(shard);
        core.log = Some(log);
        *self.durable.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(durable);
    }

    /// The commit LSN and timeout, while this node is the durable writer.
    pub fn durable(&self) -> Option<Durable> {
        self.durable.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Locks the core (see [`crate::lock`]: a panic while it is held stops
    /// the process).
    pub fn lock(&self) -> Held<'_, Core> {
        crate::lock::lock(&self.core)
    }

    /// Locks the core for a client's batch, unless a script has held it
    /// past `busy-reply-threshold`: then `Err` says what runs, and the
    /// client is answered without the lock ([`crate::busy`]).
    pub async fn lock_unless_busy(&self) -> Result<Held<'_, Core>, sixfold_engine::scripting::Busy> {
        loop {
            // While a script runs, look without waiting (this thread serves
            // other clients meanwhile); otherwise wait a moment for it.
            let wait = !self.script.running();
            if let Some(g) = crate::lock::try_lock(&self.core, wait) {
                return Ok(g);
            }
            if let Some(busy) = self.script.busy() {
                return Err(busy);
            }
            if !self.script.running() {
                // Held long by something else (a command over a huge value).
                return Ok(self.lock());
            }
            tokio::time::sleep(BUSY_POLL).await;
        }
    }

    /// A FAILOVER to carry out, once (durable writer only). Looks at the
    /// core only when one was asked for: the fabric loop calls this at
    /// every wake-up, also while a script holds the core.
    pub fn take_failover(&self) -> Option<sixfold_engine::cmd::failover::FailoverRequest> {
        if !self.failover.swap(false, Ordering::AcqRel) {
            return None;
        }
        self.lock().take_failover()
    }

    /// The running script as seen without the lock.
    pub fn script_watch(&self) -> &ScriptWatch {
        &self.script
    }

    /// Runs the expiry cycle and blocked-client timeouts until the core is dropped.
    pub async fn ticker(self) {
        loop {
            let period = {
                let mut core = self.lock();
                core.engine.tick(now_ms());
                core.after(None);
                if core.engine.next_deadline().is_some() { BLOCKED_TICK_MS } else { TICK_MS }
            };
            tokio::time::sleep(Duration::from_millis(period)).await;
        }
    }
}

impl Core {
    /// Data commands answer `-LOADING` while on (a replica catching up).
    pub fn set_loading(&mut self, on: bool) {
        self.engine.set_loading(on);
    }

    /// A replica's writes now go to `writer` (`host:port`).
    pub fn set_replica_of(&mut self, writer: &str) {
        self.engine.set_replica_of(writer);
    }

    /// Sets the server's extra INFO fields.
    pub fn set_info_extra(&mut self, provider: sixfold_engine::InfoExtra) {
        self.engine.set_info_extra(provider);
    }

    /// Where ROLE and CLUSTER learn the shard's replication from.
    pub fn set_shard_view(&mut self, provider: sixfold_engine::ShardView) {
        self.engine.set_shard_view(provider);
    }

    /// The replicas that announced themselves with REPLCONF (WAIT, ROLE).
    pub fn replicas(&self) -> Arc<Registry> {
        self.replicas.clone()
    }

    /// A CONFIG parameter stored without effect in the engine, if set and
    /// not empty (`masterauth`, `masteruser`: what this node gives the
    /// writer it connects to).
    pub fn config_value(&self, name: &str) -> Option<String> {
        self.engine.config().stored.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// Whether client `id` has authenticated (or needs not).
    pub fn authenticated(&self, id: ClientId) -> bool {
        self.engine.is_authenticated(id)
    }

    /// Registers a connection; `Err` holds the refusal to send (maxclients).
    pub fn connect(&mut self, info: ClientInfo, waker: Arc<Notify>) -> Result<ClientId, Bytes> {
        let id = self.engine.connect(info, now_ms())?;
        self.wakers.insert(id, waker);
        metrics::gauge!(crate::metrics::CONNECTED_CLIENTS).set(self.wakers.len() as f64);
        Ok(id)
    }

    /// The count of client `id`'s output not yet written (see
    /// [`Engine::unsent_counter`]).
    pub fn unsent_counter(&self, id: ClientId) -> Arc<std::sync::atomic::AtomicUsize> {
        self.engine.unsent_counter(id).unwrap_or_default()
    }

    /// Whether client `id` must be closed at once (see
    /// [`Engine::is_killed`]).
    pub fn is_killed(&self, id: ClientId) -> bool {
        self.engine.is_killed(id)
    }

    /// Forgets a connection.
    pub fn disconnect(&mut self, id: ClientId) {
        self.engine.disconnect(id);
        self.wakers.remove(&id);
        self.last_write.remove(&id);
        self.replicas.disconnect(id);
        metrics::gauge!(crate::metrics::CONNECTED_CLIENTS).set(self.wakers.len() as f64);
        self.after(None);
    }

    /// Runs a client's commands (then its protocol error, if any). Returns
    /// its output, whether to close the connection after it, and the LSN
    /// that must commit before the output may leave (0: none). With the
    /// durable log, a WAIT or WAITAOF the client may block in stops the
    /// batch: it and the commands after it come back in [`Output::then`].
    pub fn run(&mut self, id: ClientId, cmds: Vec<Vec<Bytes>>, error: Option<String>) -> Output {
        let now = now_ms();
        let lease_held = self.lease_holds();
        self.engine.set_lease_lapsed(!lease_held);
        let mut wait = 0;
        metrics::counter!(crate::metrics::COMMANDS).increment(cmds.len() as u64);
        // One lock of the durable log for the batch, taken after the core's.
        let mut log = self.log.as_deref().map(lock_journal);
        if let Some(j) = log.as_deref()
            && self.marked.as_ref().is_some_and(|(lsn, _)| *lsn <= j.commit_lsn())
            && let Some((_, facts)) = self.marked.take()
        {
            note_snapshot(&mut self.engine, facts);
        }
        let mut cmds = cmds.into_iter();
        let (mut then, mut notify) = (None, false);
        while let Some(c) = cmds.next() {
            if let Some(log) = log.as_deref() {
                if let Some(Ok(w)) = parse_wait(&c)
                    && self.engine.may_block(id)
                {
                    let last_write = self.last_write.get(&id).copied().unwrap_or(0);
                    then = Some(Then { wait: w, last_write, rest: cmds.collect(), error: None });
                    break;
                }
                wait = wait.max(read_wait(log, &c));
                if let Some(e) = log.refusal(&c) {
                    self.engine.refuse(id, &e);
                    continue;
                }
            }
            // Only from an authenticated client, and not when queued in
            // MULTI: an anonymous one must not register as a replica
            // (counted by WAIT, shown to cluster clients) or ask for a takeover.
            match parse_replconf(&c).filter(|_| self.engine.runs_now(id)) {
                Some(ReplConf::Takeover(lsn)) if log.is_none() => self.takeover.store(lsn.max(1), Ordering::Relaxed),
                Some(ReplConf::Notify(1)) if log.is_some() => notify = true,
                Some(ReplConf::Notify(_)) => {}
                Some(ReplConf::SnapshotMarker(payload)) => {
                    match mark_snapshot(log.as_deref_mut(), &payload, &mut self.verdicts) {
                        Ok((lsn, facts)) => {
                            self.marked = Some((lsn, facts));
                            wait = wait.max(lsn);
                            self.engine.answer(id, &sixfold_resp::Frame::ok());
                            continue;
                        }
                        Err(e) => {
                            self.engine.refuse(id, &e);
                            continue;
                        }
                    }
                }
                Some(r) => self.replicas.on_replconf(id, r),
                None => {}
            }
            // A script may run for long (up to SCRIPT KILL): the fabric
            // keeps committing, and the lease renewed, meanwhile.
            let long = log.is_some() && runs_commands(&c);
            if long {
                log = None;
            }
            self.engine.feed(id, c, now);
            if long {
                log = self.log.as_deref().map(lock_journal);
            }
            if let Some(log) = log.as_deref_mut() {
                let last = log.log_groups(self.engine.take_effects());
                if last > 0 {
                    self.last_write.insert(id, last);
                }
                wait = wait.max(last);
            }
        }
        drop(log);
        match then.as_mut() {
            Some(t) => t.error = error,
            None => {
                if let Some(e) = error {
                    self.engine.protocol_error(id, &e);
                }
            }
        }
        self.after(Some(id));
        let (out, close) = self.engine.take_client_output(id);
        if lease_held && !self.lease_holds() {
            // The lease lapsed while the batch ran (the process may have
            // been stopped in between): what it read may be stale, so
            // nothing of it leaves; the client sees the connection close.
            let (out, wait, epoch) = (Bytes::new(), 0, 0);
            return Output { out, close: true, wait, epoch, then: None, authenticated: false, notify: false };
        }
        let authenticated = self.engine.is_authenticated(id);
        Output { out, close, wait, epoch: self.log_epoch(), then, authenticated, notify }
    }

    /// The durable log, locked, while this node is the writer.
    fn journal(&self) -> Option<Held<'_, dyn Journal + 'static>> {
        self.log.as_deref().map(lock_journal)
    }

    /// Whether this node may serve data now: no durable log, or its lease holds.
    fn lease_holds(&self) -> bool {
        self.journal().is_none_or(|l| l.lease_holds())
    }

    /// Where a writer's planned-failover request lands (see [`Core::takeover`]).
    pub fn takeover_flag(&self) -> Arc<AtomicU64> {
        self.takeover.clone()
    }

    /// A FAILOVER to carry out, once (durable writer only).
    pub fn take_failover(&mut self) -> Option<sixfold_engine::cmd::failover::FailoverRequest> {
        self.log.as_ref()?;
        self.engine.take_failover()
    }

    /// Ends a planned failover without a handover: writes resume.
    pub fn abort_failover(&mut self) {
        self.engine.abort_failover();
    }

    /// The last LSN logged (0 without a durable log).
    pub fn last_lsn(&self) -> Lsn {
        self.journal().map_or(0, |l| l.last_lsn())
    }

    /// The output queued for `id` by other clients' commands (it waits for
    /// every write logged so far).
    pub fn take(&mut self, id: ClientId) -> Output {
        let (out, close) = self.engine.take_client_output(id);
        let authenticated = self.engine.is_authenticated(id);
        Output { out, close, wait: self.last_lsn(), epoch: self.log_epoch(), then: None, authenticated, notify: false }
    }

    /// The check of snapshot markers against the store, and its verdicts.
    pub fn verdicts(&mut self) -> &mut crate::markers::Verdicts {
        &mut self.verdicts
    }

    /// The engine's configuration (a snapshot is restored into an engine
    /// like it).
    pub fn engine_config(&self) -> sixfold_engine::Config {
        self.engine.config().clone()
    }

    /// Takes the data of an engine a snapshot was restored into (before
    /// this node replicates or recovers from the snapshot's LSN on).
    pub fn adopt_snapshot(&mut self, restored: Engine, facts: sixfold_engine::SnapshotFacts) {
        self.engine.adopt_data(restored, facts);
    }

    /// The durable log's epoch (0: none).
    fn log_epoch(&self) -> sixfold_wire::Epoch {
        self.journal().map_or(0, |l| l.epoch())
    }

    /// Applies committed log records (replica role): the effect groups of
    /// `Effects` records, in order. Returns the last LSN applied, if any.
    pub fn apply_records(&mut self, records: &[Record]) -> anyhow::Result<Option<Lsn>> {
        for r in records {
            apply_to(&mut self.engine, r).map_err(|e| anyhow::anyhow!("record {}: {e:#}", r.lsn))?;
        }
        Ok(records.last().map(|r| r.lsn))
    }

    /// After commands ran: wake the other clients that have output, log the
    /// effects of expiry and of served blocked clients (dropped with
    /// `--durability none`), mirror CONFIG changes, notice SHUTDOWN.
    fn after(&mut self, me: Option<ClientId>) {
        for id in self.engine.take_ready() {
            if Some(id) != me
                && let Some(w) = self.wakers.get(&id)
            {
                w.notify_one();
            }
        }
        // Effects of expiry and of served blocked clients; with
        // --durability none they are not logged anywhere.
        let groups = self.engine.take_effects();
        if let Some(mut log) = self.journal() {
            log.log_groups(groups);
        }
        if self.engine.take_config_changed() {
            let bulk = self.engine.config().proto_max_bulk_len;
            self.limits.bulk_bytes_max.store(bulk, Ordering::Relaxed);
            let password = self.engine.config().requirepass.is_some();
            self.limits.password_set.store(password, Ordering::Relaxed);
        }
        if self.engine.shutdown_requested() {
            self.stopped.notify_one();
        }
        if self.engine.failover_requested()
            && let Some(log) = self.journal()
        {
            self.failover.store(true, Ordering::Release);
            // The fabric task picks the FAILOVER up.
            log.wake();
        }
    }
}

/// Applies one record to an engine: effect groups change its data, a
/// `SnapshotMarker` what INFO reports; other kinds change nothing.
pub fn apply_to(engine: &mut Engine, r: &Record) -> anyhow::Result<()> {
    match r.kind {
        RecordKind::Effects => {
            let group = decode_group(&r.payload)?;
            engine.apply(&group).map_err(|e| anyhow::anyhow!("does not apply: {e}"))?;
        }
        RecordKind::SnapshotMarker => {
            let m = SnapshotMarker::decode(&r.payload).map_err(|e| anyhow::anyhow!("snapshot marker: {e}"))?;
            note_snapshot(engine, facts_of(&m));
        }
        _ => {}
    }
    Ok(())
}

/// What INFO shows of a marker.
fn facts_of(m: &SnapshotMarker) -> SnapshotFacts {
    SnapshotFacts {
        name: m.name.clone(),
        lsn: m.lsn,
        keys: m.keys,
        bytes: m.bytes,
        ms: m.duration_ms,
        made_unix_ms: m.made_unix_ms,
    }
}

/// A committed marker: INFO persistence and the metrics report it.
fn note_snapshot(engine: &mut Engine, facts: SnapshotFacts) {
    metrics::gauge!(crate::metrics::SNAPSHOT_LSN).set(facts.lsn as f64);
    metrics::gauge!(crate::metrics::SNAPSHOT_BYTES).set(facts.bytes as f64);
    metrics::gauge!(crate::metrics::SNAPSHOT_TIMESTAMP_SECONDS).set(facts.made_unix_ms as f64 / 1000.0);
    metrics::gauge!(crate::metrics::SNAPSHOT_DURATION_SECONDS).set(facts.ms as f64 / 1000.0);
    engine.note_snapshot(facts);
}

/// `REPLCONF SNAPSHOT-MARKER <payload>` (the snapshotter, after it
/// verified a snapshot): logs a `SnapshotMarker` record; returns its LSN
/// (the reply waits for it) and what INFO shows once it commits. Only a
/// writer logs one, and only for a snapshot at or below its commit LSN.
fn mark_snapshot(
    log: Option<&mut (dyn Journal + 'static)>,
    payload: &[u8],
    verdicts: &mut crate::markers::Verdicts,
) -> Result<(Lsn, SnapshotFacts), String> {
    let Some(log) = log else {
        return Err("ERR REPLCONF SNAPSHOT-MARKER is for the writer of a durable log".into());
    };
    let m = SnapshotMarker::decode(payload).map_err(|e| format!("ERR invalid snapshot marker: {e}"))?;
    let commit = log.commit_lsn();
    if m.lsn == 0 || m.lsn > commit {
        return Err(format!("ERR the snapshot's LSN {} is not in the committed log (commit LSN {commit})", m.lsn));
    }
    // It lets the storage nodes drop the log below it: only for a
    // snapshot in the store as named (`crate::markers`).
    verdicts.take(payload)?;
    Ok((log.log_marker(payload), facts_of(&m)))
}

/// Whether the command runs others (EXEC, a script).
pub(crate) fn runs_commands(args: &[Bytes]) -> bool {
    let spec = args.first().and_then(|n| sixfold_engine::cmd::lookup(n));
    spec.is_some_and(|s| sixfold_engine::cmd::runs_commands(s.name))
}

/// What a command must wait for before its reply: data commands wait for
/// the uncommitted writes to the keys they name (all writes if their keys
/// cannot be known); EXEC and scripts (which may touch keys they do not
/// declare) wait for all; connection and server commands
/// read no data and wait for nothing.
fn read_wait(log: &dyn Journal, args: &[Bytes]) -> Lsn {
    use sixfold_engine::cmd::{Handler, command_keys, lookup};
    match args.first().and_then(|n| lookup(n)) {
        Some(spec) if matches!(spec.handler, Handler::Data(_)) => log.wait_for(command_keys(args).as_deref()),
        Some(spec) if sixfold_engine::cmd::runs_commands(spec.name) => log.wait_for(None),
        _ => 0,
    }
}

/// Bytes allocated by the process, refreshed by a background thread so the
/// engine's maxmemory check costs one atomic load: every
/// [`MEMORY_PROBE_MS`] while the engine asks (the first ask after a quiet
/// spell wakes the thread), every [`IDLE_MEMORY_PROBE_MS`] otherwise, so
/// an idle node does not spend CPU on it.
fn memory_probe() -> Box<dyn Fn() -> usize + Send> {
    let used = Arc::new(AtomicU64::new(0));
    let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (writer, wanted) = (used.clone(), asked.clone());
    let spawned = std::thread::Builder::new().name("memory-probe".into()).spawn(move || {
        loop {
            if tikv_jemalloc_ctl::epoch::advance().is_ok()
                && let Ok(n) = tikv_jemalloc_ctl::stats::allocated::read()
            {
                writer.store(n as u64, Ordering::Relaxed);
                metrics::gauge!(crate::metrics::USED_MEMORY_BYTES).set(n as f64);
            }
            if wanted.swap(false, Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(MEMORY_PROBE_MS));
            } else {
                std::thread::park_timeout(Duration::from_millis(IDLE_MEMORY_PROBE_MS));
            }
        }
    });
    let thread = match spawned {
        Ok(h) => Some(h.thread().clone()),
        Err(e) => {
            tracing::warn!(error = %e, "no memory probe thread: used_memory stays 0");
            None
        }
    };
    Box::new(move || {
        if !asked.swap(true, Ordering::Relaxed)
            && let Some(t) = &thread
        {
            t.unpark();
        }
        used.load(Ordering::Relaxed) as usize
    })
}
