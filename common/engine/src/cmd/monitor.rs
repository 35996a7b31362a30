//! MONITOR: a client that sent it receives, as a status line, every
//! command the engine executes afterwards, as Redis 7.0 shows them:
//! `+<unix s>.<µs> [<db> <addr>] "cmd" "arg" ...` (`[<db> lua]` for a
//! script's commands), arguments escaped as Redis's `sdscatrepr`, AUTH's
//! and HELLO's passwords redacted; administrative commands are not shown,
//! scripts and functions are shown as they start (before their commands),
//! the commands of a transaction as EXEC runs them, a blocking command
//! once. A monitoring client may not touch the keyspace. On a durable
//! writer the lines are what the engine executed, before the fabric
//! committed it.

use crate::cmd::{SessionResult, Spec};
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::fmt::Write;

/// `MONITOR`
pub fn monitor(e: &mut Engine, id: ClientId, _a: &[Bytes]) -> SessionResult {
    let Some(s) = e.sessions.get_mut(&id) else { return Ok(None) };
    if s.monitor {
        return Ok(None);
    }
    s.monitor = true;
    e.monitors.push(id);
    Ok(Some(Frame::ok()))
}

/// Stops `id` monitoring (disconnect, RESET).
pub fn stop(e: &mut Engine, id: ClientId) {
    e.monitors.retain(|m| *m != id);
    if let Some(s) = e.sessions.get_mut(&id) {
        s.monitor = false;
    }
}

/// The refusal for a monitoring client's command that touches keys.
pub fn refusal(spec: &Spec) -> Option<CmdError> {
    let keyspace = spec.has("write") || spec.has("readonly") || spec.has("may_replicate") || spec.has("@may-replicate");
    keyspace.then(|| CmdError::msg("ERR Replica can't interact with the keyspace"))
}

/// The flags that decide: a container's subcommand's own (CLIENT SETNAME
/// is shown, CLIENT KILL is not).
fn flags(spec: &'static Spec, args: &[Bytes]) -> &'static [&'static str] {
    let sub = args.get(1).map(|s| format!("{}|{}", spec.name, String::from_utf8_lossy(s).to_lowercase()));
    let found = sub.and_then(|name| super::subcommands::SUBCOMMANDS.iter().find(|s| s.name == name));
    found.map_or(spec.flags, |s| s.flags)
}

/// Whether the command is shown at this point: scripts and functions
/// before they run, other commands after, administrative ones never.
fn shown(spec: &'static Spec, args: &[Bytes], before: bool) -> bool {
    let f = flags(spec, args);
    if f.contains(&"skip_monitor") || spec.has("skip_monitor") { before } else { !before && !f.contains(&"admin") }
}

/// An argument as Redis's `sdscatrepr` quotes it.
fn quote(out: &mut String, a: &[u8]) {
    out.push('"');
    for &b in a {
        match b {
            b'\\' | b'"' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

/// Which arguments are passwords (AUTH's, HELLO's after AUTH).
fn redacted(args: &[Bytes]) -> impl Fn(usize) -> bool + '_ {
    let name = args[0].to_ascii_lowercase();
    let hello_auth = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth"));
    move |i: usize| match name.as_slice() {
        b"auth" => i > 0,
        b"hello" => hello_auth.is_some_and(|at| i > at && i <= at + 2),
        _ => false,
    }
}

/// Sends `args`, run by `id`, to every monitoring client, if the command
/// is shown at this point (`before` it runs, or after).
pub fn feed(e: &mut Engine, id: ClientId, spec: &'static Spec, args: &[Bytes], before: bool) {
    if e.monitors.is_empty() || !shown(spec, args, before) {
        return;
    }
    let Some(s) = e.sessions.get(&id) else { return };
    let who = if e.scripts.watch().running() { "lua".to_string() } else { s.info.addr.clone() };
    let mut line = format!("{}.{:06} [{} {who}] ", e.now_ms / 1000, (e.now_ms % 1000) * 1000, s.db);
    let hidden = redacted(args);
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        if hidden(i) { line.push_str("\"(redacted)\"") } else { quote(&mut line, a) }
    }
    let f = Frame::Simple(line.into());
    for m in e.monitors.clone() {
        e.push(m, &f);
    }
}
