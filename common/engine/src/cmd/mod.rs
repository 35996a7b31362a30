//! The command table and the command families, one file each.
//!
//! Every command has a [`Spec`]: name, arity, flags, key positions (for
//! COMMAND INFO and GETKEYS), group and handler. Data commands run against an
//! [`Exec`] and can be logged as effects; session commands need the whole
//! engine (connection state, transactions, pub/sub, server info).

pub mod bitfield;
pub mod bitmaps;
pub mod client_flow;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod dump;
pub mod failover;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod latency;
pub mod lcs;
pub mod lists;
pub mod memory;
pub mod monitor;
pub mod multi;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stream_groups;
pub mod stream_info;
pub mod streams;
pub mod strings;
pub mod subcommands;
pub mod zranges;
pub mod zsets;

mod table;

use crate::args::upper;
use crate::engine::Engine;
use crate::exec::{CmdError, CmdResult, Exec};
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

pub use table::TABLE;

/// Result of a session command: `None` when the reply was already written
/// (or the client must not get one).
pub type SessionResult = Result<Option<Frame>, CmdError>;

/// How a command runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Reads or changes the keyspace only; can be logged as an effect.
    Data(fn(&mut Exec, &[Bytes]) -> CmdResult),
    /// Needs the engine (connections, transactions, pub/sub, server).
    Session(fn(&mut Engine, ClientId, &[Bytes]) -> SessionResult),
}

/// A command's description.
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: exact count if positive, minimum if negative.
    pub arity: i32,
    /// Redis flags; names starting with `@` are Sixfold's own
    /// (`@multi-ctl`: not queued by MULTI; `@pubsub-ok`: allowed while subscribed;
    /// `@may-replicate`: may change data though read-only, which Redis
    /// counts as a write in read-only scripts without listing the flag).
    pub flags: &'static [&'static str],
    /// First key, last key, step (as COMMAND INFO).
    pub keys: (i32, i32, i32),
    /// Command group.
    pub group: &'static str,
    /// One-line summary (COMMAND DOCS).
    pub summary: &'static str,
    /// The handler.
    pub handler: Handler,
}

impl Spec {
    /// True if the command has `flag`.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// Longest command name looked up.
const NAME_BYTES_MAX: usize = 32;

/// The position of a command of [`TABLE`] in it (`None` for a spec from
/// elsewhere): per-command counters are kept by it, with no hashing.
pub fn table_index(spec: &'static Spec) -> Option<usize> {
    let offset = (spec as *const Spec as usize).checked_sub(TABLE.as_ptr() as usize)?;
    let i = offset / std::mem::size_of::<Spec>();
    (i < TABLE.len() && std::ptr::eq(&TABLE[i], spec)).then_some(i)
}

/// Finds a command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Spec, ahash::RandomState>> = OnceLock::new();
    if name.len() > NAME_BYTES_MAX {
        return None;
    }
    let mut buf = [0u8; NAME_BYTES_MAX];
    for (d, c) in buf.iter_mut().zip(name) {
        *d = c.to_ascii_lowercase();
    }
    let key = std::str::from_utf8(&buf[..name.len()]).ok()?;
    INDEX.get_or_init(|| TABLE.iter().map(|s| (s.name, s)).collect()).get(key).copied()
}

/// Where a `numkeys` argument stands in the commands whose keys follow it
/// (`(numkeys position, keys before it)`), as Redis's key specs say.
fn numkeys_layout(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => (2, 1),
        "zunion" | "zinter" | "zdiff" | "sintercard" | "zintercard" | "lmpop" | "zmpop" => (1, 0),
        "blmpop" | "bzmpop" => (2, 0),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => (2, 0),
        _ => return None,
    })
}

/// Whether `name` runs a script, which may read or write any key (it
/// waits for every uncommitted write, and is refused when writes are).
pub fn runs_script(name: &str) -> bool {
    matches!(name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro")
}

/// Whether the command writes: by its flags, or by its subcommand's
/// (`XGROUP CREATE`, `FUNCTION LOAD`): refused where writes are.
pub fn writes(spec: &Spec, args: &[Bytes]) -> bool {
    has_flag(spec, args, "write")
}

/// Whether the command, or the subcommand `args` name, has `flag`.
pub fn has_flag(spec: &Spec, args: &[Bytes], flag: &str) -> bool {
    spec.has(flag) || subcommand(spec.name, args).is_some_and(|s| s.flags.contains(&flag))
}

/// The subcommand `args` name of container `name`, if served.
fn subcommand(name: &str, args: &[Bytes]) -> Option<&'static subcommands::Sub> {
    let sub = args.get(1)?;
    let prefix_ok = |s: &&subcommands::Sub| {
        s.name.len() == name.len() + 1 + sub.len()
            && s.name.starts_with(name)
            && s.name.as_bytes()[name.len()] == b'|'
            && s.name.as_bytes()[name.len() + 1..].eq_ignore_ascii_case(sub)
    };
    subcommands::SUBCOMMANDS.iter().find(prefix_ok)
}

