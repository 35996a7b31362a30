//! Function commands: FUNCTION (LOAD DELETE FLUSH LIST STATS DUMP RESTORE
//! KILL HELP), FCALL and FCALL_RO (libraries in
//! `crate::scripting::functions`). What changes the libraries is logged as
//! `FUNCTION LOAD REPLACE <code>`, `FUNCTION DELETE <name>` and `FUNCTION
//! FLUSH` effects ([`apply`]): a replica, a recovering writer and a
//! snapshot restore load the same libraries.

use crate::args::upper;
use crate::cmd::{SessionResult, help, unknown_subcommand};
use crate::effects::Effect;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::scripting::functions::library_name;
use crate::scripting::{self, dump};
use crate::session::ClientId;
use crate::util::glob_match;
use bytes::Bytes;
use sixfold_resp::Frame;

/// `FCALL function numkeys [key ...] [arg ...]`
pub fn fcall(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    fcall_with(e, id, a, false)
}

/// `FCALL_RO function numkeys [key ...] [arg ...]`
pub fn fcall_ro(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    fcall_with(e, id, a, true)
}

fn fcall_with(e: &mut Engine, id: ClientId, a: &[Bytes], ro: bool) -> SessionResult {
    if crate::util::parse_i64(&a[2]).is_none() {
        return Err(CmdError::msg("ERR Bad number of keys provided"));
    }
    let ka = super::scripting::keys_and_args(a)?;
    Ok(Some(scripting::fcall(e, id, &String::from_utf8_lossy(&a[1]), ka, ro)))
}

