//! Reply values and their encoding for RESP2 and RESP3 clients.

use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;

/// The protocol a connection speaks (chosen with `HELLO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default for new connections.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// A RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK` (static text needs no allocation).
    Simple(Cow<'static, str>),
    /// `-ERR ...` (the text includes the error code prefix).
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc`
    Bulk(Bytes),
    /// Nil bulk (`$-1` in RESP2, `_` in RESP3).
    Null,
    /// Nil array (`*-1` in RESP2, `_` in RESP3).
    NullArray,
    /// `*N`
    Array(Vec<Frame>),
    /// RESP3 map; a flat array in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Frame>),
    /// RESP3 double; a bulk string in RESP2.
    Double(f64),
    /// RESP3 boolean; integer 1/0 in RESP2.
    Boolean(bool),
    /// RESP3 big number; a bulk string in RESP2.
    BigNumber(String),
    /// RESP3 verbatim string with a 3-letter format; a bulk string in RESP2.
    Verbatim(String, Bytes),
    /// RESP3 push (pub/sub messages); an array in RESP2.
    Push(Vec<Frame>),
}

impl Frame {
    /// `+OK`.
    pub fn ok() -> Frame {
        Frame::Simple(Cow::Borrowed("OK"))
    }

    /// An error reply; `msg` must start with the error code (`ERR`, `WRONGTYPE`, ...).
    pub fn error(msg: impl Into<String>) -> Frame {
        Frame::Error(msg.into())
    }

    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    /// A bulk string holding the decimal form of `n`.
    pub fn bulk_int(n: i64) -> Frame {
        Frame::Bulk(Bytes::from(n.to_string()))
    }

    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Appends the encoding of this value for `proto` to `out`.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        let r3 = proto == Protocol::Resp3;
        match self {
            Frame::Simple(s) => line(out, b'+', s.as_bytes()),
            Frame::Error(s) => line(out, b'-', s.as_bytes()),
            Frame::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Frame::Bulk(b) => bulk(out, b),
            Frame::Null if r3 => out.put_slice(b"_\r\n"),
            Frame::Null => out.put_slice(b"$-1\r\n"),
            Frame::NullArray if r3 => out.put_slice(b"_\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Array(items) => seq(out, b'*', items, proto),
            Frame::Set(items) => seq(out, if r3 { b'~' } else { b'*' }, items, proto),
            Frame::Push(items) => seq(out, if r3 { b'>' } else { b'*' }, items, proto),
            Frame::Map(pairs) => {
                if r3 {
                    line(out, b'%', pairs.len().to_string().as_bytes());
                } else {
                    line(out, b'*', (pairs.len() * 2).to_string().as_bytes());
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Frame::Double(d) if r3 => line(out, b',', resp3_double(*d).as_bytes()),
            Frame::Double(d) => bulk(out, format_double(*d).as_bytes()),
            Frame::Boolean(b) if r3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::Boolean(b) => line(out, b':', if *b { b"1" } else { b"0" }),
            Frame::BigNumber(s) if r3 => line(out, b'(', s.as_bytes()),
            Frame::BigNumber(s) => bulk(out, s.as_bytes()),
            Frame::Verbatim(fmt, text) if r3 => {
                line(out, b'=', (text.len() + 4).to_string().as_bytes());
                out.put_slice(fmt.as_bytes());
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Frame::Verbatim(_, text) => bulk(out, text),
        }
    }

    /// The encoding of this value as a fresh buffer.
    pub fn to_bytes(&self, proto: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(proto, &mut out);
        out.freeze()
    }
}

fn line(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(tag);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, b: &[u8]) {
    line(out, b'$', b.len().to_string().as_bytes());
    out.reserve(b.len() + 2);
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

fn seq(out: &mut BytesMut, tag: u8, items: &[Frame], proto: Protocol) {
    line(out, tag, items.len().to_string().as_bytes());
    for it in items {
        it.encode(proto, out);
    }
}

fn resp3_double(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format_double(d)
    }
}

/// Formats a double the way Redis 7.2 replies with scores and floats: the
/// shortest text that reads back as the same value, in `%.17g` style
/// (exponent form outside `1e-5 ..= 1e21`), `inf`/`-inf` for infinities.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let e = format!("{d:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..21).contains(&exp) {
        let s = format!("{d}");
        return s;
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_format_like_redis() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(10.0), "10");
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-3.0), "-3");
    }

    #[test]
    fn resp2_downgrades_resp3_types() {
        let m = Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))]);
        assert_eq!(&m.to_bytes(Protocol::Resp2)[..], b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(&m.to_bytes(Protocol::Resp3)[..], b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(&Frame::Null.to_bytes(Protocol::Resp2)[..], b"$-1\r\n");
        assert_eq!(&Frame::Null.to_bytes(Protocol::Resp3)[..], b"_\r\n");
        assert_eq!(&Frame::Double(2.5).to_bytes(Protocol::Resp2)[..], b"$3\r\n2.5\r\n");
    }
}
