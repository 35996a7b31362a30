//! Lua scripting as Redis 7 embeds it (Lua 5.1, through `mlua`): the VM
//! and its sandbox, the script cache, `redis.call`/`redis.pcall` running
//! commands on the engine, and the conversions between Lua values and
//! replies (`scripting/convert.rs`). A script's writes reach the log as the
//! effects of the commands it ran, in one group with the script's own
//! command (DESIGN §2): replicas and recovery need no Lua, and SPOP or TIME
//! inside a script is safe. The commands are in `cmd/scripting.rs`.

mod convert;
mod lib;
mod libs;

use crate::cmd;
use crate::engine::Engine;
use crate::session::ClientId;
use bytes::Bytes;
use mlua::{Lua, Value};
use sixfold_resp::{Frame, Protocol};
use std::cell::RefCell;
use std::collections::HashMap;

/// The Lua VM and the scripts loaded into it.
#[derive(Default)]
pub struct Scripts {
    /// Taken out while a script runs (the script reaches the engine).
    lua: Option<Lua>,
    /// Script bodies by SHA1 (lower-case hex).
    bodies: HashMap<String, Bytes>,
    /// Compiled scripts of the current VM, and its runner.
    compiled: HashMap<String, mlua::Function>,
    runner: Option<mlua::Function>,
}

/// What a script may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `EVAL`, `EVALSHA`.
    ReadWrite,
    /// `EVAL_RO`, `EVALSHA_RO`: write commands are refused.
    ReadOnly,
}

/// SHA1 of `body` as lower-case hex (`redis.sha1hex`, `SCRIPT LOAD`).
pub fn sha1_hex(body: &[u8]) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(body).iter().map(|b| format!("{b:02x}")).collect()
}

impl Scripts {
    /// Whether a script with this SHA1 is cached.
    pub fn exists(&self, sha: &str) -> bool {
        self.bodies.contains_key(&sha.to_ascii_lowercase())
    }

    /// Caches `body`; returns its SHA1, or the compile error.
    pub fn load(&mut self, body: &Bytes) -> Result<String, String> {
        let sha = sha1_hex(body);
        if !self.bodies.contains_key(&sha) {
            let lua = self.vm()?;
            compile(&lua, &sha, body)?;
            self.bodies.insert(sha.clone(), body.clone());
        }
        Ok(sha)
    }

    /// Forgets every script (a new VM).
    pub fn flush(&mut self) {
        self.bodies.clear();
        self.compiled.clear();
        self.runner = None;
        self.lua = None;
    }

    /// Bytes the Lua VM uses (INFO memory `used_memory_lua`).
    pub fn vm_bytes(&self) -> usize {
        self.lua.as_ref().map_or(0, Lua::used_memory)
    }

    /// Scripts cached.
    pub fn count(&self) -> usize {
        self.bodies.len()
    }

    fn vm(&mut self) -> Result<Lua, String> {
        if let Some(lua) = &self.lua {
            return Ok(lua.clone());
        }
        let lua = lib::new_vm().map_err(|e| format!("ERR cannot start Lua: {e}"))?;
        self.lua = Some(lua.clone());
        Ok(lua)
    }
}

/// Compiles `body` as the function `f_<sha>`, kept in the VM's registry.
fn compile(lua: &Lua, sha: &str, body: &[u8]) -> Result<mlua::Function, String> {
    let key = format!("f_{sha}");
    if let Ok(f) = lua.named_registry_value::<mlua::Function>(&key) {
        return Ok(f);
    }
    let f = lua
        .load(body)
        .set_name("@user_script")
        .into_function()
        .map_err(|e| format!("ERR Error compiling script (new function): {}", lua_message(&e)))?;
    lua.set_named_registry_value(&key, &f).map_err(|e| format!("ERR {e}"))?;
    Ok(f)
}

/// The message Lua gave, without mlua's wrapping.
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