/// `FUNCTION <subcommand> ...`
pub fn function(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let sub = upper(&a[1]);
    let arity = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'function|{}' command", sub.to_lowercase())))
        }
    };
    Ok(Some(match sub.as_str() {
        "LOAD" => {
            arity(a.len() >= 3)?;
            load(e, a)?
        }
        "DELETE" => {
            arity(a.len() == 3)?;
            let name = String::from_utf8_lossy(&a[2]).into_owned();
            e.scripts.functions.delete(&name).map_err(CmdError::msg)?;
            log(e, vec![Bytes::from_static(b"DELETE"), a[2].clone()]);
            Frame::ok()
        }
        "FLUSH" => {
            arity(a.len() <= 3)?;
            if let Some(mode) = a.get(2).map(|m| upper(m))
                && mode != "ASYNC"
                && mode != "SYNC"
            {
                return Err(CmdError::msg("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
            }
            e.scripts.functions.flush();
            log(e, vec![Bytes::from_static(b"FLUSH")]);
            Frame::ok()
        }
        "LIST" => list(e, &a[2..])?,
        "STATS" => {
            arity(a.len() == 2)?;
            stats(e)
        }
        "DUMP" => {
            arity(a.len() == 2)?;
            Frame::Bulk(Bytes::from(dump::dump(e.scripts.functions.libraries().map(|l| &l.code[..]))))
        }
        "RESTORE" => {
            arity(a.len() == 3 || a.len() == 4)?;
            restore(e, &a[2], a.get(3))?
        }
        // Under the engine's lock no function runs; while one runs past the
        // threshold the connection answers this without the lock.
        "KILL" => {
            arity(a.len() == 2)?;
            e.scripts.watch().kill(true)
        }
        "HELP" => {
            arity(a.len() == 2)?;
            help("FUNCTION", HELP)
        }
        _ => return Err(unknown_subcommand(&a[1], "FUNCTION")),
    }))
}

/// `FUNCTION LOAD [REPLACE] code`
fn load(e: &mut Engine, a: &[Bytes]) -> Result<Frame, CmdError> {
    let (code, options) = a[2..].split_last().unwrap_or((&a[2], &[]));
    let mut replace = false;
    for o in options {
        match upper(o).as_str() {
            "REPLACE" => replace = true,
            _ => return Err(CmdError::msg(format!("ERR Unknown option given: {}", String::from_utf8_lossy(o)))),
        }
    }
    let timeout_ms = crate::scripting::LOAD_TIMEOUT_MS;
    let name = e.scripts.load_library(code, replace, timeout_ms).map_err(CmdError::msg)?;
    log(e, load_effect(code));
    Ok(Frame::Bulk(Bytes::from(name)))
}

fn load_effect(code: &Bytes) -> Vec<Bytes> {
    vec![Bytes::from_static(b"LOAD"), Bytes::from_static(b"REPLACE"), code.clone()]
}

/// Logs `FUNCTION <args>` in the command's effect group.
fn log(e: &mut Engine, args: Vec<Bytes>) {
    let mut full = Vec::with_capacity(args.len() + 1);
    full.push(Bytes::from_static(b"FUNCTION"));
    full.extend(args);
    e.cur.push(Effect::new(0, full));
}

/// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`: all the payload's
/// libraries or none.
fn restore(e: &mut Engine, payload: &[u8], policy: Option<&Bytes>) -> Result<Frame, CmdError> {
    let policy = policy.map_or_else(|| "APPEND".to_string(), |p| upper(p));
    if !matches!(policy.as_str(), "FLUSH" | "APPEND" | "REPLACE") {
        return Err(CmdError::msg("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."));
    }
    let codes = dump::parse(payload).map_err(CmdError::msg)?;
    let names = codes.iter().map(|c| library_name(c)).collect::<Result<Vec<_>, _>>().map_err(CmdError::msg)?;
    if policy == "APPEND"
        && let Some(name) = names.iter().find(|n| e.scripts.functions.has_library(n))
    {
        return Err(CmdError::msg(format!("ERR Library {name} already exists")));
    }
    // Build the result aside: the libraries kept, then the payload's.
    let mut next = scripting::functions::Functions::default();
    let watch = e.scripts.watch().clone();
    if policy != "FLUSH" {
        for lib in e.scripts.functions.libraries().filter(|l| !names.contains(&l.name)) {
            next.load(&lib.code, false, &watch, 0).map_err(CmdError::msg)?;
        }
    }
    for code in &codes {
        next.load(code, false, &watch, 0).map_err(CmdError::msg)?;
    }
    e.scripts.functions = next;
    if policy == "FLUSH" {
        log(e, vec![Bytes::from_static(b"FLUSH")]);
    }
    for code in &codes {
        log(e, load_effect(code));
    }
    Ok(Frame::ok())
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`
fn list(e: &Engine, opts: &[Bytes]) -> Result<Frame, CmdError> {
    let (mut pattern, mut with_code, mut i) = (None, false, 0);
    while i < opts.len() {
        match upper(&opts[i]).as_str() {
            "WITHCODE" if !with_code => with_code = true,
            "LIBRARYNAME" if pattern.is_none() => {
                i += 1;
                pattern = Some(opts.get(i).ok_or_else(|| CmdError::msg("ERR library name argument was not given"))?);
            }
            _ => {
                let o = String::from_utf8_lossy(&opts[i]);
                return Err(CmdError::msg(format!("ERR Unknown argument {o}")));
            }
        }
        i += 1;
    }
    let text = |s: &str| Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let libs = e.scripts.functions.libraries().filter(|l| pattern.is_none_or(|p| glob_match(p, l.name.as_bytes())));
    Ok(Frame::Array(
        libs.map(|l| {
            let functions = l.functions.iter().map(|f| {
                Frame::Map(vec![
                    (text("name"), text(&f.name)),
                    (text("description"), f.description.as_deref().map_or(Frame::Null, text)),
                    (text("flags"), Frame::Set(f.flags.iter().map(|x| Frame::Simple((*x).into())).collect())),
                ])
            });
            let mut m = vec![
                (text("library_name"), text(&l.name)),
                (text("engine"), text("LUA")),
                (text("functions"), Frame::Array(functions.collect())),
            ];
            if with_code {
                m.push((text("library_code"), Frame::Bulk(l.code.clone())));
            }
            Frame::Map(m)
        })
        .collect(),
    ))
}

/// `FUNCTION STATS` (under the engine's lock no function runs).
fn stats(e: &Engine) -> Frame {
    let text = |s: &str| Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let f = &e.scripts.functions;
    let lua = Frame::Map(vec![
        (text("libraries_count"), Frame::Integer(f.libraries().count() as i64)),
        (text("functions_count"), Frame::Integer(f.count() as i64)),
    ]);
    Frame::Map(vec![(text("running_script"), Frame::Null), (text("engines"), Frame::Map(vec![(text("LUA"), lua)]))])
}

/// Applies a logged `FUNCTION` effect (replica, recovery, snapshot restore).
pub fn apply(e: &mut Engine, args: &[Bytes]) -> Result<(), CmdError> {
    match (args.get(1).map(|s| upper(s)).as_deref(), args.len()) {
        (Some("LOAD"), 4) => e.scripts.load_library(&args[3], true, 0).map(|_| ()).map_err(CmdError::msg),
        (Some("DELETE"), 3) => e.scripts.functions.delete(&String::from_utf8_lossy(&args[2])).map_err(CmdError::msg),
        (Some("FLUSH"), 2) => {
            e.scripts.functions.flush();
            Ok(())
        }
        _ => Err(CmdError::msg("ERR malformed FUNCTION effect")),
    }
}

/// The effects that rebuild every library (a snapshot's first group).
pub fn library_effects(e: &Engine) -> Vec<Effect> {
    let mut out = Vec::new();
    for lib in e.scripts.functions.libraries() {
        let mut args = vec![Bytes::from_static(b"FUNCTION")];
        args.extend(load_effect(&lib.code));
        out.push(Effect::new(0, args));
    }
    out
}

const HELP: &[&str] = &[
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];
