//! The libraries Redis loads into its Lua VM besides Lua's own: `bit`
//! (LuaBitOp: 32-bit operations) and `cjson` (JSON, with cjson's number
//! format and escapes); `struct` is in `structlib.rs`, `cmsgpack` in
//! `msgpack.rs`.

use mlua::{LightUserData, Lua, Table, Value, Variadic};

/// A Lua number as LuaBitOp reads it: to a signed 32-bit integer, modulo 2³².
fn tobit(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    (n.trunc().rem_euclid(4_294_967_296.0) as u64 as u32) as i32
}

fn num(v: &Value) -> mlua::Result<f64> {
    match v {
        Value::Integer(n) => Ok(*n as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => s.to_str()?.trim().parse().map_err(|_| bad_arg()),
        _ => Err(bad_arg()),
    }
}

fn bad_arg() -> mlua::Error {
    mlua::Error::RuntimeError("bad argument (number expected)".into())
}

/// Installs `bit`.
pub fn install_bit(lua: &Lua) -> mlua::Result<()> {
    let bit = lua.create_table()?;
    let fold = |lua: &Lua, op: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: Variadic<Value>| {
            let mut acc: Option<i32> = None;
            for a in args.iter() {
                let x = tobit(num(a)?);
                acc = Some(acc.map_or(x, |y| op(y, x)));
            }
            acc.map(f64::from).ok_or_else(bad_arg)
        })
    };
    bit.set("band", fold(lua, |a, b| a & b)?)?;
    bit.set("bor", fold(lua, |a, b| a | b)?)?;
    bit.set("bxor", fold(lua, |a, b| a ^ b)?)?;
    bit.set("tobit", lua.create_function(|_, v: Value| Ok(f64::from(tobit(num(&v)?))))?)?;
    bit.set("bnot", lua.create_function(|_, v: Value| Ok(f64::from(!tobit(num(&v)?))))?)?;
    bit.set("bswap", lua.create_function(|_, v: Value| Ok(f64::from(tobit(num(&v)?).swap_bytes())))?)?;
    let shift = |lua: &Lua, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (v, n): (Value, Value)| {
            Ok(f64::from(op(tobit(num(&v)?), tobit(num(&n)?) as u32 & 31)))
        })
    };
    bit.set("lshift", shift(lua, |x, n| ((x as u32) << n) as i32)?)?;
    bit.set("rshift", shift(lua, |x, n| ((x as u32) >> n) as i32)?)?;
    bit.set("arshift", shift(lua, |x, n| x >> n)?)?;
    bit.set("rol", shift(lua, |x, n| (x as u32).rotate_left(n) as i32)?)?;
    bit.set("ror", shift(lua, |x, n| (x as u32).rotate_right(n) as i32)?)?;
    bit.set(
        "tohex",
        lua.create_function(|_, (v, n): (Value, Option<Value>)| {
            let x = tobit(num(&v)?) as u32;
            let n = n.map(|n| num(&n)).transpose()?.map_or(8, |n| n as i64);
            let width = n.unsigned_abs().clamp(1, 8) as usize;
            let full = if n < 0 { format!("{x:08X}") } else { format!("{x:08x}") };
            Ok(full[8 - width..].to_string())
        })?,
    )?;
    lua.globals().raw_set("bit", bit)
}

/// Installs `cjson`.
pub fn install_cjson(lua: &Lua) -> mlua::Result<()> {
    let cjson = lua.create_table()?;
    cjson.set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    cjson.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = String::new();
            encode(&v, &mut out, 0).map_err(|e| located(lua, e))?;
            Ok(out)
        })?,
    )?;
    cjson.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let j: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                located(lua, mlua::Error::RuntimeError(format!("Expected value but found invalid token: {e}")))
            })?;
            decode(lua, &j)
        })?,
    )?;
    lua.globals().raw_set("cjson", cjson)
}

/// An error of a library function, with the script's position first (as
/// `luaL_error` writes it).
/// A library's error as Lua's `luaL_error` words it: where the user code
/// that called the library is, then the message.
pub(super) fn located(lua: &Lua, e: mlua::Error) -> mlua::Error {
    match e {
        mlua::Error::RuntimeError(m) => {
            let (chunk, line) = super::script_where(lua);
            mlua::Error::RuntimeError(format!("{chunk}:{line}: {m}"))
        }
        other => other,
    }
}

