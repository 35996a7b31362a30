//! Lua scripting as Redis 7 embeds it (Lua 5.1, through `mlua`): the VM
//! and its sandbox, the script cache, `redis.call`/`redis.pcall` running
//! commands on the engine, and the conversions between Lua values and
//! replies (`scripting/convert.rs`). A script's writes reach the log as the
//! effects of the commands it ran, in one group with the script's own
//! command (DESIGN §2): replicas and recovery need no Lua, and SPOP or TIME
//! inside a script is safe. The commands are in `cmd/scripting.rs`.

mod convert;
pub(crate) mod dump;
pub mod functions;
mod lib;
mod libs;
mod msgpack;
mod structlib;
mod watch;

pub use watch::{BUSY_REPLY_THRESHOLD_MS_DEFAULT, Busy, LOAD_TIMEOUT_MS, LOG_LEVELS, ScriptWatch};

use crate::cmd;
use crate::engine::Engine;
use crate::session::ClientId;
use bytes::Bytes;
use mlua::{Lua, Value};
use sixfold_resp::{Frame, Protocol};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

/// Lua instructions between two looks at a kill request (Redis's count).
const HOOK_INSTRUCTIONS: u32 = 100_000;

/// The Lua VM and the scripts loaded into it.
#[derive(Default)]
pub struct Scripts {
    /// The VM (made at the first script).
    vm: Option<Arc<lib::Vm>>,
    /// Compiled scripts by SHA1 (lower-case hex).
    compiled: HashMap<String, Compiled>,
    /// The running script as other connections see it.
    watch: Arc<ScriptWatch>,
    /// The libraries of FUNCTION LOAD, in a VM of their own.
    pub functions: functions::Functions,
}

/// A cached EVAL script.
struct Compiled {
    f: Arc<mlua::Function>,
    /// The flags of its `#!lua flags=...` line (`None`: it has no such
    /// line, and runs as a Redis 6 script).
    flags: Option<Flags>,
}

/// The script flags that act (Redis 7; the others of
/// [`functions::FLAGS`] are accepted and listed: `no-cluster` and
/// `allow-cross-slot-keys` concern Redis's cluster mode, `cluster-enabled
/// no` here (a shard holds every slot), and `allow-stale` a replica with
/// `replica-serve-stale-data no`, which is stored only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// The script only reads: it runs on replicas, by `*_RO` commands, and
    /// over `maxmemory`.
    pub no_writes: bool,
    /// It runs over `maxmemory`, and its commands too.
    pub allow_oom: bool,
}

impl Flags {
    /// The flags among `names`.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Flags {
        names.into_iter().fold(Flags::default(), |f, n| Flags {
            no_writes: f.no_writes || n == "no-writes",
            allow_oom: f.allow_oom || n == "allow-oom",
        })
    }
}

