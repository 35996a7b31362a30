//! The engine: keyspace, sessions and command dispatch, driven by events
//! (a client sent a command, time passed, a client left) with no I/O.
//!
//! The server feeds commands with [`Engine::feed`], then drains what the
//! engine produced: bytes for each client ([`Engine::take_output`]), clients
//! to disconnect ([`Engine::take_closing`]) and effect groups to log
//! ([`Engine::take_effects`]). Time is passed in; randomness is seeded.

use crate::cmd::{self, Handler};
use crate::db::Keyspace;
use crate::effects::Effect;
use crate::exec::{CmdError, Exec, Mode};
use crate::session::{ClientId, ClientInfo, Session};
use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use sixfold_resp::Frame;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Settings readable and writable with CONFIG GET/SET.
#[derive(Debug, Clone)]
pub struct Config {
    /// `requirepass`: password of the default user (empty: none).
    pub requirepass: Option<Bytes>,
    /// `protected-mode`: with no password, only loopback clients (and
    /// those of no IP address: in-process, Unix sockets) are served.
    pub protected_mode: bool,
    /// `maxmemory` in bytes (0: no limit); policy is always `noeviction`.
    pub maxmemory_bytes: u64,
    /// `maxclients`.
    pub maxclients: u64,
    /// `proto-max-bulk-len`.
    pub proto_max_bulk_len: u64,
    /// `hll-sparse-max-bytes`: a sparse HyperLogLog that would grow past
    /// it turns dense.
    pub hll_sparse_bytes_max: usize,
    /// `stream-node-max-entries`: entries per stream node, which
    /// approximate trimming (`~`) removes whole.
    pub stream_node_entries_max: u64,
    /// `notify-keyspace-events`, as `crate::notify` flags.
    pub notify_flags: u16,
    /// Active expiry cycle on (`DEBUG SET-ACTIVE-EXPIRE`).
    pub active_expire: bool,
    /// `client-output-buffer-limit` (Sixfold acts on the pubsub class).
    pub output_limits: crate::output_limits::OutputLimits,
    /// TCP port (reported by INFO, HELLO and CONFIG GET port).
    pub port: u16,
    /// What `INFO persistence` says about durability.
    pub durability: String,
    /// `host:port` of the writer when this engine is a replica: write
    /// commands answer `-MOVED <slot> <writer>`, reads treat expired keys as
    /// missing without deleting them (the log's `DEL`s do that).
    pub replica_of: Option<String>,
    /// `host:port` clients reach this node at (CLUSTER replies; default
    /// `127.0.0.1:<port>`).
    pub announce: Option<String>,
    /// A replica serves reads of keys to every connection, as a standalone
    /// Redis replica does (possibly stale for a client that just wrote to
    /// the writer), not only to READONLY ones.
    pub replica_reads_any: bool,
    /// CONFIG parameters stored without acting on them, as set (the
    /// others report Redis's default; `cmd::config`).
    pub stored: std::collections::BTreeMap<&'static str, String>,
    /// The TOML file the server was started with (`--config`): CONFIG
    /// REWRITE writes its `[config]` table.
    pub config_file: Option<std::path::PathBuf>,
    /// CONFIG SET pairs applied as the engine starts (the file's
    /// `[config]` table).
    pub startup: Vec<(String, Bytes)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            requirepass: None,
            protected_mode: true,
            maxmemory_bytes: 0,
            maxclients: 10_000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            hll_sparse_bytes_max: 3000,
            stream_node_entries_max: 100,
            notify_flags: 0,
            active_expire: true,
            output_limits: crate::output_limits::OutputLimits::default(),
            port: 6379,
            durability: "none".into(),
            replica_of: None,
            announce: None,
            replica_reads_any: false,
            stored: std::collections::BTreeMap::new(),
            config_file: None,
            startup: Vec::new(),
        }
    }
}

/// Counters reported by INFO stats.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Connections accepted.
    pub connections: u64,
    /// Commands processed.
    pub commands: u64,
    /// Keys expired (lazily or actively).
    pub expired_keys: u64,
    /// Data changes since start.
    pub dirty: u64,
    /// Connections refused for maxclients.
    pub rejected_connections: u64,
    /// Hits and misses of key lookups by read commands.
    pub keyspace_hits: u64,
    /// Misses.
    pub keyspace_misses: u64,
    /// Pub/sub messages delivered.
    pub pubsub_messages: u64,
    /// Effect groups produced.
    pub effect_groups: u64,
    /// INFO commandstats and errorstats.
    pub cmdstats: crate::cmdstats::CommandStats,
}

