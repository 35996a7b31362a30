//! Incremental, zero-copy decoder for client requests (multibulk and inline).

use bytes::{Bytes, BytesMut};

/// Protocol limits, as in Redis.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest bulk argument (`proto-max-bulk-len`, default 512 MB).
    pub bulk_bytes_max: usize,
    /// Most arguments in one multibulk request.
    pub multibulk_len_max: usize,
    /// Longest inline request or header line (64 KiB in Redis).
    pub inline_bytes_max: usize,
    /// The client has not authenticated: as Redis (CVE-2021-32675), at
    /// most [`UNAUTHENTICATED_MULTIBULK_LEN_MAX`] arguments of at most
    /// [`UNAUTHENTICATED_BULK_BYTES_MAX`] bytes, so no stranger makes the
    /// server reserve a declared 512 MB bulk.
    pub unauthenticated: bool,
}

/// Most arguments in a request of a client that has not authenticated.
pub const UNAUTHENTICATED_MULTIBULK_LEN_MAX: i64 = 10;
/// Largest bulk argument of a client that has not authenticated.
pub const UNAUTHENTICATED_BULK_BYTES_MAX: i64 = 16 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bulk_bytes_max: 512 * 1024 * 1024,
            multibulk_len_max: i32::MAX as usize,
            inline_bytes_max: 64 * 1024,
            unauthenticated: false,
        }
    }
}

/// A request the server cannot parse; the connection is closed after the
/// error reply `-ERR Protocol error: <text>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(s: impl Into<String>) -> Self {
        ProtocolError(s.into())
    }
}

/// Where a partially received multibulk request stands.
#[derive(Debug, Default)]
struct Partial {
    /// Arguments still to read.
    remaining: usize,
    /// Byte ranges of the arguments read so far.
    args: Vec<(usize, usize)>,
    /// Offset of the next unread byte.
    pos: usize,
}

/// Decodes client requests from a connection's read buffer.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    limits: Limits,
    partial: Option<Partial>,
}

/// Requests up to this size are copied out of the read buffer; larger ones
/// are split off it without a copy (they own most of that buffer anyway).
const COPY_BYTES_MAX: usize = 16 * 1024;

/// Most arguments pre-allocated for one request, whatever the header claims.
const ARGS_PREALLOC_MAX: usize = 1024;

