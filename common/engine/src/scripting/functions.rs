//! Redis 7 functions: libraries loaded with `FUNCTION LOAD` (a `#!lua
//! name=<library>` line, then Lua code that calls
//! `redis.register_function`), kept in their own Lua VM, apart from EVAL's
//! script cache. Libraries are durable state: `FUNCTION LOAD`, `DELETE`,
//! `FLUSH` and `RESTORE` are logged as effects (`cmd/functions.rs`), and
//! snapshots and the state digest include them.

use super::{ScriptWatch, lib, lua_message};
use bytes::Bytes;
use mlua::{Function, Lua, Table, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The flags a function may declare, as Redis 7 names them.
pub const FLAGS: [&str; 5] = ["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"];

/// One registered function.
#[derive(Clone)]
pub struct FunctionInfo {
    /// Its name (unique across libraries).
    pub name: String,
    /// `description`, if given.
    pub description: Option<String>,
    /// Its flags ([`FLAGS`]).
    pub flags: Vec<&'static str>,
    /// The Lua function called with `(keys, args)`.
    pub(super) callback: Arc<Function>,
}

/// A loaded library.
pub struct Library {
    /// Its name (from the `#!lua name=` line).
    pub name: String,
    /// The code as loaded (with its `#!` line).
    pub code: Bytes,
    /// Its functions, in the order it registered them.
    pub functions: Vec<FunctionInfo>,
}

/// The libraries and the VM their functions live in.
#[derive(Default)]
pub struct Functions {
    vm: Option<Arc<lib::Vm>>,
    libraries: BTreeMap<String, Library>,
    /// Each function's library.
    owner: HashMap<String, String>,
}

/// Library and function names: letters, digits and `_`, at least one.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Redis 7.0's text for a bad library or function name (it says
/// "Library" for both).
const BAD_NAME: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The library name from the `#!lua name=<name>` line, and the code Lua
/// compiles (that line left empty, so line numbers are the code's).
fn metadata(code: &[u8]) -> Result<(String, Vec<u8>), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(eol) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[2..eol]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    let mut name = None;
    for p in parts {
        match p.split_once('=') {
            Some(("name", _)) if name.is_some() => {
                return Err("ERR Invalid metadata value, name argument was given multiple times".into());
            }
            Some(("name", v)) => name = Some(v.to_string()),
            _ => return Err(format!("ERR Invalid metadata value given: {p}")),
        }
    }
    let name = name.ok_or("ERR Library name was not given")?;
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    if !valid_name(&name) {
        return Err(format!("ERR {BAD_NAME}"));
    }
    Ok((name, code[eol..].to_vec()))
}

/// The library name `code` declares, or why it declares none.
pub fn library_name(code: &[u8]) -> Result<String, String> {
    metadata(code).map(|(name, _)| name)
}

impl Functions {
    /// Loads (or with `replace`, reloads) the library in `code`; its name.
    /// Its code may run for `timeout_ms` (0: no limit).
    pub fn load(
        &mut self,
        code: &Bytes,
        replace: bool,
        watch: &Arc<ScriptWatch>,
        timeout_ms: u64,
    ) -> Result<String, String> {
        let (name, body) = metadata(code)?;
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let vm = self.vm(watch)?;
        let lua = &vm.lua;
        let chunk = lua
            .load(body)
            .set_name("@user_function")
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", lua_message(&e)))?;
        watch.begin_load(timeout_ms);
        let registered = register(lua, chunk);
        watch.end_load();
        let functions = registered.map_err(|e| format!("ERR Error registering functions: ERR {e}"))?;
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        if let Some(f) = functions.iter().find(|f| self.owner.get(&f.name).is_some_and(|lib| *lib != name)) {
            return Err(format!("ERR Function {} already exists", f.name));
        }
        self.remove(&name);
        for f in &functions {
            self.owner.insert(f.name.clone(), name.clone());
        }
        self.libraries.insert(name.clone(), Library { name: name.clone(), code: code.clone(), functions });
        Ok(name)
    }

    /// `FUNCTION DELETE`.
    pub fn delete(&mut self, name: &str) -> Result<(), String> {
        self.remove(name).map(|_| ()).ok_or_else(|| "ERR Library not found".into())
    }

    fn remove(&mut self, name: &str) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            self.owner.remove(&f.name);
        }
        Some(lib)
    }

    /// `FUNCTION FLUSH`: every library, and the VM.
    pub fn flush(&mut self) {
        *self = Functions::default();
    }

    /// The libraries, by name.
    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// Whether a library of this name is loaded.
    pub fn has_library(&self, name: &str) -> bool {
        self.libraries.contains_key(name)
    }

    /// A function by name.
    pub fn get(&self, name: &str) -> Option<&FunctionInfo> {
        let lib = self.libraries.get(self.owner.get(name)?)?;
        lib.functions.iter().find(|f| f.name == name)
    }

    /// Functions loaded.
    pub fn count(&self) -> usize {
        self.owner.len()
    }

    /// Bytes the functions' VM uses.
    pub fn vm_bytes(&self) -> usize {
        self.vm.as_ref().map_or(0, |vm| vm.lua.used_memory())
    }

    /// The VM and its runner, made at the first use.
    pub(super) fn vm(&mut self, watch: &Arc<ScriptWatch>) -> Result<Arc<lib::Vm>, String> {
        if let Some(vm) = &self.vm {
            return Ok(vm.clone());
        }
        let made = super::hooked_vm(watch).map_err(|e| format!("ERR cannot start Lua: {e}"))?;
        Ok(self.vm.insert(Arc::new(made)).clone())
    }
}