/// Keys the active expiry cycle examines per database per tick.
const EXPIRE_SLOTS_PER_TICK: usize = 2_000;

/// Redis's reply to a command that may grow memory while the server is
/// over `maxmemory` (with `noeviction`, the only policy of a database).
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// What a client from another host gets in protected mode (Redis's text).
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Whether a client at `addr` (`ip:port`) is local for protected mode: a
/// loopback address, or no IP address at all (in-process, Unix socket).
fn is_local(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>().map_or(true, |a| a.ip().is_loopback())
}

/// A snapshot as INFO persistence shows it: the one a node restored on
/// start, and the newest one the log marks as verified.
#[derive(Debug, Default, Clone)]
pub struct SnapshotFacts {
    /// The snapshot's object name.
    pub name: String,
    /// The LSN it holds the state at.
    pub lsn: u64,
    /// Keys it holds.
    pub keys: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Milliseconds it took (to restore and serve; to make and verify).
    pub ms: u64,
    /// When it was verified (Unix milliseconds; 0: not known).
    pub made_unix_ms: u64,
}

/// Extra INFO fields for a section, supplied by the server around the engine.
pub type InfoExtra = Box<dyn Fn(&str) -> Vec<(String, String)> + Send>;

/// The shard's replication as the server around the engine knows it now
/// (ROLE and the CLUSTER commands are made from it).
pub type ShardView = Box<dyn Fn() -> cmd::cluster::Shard + Send>;

/// The in-memory engine.
pub struct Engine {
    pub(crate) ks: Keyspace,
    pub(crate) sessions: HashMap<ClientId, Session>,
    /// The Lua VM and the script cache.
    pub(crate) scripts: crate::scripting::Scripts,
    /// SLOWLOG's entries and settings.
    pub(crate) slowlog: crate::cmd::slowlog::SlowLog,
    /// A command of the client's request reached [`Engine::dispatch`]
    /// (one that did not was refused, for INFO commandstats).
    pub(crate) dispatched: bool,
    /// Times each command (a TSC read costs a few nanoseconds where a
    /// clock_gettime costs about 40 here, and it happens twice a command).
    pub(crate) clock: quanta::Clock,
    pub(crate) config: Config,
    pub(crate) rng: SmallRng,
    pub(crate) now_ms: i64,
    pub(crate) started_ms: Option<i64>,
    next_id: ClientId,
    pub(crate) channels: HashMap<Bytes, BTreeSet<ClientId>>,
    pub(crate) patterns: HashMap<Bytes, BTreeSet<ClientId>>,
    pub(crate) shard_channels: HashMap<Bytes, BTreeSet<ClientId>>,
    pub(crate) blocked_on: HashMap<(usize, Bytes), VecDeque<ClientId>>,
    pub(crate) watchers: HashMap<(usize, Bytes), Vec<ClientId>>,
    pub(crate) stats: Stats,
    pub(crate) used_memory: Box<dyn Fn() -> usize + Send>,
    pub(crate) info_extra: InfoExtra,
    /// The snapshot restored on start, if any.
    pub(crate) restored: Option<SnapshotFacts>,
    /// The newest snapshot marked in the log this node applied or logged.
    pub(crate) last_snapshot: Option<SnapshotFacts>,
    pub(crate) shard: ShardView,
    /// A replica replaying the log before it first caught up: data
    /// commands answer `-LOADING`.
    pub(crate) loading: bool,
    /// A durable writer whose lease has lapsed: data commands and EXEC
    /// answer `-TRYAGAIN` (another writer may have taken over).
    pub(crate) lease_lapsed: bool,
    /// A planned failover ([`cmd::failover`]): the replica it hands over
    /// to, while writes are paused.
    pub(crate) failover_target: Option<String>,
    /// Clients that sent MONITOR (`cmd::monitor`).
    pub(crate) monitors: Vec<ClientId>,
    /// CLIENT PAUSE in force (`crate::pause`).
    pub(crate) pause: Option<crate::pause::Pause>,
    /// A FAILOVER the server has not picked up yet.
    failover_request: Option<cmd::failover::FailoverRequest>,
    groups: Vec<Vec<Effect>>,
    pub(crate) cur: Vec<Effect>,
    pub(crate) touched: Vec<(usize, Bytes)>,
    /// Client-side caching: remembered keys, BCAST prefixes.
    pub(crate) tracking_table: crate::tracking::Table,
    /// The latency monitor's events.
    pub(crate) latency_monitor: crate::cmd::latency::Monitor,
    has_output: Vec<ClientId>,
    closing: Vec<ClientId>,
    pub(crate) shutdown: bool,
    pub(crate) config_changed: bool,
}