impl RequestDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder { limits, partial: None }
    }

    /// Changes the limits (CONFIG SET proto-max-bulk-len).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Takes the next complete request off `buf`. `Ok(None)` means more bytes
    /// are needed. An empty vector is an empty request (ignored by servers).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.partial.is_none() {
            match buf.first() {
                None => return Ok(None),
                Some(b'*') => {}
                Some(_) => return self.decode_inline(buf),
            }
        }
        self.decode_multibulk(buf)
    }

    fn decode_inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            if buf.len() > self.limits.inline_bytes_max {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        if nl > self.limits.inline_bytes_max {
            return Err(ProtocolError::new("too big inline request"));
        }
        let line = buf.split_to(nl + 1);
        let mut text = &line[..nl];
        if text.last() == Some(&b'\r') {
            text = &text[..text.len() - 1];
        }
        let args = split_args(text).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
        Ok(Some(args.into_iter().map(Bytes::from).collect()))
    }

    fn decode_multibulk(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let mut st = match self.partial.take() {
            Some(p) => p,
            None => {
                let Some((n, next)) = self.header(buf, 0, b'*')? else {
                    return Ok(None);
                };
                if self.limits.unauthenticated && n > UNAUTHENTICATED_MULTIBULK_LEN_MAX {
                    return Err(ProtocolError::new("unauthenticated multibulk length"));
                }
                if n > self.limits.multibulk_len_max as i64 {
                    return Err(ProtocolError::new("invalid multibulk length"));
                }
                if n <= 0 {
                    let _ = buf.split_to(next);
                    return Ok(Some(Vec::new()));
                }
                let n = n as usize;
                Partial { remaining: n, args: Vec::with_capacity(n.min(ARGS_PREALLOC_MAX)), pos: next }
            }
        };
        while st.remaining > 0 {
            let header = match self.bulk_header(buf, st.pos) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    self.partial = Some(st);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let (len, start) = header;
            if buf.len() < start + len + 2 {
                buf.reserve(start + len + 2 - buf.len());
                self.partial = Some(st);
                return Ok(None);
            }
            if &buf[start + len..start + len + 2] != b"\r\n" {
                return Err(ProtocolError::new("invalid bulk format"));
            }
            st.args.push((start, start + len));
            st.pos = start + len + 2;
            st.remaining -= 1;
        }
        let frozen = if st.pos <= COPY_BYTES_MAX {
            // Small requests get their own allocation, so the values the
            // engine keeps do not pin the whole read buffer.
            let own = Bytes::copy_from_slice(&buf[..st.pos]);
            bytes::Buf::advance(buf, st.pos);
            own
        } else {
            buf.split_to(st.pos).freeze()
        };
        Ok(Some(st.args.iter().map(|&(a, b)| frozen.slice(a..b)).collect()))
    }

    fn bulk_header(&self, buf: &[u8], at: usize) -> Result<Option<(usize, usize)>, ProtocolError> {
        let Some(&tag) = buf.get(at) else {
            return Ok(None);
        };
        if tag != b'$' {
            return Err(ProtocolError(format!("expected '$', got '{}'", tag as char)));
        }
        let Some((n, next)) = self.header(buf, at, b'$')? else {
            return Ok(None);
        };
        if self.limits.unauthenticated && n > UNAUTHENTICATED_BULK_BYTES_MAX {
            return Err(ProtocolError::new("unauthenticated bulk length"));
        }
        if n < 0 || n as u64 > self.limits.bulk_bytes_max as u64 {
            return Err(ProtocolError::new("invalid bulk length"));
        }
        Ok(Some((n as usize, next)))
    }

    /// Parses `<tag><int>\r\n` at `at`; returns the integer and the offset after it.
    fn header(&self, buf: &[u8], at: usize, tag: u8) -> Result<Option<(i64, usize)>, ProtocolError> {
        let rest = &buf[at..];
        let Some(cr) = memchr::memchr(b'\r', rest) else {
            if rest.len() > self.limits.inline_bytes_max {
                let what = if tag == b'*' { "too big mbulk count string" } else { "too big bulk count string" };
                return Err(ProtocolError::new(what));
            }
            return Ok(None);
        };
        if rest.len() < cr + 2 {
            return Ok(None);
        }
        let invalid = if tag == b'*' { "invalid multibulk length" } else { "invalid bulk length" };
        let n = parse_len(&rest[1..cr]).ok_or_else(|| ProtocolError::new(invalid))?;
        if rest[cr + 1] != b'\n' {
            return Err(ProtocolError::new(invalid));
        }
        Ok(Some((n, at + cr + 2)))
    }
}

/// Parses a length header's decimal integer (optional `-`), without the
/// UTF-8 round trip of `str::parse`.
fn parse_len(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(if neg { -n } else { n })
}

/// Splits an inline request like Redis's `sdssplitargs`: whitespace separated,
/// with "double quotes" (and \n \r \t \b \a \\ \" \xHH escapes) and 'single
/// quotes'. `None` on unbalanced quotes.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        while let Some(&c) = line.get(i) {
            if c.is_ascii_whitespace() {
                break;
            }
            if c == b'"' || c == b'\'' {
                // A quoted part ends the argument.
                i = read_quoted(line, i + 1, c, &mut cur)?;
                break;
            }
            cur.push(c);
            i += 1;
        }
        args.push(cur);
    }
}

/// Reads a quoted part that starts at `i` (after the opening `quote`) into
/// `cur`; returns the index after the closing quote, which must be followed
/// by white space or the end of the line.
fn read_quoted(line: &[u8], mut i: usize, quote: u8, cur: &mut Vec<u8>) -> Option<usize> {
    loop {
        let c = *line.get(i)?;
        let next = line.get(i + 1).copied();
        if c == quote {
            return match next {
                Some(n) if !n.is_ascii_whitespace() => None,
                _ => Some(i + 1),
            };
        }
        let hex_pair = line.get(i + 2).and_then(|&h| hex(h)).zip(line.get(i + 3).and_then(|&l| hex(l)));
        match (quote, c, next, hex_pair) {
            (b'"', b'\\', Some(b'x'), Some((h, l))) => {
                cur.push(h * 16 + l);
                i += 4;
            }
            (b'"', b'\\', Some(e), _) => {
                cur.push(unescape(e));
                i += 2;
            }
            (b'\'', b'\\', Some(b'\''), _) => {
                cur.push(b'\'');
                i += 2;
            }
            _ => {
                cur.push(c);
                i += 1;
            }
        }
    }
}