/// An EVAL script's `#!lua [flags=a,b]` first line (Redis 7): its flags
/// (`None`: no such line), and the code Lua compiles (that line left
/// empty, so line numbers are the script's).
fn shebang(body: &Bytes) -> Result<(Option<Flags>, Bytes), String> {
    if !body.starts_with(b"#!") {
        return Ok((None, body.clone()));
    }
    let Some(eol) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..eol]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut names = Vec::new();
    for p in parts {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {p}"));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            if !functions::FLAGS.contains(&f) {
                return Err(format!("ERR Unexpected flag in script shebang: {f}"));
            }
            names.push(f);
        }
    }
    Ok((Some(Flags::of(names)), body.slice(eol..)))
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
        self.compiled.contains_key(&sha.to_ascii_lowercase())
    }

    /// Compiles and caches `body`; returns its SHA1, or the compile error.
    pub fn load(&mut self, body: &Bytes) -> Result<String, String> {
        let sha = sha1_hex(body);
        if !self.compiled.contains_key(&sha) {
            let (flags, code) = shebang(body)?;
            let vm = self.vm()?;
            let f = vm
                .lua
                .load(&code[..])
                .set_name("@user_script")
                .into_function()
                .map_err(|e| format!("ERR Error compiling script (new function): {}", lua_message(&e)))?;
            self.compiled.insert(sha.clone(), Compiled { f: Arc::new(f), flags });
        }
        Ok(sha)
    }

    /// Forgets every script (a new VM).
    pub fn flush(&mut self) {
        self.compiled.clear();
        self.vm = None;
    }

    /// Bytes the Lua VM uses (INFO memory `used_memory_lua`).
    pub fn vm_bytes(&self) -> usize {
        self.vm.as_ref().map_or(0, |vm| vm.lua.used_memory())
    }

    /// Scripts cached.
    pub fn count(&self) -> usize {
        self.compiled.len()
    }

    /// The running script as other connections see it.
    pub fn watch(&self) -> &Arc<ScriptWatch> {
        &self.watch
    }

    /// The VM, made at the first use.
    fn vm(&mut self) -> Result<Arc<lib::Vm>, String> {
        if let Some(vm) = &self.vm {
            return Ok(vm.clone());
        }
        let made = hooked_vm(&self.watch).map_err(|e| format!("ERR cannot start Lua: {e}"))?;
        Ok(self.vm.insert(Arc::new(made)).clone())
    }

    /// Loads a library (FUNCTION LOAD, or its effect); its name. Its code
    /// may run for `timeout_ms` ([`LOAD_TIMEOUT_MS`] for a client's
    /// FUNCTION LOAD; 0, no limit, for a load already logged).
    pub fn load_library(&mut self, code: &Bytes, replace: bool, timeout_ms: u64) -> Result<String, String> {
        self.functions.load(code, replace, &self.watch, timeout_ms)
    }
}

/// A new VM ([`lib::new_vm`]) whose instruction hook stops a script once
/// SCRIPT KILL or FUNCTION KILL asked, and a library's code once it ran
/// past FUNCTION LOAD's limit.
fn hooked_vm(watch: &Arc<ScriptWatch>) -> mlua::Result<lib::Vm> {
    let lua = lib::new_vm(watch.clone())?;
    let watch = watch.clone();
    let triggers = mlua::HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS);
    lua.set_hook(triggers, move |lua, _| {
        watch.tick();
        // Both are raised again at every count, so a pcall cannot keep
        // the code running.
        if watch.kill_requested() {
            return Err(raised(lua, "ERR Script killed by user with SCRIPT KILL..."));
        }
        if watch.load_timed_out() {
            return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
        }
        Ok(mlua::VmState::Continue)
    })?;
    lib::Vm::of(lua)
}

/// The message Lua gave, without mlua's wrapping.
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        // mlua appends a traceback to the message.
        mlua::Error::RuntimeError(m) => m.split_once("\nstack traceback:").map_or(m.as_str(), |(m, _)| m).to_string(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

/// What runs: the function, where its errors say it is, and what it may do.
struct Callee<'a> {
    /// The compiled script, or the library function.
    f: Arc<mlua::Function>,
    /// Its keys and arguments.
    args: (&'a [Bytes], &'a [Bytes]),
    /// A library function (it takes them as its parameters; an EVAL
    /// script reads the `KEYS` and `ARGV` globals).
    function: bool,
    /// The script's SHA1, or the function's name (error replies).
    name: &'a str,
    rules: Rules,
}

/// What a running script may do, fixed when it starts.
#[derive(Debug, Clone, Copy)]
struct Rules {
    access: Access,
    /// `allow-oom`: its commands run even over `maxmemory`.
    allow_oom: bool,
    /// The server was over `maxmemory` when it started: a command that may
    /// grow memory is refused until the script has written (Redis's rule:
    /// a script that wrote must not stop halfway).
    oom_at_start: bool,
}

/// The rules a script with `flags` (`None`: a Redis 6 script, no `#!`
/// line) runs under when called by a `*_RO` command or not; or Redis's
/// refusal to start it: `-OOM` over `maxmemory` unless it declared
/// `no-writes` or `allow-oom`, and a script that may write called by a
/// `*_RO` command.
fn rules(e: &Engine, flags: Option<Flags>, access: Access) -> Result<Rules, Frame> {
    let over = e.over_maxmemory();
    let Some(flags) = flags else {
        return Ok(Rules { access, allow_oom: false, oom_at_start: over });
    };
    if over && !flags.no_writes && !flags.allow_oom {
        return Err(Frame::error(crate::engine::OOM_ERROR));
    }
    if access == Access::ReadOnly && !flags.no_writes {
        return Err(Frame::error("ERR Can not execute a script with write flag using *_ro command."));
    }
    let access = if flags.no_writes { Access::ReadOnly } else { access };
    Ok(Rules { access, allow_oom: flags.allow_oom, oom_at_start: over })
}