impl Engine {
    /// An empty engine; `seed` drives SPOP, RANDOMKEY and friends. The
    /// configuration's `startup` pairs are applied as CONFIG SET would
    /// (check them first with [`Engine::check_startup`]).
    pub fn new(config: Config, seed: u64) -> Engine {
        let mut e = Engine::bare(config, seed);
        if let Err(err) = e.apply_startup() {
            tracing::warn!(%err, "a [config] parameter was refused");
        }
        e.config_changed = false;
        e
    }

    /// The CONFIG SET error of the first `startup` pair the engine refuses.
    pub fn check_startup(config: &Config) -> Result<(), String> {
        Engine::bare(config.clone(), 0).apply_startup()
    }

    /// Applies the configuration's `startup` pairs as CONFIG SET would,
    /// stopping at the first refused.
    fn apply_startup(&mut self) -> Result<(), String> {
        for (name, value) in self.config.startup.clone() {
            cmd::server::set_param(self, &name.to_lowercase(), &value)
                .map_err(|err| format!("[config] {name} = {:?}: {err}", String::from_utf8_lossy(&value)))?;
        }
        Ok(())
    }

    fn bare(config: Config, seed: u64) -> Engine {
        Engine {
            ks: Keyspace::default(),
            sessions: HashMap::new(),
            config,
            rng: SmallRng::seed_from_u64(seed),
            now_ms: 0,
            started_ms: None,
            next_id: 1,
            channels: HashMap::new(),
            patterns: HashMap::new(),
            shard_channels: HashMap::new(),
            blocked_on: HashMap::new(),
            watchers: HashMap::new(),
            stats: Stats::default(),
            used_memory: Box::new(|| 0),
            info_extra: Box::new(|_| Vec::new()),
            restored: None,
            last_snapshot: None,
            shard: Box::new(cmd::cluster::Shard::default),
            loading: false,
            lease_lapsed: false,
            failover_target: None,
            pause: None,
            monitors: Vec::new(),
            failover_request: None,
            groups: Vec::new(),
            scripts: Default::default(),
            slowlog: Default::default(),
            dispatched: false,
            clock: quanta::Clock::new(),
            cur: Vec::new(),
            touched: Vec::new(),
            tracking_table: Default::default(),
            latency_monitor: Default::default(),
            has_output: Vec::new(),
            closing: Vec::new(),
            shutdown: false,
            config_changed: false,
        }
    }

    /// Sets the function that reports the process's allocated bytes (for
    /// `maxmemory` and INFO memory).
    pub fn set_memory_probe(&mut self, probe: Box<dyn Fn() -> usize + Send>) {
        self.used_memory = probe;
    }

    /// While on, data commands answer `-LOADING` (a replica that has not
    /// yet caught up with the log must not show an older state than the
    /// one its clients may have seen).
    pub fn set_loading(&mut self, on: bool) {
        self.loading = on;
    }

    /// While on, data commands and EXEC answer `-TRYAGAIN` (a writer whose
    /// lease lapsed must neither show nor change data another writer may
    /// already have changed).
    pub fn set_lease_lapsed(&mut self, lapsed: bool) {
        self.lease_lapsed = lapsed;
    }

    /// FAILOVER ran: writes pause until the handover ends.
    pub(crate) fn start_failover(&mut self, req: cmd::failover::FailoverRequest) {
        self.failover_target = Some(req.target.clone());
        self.failover_request = Some(req);
    }

    /// Whether a planned failover is under way.
    pub fn failover_in_progress(&self) -> bool {
        self.failover_target.is_some()
    }

