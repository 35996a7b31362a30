//! LCS: the longest common subsequence of two strings, its length, or the
//! matching ranges (IDX, MINMATCHLEN, WITHMATCHLEN), computed and walked
//! back exactly as Redis 7.0's `lcsCommand` does, so the ranges it reports
//! are Redis's.

use crate::args::{int, is};
use crate::exec::{CmdError, CmdResult, Exec};
use bytes::Bytes;
use sixfold_resp::Frame;

/// Most bytes the table may take (Redis bounds it by `proto-max-bulk-len`).
const TABLE_BYTES_MAX: u64 = 512 * 1024 * 1024;

struct Options {
    len: bool,
    idx: bool,
    min_match: u64,
    with_match_len: bool,
}

fn options(a: &[Bytes]) -> Result<Options, CmdError> {
    let mut o = Options { len: false, idx: false, min_match: 0, with_match_len: false };
    let mut i = 0;
    while i < a.len() {
        if is(&a[i], "LEN") {
            o.len = true;
        } else if is(&a[i], "IDX") {
            o.idx = true;
        } else if is(&a[i], "WITHMATCHLEN") {
            o.with_match_len = true;
        } else if is(&a[i], "MINMATCHLEN") && i + 1 < a.len() {
            o.min_match = int(&a[i + 1])?.max(0) as u64;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if o.len && o.idx {
        return Err(CmdError::msg("ERR If you want both the length and indexes, please just use IDX."));
    }
    Ok(o)
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`
pub fn lcs(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let mut strings = Vec::with_capacity(2);
    for k in &a[1..3] {
        match ex.string(k) {
            Ok(s) => strings.push(s.unwrap_or_default()),
            Err(CmdError::WrongType) => {
                return Err(CmdError::msg("ERR The specified keys must contain string values"));
            }
            Err(e) => return Err(e),
        }
    }
    let o = options(&a[3..])?;
    let (x, y) = (&strings[0], &strings[1]);
    let cells = (x.len() as u64 + 1) * (y.len() as u64 + 1);
    if cells * 4 > TABLE_BYTES_MAX {
        return Err(CmdError::msg("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    let table = table(x, y);
    let at = |i: usize, j: usize| table[j * (x.len() + 1) + i];
    let length = at(x.len(), y.len());
    if o.len {
        return Ok(Frame::Integer(i64::from(length)));
    }
    let (text, matches) = walk(x, y, &at, &o);
    if !o.idx {
        return Ok(Frame::Bulk(Bytes::from(text)));
    }
    let word = |s: &'static str| Frame::Bulk(Bytes::from_static(s.as_bytes()));
    Ok(Frame::Map(vec![(word("matches"), Frame::Array(matches)), (word("len"), Frame::Integer(i64::from(length)))]))
}

/// The dynamic-programming table, `(|x|+1) × (|y|+1)` cells, column-major
/// in `y` as Redis lays it out.
fn table(x: &[u8], y: &[u8]) -> Vec<u32> {
    let w = x.len() + 1;
    let mut t = vec![0u32; w * (y.len() + 1)];
    for j in 1..=y.len() {
        for i in 1..=x.len() {
            t[j * w + i] = if x[i - 1] == y[j - 1] {
                t[(j - 1) * w + i - 1] + 1
            } else {
                t[(j - 1) * w + i].max(t[j * w + i - 1])
            };
        }
    }
    t
}

/// Walks the table back from the end: the common subsequence, and the
/// matching ranges (longest first, as Redis emits them).
fn walk(x: &[u8], y: &[u8], at: &impl Fn(usize, usize) -> u32, o: &Options) -> (Vec<u8>, Vec<Frame>) {
    let mut text = vec![0u8; at(x.len(), y.len()) as usize];
    let mut matches = Vec::new();
    let (mut i, mut j, mut idx) = (x.len(), y.len(), text.len());
    let none = x.len();
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (none, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if x[i - 1] == y[j - 1] {
            text[idx - 1] = x[i - 1];
            if a_start == none {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            (idx, i, j) = (idx - 1, i - 1, j - 1);
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = a_start != none;
        }
        if emit {
            let match_len = (a_end - a_start + 1) as u64;
            if o.idx && (o.min_match == 0 || match_len >= o.min_match) {
                let pair = |s: usize, e: usize| Frame::Array(vec![Frame::Integer(s as i64), Frame::Integer(e as i64)]);
                let mut m = vec![pair(a_start, a_end), pair(b_start, b_end)];
                if o.with_match_len {
                    m.push(Frame::Integer(match_len as i64));
                }
                matches.push(Frame::Array(m));
            }
            a_start = none;
        }
    }
    (text, matches)
}