/// Runs the cached script `sha` for client `id` with `KEYS` and `ARGV`;
/// its reply.
pub fn run(e: &mut Engine, id: ClientId, sha: &str, (keys, argv): (&[Bytes], &[Bytes]), access: Access) -> Frame {
    let sha = sha.to_ascii_lowercase();
    let Some(Compiled { f, flags }) = e.scripts.compiled.get(&sha) else {
        return Frame::error("NOSCRIPT No matching script. Please use EVAL.");
    };
    let f = f.clone();
    let rules = match rules(e, *flags, access) {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let vm = match e.scripts.vm() {
        Ok(vm) => vm,
        Err(m) => return Frame::error(m),
    };
    invoke(e, id, vm, Callee { f, args: (keys, argv), function: false, name: &sha, rules })
}

/// Runs library function `name` (FCALL; `ro`: FCALL_RO) for client `id`.
pub fn fcall(e: &mut Engine, id: ClientId, name: &str, args: (&[Bytes], &[Bytes]), ro: bool) -> Frame {
    let Some(func) = e.scripts.functions.get(name) else {
        return Frame::error("ERR Function not found");
    };
    let f = func.callback.clone();
    let access = if ro { Access::ReadOnly } else { Access::ReadWrite };
    let rules = match rules(e, Some(Flags::of(func.flags.iter().copied())), access) {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let watch = e.scripts.watch.clone();
    let vm = match e.scripts.functions.vm(&watch) {
        Ok(vm) => vm,
        Err(m) => return Frame::error(m),
    };
    invoke(e, id, vm, Callee { f, args, function: true, name, rules })
}

/// Runs a script or function with the script's RESP2 view and its own
/// database selection, watched for -BUSY and SCRIPT KILL.
fn invoke(e: &mut Engine, id: ClientId, vm: Arc<lib::Vm>, callee: Callee<'_>) -> Frame {
    let saved = e.sessions.get(&id).map(|s| (s.proto, s.db));
    if let Some(s) = e.sessions.get_mut(&id) {
        s.proto = Protocol::Resp2;
    }
    let watch = e.scripts.watch.clone();
    watch.begin(callee.function);
    let reply = call_script(e, &vm, id, &callee);
    watch.end();
    if let (Some((proto, db)), Some(s)) = (saved, e.sessions.get_mut(&id)) {
        (s.proto, s.db) = (proto, db);
    }
    reply
}

/// Calls the callee with `redis.call`, `redis.pcall` and `redis.setresp`
/// bound to the engine. The VM's memory limit holds while the script
/// runs; the server's own bounded setup around it runs without (with a
/// limit, mlua makes every operation a protected call).
fn call_script(e: &mut Engine, vm: &lib::Vm, id: ClientId, c: &Callee<'_>) -> Frame {
    let lua = &vm.lua;
    lib::limit_memory(lua, false);
    let rules = c.rules;
    let engine = RefCell::new(e);
    // The script's protocol (`redis.setresp(3)`): replies of its commands,
    // and its booleans, in RESP3 forms.
    let resp3 = Cell::new(false);
    let result = lua.scope(|scope| {
        let pcall = scope.create_function_mut(|lua, args: mlua::MultiValue| {
            let mut e = engine.borrow_mut();
            convert::to_lua(lua, &command_from_lua(&mut e, id, args, rules), resp3.get())
        })?;
        let call = scope.create_function_mut(|lua, args: mlua::MultiValue| {
            let mut e = engine.borrow_mut();
            match command_from_lua(&mut e, id, args, rules) {
                Frame::Error(m) => Err(raised(lua, &m)),
                f => convert::to_lua(lua, &f, resp3.get()),
            }
        })?;
        let setresp = scope.create_function(|lua, args: mlua::MultiValue| {
            if args.len() != 1 {
                return Err(raised(lua, "ERR redis.setresp() requires one argument."));
            }
            let on = match args.front() {
                Some(Value::Integer(3)) => true,
                Some(Value::Integer(2)) => false,
                Some(Value::Number(n)) if *n == 3.0 || *n == 2.0 => *n == 3.0,
                _ => return Err(raised(lua, "ERR RESP version must be 2 or 3.")),
            };
            resp3.set(on);
            if let Some(s) = engine.borrow_mut().sessions.get_mut(&id) {
                s.proto = if on { Protocol::Resp3 } else { Protocol::Resp2 };
            }
            Ok(())
        })?;
        // Left bound after the script: the next one binds its own, and a
        // scoped function called after its scope only raises an error.
        vm.bind_redis([call, pcall, setresp])?;
        let (keys, args) = c.args;
        let params = if c.function {
            Some((lib::string_list(lua, keys)?, lib::string_list(lua, args)?))
        } else {
            vm.set_args(keys, args)?;
            None
        };
        lib::limit_memory(lua, true);
        let ran = match params {
            None => vm.runner.call::<Value>(&*c.f),
            Some((keys, args)) => vm.runner.call::<Value>((&*c.f, keys, args)),
        };
        lib::limit_memory(lua, false);
        ran
    });
    let chunk = if c.function { "user_function" } else { "user_script" };
    let reply = match result {
        Ok(v) => convert::to_frame(&v, resp3.get()),
        Err(err) => convert::error_frame(&err, c.name, chunk),
    };
    lib::limit_memory(lua, true);
    reply
}

/// An error raised in the script as Redis raises an error reply: with the
/// script's line, caught by `pcall` as the reply's text.
fn raised(lua: &Lua, reply: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("{}{}:{reply}", lib::RAISED_TABLE, script_line(lua)))
}

/// The line of the user script that is running (for error replies).
pub(crate) fn script_line(lua: &Lua) -> usize {
    script_where(lua).1
}

/// The user code that is running: its chunk (`user_script` for EVAL,
/// `user_function` for a library) and line.
pub(crate) fn script_where(lua: &Lua) -> (&'static str, usize) {
    (0..8)
        .find_map(|level| {
            lua.inspect_stack(level, |d| {
                let chunk = match d.source().source.as_deref() {
                    Some("@user_script") => "user_script",
                    Some("@user_function") => "user_function",
                    _ => return None,
                };
                Some((chunk, d.current_line().unwrap_or(0)))
            })
            .flatten()
        })
        .unwrap_or(("user_script", 0))
}

/// Runs one `redis.call`/`redis.pcall` command; its reply (`redis.pcall`
/// hands an error reply to the script as a table `{err = ...}`,
/// `redis.call` raises it).
fn command_from_lua(e: &mut Engine, id: ClientId, args: mlua::MultiValue, rules: Rules) -> Frame {
    match lua_args(&args) {
        Ok(a) => run_command(e, id, &a, rules),
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
fn run_command(e: &mut Engine, id: ClientId, args: &[Bytes], rules: Rules) -> Frame {
    let Some(spec) = cmd::lookup(&args[0]) else {
        return Frame::error("ERR Unknown Redis command called from script");
    };
    if crate::dispatch::check_arity(spec, args.len()).is_err() {
        return Frame::error("ERR Wrong number of args calling Redis command from script");
    }
    if spec.has("noscript") {
        return Frame::error("ERR This Redis command is not allowed from script");
    }
    if crate::cmd::has_flag(spec, args, "denyoom") && rules.oom_at_start && !rules.allow_oom && !e.scripts.watch.wrote()
    {
        return Frame::error(crate::engine::OOM_ERROR);
    }
    // A container's subcommand may write (XGROUP CREATE).
    let writes = crate::cmd::writes(spec, args);
    if rules.access == Access::ReadOnly && (writes || spec.has("@may-replicate")) {
        return Frame::error("ERR Write commands are not allowed from read-only scripts.");
    }
    if writes {
        if e.config.replica_of.is_some() {
            return Frame::error("READONLY You can't write against a read only replica.");
        }
        e.scripts.watch.note_write();
    }
    e.dispatch(id, spec, args, true).unwrap_or(Frame::Null)
}