/// Runs a library's code with `redis` as FUNCTION LOAD offers it; the
/// functions it registered.
fn register(lua: &Lua, chunk: Function) -> Result<Vec<FunctionInfo>, String> {
    let found = RefCell::new(Vec::<FunctionInfo>::new());
    let api = lib::load_api(lua).map_err(|e| e.to_string())?;
    let globals = lua.globals();
    let runtime: Value = globals.raw_get("redis").map_err(|e| e.to_string())?;
    let ran = lua.scope(|scope| {
        let register = scope.create_function(|_, args: mlua::MultiValue| {
            let f = registration(&args).map_err(mlua::Error::RuntimeError)?;
            let mut found = found.borrow_mut();
            if found.iter().any(|g| g.name == f.name) {
                return Err(mlua::Error::RuntimeError("Function already exists in the library".into()));
            }
            found.push(f);
            Ok(())
        })?;
        api.raw_set("register_function", register)?;
        globals.raw_set("redis", &api)?;
        let ran = chunk.call::<()>(());
        globals.raw_set("redis", runtime)?;
        api.raw_set("register_function", Value::Nil)?;
        ran
    });
    ran.map_err(|e| lua_message(&e))?;
    Ok(found.into_inner())
}

/// One `redis.register_function` call: `(name, callback)` or a table with
/// `function_name`, `callback`, `flags` and `description`.
fn registration(args: &mlua::MultiValue) -> Result<FunctionInfo, String> {
    let (name, callback, flags, description) = match args.len() {
        1 => {
            let Some(Value::Table(t)) = args.front() else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
            };
            named(t)?
        }
        2 => {
            let Some(Value::String(name)) = args.front() else {
                return Err("first argument to redis.register_function must be a string".into());
            };
            let Some(Value::Function(f)) = args.get(1) else {
                return Err("second argument to redis.register_function must be a function".into());
            };
            (name.to_string_lossy(), f.clone(), Vec::new(), None)
        }
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    };
    if !valid_name(&name) {
        return Err(BAD_NAME.into());
    }
    Ok(FunctionInfo { name, description, flags, callback: Arc::new(callback) })
}

type Named = (String, Function, Vec<&'static str>, Option<String>);

/// The table form of `redis.register_function`.
fn named(t: &Table) -> Result<Named, String> {
    let (mut name, mut callback, mut flags, mut description) = (None, None, Vec::new(), None);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            _ => return Err("named argument key given to redis.register_function is not a string".into()),
        };
        match (key.as_str(), v) {
            ("function_name", Value::String(s)) => name = Some(s.to_string_lossy()),
            ("function_name", _) => {
                return Err("function_name argument given to redis.register_function must be a string".into());
            }
            ("description", Value::String(s)) => description = Some(s.to_string_lossy()),
            ("description", Value::Integer(n)) => description = Some(n.to_string()),
            ("description", Value::Number(n)) => description = Some(super::convert::lua_number_text(n)),
            ("description", _) => {
                return Err("description argument given to redis.register_function must be a string".into());
            }
            ("callback", Value::Function(f)) => callback = Some(f),
            ("callback", _) => {
                return Err("callback argument given to redis.register_function must be a function".into());
            }
            ("flags", Value::Table(list)) => flags = flag_list(&list)?,
            ("flags", _) => {
                return Err(
                    "flags argument to redis.register_function must be a table representing function flags".into()
                );
            }
            _ => return Err("unknown argument given to redis.register_function".into()),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, callback, flags, description))
}

fn flag_list(list: &Table) -> Result<Vec<&'static str>, String> {
    let mut flags = Vec::new();
    for v in list.sequence_values::<Value>() {
        let Ok(Value::String(s)) = v else { return Err("unknown flag given".into()) };
        let s = s.to_string_lossy();
        let flag = FLAGS.iter().find(|f| **f == s).ok_or("unknown flag given")?;
        if !flags.contains(flag) {
            flags.push(*flag);
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn libraries_load_replace_and_collide_as_in_redis() {
        let watch = Arc::new(ScriptWatch::default());
        let mut f = Functions::default();
        let lib = "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return 1 end)\n\
                   redis.register_function{function_name='f2', callback=function() end, flags={'no-writes'}, description='d'}";
        assert_eq!(f.load(&code(lib), false, &watch, 0), Ok("lib1".into()));
        assert_eq!(f.get("f2").map(|x| x.flags.clone()), Some(vec!["no-writes"]));
        assert_eq!(f.load(&code(lib), false, &watch, 0), Err("ERR Library 'lib1' already exists".into()));
        assert_eq!(f.load(&code(lib), true, &watch, 0), Ok("lib1".into()));
        let clash = "#!lua name=lib2\nredis.register_function('f1', function() end)";
        assert_eq!(f.load(&code(clash), false, &watch, 0), Err("ERR Function f1 already exists".into()));
        assert_eq!(f.count(), 2);
        for (bad, why) in [
            ("return 1", "ERR Missing library metadata"),
            ("#!lua name=x", "ERR Invalid library metadata"),
            ("#!lua\nx", "ERR Library name was not given"),
            ("#!js name=x\nx", "ERR Engine 'js' not found"),
            ("#!lua name=x foo=bar\nx", "ERR Invalid metadata value given: foo=bar"),
            ("#!lua name=x\n", "ERR No functions registered"),
            ("#!lua name=x\nreturn (", "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"),
            (
                "#!lua name=x\nredis.call('get', 'k')",
                "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'",
            ),
        ] {
            assert_eq!(f.load(&code(bad), false, &watch, 0), Err(why.to_string()), "{bad}");
        }
        assert_eq!(f.delete("lib1"), Ok(()));
        assert_eq!(f.delete("lib1"), Err("ERR Library not found".into()));
        assert!(f.get("f1").is_none() && f.count() == 0);
    }
}
