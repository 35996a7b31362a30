//! Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT (Lua in
//! `crate::scripting`). A script's writes are logged as the effects of the
//! commands it ran, one group with the script's command.

use crate::args::upper;
use crate::cmd::{SessionResult, help, unknown_subcommand};
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::scripting::{self, Access};
use crate::session::ClientId;
use crate::util::parse_i64;
use bytes::Bytes;
use sixfold_resp::Frame;

/// The keys and arguments after `numkeys` (`a[2]`).
pub(super) fn keys_and_args(a: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), CmdError> {
    let n = parse_i64(&a[2]).ok_or_else(|| CmdError::msg("ERR value is not an integer or out of range"))?;
    if n < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    let rest = &a[3..];
    if n as usize > rest.len() {
        return Err(CmdError::msg("ERR Number of keys can't be greater than number of args"));
    }
    Ok(rest.split_at(n as usize))
}

fn eval_with(e: &mut Engine, id: ClientId, a: &[Bytes], access: Access) -> SessionResult {
    let ka = keys_and_args(a)?;
    let sha = e.scripts.load(&a[1]).map_err(CmdError::msg)?;
    Ok(Some(scripting::run(e, id, &sha, ka, access)))
}

fn evalsha_with(e: &mut Engine, id: ClientId, a: &[Bytes], access: Access) -> SessionResult {
    let ka = keys_and_args(a)?;
    let sha = String::from_utf8_lossy(&a[1]).to_string();
    Ok(Some(scripting::run(e, id, &sha, ka, access)))
}

/// `EVAL script numkeys [key ...] [arg ...]`
pub fn eval(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    eval_with(e, id, a, Access::ReadWrite)
}

/// `EVAL_RO script numkeys [key ...] [arg ...]`
pub fn eval_ro(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    eval_with(e, id, a, Access::ReadOnly)
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`
pub fn evalsha(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    evalsha_with(e, id, a, Access::ReadWrite)
}

/// `EVALSHA_RO sha1 numkeys [key ...] [arg ...]`
pub fn evalsha_ro(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    evalsha_with(e, id, a, Access::ReadOnly)
}

/// `SCRIPT LOAD | EXISTS | FLUSH | KILL | DEBUG | HELP`
pub fn script(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let arity =
        || CmdError::msg(format!("ERR wrong number of arguments for 'script|{}' command", upper(&a[1]).to_lowercase()));
    Ok(Some(match upper(&a[1]).as_str() {
        "LOAD" if a.len() == 3 => Frame::Bulk(Bytes::from(e.scripts.load(&a[2]).map_err(CmdError::msg)?)),
        "EXISTS" if a.len() >= 3 => Frame::Array(
            a[2..].iter().map(|s| Frame::Integer(i64::from(e.scripts.exists(&String::from_utf8_lossy(s))))).collect(),
        ),
        "FLUSH" if a.len() <= 3 => {
            if let Some(mode) = a.get(2).map(|m| upper(m))
                && mode != "ASYNC"
                && mode != "SYNC"
            {
                return Err(CmdError::msg("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
            }
            e.scripts.flush();
            Frame::ok()
        }
        // Under the engine's lock no script runs (NOTBUSY); while one runs
        // past the threshold the connection answers this without the lock.
        "KILL" if a.len() == 2 => e.scripts.watch().kill(false),
        // Redis's Lua debugger (LDB) is not served: NO (its default) is.
        "DEBUG" if a.len() == 3 => match upper(&a[2]).as_str() {
            "NO" => Frame::ok(),
            "YES" | "SYNC" => return Err(CmdError::msg("ERR Sixfold has no Lua debugger: SCRIPT DEBUG NO only")),
            _ => return Err(CmdError::msg("ERR Use SCRIPT DEBUG YES/SYNC/NO")),
        },
        "HELP" if a.len() == 2 => help(
            "SCRIPT",
            &[
                "DEBUG (YES|SYNC|NO)",
                "    Set the debug mode for subsequent scripts executed.",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        "LOAD" | "EXISTS" | "FLUSH" | "KILL" | "HELP" | "DEBUG" => return Err(arity()),
        _ => return Err(unknown_subcommand(&a[1], "SCRIPT")),
    }))
}
