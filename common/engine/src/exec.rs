//! The execution context of one data command: the selected database, the
//! clock, the random source, lazy expiry, and the effects the command emits.
//!
//! Effects (DESIGN §2): a command that changed data is logged either as
//! itself (when it is deterministic) or, when it calls [`Exec::propagate`], as
//! the rewritten commands it emitted (SPOP → SREM, EXPIRE → PEXPIREAT, ...).
//! A key the writer finds expired is deleted and logged as `DEL`.

use crate::db::{Db, Entry, Keyspace};
use crate::effects::Effect;
use crate::value::Value;
use bytes::Bytes;
use rand::rngs::SmallRng;
use sixfold_resp::Frame;

/// How a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// On the writer: expired keys are deleted (and logged) when touched.
    Execute,
    /// Applying logged effects: no expiry of any kind; keys live until a
    /// logged `DEL` removes them.
    Apply,
    /// Reads on a replica: expired keys look missing but stay until the
    /// writer's logged `DEL` arrives.
    Replica,
}

/// A command's error reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CmdError {
    /// Operation on a key of another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// Bad option syntax.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be an integer is not.
    #[error("ERR value is not an integer or out of range")]
    NotInt,
    /// An argument that must be a float is not.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// Integer overflow on INCR and friends.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// No such key (RENAME, LSET, ...).
    #[error("ERR no such key")]
    NoSuchKey,
    /// Index out of range (LSET).
    #[error("ERR index out of range")]
    IndexOutOfRange,
    /// Any other message, complete with its error code.
    #[error("{0}")]
    Msg(String),
    /// Not an error: a blocking command found nothing and must wait.
    #[error("blocked")]
    WouldBlock {
        /// Keys to wait on.
        keys: Vec<Bytes>,
        /// Timeout (0: forever).
        timeout_ms: u64,
    },
}

impl CmdError {
    /// An error with the given complete message (`ERR ...`).
    pub fn msg(s: impl Into<String>) -> CmdError {
        CmdError::Msg(s.into())
    }
}

/// Result of a command handler.
pub type CmdResult = Result<Frame, CmdError>;

/// Everything a data command may read or change.
pub struct Exec<'a> {
    /// All databases.
    pub ks: &'a mut Keyspace,
    /// The selected database.
    pub db: usize,
    /// The engine clock, unix milliseconds.
    pub now_ms: i64,
    /// Random source (SPOP, RANDOMKEY, ...), seeded by the engine.
    pub rng: &'a mut SmallRng,
    /// Execute or apply.
    pub mode: Mode,
    /// True for a RESP3 client (some replies differ).
    pub resp3: bool,
    /// True inside MULTI/EXEC or when applying: blocking commands don't block.
    pub in_multi: bool,
    /// `hll-sparse-max-bytes` (unbounded when applying: the writer logs
    /// the promotions its limit caused).
    pub hll_sparse_bytes_max: usize,
    /// `stream-node-max-entries` (see `crate::stream`).
    pub stream_node_entries_max: u64,
    /// The command to run again, when a blocking command that blocks
    /// resolved arguments that change (XREAD's `$`).
    pub block_as: Option<Vec<Bytes>>,
    /// The command runs again for a client it blocked (its key changed).
    pub serving_blocked: bool,
    pub(crate) effects: &'a mut Vec<Effect>,
    pub(crate) touched: &'a mut Vec<(usize, Bytes)>,
    /// Record touched keys (only needed while clients watch keys or block).
    pub(crate) track_touched: bool,
    /// Keys found expired and deleted (recorded with `track_touched`),
    /// for their `expired` notifications.
    pub(crate) expired_keys: Vec<(usize, Bytes)>,
    pub(crate) dirty: u64,
    pub(crate) rewritten: bool,
    pub(crate) expired: u64,
}

