//! `struct` as Redis loads it (Roberto Ierusalimschy's lua_struct 0.2):
//! `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])` and
//! `struct.size(fmt)`, with its format language (`<` `>` `!n` endianness
//! and alignment; `b B h H l L T i I[n]` integers; `f d` floats; `x`
//! padding; `s` zero-terminated and `c[n]` fixed strings) and its error
//! texts.

use mlua::{Lua, MultiValue, Value};

/// Largest integer size (`i32` fails).
const INT_BYTES_MAX: usize = 32;
/// Default and largest alignment (`!` alone): the platform's, 8.
const ALIGN_MAX: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

/// Where the format stands: endianness and alignment.
struct Header {
    endian: Endian,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header { endian: Endian::Little, align: 1 }
    }
}

/// A format string being read.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// A number right after the option, or `default`.
    fn num(&mut self, default: usize) -> Result<usize, String> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|d| d.is_ascii_digit()) {
            a = a
                .checked_mul(10)
                .and_then(|a| a.checked_add(usize::from(d - b'0')))
                .filter(|a| *a <= i32::MAX as usize)
                .ok_or("integral size overflow")?;
            self.at += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (0: none, or not aligned).
    fn size(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let n = self.num(4)?;
                if n > INT_BYTES_MAX {
                    return Err(format!("integral size {n} is larger than limit of {INT_BYTES_MAX}"));
                }
                n
            }
            _ => 0,
        })
    }

    /// `< > ! space`; anything else is an invalid option.
    fn control(&mut self, opt: u8, h: &mut Header, func: &str) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => h.endian = Endian::Big,
            b'<' => h.endian = Endian::Little,
            b'!' => {
                let a = self.num(ALIGN_MAX)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            _ => return Err(arg_error(1, func, &format!("invalid format option '{}'", char::from(opt)))),
        }
        Ok(())
    }
}

fn arg_error(n: usize, func: &str, why: &str) -> String {
    format!("bad argument #{n} to '{func}' ({why})")
}

/// Padding before an item of `size` at `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(v) => v.type_name(),
    }
}

/// `luaL_checknumber` of argument `n` (1-based) of `func`.
fn number(args: &MultiValue, n: usize, func: &str) -> Result<f64, String> {
    match args.get(n - 1) {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(x)) => Ok(*x),
        Some(Value::String(s)) if s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()).is_some() => {
            Ok(s.to_str().ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0.0))
        }
        other => Err(arg_error(n, func, &format!("number expected, got {}", type_name(other)))),
    }
}

/// `luaL_checklstring` of argument `n` (numbers become their text).
pub(super) fn string(args: &MultiValue, n: usize, func: &str) -> Result<Vec<u8>, String> {
    match args.get(n - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Ok(i.to_string().into_bytes()),
        Some(Value::Number(x)) => Ok(super::convert::lua_number_text(*x).into_bytes()),
        other => Err(arg_error(n, func, &format!("string expected, got {}", type_name(other)))),
    }
}

fn put_int(out: &mut Vec<u8>, n: f64, endian: Endian, size: usize) {
    let mut v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let mut bytes = vec![0u8; size];
    for b in bytes.iter_mut() {
        *b = v as u8;
        v = v.checked_shr(8).unwrap_or(0);
    }
    if endian == Endian::Big {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn get_int(data: &[u8], endian: Endian, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut push = |b: u8| l = l.checked_shl(8).unwrap_or(0) | u64::from(b);
    match endian {
        Endian::Big => data.iter().for_each(|b| push(*b)),
        Endian::Little => data.iter().rev().for_each(|b| push(*b)),
    }
    let size = data.len();
    if !signed || size == 0 {
        return l as f64;
    }
    let mask = u64::MAX.checked_shl(size as u32 * 8 - 1).unwrap_or(0);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// `struct.pack(fmt, ...)`.
fn pack(args: &MultiValue) -> Result<Vec<u8>, String> {
    let fmt = string(args, 1, "pack")?;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let (mut out, mut arg) = (Vec::new(), 2);
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                put_int(&mut out, number(args, arg, "pack")?, h.endian, size);
                arg += 1;
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let n = number(args, arg, "pack")?;
                arg += 1;
                let mut b = if opt == b'f' { (n as f32).to_le_bytes().to_vec() } else { n.to_le_bytes().to_vec() };
                if h.endian == Endian::Big {
                    b.reverse();
                }
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = string(args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h, "pack")?,
        }
    }
    Ok(out)
}

/// `struct.unpack(fmt, s [, pos])`: the values, then the next position.
fn unpack(lua: &Lua, args: &MultiValue) -> Result<MultiValue, String> {
    let fmt = string(args, 1, "unpack")?;
    let data = string(args, 2, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => number(args, 3, "unpack")?,
    };
    if start < 1.0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    let (mut f, mut h) = (Format { fmt: &fmt, at: 0 }, Header::default());
    let mut pos = start as usize - 1;
    let mut out: Vec<Value> = Vec::new();
    let text = |b: &[u8]| lua.create_string(b).map(Value::String).map_err(|e| e.to_string());
    let too_short = || arg_error(2, "unpack", "data string too short");
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > data.len() || pos > data.len() - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                out.push(Value::Number(get_int(&data[pos..pos + size], h.endian, opt.is_ascii_lowercase())));
            }
            b'x' => {}
            b'f' | b'd' => {
                let mut b = data[pos..pos + size].to_vec();
                if h.endian == Endian::Big {
                    b.reverse();
                }
                let n = match <[u8; 4]>::try_from(&b[..]) {
                    Ok(b4) => f64::from(f32::from_le_bytes(b4)),
                    Err(_) => f64::from_le_bytes(<[u8; 8]>::try_from(&b[..]).unwrap_or([0; 8])),
                };
                out.push(Value::Number(n));
            }
            b'c' => {
                if size == 0 {
                    let prev = match out.pop() {
                        Some(Value::Number(n)) => n,
                        Some(Value::Integer(n)) => n as f64,
                        _ => return Err("format 'c0' needs a previous size".into()),
                    };
                    size = prev as usize;
                    if size > data.len() || pos > data.len() - size {
                        return Err(too_short());
                    }
                }
                out.push(text(&data[pos..pos + size])?);
            }
            b's' => {
                let end = data[pos..].iter().position(|&b| b == 0).ok_or("unfinished string in data")?;
                out.push(text(&data[pos..pos + end])?);
                size = end + 1;
            }
            _ => f.control(opt, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_iter(out))
}

/// `struct.size(fmt)`.
fn size(args: &MultiValue) -> Result<usize, String> {
    let fmt = string(args, 1, "size")?;
    let (mut f, mut h, mut pos) = (Format { fmt: &fmt, at: 0 }, Header::default(), 0);
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos)
}

/// Installs `struct`.
pub fn install_struct(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    let fail = super::libs::lib_error;
    t.set(
        "pack",
        lua.create_function(move |lua, args: MultiValue| {
            let b = pack(&args).map_err(|m| fail(lua, m))?;
            lua.create_string(b)
        })?,
    )?;
    t.set("unpack", lua.create_function(move |lua, args: MultiValue| unpack(lua, &args).map_err(|m| fail(lua, m)))?)?;
    t.set("size", lua.create_function(move |lua, args: MultiValue| size(&args).map_err(|m| fail(lua, m)))?)?;
    lua.globals().set("struct", t)
}