/// The byte a backslash escape in double quotes stands for.
fn unescape(e: u8) -> u8 {
    match e {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 8,
        b'a' => 7,
        other => other,
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(input: &[u8]) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        RequestDecoder::default().decode(&mut BytesMut::from(input))
    }

    #[test]
    fn multibulk_and_inline() {
        let got = dec(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap().unwrap();
        assert_eq!(got, vec![Bytes::from("GET"), Bytes::from("k")]);
        let got = dec(b"set k \"a b\\x41\"\r\n").unwrap().unwrap();
        assert_eq!(got, vec![Bytes::from("set"), Bytes::from("k"), Bytes::from("a bA")]);
        assert_eq!(dec(b"*2\r\n$3\r\nGET\r\n$1\r\n").unwrap(), None);
    }

    #[test]
    fn incremental_feed_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n";
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in input {
            buf.extend_from_slice(&[*b]);
            while let Some(req) = d.decode(&mut buf).unwrap() {
                out.push(req);
            }
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][2], Bytes::from("hello"));
        assert_eq!(out[1], vec![Bytes::from("PING")]);
    }

    #[test]
    fn redis_protocol_errors() {
        let e = |b: &[u8]| dec(b).unwrap_err().0;
        assert_eq!(e(b"*1\r\n+x\r\n"), "expected '$', got '+'");
        assert_eq!(e(b"*1\r\n$-5\r\n"), "invalid bulk length");
        assert_eq!(e(b"*x\r\n"), "invalid multibulk length");
        let stranger = |input: &[u8]| {
            let mut d = RequestDecoder::new(Limits { unauthenticated: true, ..Limits::default() });
            d.decode(&mut BytesMut::from(input)).map(|r| r.map(|a| a.len())).map_err(|e| e.to_string())
        };
        assert_eq!(stranger(b"*11\r\n"), Err("Protocol error: unauthenticated multibulk length".into()));
        assert_eq!(stranger(b"*1\r\n$16385\r\n"), Err("Protocol error: unauthenticated bulk length".into()));
        assert_eq!(stranger(b"*1\r\n$536870912\r\n"), Err("Protocol error: unauthenticated bulk length".into()));
        assert_eq!(stranger(b"*10\r\n$16384\r\n"), Ok(None), "at the limits: waits for the rest");
        assert_eq!(e(b"set \"abc\r\n"), "unbalanced quotes in request");
        let big = vec![b'a'; 70 * 1024];
        assert_eq!(e(&big), "too big inline request");
        let mut d = RequestDecoder::new(Limits { bulk_bytes_max: 10, ..Limits::default() });
        let err = d.decode(&mut BytesMut::from(&b"*1\r\n$11\r\n"[..])).unwrap_err();
        assert_eq!(err.to_string(), "Protocol error: invalid bulk length");
    }

    #[test]
    fn inline_quoting_like_sdssplitargs() {
        let split = |s: &str| {
            split_args(s.as_bytes()).map(|v| v.into_iter().map(|a| String::from_utf8(a).unwrap()).collect::<Vec<_>>())
        };
        assert_eq!(split("  a  b "), Some(vec!["a".into(), "b".into()]));
        assert_eq!(split(r#"x"a b"  'c d'"#), Some(vec!["xa b".into(), "c d".into()]));
        assert_eq!(split(r#""\n\x41\q""#), Some(vec!["\nAq".into()]));
        assert_eq!(split(r"'it\'s'"), Some(vec!["it's".into()]));
        assert_eq!(split(r#""a"b"#), None, "closing quote must end the argument");
        assert_eq!(split(r#""abc"#), None);
        assert_eq!(split("'abc"), None);
        assert_eq!(split(""), Some(vec![]));
    }

    #[test]
    fn empty_multibulk_is_ignored() {
        assert_eq!(dec(b"*0\r\n").unwrap(), Some(vec![]));
        assert_eq!(dec(b"*-1\r\n").unwrap(), Some(vec![]));
    }
}
