//! The Lua VM a script runs in, as Redis 7 sets it up: the base, table,
//! string and math libraries (no `os`, `io`, `loadfile`, `dofile`), `bit`,
//! `cjson` (`libs.rs`), `struct` (`structlib.rs`) and `cmsgpack`
//! (`msgpack.rs`), the `redis` table,
//! and global protection (a script cannot create or read undefined
//! globals). `redis.call`, `redis.pcall` and `redis.setresp` are Rust
//! functions bound to the engine for the length of a script.

use super::ScriptWatch;
use bytes::Bytes;
use mlua::{Function, Lua, LuaOptions, StdLib, Table};
use std::sync::Arc;

/// How an error table (`redis.call`'s, or one a script raised) crosses
/// back to the engine: as this prefix, the script's line, `:` and the
/// error text.
pub const RAISED_TABLE: &str = "\u{1}sixfold-error-table\u{1}";

/// Lua code run once per VM: the `redis` library around the bridge, the
/// runner that turns a raised error table into [`RAISED_TABLE`] text, and
/// global protection.
const PRELUDE: &str = r#"
local reg = ...
redis = {}
redis.REDIS_VERSION = reg.version
redis.REDIS_VERSION_NUM = reg.version_num
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.error_reply = function(e)
  if type(e) ~= 'string' then error('wrong number or type of arguments', 2) end
  if string.sub(e, 1, 1) == '-' then e = string.sub(e, 2) end
  return {err = e}
end
redis.status_reply = function(s)
  if type(s) ~= 'string' then error('wrong number or type of arguments', 2) end
  return {ok = s}
end
redis.sha1hex = reg.sha1hex
redis.log = reg.log
redis.setresp = function(v)
  if v ~= 2 and v ~= 3 then error('RESP version must be 2 or 3.', 2) end
end
redis.set_repl = function(v) end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function(...) end
local handler = function(e)
  if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
    return reg.mark .. reg.line() .. ':' .. rawget(e, 'err')
  end
  return e
end
reg.run = function(f, keys, args)
  local ok, res
  if keys == nil then
    ok, res = xpcall(f, handler)
  else
    ok, res = xpcall(function() return f(keys, args) end, handler)
  end
  if ok then return res end
  error(res, 0)
end
-- What a library's code sees as `redis` while FUNCTION LOAD runs it
-- (`register_function` is bound for each load).
reg.load_api = setmetatable({
  log = redis.log, setresp = redis.setresp,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
}, {
  __index = function(t, n)
    error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
  end,
})
-- An error table caught by pcall is its `err` text, as in Redis 7.0 (a
-- redis.call error is one: its reply's text).
local raw_pcall = pcall
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
    return false, rawget(e, 'err')
  end
  if type(e) == 'userdata' then
    local s = tostring(e)
    local at = string.find(s, reg.mark, 1, true)
    if at then
      local rest = string.sub(s, at + #reg.mark)
      rest = string.sub(rest, (string.find(rest, ':', 1, true) or 0) + 1)
      local cut = string.find(rest, '\nstack traceback:', 1, true)
      return false, cut and string.sub(rest, 1, cut - 1) or rest
    end
  end
  return false, ...
end
pcall = function(f, ...) return caught(raw_pcall(f, ...)) end
loadfile, dofile, print = nil, nil, nil
setmetatable(_G, {
  __newindex = function(t, n, v)
    error("Attempt to modify a readonly table", 2)
  end,
  __index = function(t, n)
    error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
  end,
})
"#;

/// Most bytes the Lua VM may allocate: past it, a script fails with Lua's
/// "not enough memory" instead of growing the server without bound.
pub const LUA_VM_BYTES_MAX: usize = 512 * 1024 * 1024;

/// A new VM with the `redis`, `bit`, `cjson`, `struct` and `cmsgpack`
/// libraries and global protection; `redis.log` writes at the `loglevel`
/// `watch` holds.
pub fn new_vm(watch: Arc<ScriptWatch>) -> mlua::Result<Lua> {
    let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default())?;
    lua.set_memory_limit(LUA_VM_BYTES_MAX)?;
    super::libs::install_bit(&lua)?;
    super::libs::install_cjson(&lua)?;
    super::structlib::install_struct(&lua)?;
    super::msgpack::install_cmsgpack(&lua)?;
    let reg = lua.create_table()?;
    reg.set("version", crate::cmd::server::REDIS_VERSION)?;
    reg.set("version_num", version_num(crate::cmd::server::REDIS_VERSION))?;
    reg.set("mark", RAISED_TABLE)?;
    reg.set("sha1hex", lua.create_function(|_, s: mlua::String| Ok(super::sha1_hex(&s.as_bytes())))?)?;
    reg.set("line", lua.create_function(|lua, ()| Ok(super::script_line(lua)))?)?;
    reg.set("log", lua.create_function(move |lua, args: mlua::MultiValue| redis_log(lua, &watch, args))?)?;
    lua.set_named_registry_value("sixfold", &reg)?;
    lua.load(PRELUDE).set_name("=sixfold").call::<()>(reg)?;
    Ok(lua)
}

/// `redis.log(level, ...)`: the arguments after the level that are
/// strings or numbers, joined by spaces, written to the server's log
/// (stderr) when `level` is at or above `loglevel` — `LOG_WARNING` as a
/// warning, the others as information, with Redis's level name — and
/// Redis's errors for a missing or bad level.
fn redis_log(lua: &Lua, watch: &ScriptWatch, args: mlua::MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(super::raised(lua, "ERR redis.log() requires two arguments or more."));
    }
    let mut args = args.into_iter();
    let level = args.next().map(|v| lua.coerce_number(v)).transpose()?.flatten();
    // Lua's number to C's int, as Redis converts it: toward zero.
    let Some(level) = level.map(|n| n as i64) else {
        return Err(super::raised(lua, "ERR First argument must be a number (log level)."));
    };
    // DEBUG (0) to WARNING (3); "nothing" is a `loglevel`, not a level to log at.
    if !(0..=3).contains(&level) {
        return Err(super::raised(lua, "ERR Invalid debug level."));
    }
    let name = super::LOG_LEVELS[level as usize];
    if level < i64::from(watch.log_level()) {
        return Ok(());
    }
    let mut text = Vec::new();
    for (i, v) in args.enumerate() {
        if let Some(s) = lua.coerce_string(v)? {
            if i > 0 {
                text.push(b' ');
            }
            text.extend_from_slice(&s.as_bytes());
        }
    }
    let text = String::from_utf8_lossy(&text);
    match level {
        3 => tracing::warn!(target: "sixfold::script", redis_level = name, "{text}"),
        _ => tracing::info!(target: "sixfold::script", redis_level = name, "{text}"),
    }
    Ok(())
}