    /// The replica a planned failover hands over to, while under way.
    pub fn failover_target(&self) -> Option<&str> {
        self.failover_target.as_deref()
    }

    /// Whether a FAILOVER waits for the server to pick it up.
    pub fn failover_requested(&self) -> bool {
        self.failover_request.is_some()
    }

    /// The FAILOVER the server is to carry out (once).
    pub fn take_failover(&mut self) -> Option<cmd::failover::FailoverRequest> {
        self.failover_request.take()
    }

    /// Ends a planned failover without a handover (ABORT, timeout): writes
    /// resume. False if none was under way.
    pub fn abort_failover(&mut self) -> bool {
        self.failover_request = None;
        self.failover_target.take().is_some()
    }

    /// Adds fields to INFO sections (the provider gets the section name,
    /// e.g. `persistence` or `replication`).
    pub fn set_info_extra(&mut self, provider: InfoExtra) {
        self.info_extra = provider;
    }

    /// Where ROLE and CLUSTER learn the shard's replication from.
    pub fn set_shard_view(&mut self, provider: ShardView) {
        self.shard = provider;
    }

    /// How client commands treat expired keys: deleted and logged on the
    /// writer; hidden but kept on a replica.
    pub(crate) fn exec_mode(&self) -> Mode {
        if self.config.replica_of.is_some() { Mode::Replica } else { Mode::Execute }
    }

    /// Whether client `id` has authenticated (or needs not).
    pub fn is_authenticated(&self, id: ClientId) -> bool {
        self.sessions.get(&id).is_some_and(|s| s.authenticated)
    }

    /// Whether client `id`'s next command runs now, as itself: the client
    /// is authenticated and not queueing a transaction. What a server does
    /// beside the engine for a command (a replica's REPLCONF) happens only
    /// then.
    pub fn runs_now(&self, id: ClientId) -> bool {
        self.sessions.get(&id).is_some_and(|s| s.authenticated && s.multi.is_none())
    }

    /// Whether client `id` could block in its next command right now: it
    /// is authenticated, not inside MULTI, not already blocked, not in
    /// subscriber mode, and gets replies. The durable writer blocks such a
    /// client itself in WAIT and WAITAOF; others get the engine's answer.
    pub fn may_block(&self, id: ClientId) -> bool {
        self.sessions.get(&id).is_some_and(|s| {
            s.authenticated
                && s.multi.is_none()
                && s.blocked.is_none()
                && s.subscriptions() == 0
                && matches!(s.reply_mode, crate::session::ReplyMode::On)
        })
    }

    /// The current settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A replica learned that `writer` (`host:port`) is the shard's writer
    /// now: writes are redirected there.
    pub fn set_replica_of(&mut self, writer: &str) {
        if self.config.replica_of.is_some() {
            self.config.replica_of = Some(writer.to_string());
        }
    }

    /// A replica becomes the writer (in place, keeping its data and its
    /// clients): writes run here, keys expire actively, data commands are
    /// served, and the server's durability is `durability`.
    pub fn promote(&mut self, durability: &str) {
        self.config.replica_of = None;
        self.config.active_expire = true;
        self.config.durability = durability.to_string();
        self.loading = false;
        // Nothing a replica did is a write of the new writer's.
        self.groups.clear();
        self.cur.clear();
    }

    /// The writer becomes a replica, in place (it was fenced by a newer
    /// writer). With `keep_data` (every write it executed is committed, so
    /// its data is the committed log's) clients stay connected, except
    /// those blocked in a command (Redis unblocks them too); otherwise its
    /// data may hold writes that were never committed: the keyspace is
    /// emptied, to be replayed from the log under `-LOADING`, and every
    /// client is disconnected without the output it had not received (a
    /// pending reply's outcome is unknown, as after a lost connection).
    /// Writes go nowhere until the log names the new writer.
    pub fn demote(&mut self, keep_data: bool) {
        // A planned failover names the new writer; otherwise the log will.
        self.config.replica_of = Some(self.failover_target.take().unwrap_or_default());
        self.failover_request = None;
        self.config.active_expire = false;
        self.config.durability = "replica".into();
        self.lease_lapsed = false;
        self.groups.clear();
        self.cur.clear();
        let ids: Vec<ClientId> = self.sessions.keys().copied().collect();
        for id in ids {
            let Some(s) = self.sessions.get_mut(&id) else { continue };
            if !keep_data {
                s.out.clear();
            }
            if !keep_data || s.blocked.is_some() {
                self.close_client(id);
            }
        }
        if !keep_data {
            self.ks = Keyspace::default();
            self.ks.set_clock(self.now_ms);
            self.loading = true;
        }
    }

