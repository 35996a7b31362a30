//! Decoder for any RESP2/RESP3 value (replies, pushes): the client side.

use crate::frame::Frame;
use crate::request::ProtocolError;
use bytes::Bytes;

/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
const DEPTH_MAX: usize = 128;
/// Most elements pre-allocated for one aggregate, whatever its header claims.
const PREALLOC_MAX: usize = 1024;

/// Decodes one value from the front of `buf`. Returns the value and the
/// number of bytes it used, or `Ok(None)` when more bytes are needed.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    decode_at(buf, 0, 0)
}

type Step = Result<Option<(Frame, usize)>, ProtocolError>;

fn err(s: &str) -> ProtocolError {
    ProtocolError(s.to_string())
}

fn read_line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let cr = memchr::memchr(b'\r', rest)?;
    if rest.len() < cr + 2 {
        return None;
    }
    Some((&rest[..cr], at + cr + 2))
}

fn parse_int(s: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(s).ok().and_then(|s| s.parse().ok()).ok_or_else(|| err("invalid integer"))
}

fn text(s: &[u8]) -> Result<String, ProtocolError> {
    String::from_utf8(s.to_vec()).map_err(|_| err("invalid utf-8 in simple value"))
}

fn decode_at(buf: &[u8], at: usize, depth: usize) -> Step {
    if depth > DEPTH_MAX {
        return Err(err("nesting too deep"));
    }
    let Some(&tag) = buf.get(at) else {
        return Ok(None);
    };
    let Some((body, next)) = read_line(buf, at + 1) else {
        return Ok(None);
    };
    let done = |f: Frame| Ok(Some((f, next)));
    match tag {
        b'+' => done(Frame::Simple(text(body)?.into())),
        b'-' => done(Frame::Error(text(body)?)),
        b':' => done(Frame::Integer(parse_int(body)?)),
        b'_' => done(Frame::Null),
        b'#' => match body {
            b"t" => done(Frame::Boolean(true)),
            b"f" => done(Frame::Boolean(false)),
            _ => Err(err("invalid boolean")),
        },
        b',' => {
            let s = text(body)?;
            let d = match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => s.parse().map_err(|_| err("invalid double"))?,
            };
            done(Frame::Double(d))
        }
        b'(' => done(Frame::BigNumber(text(body)?)),
        b'$' | b'=' | b'!' => {
            let n = parse_int(body)?;
            if n < 0 {
                return if tag == b'$' { done(Frame::Null) } else { Err(err("invalid length")) };
            }
            let n = n as usize;
            let Some(end) = next.checked_add(n).filter(|e| e.checked_add(2).is_some()) else {
                return Err(err("invalid length"));
            };
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(err("invalid bulk format"));
            }
            let data = Bytes::copy_from_slice(&buf[next..end]);
            let f = match tag {
                b'$' => Frame::Bulk(data),
                b'!' => Frame::Error(text(&data)?),
                _ => {
                    if data.len() < 4 || data[3] != b':' {
                        return Err(err("invalid verbatim string"));
                    }
                    Frame::Verbatim(text(&data[..3])?, data.slice(4..))
                }
            };
            Ok(Some((f, end + 2)))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = parse_int(body)?;
            if n < 0 {
                return if tag == b'*' { done(Frame::NullArray) } else { Err(err("invalid length")) };
            }
            let count = if tag == b'%' { (n as usize).saturating_mul(2) } else { n as usize };
            let mut items = Vec::with_capacity(count.min(PREALLOC_MAX));
            let mut pos = next;
            for _ in 0..count {
                match decode_at(buf, pos, depth + 1)? {
                    Some((f, p)) => {
                        items.push(f);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            let f = match tag {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut it = items.into_iter();
                    let mut pairs = Vec::with_capacity(count / 2);
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            };
            Ok(Some((f, pos)))
        }
        _ => Err(ProtocolError(format!("unknown type byte {tag:#04x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Protocol;
    use proptest::prelude::*;

    fn arb_frame() -> impl Strategy<Value = Frame> {
        let leaf = prop_oneof![
            "[a-zA-Z0-9 ]{0,12}".prop_map(|s| Frame::Simple(s.into())),
            "ERR [a-z ]{0,12}".prop_map(Frame::Error),
            any::<i64>().prop_map(Frame::Integer),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Frame::Bulk(v.into())),
            Just(Frame::Null),
            any::<bool>().prop_map(Frame::Boolean),
            (-1e300f64..1e300).prop_map(Frame::Double),
            "-?[1-9][0-9]{0,30}".prop_map(Frame::BigNumber),
            ("txt|mkd", proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(f, v)| Frame::Verbatim(f, v.into())),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Array),
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Set),
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Push),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn resp3_round_trip(f in arb_frame()) {
            let bytes = f.to_bytes(Protocol::Resp3);
            let (back, used) = decode_frame(&bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(back, f);
        }

        #[test]
        fn truncated_input_asks_for_more(f in arb_frame()) {
            let bytes = f.to_bytes(Protocol::Resp3);
            for cut in 0..bytes.len() {
                prop_assert!(decode_frame(&bytes[..cut]).unwrap().is_none());
            }
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_frame(&b);
        }
    }

    #[test]
    fn resp2_nulls() {
        assert_eq!(decode_frame(b"$-1\r\n").unwrap(), Some((Frame::Null, 5)));
        assert_eq!(decode_frame(b"*-1\r\n").unwrap(), Some((Frame::NullArray, 5)));
    }
}
