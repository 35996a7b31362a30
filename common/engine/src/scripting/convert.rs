//! Lua values ↔ replies, as Redis 7 documents them ("Conversion between
//! Lua and Redis data types"): a command's reply becomes a Lua value (its
//! RESP2 form), and the script's return value becomes the reply.

use mlua::{Lua, Value};
use sixfold_resp::Frame;

/// Lua's own text for a number (`%.14g`), as a command argument.
pub fn lua_number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{n:.13e}");
    // `%.14g`: the shorter of fixed and exponent notation, no trailing zeros.
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..14).contains(&exp) {
        let decimals = (13 - exp).max(0) as usize;
        let fixed = format!("{n:.decimals$}");
        return fixed.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let mant = mant.trim_end_matches('0').trim_end_matches('.');
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// A command's reply as the script sees it: its RESP2 forms, or after
/// `redis.setresp(3)` (`resp3`) the RESP3 ones Redis documents (`nil`,
/// booleans, and tables with a single `map`, `set`, `double`,
/// `big_number` or `verbatim_string` field).
pub fn to_lua(lua: &Lua, f: &Frame, resp3: bool) -> mlua::Result<Value> {
    let text = |b: &[u8]| lua.create_string(b).map(Value::String);
    Ok(match f {
        Frame::Integer(n) => Value::Number(*n as f64),
        Frame::Bulk(b) => text(b)?,
        Frame::Null | Frame::NullArray if resp3 => Value::Nil,
        Frame::Null | Frame::NullArray => Value::Boolean(false),
        Frame::Simple(s) => single(lua, "ok", text(s.as_bytes())?)?,
        Frame::Error(e) => single(lua, "err", text(e.as_bytes())?)?,
        Frame::Map(kv) if resp3 => {
            let t = lua.create_table()?;
            for (k, v) in kv {
                t.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
            }
            single(lua, "map", Value::Table(t))?
        }
        Frame::Set(xs) if resp3 => {
            let t = lua.create_table()?;
            for x in xs {
                t.raw_set(to_lua(lua, x, resp3)?, true)?;
            }
            single(lua, "set", Value::Table(t))?
        }
        Frame::Array(xs) | Frame::Set(xs) | Frame::Push(xs) => list(lua, xs.iter(), resp3)?,
        Frame::Map(kv) => list(lua, kv.iter().flat_map(|(k, v)| [k, v]), resp3)?,
        Frame::Double(d) if resp3 => single(lua, "double", Value::Number(*d))?,
        Frame::Double(d) => text(sixfold_resp::format_double(*d).as_bytes())?,
        Frame::Boolean(b) if resp3 => Value::Boolean(*b),
        Frame::Boolean(b) => Value::Number(f64::from(u8::from(*b))),
        Frame::BigNumber(s) if resp3 => single(lua, "big_number", text(s.as_bytes())?)?,
        Frame::BigNumber(s) => text(s.as_bytes())?,
        Frame::Verbatim(format, b) if resp3 => {
            let t = lua.create_table()?;
            t.raw_set("format", text(format.as_bytes())?)?;
            t.raw_set("string", text(b)?)?;
            single(lua, "verbatim_string", Value::Table(t))?
        }
        Frame::Verbatim(_, b) => text(b)?,
    })
}

fn single(lua: &Lua, key: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(key, v)?;
    Ok(Value::Table(t))
}

fn list<'a>(lua: &Lua, xs: impl Iterator<Item = &'a Frame>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, x) in xs.enumerate() {
        t.raw_set(i + 1, to_lua(lua, x, resp3)?)?;
    }
    Ok(Value::Table(t))
}