    /// The running script as connections see it without the engine's lock
    /// (for `-BUSY` and `SCRIPT KILL` while a script holds it).
    pub fn script_watch(&self) -> std::sync::Arc<crate::scripting::ScriptWatch> {
        self.scripts.watch().clone()
    }

    /// True once, after CONFIG SET changed a setting the server mirrors.
    pub fn take_config_changed(&mut self) -> bool {
        std::mem::take(&mut self.config_changed)
    }

    /// True after SHUTDOWN.
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown
    }

    /// The keyspace (read-only).
    pub fn keyspace(&self) -> &Keyspace {
        &self.ks
    }

    /// Takes the data of `restored` (a snapshot restored into an engine of
    /// the same configuration), dropping this engine's.
    pub fn adopt_data(&mut self, restored: Engine, facts: SnapshotFacts) {
        self.ks = restored.ks;
        self.restored = Some(facts);
    }

    /// A `SnapshotMarker` committed in the log: INFO persistence reports
    /// the newest.
    pub fn note_snapshot(&mut self, facts: SnapshotFacts) {
        if self.last_snapshot.as_ref().is_none_or(|s| s.lsn <= facts.lsn) {
            self.last_snapshot = Some(facts);
        }
    }

    /// The state digest (see [`crate::digest`]).
    pub fn digest(&self) -> [u8; 32] {
        let mut d = crate::digest::digest(&self.ks);
        let libs = self.scripts.functions.libraries().map(|l| (l.name.as_str(), &l.code[..]));
        for (a, b) in d.iter_mut().zip(crate::digest::libraries_digest(libs)) {
            *a ^= b;
        }
        d
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.sessions.len()
    }

    fn set_clock(&mut self, now_ms: i64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.ks.set_clock(self.now_ms);
        self.started_ms.get_or_insert(now_ms);
    }

    /// Registers a new connection; `None` (after an error reply is queued
    /// for the caller to send) when `maxclients` is reached.
    pub fn connect(&mut self, info: ClientInfo, now_ms: i64) -> Result<ClientId, Bytes> {
        self.set_clock(now_ms);
        if self.sessions.len() as u64 >= self.config.maxclients {
            self.stats.rejected_connections += 1;
            return Err(Bytes::from_static(b"-ERR max number of clients reached\r\n"));
        }
        if self.config.protected_mode && self.config.requirepass.is_none() && !is_local(&info.addr) {
            return Err(Bytes::from_static(PROTECTED_MODE_DENIED));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stats.connections += 1;
        let auth = self.config.requirepass.is_none();
        self.sessions.insert(id, Session::new(id, info, auth, self.now_ms));
        Ok(id)
    }

    /// Forgets a connection: its subscriptions, watches and blocking state.
    pub fn disconnect(&mut self, id: ClientId) {
        self.unblock(id);
        crate::cmd::pubsub::unsubscribe_all(self, id);
        crate::cmd::multi::unwatch(self, id);
        crate::cmd::monitor::stop(self, id);
        crate::tracking::disable(self, id);
        self.sessions.remove(&id);
    }

    /// Runs one command of client `id` (or queues it while the client is
    /// blocked). Replies go to the client's output.
    pub fn feed(&mut self, id: ClientId, args: Vec<Bytes>, now_ms: i64) {
        self.set_clock(now_ms);
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.closing {
            return;
        }
        if s.blocked.is_some() {
            s.pending.push_back(args);
            return;
        }
        self.run_top(id, args);
        self.after_commands();
    }

    /// Time passed: time out blocked clients and expire keys.
    pub fn tick(&mut self, now_ms: i64) {
        self.set_clock(now_ms);
        self.unpause_if_due();
        let timed_out: Vec<ClientId> = self
            .sessions
            .values()
            .filter(|s| s.blocked.as_ref().and_then(|b| b.deadline_ms).is_some_and(|d| d <= self.now_ms))
            .map(|s| s.id)
            .collect();
        for id in timed_out {
            self.end_block(id, None);
        }
        if self.config.active_expire && self.failover_target.is_none() {
            self.active_expire();
        }
        self.after_commands();
    }

    /// The earliest time [`Engine::tick`] has work for a blocked client.
    pub fn next_deadline(&self) -> Option<i64> {
        let blocked = self.sessions.values().filter_map(|s| s.blocked.as_ref()?.deadline_ms);
        blocked.chain(self.pause.map(|p| p.until_ms)).min()
    }

    fn active_expire(&mut self) {
        for db in 0..self.ks.dbs.len() {
            let keys = self.ks.dbs[db].expired_sample(self.now_ms, EXPIRE_SLOTS_PER_TICK);
            if keys.is_empty() {
                continue;
            }
            let mut ex = self.exec(db, Mode::Execute, false, false);
            for k in keys {
                ex.expire_if_needed(db, &k);
            }
            let (n, expired) = (ex.expired, std::mem::take(&mut ex.expired_keys));
            self.stats.expired_keys += n;
            if self.tracking_table.active() {
                self.invalidate(&expired, None);
            }
            for (db, key) in expired {
                self.publish_event(crate::notify::EXPIRED, "expired", db, &key);
            }
            self.finish_group();
        }
    }

    /// A command the server refuses before running it (the caller's own
    /// limits): the client gets `-{msg}` as its reply and stays connected.
    pub fn refuse(&mut self, id: ClientId, msg: &str) {
        self.answer(id, &Frame::error(msg.to_string()));
    }

    /// Sends client `id` a reply the server made (a command it ran itself).
    pub fn answer(&mut self, id: ClientId, reply: &Frame) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.push(reply);
            self.has_output.push(id);
        }
    }

    /// The client sent bytes that are not RESP: it gets Redis's
    /// `-ERR Protocol error: ...` after the replies of its earlier commands,
    /// and is disconnected.
    pub fn protocol_error(&mut self, id: ClientId, msg: &str) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.push(&Frame::error(format!("ERR {msg}")));
            self.has_output.push(id);
        }
        self.close_client(id);
    }

    /// Replies and pushes produced since the last call, per client.
    pub fn take_output(&mut self) -> Vec<(ClientId, Bytes)> {
        let mut out = Vec::with_capacity(self.has_output.len());
        for id in self.has_output.drain(..) {
            if let Some(s) = self.sessions.get_mut(&id)
                && !s.out.is_empty()
            {
                out.push((id, s.out.split().freeze()));
            }
        }
        out
    }

    /// Clients that have output or must be disconnected since the last call
    /// (each once), for servers that let every connection drain its own
    /// output with [`Engine::take_client_output`].
    pub fn take_ready(&mut self) -> Vec<ClientId> {
        let mut ids: Vec<ClientId> = self.has_output.drain(..).chain(self.closing.drain(..)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The output of one client, and whether it must be disconnected once
    /// that is written.
    pub fn take_client_output(&mut self, id: ClientId) -> (Bytes, bool) {
        match self.sessions.get_mut(&id) {
            Some(s) => {
                s.unsent.fetch_add(s.out.len(), std::sync::atomic::Ordering::Relaxed);
                (s.out.split().freeze(), s.closing)
            }
            None => (Bytes::new(), true),
        }
    }

    /// The count of client `id`'s output handed out and not yet written
    /// (see [`crate::session::Session::unsent`]); the server lowers it as
    /// it writes.
    pub fn unsent_counter(&self, id: ClientId) -> Option<std::sync::Arc<std::sync::atomic::AtomicUsize>> {
        self.sessions.get(&id).map(|s| s.unsent.clone())
    }

    /// Whether client `id` must be closed at once (its output went over
    /// the limit), even while a write to it is under way.
    pub fn is_killed(&self, id: ClientId) -> bool {
        match self.sessions.get(&id) {
            Some(s) => s.killed,
            None => true,
        }
    }

    /// Clients the server must disconnect (after sending their output).
    pub fn take_closing(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.closing)
    }

    /// Effect groups produced since the last call, in order: one group per
    /// client command, transaction, served blocked client or expiry pass.
    pub fn take_effects(&mut self) -> Vec<Vec<Effect>> {
        std::mem::take(&mut self.groups)
    }

    /// Applies one logged effect group (replica or recovery path). Errors
    /// mean the log and the engine disagree.
    pub fn apply(&mut self, group: &[Effect]) -> Result<(), CmdError> {
        for e in group {
            let db = e.db as usize;
            if db >= self.ks.dbs.len() {
                return Err(CmdError::msg("ERR effect names a database out of range"));
            }
            let Some(spec) = e.args.first().and_then(|n| cmd::lookup(n)) else {
                return Err(CmdError::msg(format!("ERR unknown effect {}", e.describe())));
            };
            if spec.name == "function" {
                cmd::functions::apply(self, &e.args)?;
                continue;
            }
            let Handler::Data(f) = spec.handler else {
                return Err(CmdError::msg(format!("ERR effect is not a data command: {}", e.describe())));
            };
            let mut scratch = Vec::new();
            let mut touched = Vec::new();
            // A replica's readers blocked on keys (XREAD BLOCK) and
            // watchers hear of the writes it applies.
            let track = !self.blocked_on.is_empty() || !self.watchers.is_empty() || self.tracking_table.active();
            let mut ex = Exec {
                ks: &mut self.ks,
                db,
                now_ms: self.now_ms,
                rng: &mut self.rng,
                mode: Mode::Apply,
                resp3: false,
                in_multi: true,
                // The writer logs the promotions its own limit made.
                hll_sparse_bytes_max: usize::MAX,
                // The writer logs approximate trims as exact ones.
                stream_node_entries_max: self.config.stream_node_entries_max,
                block_as: None,
                serving_blocked: false,
                effects: &mut scratch,
                touched: &mut touched,
                track_touched: track,
                expired_keys: Vec::new(),
                dirty: 0,
                rewritten: false,
                expired: 0,
            };
            f(&mut ex, &e.args)?;
            self.touched.extend(touched);
        }
        if !self.touched.is_empty() {
            if self.tracking_table.active() {
                let touched = self.touched.clone();
                self.invalidate(&touched, None);
            }
            self.after_commands();
        }
        Ok(())
    }

    pub(crate) fn exec(&mut self, db: usize, mode: Mode, resp3: bool, in_multi: bool) -> Exec<'_> {
        Exec {
            ks: &mut self.ks,
            db,
            now_ms: self.now_ms,
            rng: &mut self.rng,
            mode,
            resp3,
            in_multi,
            hll_sparse_bytes_max: self.config.hll_sparse_bytes_max,
            stream_node_entries_max: self.config.stream_node_entries_max,
            block_as: None,
            serving_blocked: false,
            effects: &mut self.cur,
            touched: &mut self.touched,
            track_touched: !self.watchers.is_empty()
                || !self.blocked_on.is_empty()
                || self.config.notify_flags != 0
                || self.tracking_table.active(),
            expired_keys: Vec::new(),
            dirty: 0,
            rewritten: false,
            expired: 0,
        }
    }

    /// Closes the current effect group.
    pub(crate) fn finish_group(&mut self) {
        if !self.cur.is_empty() {
            self.stats.effect_groups += 1;
            self.groups.push(std::mem::take(&mut self.cur));
        }
    }

    /// Queues a reply for `id`.
    pub(crate) fn reply(&mut self, id: ClientId, f: &Frame) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.reply(f);
            self.has_output.push(id);
        }
    }

    /// Queues a push message for `id`; a subscriber whose buffer is over the
    /// limit is disconnected at once, its output dropped (as Redis does).
    pub(crate) fn push(&mut self, id: ClientId, f: &Frame) {
        let limit = self.config.output_limits.pubsub;
        if let Some(s) = self.sessions.get_mut(&id) {
            s.push(f);
            self.has_output.push(id);
            let held = s.out.len() + s.unsent.load(std::sync::atomic::Ordering::Relaxed);
            if !s.killed && limit.exceeded(held as u64, &mut s.over_soft_since, self.now_ms) {
                s.out = bytes::BytesMut::new();
                (s.killed, s.closing) = (true, true);
                self.closing.push(id);
            }
        }
    }

    /// Marks `id` to be disconnected once its output is sent.
    pub(crate) fn close_client(&mut self, id: ClientId) {
        if let Some(s) = self.sessions.get_mut(&id)
            && !s.closing
        {
            s.closing = true;
            self.closing.push(id);
            self.has_output.push(id);
        }
    }
}