/// Whether `name` runs other commands (EXEC, scripts): it may touch any
/// key, and may run for long (a script up to SCRIPT KILL).
pub fn runs_commands(name: &str) -> bool {
    name == "exec" || runs_script(name)
}

/// The keys of a command with a `numkeys` argument; `None` (wait for
/// everything) when the count is not a number that fits the arguments.
fn numkeys_keys(args: &[Bytes], at: usize, before: usize) -> Option<Vec<Bytes>> {
    let n: usize = std::str::from_utf8(args.get(at)?).ok()?.parse().ok()?;
    let keys = args.get(at + 1..at + 1 + n)?;
    Some(args[1..=before].iter().chain(keys).cloned().collect())
}

/// The keys a command names, from its key positions; `None` when the
/// command's keys cannot be known from its arguments (KEYS, SCAN,
/// FLUSHALL, EXEC, SORT with BY/GET patterns, ...): then it waits for
/// every pending write.
pub fn command_keys(args: &[Bytes]) -> Option<Vec<Bytes>> {
    let spec = lookup(args.first()?)?;
    if matches!(spec.name, "sort" | "sort_ro") {
        // BY and GET patterns read keys named by the elements.
        return None;
    }
    if let Some((at, before)) = numkeys_layout(spec.name) {
        return numkeys_keys(args, at, before);
    }
    if matches!(spec.name, "georadius" | "georadiusbymember") {
        // The key after STORE or STOREDIST is written too.
        let store = args.windows(2).skip(2).filter(|w| upper(&w[0]).starts_with("STORE")).map(|w| w[1].clone());
        return Some(std::iter::once(args.get(1)?.clone()).chain(store).collect());
    }
    if matches!(spec.name, "xread" | "xreadgroup") {
        // The first half of what follows STREAMS.
        let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"STREAMS"))? + 1;
        return Some(args[at..at + (args.len() - at) / 2].to_vec());
    }
    let (first, last, step) = match subcommand(spec.name, args) {
        Some(sub) if spec.keys.0 <= 0 => sub.keys,
        _ => spec.keys,
    };
    if first <= 0 || step <= 0 {
        return None;
    }
    let last = if last < 0 { args.len() as i32 + last } else { last };
    let keys = (first..=last.min(args.len() as i32 - 1)).step_by(step as usize).map(|i| args[i as usize].clone());
    Some(keys.collect())
}

/// A `HELP` reply for a container command.
pub fn help(cmd: &str, lines: &[&str]) -> Frame {
    let title = format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    let mut out = vec![Frame::Simple(Cow::Owned(title))];
    out.extend(lines.iter().map(|l| Frame::Simple(Cow::Owned(l.to_string()))));
    Frame::Array(out)
}

/// Checks a container's subcommand against Redis's: its error for an
/// unknown subcommand, and for a wrong argument count (`'xinfo|stream'`).
pub fn check_subcommand(container: &str, a: &[Bytes]) -> Result<(), CmdError> {
    let full = format!("{container}|{}", String::from_utf8_lossy(&a[1]).to_lowercase());
    match subcommands::SUBCOMMANDS.iter().find(|s| s.name == full) {
        None => Err(unknown_subcommand(&a[1], &container.to_uppercase())),
        Some(s) if !arity_fits(s.arity, a.len()) => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for '{full}' command")))
        }
        Some(_) => Ok(()),
    }
}

/// Whether `argc` arguments fit a Redis arity (exact if positive, a minimum if negative).
pub fn arity_fits(arity: i32, argc: usize) -> bool {
    if arity >= 0 { argc == arity as usize } else { argc >= arity.unsigned_abs() as usize }
}

/// Redis's error for an unknown subcommand.
pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CmdError {
    CmdError::msg(format!("ERR unknown subcommand '{}'. Try {cmd} HELP.", String::from_utf8_lossy(sub)))
}

/// What a blocking command answers when its timeout expires.
pub fn timeout_reply(args: &[Bytes]) -> Frame {
    match upper(&args[0]).as_str() {
        "BLMOVE" | "BRPOPLPUSH" => Frame::Null,
        _ => Frame::NullArray,
    }
}