impl Exec<'_> {
    /// The selected database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.ks.dbs[self.db]
    }

    /// Deletes `key` if it is expired (writer only), logging a `DEL`.
    /// Returns true if the key was expired.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        if self.mode == Mode::Apply {
            return false;
        }
        let expired = self.ks.dbs[db].get(key).is_some_and(|e| e.is_expired(self.now_ms));
        if expired && self.mode == Mode::Execute {
            self.ks.dbs[db].remove(key);
            self.expired += 1;
            let k = Bytes::copy_from_slice(key);
            self.effects.push(Effect::new(db, vec![Bytes::from_static(b"DEL"), k.clone()]));
            if self.track_touched {
                self.touched.push((db, k.clone()));
                self.expired_keys.push((db, k));
            }
        }
        expired
    }

    /// The live entry of `key` in the selected database (stamped as
    /// accessed).
    pub fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let clock_s = self.ks.dbs[self.db].clock_s;
        let e = self.peek(key)?;
        e.note_access(clock_s);
        Some(e)
    }

    /// As [`Exec::lookup`], leaving the access time alone (OBJECT).
    pub fn peek(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let db = self.db;
        if self.expire_if_needed(db, key) && self.mode == Mode::Replica {
            return None;
        }
        self.ks.dbs[db].get_mut(key)
    }

    /// True if `key` exists (and is not expired).
    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.lookup(key).is_some()
    }

    /// Records that `key` in the selected database changed: watchers are
    /// invalidated, blocked clients re-checked, and the command is logged.
    pub fn touch(&mut self, key: &[u8]) {
        self.touch_in(self.db, key);
    }

    /// As [`Exec::touch`] for another database.
    pub fn touch_in(&mut self, db: usize, key: &[u8]) {
        self.dirty += 1;
        if self.track_touched {
            self.touched.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// Marks data as changed without a particular key (FLUSHALL).
    pub fn mark_dirty(&mut self) {
        self.dirty += 1;
    }

    /// Logs `args` (in the selected database) as this command's effect
    /// instead of the command itself.
    pub fn propagate(&mut self, args: Vec<Bytes>) {
        self.rewritten = true;
        self.effects.push(Effect::new(self.db, args));
    }

    /// Notes that this command is logged only through [`Exec::propagate`]
    /// calls (possibly none).
    pub fn suppress_verbatim(&mut self) {
        self.rewritten = true;
    }

    /// Stores a value, replacing any old one and its TTL unless `keep_ttl`.
    pub fn set(&mut self, key: Bytes, value: Value, expire_at_ms: Option<i64>) {
        self.touch(&key);
        self.db().insert(key, value, expire_at_ms);
    }

    /// Deletes `key` if it exists (and is live); true if deleted.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        if self.lookup(key).is_none() {
            return false;
        }
        self.db().remove(key);
        self.touch(key);
        true
    }

    /// Removes `key` if its collection became empty.
    pub fn drop_if_empty(&mut self, key: &[u8]) {
        let empty = self.db().get(key).is_some_and(|e| e.value.is_empty_collection());
        if empty {
            self.db().remove(key);
        }
    }

    /// A random index below `n` (n > 0).
    pub fn random_below(&mut self, n: usize) -> usize {
        use rand::Rng;
        self.rng.random_range(0..n)
    }
}

/// Generates typed accessors on [`Exec`] for one value variant.
macro_rules! typed_access {
    ($get:ident, $create:ident, $variant:ident, $ty:ty) => {
        impl Exec<'_> {
            /// The value of `key` if it holds this type; `WRONGTYPE` otherwise.
            pub fn $get(&mut self, key: &[u8]) -> Result<Option<&mut $ty>, CmdError> {
                match self.lookup(key) {
                    None => Ok(None),
                    Some(Entry { value: Value::$variant(v), .. }) => Ok(Some(v)),
                    Some(_) => Err(CmdError::WrongType),
                }
            }

            /// The value of `key`, created empty if missing.
            pub fn $create(&mut self, key: &[u8]) -> Result<&mut $ty, CmdError> {
                if self.lookup(key).is_none() {
                    let v = Value::$variant(Default::default());
                    self.db().insert(Bytes::copy_from_slice(key), v, None);
                }
                match self.db().get_mut(key) {
                    Some(Entry { value: Value::$variant(v), .. }) => Ok(v),
                    _ => Err(CmdError::WrongType),
                }
            }
        }
    };
}

typed_access!(list, list_or_create, List, std::collections::VecDeque<Bytes>);
typed_access!(hash, hash_or_create, Hash, std::collections::HashMap<Bytes, Bytes>);
typed_access!(set_value, set_or_create, Set, std::collections::HashSet<Bytes>);
typed_access!(zset, zset_or_create, ZSet, crate::value::ZSet);
typed_access!(string_value, string_or_create, Str, Bytes);

impl Exec<'_> {
    /// The string at `key`; `WRONGTYPE` for other types.
    pub fn string(&mut self, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
        match self.lookup(key) {
            None => Ok(None),
            Some(Entry { value: Value::Str(s), .. }) => Ok(Some(s.clone())),
            Some(_) => Err(CmdError::WrongType),
        }
    }
}
