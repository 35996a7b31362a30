//! Per-connection state kept by the engine: selected database, protocol,
//! transaction queue, watched keys, subscriptions, blocking state and the
//! output buffer the server drains to the socket.

use bytes::{Bytes, BytesMut};
use sixfold_resp::{Frame, Protocol};
use std::collections::{BTreeSet, VecDeque};

/// A connection's id (`CLIENT ID`).
pub type ClientId = u64;

/// What the server knows about a new connection.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Peer address, `ip:port`.
    pub addr: String,
    /// Local address, `ip:port`.
    pub laddr: String,
}

/// `CLIENT REPLY` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Normal replies.
    On,
    /// No replies.
    Off,
    /// Skip the next command's reply.
    Skip,
    /// Skip this one (set by SKIP for the command that follows).
    SkipNext,
}

/// A key watched with WATCH.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Database.
    pub db: usize,
    /// Key.
    pub key: Bytes,
    /// The key was already logically expired when watched.
    pub expired_at_watch: bool,
}

/// A client waiting in a blocking command.
#[derive(Debug, Clone)]
pub struct Blocked {
    /// Database of the keys.
    pub db: usize,
    /// Keys waited on.
    pub keys: Vec<Bytes>,
    /// When to give up (unix ms), none for timeout 0.
    pub deadline_ms: Option<i64>,
    /// The blocking command.
    pub args: Vec<Bytes>,
    /// Held by CLIENT PAUSE (`crate::pause`), not waiting on keys.
    pub postponed: bool,
}

/// One client connection's state.
#[derive(Debug)]
pub struct Session {
    /// Connection id.
    pub id: ClientId,
    /// Addresses.
    pub info: ClientInfo,
    /// Selected database.
    pub db: usize,
    /// RESP2 or RESP3.
    pub proto: Protocol,
    /// Passed AUTH (or no password set).
    pub authenticated: bool,
    /// `CLIENT SETNAME`.
    pub name: Option<Bytes>,
    /// `CLIENT SETINFO LIB-NAME` / `LIB-VER`.
    pub lib: (String, String),
    /// Queued commands inside MULTI (None outside MULTI).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A queued command had an error: EXEC answers EXECABORT.
    pub multi_error: bool,
    /// WATCHed keys.
    pub watched: Vec<Watched>,
    /// A watched key changed: EXEC fails.
    pub dirty_cas: bool,
    /// Subscribed channels.
    pub channels: BTreeSet<Bytes>,
    /// Subscribed patterns.
    pub patterns: BTreeSet<Bytes>,
    /// Sent MONITOR: receives every executed command (`cmd::monitor`).
    pub monitor: bool,
    /// Subscribed shard channels (SSUBSCRIBE).
    pub shard_channels: BTreeSet<Bytes>,
    /// Waiting in a blocking command.
    pub blocked: Option<Blocked>,
    /// Commands received while blocked, run once unblocked.
    pub pending: VecDeque<Vec<Bytes>>,
    /// `CLIENT REPLY`.
    pub reply_mode: ReplyMode,
    /// `CLIENT NO-EVICT`, `CLIENT NO-TOUCH`.
    pub no_evict: bool,
    /// `CLIENT NO-TOUCH`.
    pub no_touch: bool,
    /// CLIENT TRACKING settings, when on.
    pub tracking: Option<crate::tracking::Tracking>,
    /// Connection time (unix ms).
    pub created_ms: i64,
    /// Last command time (unix ms).
    pub last_ms: i64,
    /// Name of the last command.
    pub last_cmd: &'static str,
    /// Replies and pushes not yet handed to the server.
    pub out: BytesMut,
    /// The server must close this connection once `out` is written.
    pub closing: bool,
    /// Output bytes handed to the server and not yet written to the
    /// socket (the server subtracts what it wrote): they count toward the
    /// output limit as `out` does.
    pub unsent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// When its output went over the soft output limit (none: it is not).
    pub over_soft_since: Option<i64>,
    /// Its output went over the buffer limit: it is closed at once, its
    /// output dropped, and nothing more is queued for it (Redis's
    /// `client-output-buffer-limit`).
    pub killed: bool,
    /// READONLY: a replica serves this connection's reads of keys.
    pub readonly: bool,
}

impl Session {
    /// A new session.
    pub fn new(id: ClientId, info: ClientInfo, authenticated: bool, now_ms: i64) -> Session {
        Session {
            id,
            info,
            db: 0,
            proto: Protocol::Resp2,
            authenticated,
            name: None,
            lib: (String::new(), String::new()),
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            dirty_cas: false,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            monitor: false,
            blocked: None,
            pending: VecDeque::new(),
            reply_mode: ReplyMode::On,
            no_evict: false,
            no_touch: false,
            tracking: None,
            created_ms: now_ms,
            last_ms: now_ms,
            last_cmd: "NULL",
            out: BytesMut::new(),
            closing: false,
            unsent: Default::default(),
            over_soft_since: None,
            killed: false,
            readonly: false,
        }
    }

    /// Appends a reply, honouring `CLIENT REPLY`.
    pub fn reply(&mut self, f: &Frame) {
        if self.reply_mode == ReplyMode::On && !self.killed {
            f.encode(self.proto, &mut self.out);
        }
    }

    /// Appends a push message (pub/sub), regardless of `CLIENT REPLY`.
    pub fn push(&mut self, f: &Frame) {
        if !self.killed {
            f.encode(self.proto, &mut self.out);
        }
    }

    /// Number of subscriptions of every kind (any puts a RESP2 client in
    /// the pub/sub context).
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }

    /// The `CLIENT LIST` / `CLIENT INFO` line.
    pub fn describe(&self, now_ms: i64) -> String {
        let mut flags = String::new();
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked.is_some() {
            flags.push('b');
        }
        if self.subscriptions() > 0 {
            flags.push('P');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let multi = self.multi.as_ref().map_or(-1, |q| q.len() as i64);
        let name = self.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
             multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} \
             tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.info.addr,
            self.info.laddr,
            name,
            (now_ms - self.created_ms).max(0) / 1000,
            (now_ms - self.last_ms).max(0) / 1000,
            flags,
            self.db,
            self.channels.len(),
            self.patterns.len(),
            self.shard_channels.len(),
            multi,
            self.out.len(),
            self.last_cmd,
            if self.proto == Protocol::Resp3 { 3 } else { 2 },
            self.lib.0,
            self.lib.1,
        )
    }
}