/// Runs the script `sha` (whose body is `body`, or the cached one) for
/// client `id` with `KEYS` and `ARGV`; its reply.
pub fn run(e: &mut Engine, id: ClientId, sha: &str, (keys, argv): (&[Bytes], &[Bytes]), access: Access) -> Frame {
    let sha = sha.to_ascii_lowercase();
    let Some(body) = e.scripts.bodies.get(&sha).cloned() else {
        return Frame::error("NOSCRIPT No matching script. Please use EVAL.");
    };
    let lua = match e.scripts.vm() {
        Ok(l) => l,
        Err(m) => return Frame::error(m),
    };
    let f = match e.scripts.compiled.get(&sha) {
        Some(f) => f.clone(),
        None => match compile(&lua, &sha, &body) {
            Ok(f) => e.scripts.compiled.entry(sha.clone()).or_insert(f).clone(),
            Err(m) => return Frame::error(m),
        },
    };
    let runner = match e.scripts.runner.clone().map_or_else(|| lib::runner(&lua), Ok) {
        Ok(r) => e.scripts.runner.get_or_insert(r).clone(),
        Err(err) => return Frame::error(format!("ERR {err}")),
    };
    if let Err(err) = lib::set_args(&lua, keys, argv) {
        return Frame::error(format!("ERR {err}"));
    }
    // The script sees RESP2 replies and its own database selection.
    let saved = e.sessions.get(&id).map(|s| (s.proto, s.db));
    if let Some(s) = e.sessions.get_mut(&id) {
        s.proto = Protocol::Resp2;
    }
    let resp3 = saved.is_some_and(|(p, _)| p == Protocol::Resp3);
    let reply = call_script(e, &lua, (&f, &runner), id, (&sha, access), resp3);
    if let (Some((proto, db)), Some(s)) = (saved, e.sessions.get_mut(&id)) {
        (s.proto, s.db) = (proto, db);
    }
    reply
}

/// Calls `f` with `redis.call`/`redis.pcall` bound to the engine.
fn call_script(
    e: &mut Engine,
    lua: &Lua,
    (f, runner): (&mlua::Function, &mlua::Function),
    id: ClientId,
    (sha, access): (&str, Access),
    resp3: bool,
) -> Frame {
    let engine = RefCell::new(e);
    let result = lua.scope(|scope| {
        let pcall = scope.create_function_mut(|lua, args: mlua::MultiValue| {
            let mut e = engine.borrow_mut();
            convert::to_lua(lua, &command_from_lua(&mut e, id, args, access))
        })?;
        let call = scope.create_function_mut(|lua, args: mlua::MultiValue| {
            let mut e = engine.borrow_mut();
            match command_from_lua(&mut e, id, args, access) {
                Frame::Error(m) => {
                    Err(mlua::Error::RuntimeError(format!("{}{}:{m}", lib::RAISED_TABLE, script_line(lua))))
                }
                f => convert::to_lua(lua, &f),
            }
        })?;
        lib::bind_redis(lua, call, pcall)?;
        runner.call::<Value>(f)
    });
    let _ = lib::unbind_redis(lua);
    match result {
        Ok(v) => convert::to_frame(&v, resp3),
        Err(err) => convert::error_frame(&err, sha),
    }
}

/// The line of the user script that is running (for error replies).
pub(crate) fn script_line(lua: &Lua) -> usize {
    (1..8)
        .find_map(|level| {
            lua.inspect_stack(level, |d| {
                let src = d.source();
                (src.source.as_deref() == Some("@user_script")).then(|| d.current_line().unwrap_or(0))
            })
            .flatten()
        })
        .unwrap_or(0)
}

/// Runs one `redis.call`/`redis.pcall` command; its reply (`redis.pcall`
/// hands an error reply to the script as a table `{err = ...}`,
/// `redis.call` raises it).
fn command_from_lua(e: &mut Engine, id: ClientId, args: mlua::MultiValue, access: Access) -> Frame {
    match lua_args(&args) {
        Ok(a) => run_command(e, id, &a, access),
        Err(m) => Frame::error(m),
    }
}

/// The command's arguments: strings, or numbers as Lua prints them.
fn lua_args(args: &mlua::MultiValue) -> Result<Vec<Bytes>, String> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call".into());
    }
    let mut out = Vec::with_capacity(args.len());
    for v in args.iter() {
        out.push(match v {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(n) => Bytes::from(n.to_string()),
            Value::Number(n) => Bytes::from(convert::lua_number_text(*n)),
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers".into()),
        });
    }
    Ok(out)
}

/// Checks and runs one command from a script, as Redis 7 does.
fn run_command(e: &mut Engine, id: ClientId, args: &[Bytes], access: Access) -> Frame {
    let Some(spec) = cmd::lookup(&args[0]) else {
        return Frame::error("ERR Unknown Redis command called from script");
    };
    if crate::engine::check_arity(spec, args.len()).is_err() {
        return Frame::error("ERR Wrong number of args calling Redis command from script");
    }
    if spec.has("noscript") {
        return Frame::error("ERR This Redis command is not allowed from script");
    }
    if spec.has("write") {
        if access == Access::ReadOnly {
            return Frame::error("ERR Write commands are not allowed from read-only scripts.");
        }
        if e.config.replica_of.is_some() {
            return Frame::error("READONLY You can't write against a read only replica.");
        }
    }
    e.dispatch(id, spec, args, true).unwrap_or(Frame::Null)
}
