//! `cmsgpack` as Redis loads it (lua-cmsgpack 0.4): `cmsgpack.pack(...)`,
//! `cmsgpack.unpack(s)`, `cmsgpack.unpack_one(s [, offset])` and
//! `cmsgpack.unpack_limit(s, limit [, offset])`, with its choices: a number
//! equal to an `i64` is the smallest integer form, another one a float32
//! when that is exact, else a float64; a table whose keys are 1..n is an
//! array, any other a map (in Lua's `next` order); tables nested deeper
//! than 16 become nil; strings use str8/16/32.

use mlua::{Lua, MultiValue, Table, Value};

/// Tables nested deeper than this are packed as nil (cmsgpack's limit).
const NESTING_MAX: usize = 16;
/// Deepest nesting a decoder follows (a bound against hostile input).
const DECODE_DEPTH_MAX: usize = 1000;

fn int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        match n {
            0..=127 => out.push(n as u8),
            128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn number(out: &mut Vec<u8>, n: f64) {
    // `(int64_t)n == n` in C, without its undefined cases (NaN, ±2⁶³ and out).
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) && (n as i64) as f64 == n {
        return int(out, n as i64);
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A header of a string, array or map: the fix form's tag and limit, then
/// the 8/16/32-bit tags (`None`: that width is not used).
fn header(out: &mut Vec<u8>, len: usize, fix: (u8, usize), wide: [Option<u8>; 3]) {
    if len < fix.1 {
        out.push(fix.0 | len as u8);
    } else if let (Some(t), true) = (wide[0], len <= 0xff) {
        out.extend_from_slice(&[t, len as u8]);
    } else if let (Some(t), true) = (wide[1], len <= 0xffff) {
        out.push(t);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if let Some(t) = wide[2] {
        out.push(t);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn pack_value(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => int(out, *n),
        Value::Number(n) => number(out, *n),
        Value::String(s) => {
            let b = s.as_bytes();
            header(out, b.len(), (0xa0, 32), [Some(0xd9), Some(0xda), Some(0xdb)]);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if level < NESTING_MAX => pack_table(out, t, level)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack_table(out: &mut Vec<u8>, t: &Table, level: usize) -> mlua::Result<()> {
    let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
    let index = |k: &Value| match k {
        Value::Integer(i) if *i > 0 => Some(*i as f64),
        Value::Number(n) if *n > 0.0 && n.fract() == 0.0 => Some(*n),
        _ => None,
    };
    let max = pairs.iter().map(|(k, _)| index(k)).try_fold(0.0f64, |m, i| i.map(|i| m.max(i)));
    if max == Some(pairs.len() as f64) {
        header(out, pairs.len(), (0x90, 16), [None, Some(0xdc), Some(0xdd)]);
        for i in 1..=pairs.len() {
            pack_value(out, &t.raw_get::<Value>(i)?, level + 1)?;
        }
    } else {
        header(out, pairs.len(), (0x80, 16), [None, Some(0xde), Some(0xdf)]);
        for (k, v) in &pairs {
            pack_value(out, k, level + 1)?;
            pack_value(out, v, level + 1)?;
        }
    }
    Ok(())
}

/// Why decoding stopped.
enum Bad {
    /// The input ended inside a value.
    Eof,
    /// A byte that starts no value.
    Format,
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(Bad::Eof)?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Bad> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
    }

    fn left(&self) -> usize {
        self.buf.len() - self.at
    }
}

fn unpack_value(lua: &Lua, c: &mut Cursor<'_>, depth: usize) -> Result<Value, Bad> {
    if depth > DECODE_DEPTH_MAX {
        return Err(Bad::Format);
    }
    let text = |c: &mut Cursor<'_>, n: usize| -> Result<Value, Bad> {
        let s = c.take(n)?;
        lua.create_string(s).map(Value::String).map_err(|_| Bad::Format)
    };
    let tag = c.take(1)?[0];
    if let Some((kind, n)) = sized(tag, c)? {
        return match kind {
            Container::Str => text(c, n),
            Container::Array => array(lua, c, n, depth),
            Container::Map => map(lua, c, n, depth),
        };
    }
    Ok(match tag {
        0x00..=0x7f => Value::Number(f64::from(tag)),
        0xe0..=0xff => Value::Number(f64::from(tag as i8)),
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xcc => Value::Number(c.be(1)? as f64),
        0xcd => Value::Number(c.be(2)? as f64),
        0xce => Value::Number(c.be(4)? as f64),
        0xcf => Value::Number(c.be(8)? as f64),
        0xd0 => Value::Number(f64::from(c.be(1)? as u8 as i8)),
        0xd1 => Value::Number(f64::from(c.be(2)? as u16 as i16)),
        0xd2 => Value::Number(f64::from(c.be(4)? as u32 as i32)),
        0xd3 => Value::Number(c.be(8)? as i64 as f64),
        0xca => Value::Number(f64::from(f32::from_bits(c.be(4)? as u32))),
        0xcb => Value::Number(f64::from_bits(c.be(8)?)),
        _ => return Err(Bad::Format),
    })
}

/// What a sized value is.
enum Container {
    Str,
    Array,
    Map,
}

/// A string's, array's or map's kind and length (in the tag, or in the 1,
/// 2 or 4 bytes after it); `None` for other tags.
fn sized(tag: u8, c: &mut Cursor<'_>) -> Result<Option<(Container, usize)>, Bad> {
    let (kind, width) = match tag {
        0xa0..=0xbf => return Ok(Some((Container::Str, usize::from(tag & 0x1f)))),
        0x90..=0x9f => return Ok(Some((Container::Array, usize::from(tag & 0x0f)))),
        0x80..=0x8f => return Ok(Some((Container::Map, usize::from(tag & 0x0f)))),
        0xd9 | 0xc4 => (Container::Str, 1),
        0xda | 0xc5 => (Container::Str, 2),
        0xdb | 0xc6 => (Container::Str, 4),
        0xdc => (Container::Array, 2),
        0xdd => (Container::Array, 4),
        0xde => (Container::Map, 2),
        0xdf => (Container::Map, 4),
        _ => return Ok(None),
    };
    Ok(Some((kind, c.be(width)? as usize)))
}

fn array(lua: &Lua, c: &mut Cursor<'_>, n: usize, depth: usize) -> Result<Value, Bad> {
    let t = lua.create_table_with_capacity(n.min(c.left()), 0).map_err(|_| Bad::Format)?;
    for i in 1..=n {
        let v = unpack_value(lua, c, depth + 1)?;
        t.raw_set(i, v).map_err(|_| Bad::Format)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, c: &mut Cursor<'_>, n: usize, depth: usize) -> Result<Value, Bad> {
    let t = lua.create_table().map_err(|_| Bad::Format)?;
    for _ in 0..n {
        let k = unpack_value(lua, c, depth + 1)?;
        let v = unpack_value(lua, c, depth + 1)?;
        if !matches!(k, Value::Nil) {
            t.raw_set(k, v).map_err(|_| Bad::Format)?;
        }
    }
    Ok(Value::Table(t))
}

/// `unpack`, `unpack_one` and `unpack_limit`: up to `limit` values (0:
/// all) from byte `offset`; all but plain `unpack` also return the next
/// offset first (-1 at the end of the input).
fn unpack(lua: &Lua, s: &[u8], limit: i64, offset: i64, with_offset: bool) -> Result<MultiValue, String> {
    if offset < 0 || limit < 0 {
        return Err(format!("Invalid request to unpack with offset of {offset} and limit of {}.", s.len()));
    }
    if offset as usize > s.len() {
        return Err(format!("Start offset {offset} greater than input length {}.", s.len()));
    }
    let limit = if limit == 0 { usize::MAX } else { limit as usize };
    let mut c = Cursor { buf: s, at: offset as usize };
    let mut out = Vec::new();
    while c.left() > 0 && out.len() < limit {
        match unpack_value(lua, &mut c, 0) {
            Ok(v) => out.push(v),
            Err(Bad::Eof) => return Err("Missing bytes in input.".into()),
            Err(Bad::Format) => return Err("Bad data format in input.".into()),
        }
    }
    if with_offset {
        let next = if c.left() == 0 { -1 } else { c.at as i64 };
        out.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(out))
}

fn offset_arg(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Integer(n)) => *n,
        Some(Value::Number(n)) => *n as i64,
        _ => 0,
    }
}

/// Installs `cmsgpack`.
pub fn install_cmsgpack(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    let fail = super::libs::lib_error;
    t.set(
        "pack",
        lua.create_function(move |lua, args: MultiValue| {
            if args.is_empty() {
                return Err(fail(lua, "bad argument #0 to 'pack' (MessagePack pack needs input.)".into()));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack_value(&mut out, v, 0)?;
            }
            lua.create_string(out)
        })?,
    )?;
    let string_arg = move |lua: &Lua, args: &MultiValue, func: &str| {
        super::structlib::string(args, 1, func).map_err(|m| fail(lua, m))
    };
    t.set(
        "unpack",
        lua.create_function(move |lua, args: MultiValue| {
            let s = string_arg(lua, &args, "unpack")?;
            unpack(lua, &s, 0, 0, false).map_err(|m| fail(lua, m))
        })?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(move |lua, args: MultiValue| {
            let s = string_arg(lua, &args, "unpack_one")?;
            unpack(lua, &s, 1, offset_arg(args.get(1)), true).map_err(|m| fail(lua, m))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(move |lua, args: MultiValue| {
            let s = string_arg(lua, &args, "unpack_limit")?;
            let limit = offset_arg(args.get(1));
            unpack(lua, &s, limit, offset_arg(args.get(2)), true).map_err(|m| fail(lua, m))
        })?,
    )?;
    lua.globals().set("cmsgpack", t)
}