/// A library's error with its text `m`, located as [`located`] does.
pub(super) fn lib_error(lua: &Lua, m: String) -> mlua::Error {
    located(lua, mlua::Error::RuntimeError(m))
}

/// Nesting deeper than this is refused (cjson's default).
const DEPTH_MAX: usize = 1000;

fn encode(v: &Value, out: &mut String, depth: usize) -> mlua::Result<()> {
    if depth > DEPTH_MAX {
        return Err(mlua::Error::RuntimeError("Cannot serialise, excessive nesting (1001)".into()));
    }
    match v {
        Value::Nil | Value::LightUserData(_) => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(n) => out.push_str(&n.to_string()),
        Value::Number(n) if n.is_finite() => out.push_str(&super::convert::lua_number_text(*n)),
        Value::Number(_) => {
            return Err(mlua::Error::RuntimeError("Cannot serialise number: must not be NaN or Inf".into()));
        }
        Value::String(s) => quote(&s.to_string_lossy(), out),
        Value::Table(t) => encode_table(t, out, depth)?,
        other => {
            return Err(mlua::Error::RuntimeError(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )));
        }
    }
    Ok(())
}

fn encode_table(t: &Table, out: &mut String, depth: usize) -> mlua::Result<()> {
    let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
    let n = pairs.len();
    let is_array = n > 0
        && pairs.iter().all(|(k, _)| {
            matches!(k, Value::Integer(i) if *i >= 1 && *i as usize <= n)
                || matches!(k, Value::Number(f) if f.fract() == 0.0 && *f >= 1.0 && *f as usize <= n)
        });
    if is_array {
        out.push('[');
        for i in 1..=n {
            if i > 1 {
                out.push(',');
            }
            encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
        }
        out.push(']');
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let key = match k {
            Value::String(s) => s.to_string_lossy(),
            Value::Integer(n) => n.to_string(),
            Value::Number(n) => super::convert::lua_number_text(*n),
            _ => {
                return Err(mlua::Error::RuntimeError(
                    "Cannot serialise table: table key must be a number or string".into(),
                ));
            }
        };
        quote(&key, out);
        out.push(':');
        encode(v, out, depth + 1)?;
    }
    out.push('}');
    Ok(())
}

/// A JSON string, escaped as cjson escapes (it escapes `/` too).
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn decode(lua: &Lua, j: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(xs) => {
            let t = lua.create_table_with_capacity(xs.len(), 0)?;
            for (i, x) in xs.iter().enumerate() {
                t.raw_set(i + 1, decode(lua, x)?)?;
            }
            Value::Table(t)
        }
        J::Object(m) => {
            let t = lua.create_table_with_capacity(0, m.len())?;
            for (k, v) in m {
                t.raw_set(k.as_str(), decode(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> String {
        let lua = Lua::new();
        install_bit(&lua).unwrap();
        install_cjson(&lua).unwrap();
        lua.load(code).eval::<String>().unwrap()
    }

    #[test]
    fn bit_operations_are_32_bit() {
        assert_eq!(eval("return tostring(bit.band(0xff, 0x0f))"), "15");
        assert_eq!(eval("return tostring(bit.tobit(0xffffffff))"), "-1");
        assert_eq!(eval("return tostring(bit.lshift(1, 31))"), "-2147483648");
        assert_eq!(eval("return tostring(bit.rshift(-1, 28))"), "15");
        assert_eq!(eval("return bit.tohex(255, 4)"), "00ff");
        assert_eq!(eval("return bit.tohex(-1, -2)"), "FF");
    }

    #[test]
    fn cjson_encodes_and_decodes_as_cjson_does() {
        assert_eq!(eval("return cjson.encode({1, 2, 'a/b'})"), r#"[1,2,"a\/b"]"#);
        assert_eq!(eval("return cjson.encode({x = 1.5})"), r#"{"x":1.5}"#);
        assert_eq!(eval("return cjson.encode({})"), "{}");
        assert_eq!(eval("local t = cjson.decode('{\"a\":[1,2,null]}') return tostring(t.a[2])"), "2");
        assert_eq!(eval("return tostring(cjson.decode('[null]')[1] == cjson.null)"), "true");
    }
}