/// The script's return value as its reply; booleans follow the script's
/// `redis.setresp` (`resp3`: RESP3 booleans; otherwise 1 and null).
pub fn to_frame(v: &Value, resp3: bool) -> Frame {
    match v {
        Value::String(s) => Frame::Bulk(bytes::Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(n) => Frame::Integer(*n),
        Value::Number(n) => Frame::Integer(*n as i64),
        Value::Boolean(b) if resp3 => Frame::Boolean(*b),
        Value::Boolean(true) => Frame::Integer(1),
        Value::Table(t) => table_frame(t, resp3),
        _ => Frame::Null,
    }
}

/// A table as Redis 7.0 reads a script's reply: `err`, `ok`, `double`,
/// `big_number`, `verbatim_string`, `map` and `set` forms, else an array
/// up to the first nil.
fn table_frame(t: &mlua::Table, resp3: bool) -> Frame {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    let lossy = |s: &mlua::String| one_line(&s.to_string_lossy());
    if let Value::String(e) = field("err") {
        return Frame::Error(lossy(&e));
    }
    if let Value::String(s) = field("ok") {
        return Frame::Simple(lossy(&s).into());
    }
    match field("double") {
        Value::Number(d) => return Frame::Double(d),
        Value::Integer(n) => return Frame::Double(n as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        return Frame::BigNumber(lossy(&s));
    }
    if let Value::Table(v) = field("verbatim_string")
        && let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
    {
        return Frame::Verbatim(format.to_string_lossy(), bytes::Bytes::copy_from_slice(&text.as_bytes()));
    }
    if let Value::Table(m) = field("map") {
        let pairs = m.pairs::<Value, Value>().filter_map(Result::ok);
        return Frame::Map(pairs.map(|(k, v)| (to_frame(&k, resp3), to_frame(&v, resp3))).collect());
    }
    if let Value::Table(m) = field("set") {
        let keys = m.pairs::<Value, Value>().filter_map(Result::ok);
        return Frame::Set(keys.map(|(k, _)| to_frame(&k, resp3)).collect());
    }
    let mut out = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => out.push(to_frame(&v, resp3)),
        }
    }
    Frame::Array(out)
}

/// Error and status texts are one line (Redis turns line breaks into spaces).
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// The reply of a script that raised an error: a `redis.call` error (a
/// table `{err = ...}`) or a Lua error, with where it happened, as Redis 7
/// writes it (`... script: <name>, on @<chunk>:<line>.`: an EVAL script's
/// SHA1 in `user_script`, a function's name in `user_function`).
pub fn error_frame(err: &mlua::Error, name: &str, chunk: &str) -> Frame {
    let line_of = |m: &str| m.split_once(':').and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest.to_string())));
    let (msg, line) = match raised(err) {
        Raised::Table(m) => line_of(&m).map_or((m, 0), |(n, rest)| (rest, n)),
        Raised::Text(m) => {
            let line = m.strip_prefix(chunk).and_then(|m| m.strip_prefix(':')).and_then(line_of).map_or(0, |(n, _)| n);
            (format!("ERR {m}"), line)
        }
    };
    Frame::Error(one_line(&format!("{msg} script: {name}, on @{chunk}:{line}.")))
}

enum Raised {
    /// An error table: the script's line, `:`, its `err` text.
    Table(String),
    /// A Lua error message.
    Text(String),
}

fn raised(err: &mlua::Error) -> Raised {
    match err {
        mlua::Error::CallbackError { cause, .. } => raised(cause),
        mlua::Error::RuntimeError(m) => {
            // mlua appends a traceback to the message.
            let m = m.split_once("\nstack traceback:").map_or(m.as_str(), |(m, _)| m).to_string();
            match m.strip_prefix(super::lib::RAISED_TABLE) {
                Some(rest) => Raised::Table(rest.to_string()),
                None => Raised::Text(m),
            }
        }
        mlua::Error::MemoryError(m) => Raised::Text(m.clone()),
        other => Raised::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_lua_prints_them() {
        for (n, s) in [(3.0, "3"), (-2.0, "-2"), (0.5, "0.5"), (1.0 / 3.0, "0.33333333333333"), (1e20, "1e+20")] {
            assert_eq!(lua_number_text(n), s, "{n}");
        }
    }

    #[test]
    fn replies_round_trip_through_lua() {
        let lua = Lua::new();
        let f = Frame::Array(vec![Frame::Integer(3), Frame::Bulk("x".into()), Frame::Null]);
        let v = to_lua(&lua, &f, false).unwrap();
        // A nil-like false ends nothing: it is `false`, which becomes a null.
        assert_eq!(to_frame(&v, false), Frame::Array(vec![Frame::Integer(3), Frame::Bulk("x".into()), Frame::Null]));
        let ok = to_lua(&lua, &Frame::ok(), false).unwrap();
        assert_eq!(to_frame(&ok, false), Frame::ok());
        let e = to_lua(&lua, &Frame::error("ERR bad"), false).unwrap();
        assert_eq!(to_frame(&e, false), Frame::error("ERR bad"));
    }
}
