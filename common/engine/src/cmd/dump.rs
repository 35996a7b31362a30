//! DUMP and RESTORE (and RESTORE-ASKING) with Redis's RDB payloads
//! (`crate::rdb`), so values move between Redis and Sixfold.
//!
//! Effects: a RESTORE is logged as `RESTORE key <unix ms or 0> payload
//! REPLACE ABSTTL` (the TTL made absolute, as Redis propagates it), or as
//! `DEL key` when its absolute TTL had already passed and REPLACE removed
//! an old value.

use crate::args::{int, is};
use crate::exec::{CmdError, CmdResult, Exec, Mode};
use crate::rdb;
use bytes::Bytes;
use sixfold_resp::Frame;

fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// `DUMP key`
pub fn dump(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    Ok(ex.lookup(&a[1]).map_or(Frame::Null, |e| Frame::Bulk(Bytes::from(rdb::dump(&e.value)))))
}

/// RESTORE's options.
#[derive(Default)]
struct Options {
    replace: bool,
    absttl: bool,
    idle_s: Option<i64>,
}

fn options(a: &[Bytes]) -> Result<Options, CmdError> {
    let mut o = Options::default();
    let mut freq = false;
    let mut i = 4;
    while i < a.len() {
        let more = i + 1 < a.len();
        if is(&a[i], "replace") {
            o.replace = true;
        } else if is(&a[i], "absttl") {
            o.absttl = true;
        } else if is(&a[i], "idletime") && more && !freq {
            let n = int(&a[i + 1])?;
            if n < 0 {
                return Err(CmdError::msg("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle_s = Some(n);
            i += 1;
        } else if is(&a[i], "freq") && more && o.idle_s.is_none() {
            // Accepted as Redis does; access frequency is not tracked.
            if !(0..=255).contains(&int(&a[i + 1])?) {
                return Err(CmdError::msg("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`
pub fn restore(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let o = options(a)?;
    let key = &a[1];
    if !o.replace && ex.exists(key) {
        return Err(CmdError::msg("BUSYKEY Target key name already exists."));
    }
    let ttl = int(&a[2])?;
    if ttl < 0 {
        return Err(CmdError::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let body = rdb::unseal(&a[3]).ok_or_else(|| CmdError::msg("ERR DUMP payload version or checksum are wrong"))?;
    let value = rdb::load(body).ok_or_else(|| CmdError::msg("ERR Bad data format"))?;
    ex.suppress_verbatim();
    let deleted = o.replace && ex.delete(key);
    let at_ms = match ttl {
        0 => None,
        t if o.absttl => Some(t),
        t => Some(ex.now_ms.saturating_add(t)),
    };
    // Applying never expires: the writer logged this RESTORE because its
    // TTL had not passed then.
    if ex.mode != Mode::Apply && at_ms.is_some_and(|t| t <= ex.now_ms) {
        if deleted {
            ex.propagate(vec![word("DEL"), key.clone()]);
        }
        return Ok(Frame::ok());
    }
    ex.set(key.clone(), value, at_ms);
    if let (Some(idle), Some(e)) = (o.idle_s, ex.peek(key)) {
        e.set_idle_s(idle);
    }
    let at = Bytes::from(at_ms.unwrap_or(0).to_string());
    ex.propagate(vec![word("RESTORE"), key.clone(), at, a[3].clone(), word("REPLACE"), word("ABSTTL")]);
    Ok(Frame::ok())
}
