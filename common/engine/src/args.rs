//! Argument parsing helpers shared by the command families.

use crate::exec::CmdError;
use crate::util::{parse_f64, parse_i64};
use bytes::Bytes;

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn int(b: &[u8]) -> Result<i64, CmdError> {
    parse_i64(b).ok_or(CmdError::NotInt)
}

/// Parses a float argument (`ERR value is not a valid float`).
pub fn float(b: &[u8]) -> Result<f64, CmdError> {
    parse_f64(b).ok_or(CmdError::NotFloat)
}

/// Parses a non-negative count (`ERR value is out of range, must be positive`).
pub fn positive(b: &[u8]) -> Result<usize, CmdError> {
    let bad = || CmdError::msg("ERR value is out of range, must be positive");
    let n = int(b).map_err(|_| bad())?;
    usize::try_from(n).map_err(|_| bad())
}

/// Parses an integer in `min..=max`; anything else gets `ERR <msg>` (as
/// Redis's `getRangeLongFromObjectOrReply`).
pub fn int_in(b: &[u8], min: i64, max: i64, msg: &str) -> Result<i64, CmdError> {
    int(b).ok().filter(|n| (min..=max).contains(n)).ok_or_else(|| CmdError::msg(format!("ERR {msg}")))
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// The upper-cased text of an argument (for error messages and dispatch).
pub fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

/// A static argument.
pub fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Converts Redis-style start/end indices (negative from the end) into a
/// half-open range over `len` items; `None` when empty.
pub fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 { (len + start).max(0) } else { start };
    let e = if end < 0 { len + end } else { end.min(len - 1) };
    if s > e || s >= len { None } else { Some((s as usize, e as usize + 1)) }
}

/// A timeout argument in seconds for blocking commands, as milliseconds.
pub fn timeout_ms(b: &[u8]) -> Result<u64, CmdError> {
    let t = parse_f64(b)
        .filter(|t| t.is_finite())
        .ok_or_else(|| CmdError::msg("ERR timeout is not a float or out of range"))?;
    if t < 0.0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    Ok((t * 1000.0).ceil() as u64)
}

/// A command's arguments from its words (`"SET k v"`), for tests.
#[cfg(test)]
pub(crate) fn words(s: &str) -> Vec<Bytes> {
    s.split(' ').map(|w| Bytes::from(w.to_string())).collect()
}