/// `7.2.4` as `0x070204`.
fn version_num(v: &str) -> i64 {
    v.split('.').take(3).fold(0, |n, p| n * 256 + p.parse::<i64>().unwrap_or(0))
}

fn registry(lua: &Lua) -> mlua::Result<Table> {
    lua.named_registry_value::<Table>("sixfold")
}

/// A VM with the handles every script's run uses, made once: its runner,
/// the `redis` table, the globals and the names set in them (so a run
/// creates no string of its own).
pub struct Vm {
    /// The VM.
    pub lua: Lua,
    /// Calls a script function ([`runner`]).
    pub runner: Function,
    redis: Table,
    globals: Table,
    /// `call`, `pcall`, `setresp`: the names bound in `redis` for a script.
    bound: [mlua::String; 3],
    /// `KEYS` and `ARGV`.
    args: [mlua::String; 2],
}

impl Vm {
    /// The handles of `lua`, a VM of [`new_vm`].
    pub fn of(lua: Lua) -> mlua::Result<Vm> {
        let runner = runner(&lua)?;
        let globals = lua.globals();
        let redis = globals.raw_get("redis")?;
        let bound = [lua.create_string("call")?, lua.create_string("pcall")?, lua.create_string("setresp")?];
        let args = [lua.create_string("KEYS")?, lua.create_string("ARGV")?];
        Ok(Vm { lua, runner, redis, globals, bound, args })
    }

    /// Binds `redis.call`, `redis.pcall` and `redis.setresp` for one
    /// script (Rust functions, so a `return redis.call(...)` keeps the
    /// script's frame for its line).
    pub fn bind_redis(&self, fns: [Function; 3]) -> mlua::Result<()> {
        for (name, f) in self.bound.iter().zip(fns) {
            self.redis.raw_set(name, f)?;
        }
        Ok(())
    }

    /// Sets the `KEYS` and `ARGV` globals.
    pub fn set_args(&self, keys: &[Bytes], argv: &[Bytes]) -> mlua::Result<()> {
        let [keys_name, argv_name] = &self.args;
        self.globals.raw_set(keys_name, string_list(&self.lua, keys)?)?;
        self.globals.raw_set(argv_name, string_list(&self.lua, argv)?)
    }
}

/// Sets the VM's memory limit ([`LUA_VM_BYTES_MAX`]), or lifts it for
/// the server's own bounded work around a script.
pub fn limit_memory(lua: &Lua, on: bool) {
    // It only fails for a VM without memory accounting, which new_vm never makes.
    let _ = lua.set_memory_limit(if on { LUA_VM_BYTES_MAX } else { 0 });
}

/// The runner: calls a script function (an EVAL script, or a library
/// function with its keys and arguments), raising a `redis.call` error as
/// [`RAISED_TABLE`] text.
fn runner(lua: &Lua) -> mlua::Result<Function> {
    registry(lua)?.raw_get("run")
}

/// The `redis` table a library's code sees while FUNCTION LOAD runs it.
pub fn load_api(lua: &Lua) -> mlua::Result<Table> {
    registry(lua)?.raw_get("load_api")
}

/// A Lua list of strings.
pub fn string_list(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, x) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(x)?)?;
    }
    Ok(t)
}
