//! Redis's persistence commands, answered for a database whose every
//! acknowledged write is already durable on the storage fabric: SAVE,
//! BGSAVE, LASTSAVE, BGREWRITEAOF; and REPLICAOF/SLAVEOF, which Sixfold
//! refuses: the storage fabric's lease, not a command, decides which data
//! node writes (FAILOVER moves the writer).
//!
//! SAVE and LASTSAVE are data commands without keys, so the durable writer
//! holds their replies until every earlier write has committed: SAVE's OK
//! then means what Redis's means (everything written so far is on disk),
//! and LASTSAVE's time is one at which it was. Sixfold keeps no RDB or AOF
//! file; off-box snapshots are the snapshotter's (`sixfold snapshot now`).

use crate::args::is;
use crate::exec::{CmdError, CmdResult, Exec};
use bytes::Bytes;
use sixfold_resp::Frame;

/// What BGSAVE answers: nothing is left to save.
pub const BGSAVE_REPLY: &str = "Every acknowledged write is already durable on the storage fabric: nothing to save";

/// What BGREWRITEAOF answers.
pub const BGREWRITEAOF_REPLY: &str =
    "Sixfold keeps no append-only file: every acknowledged write is already in the storage fabric's log";

/// `SAVE`
pub fn save(_ex: &mut Exec, _a: &[Bytes]) -> CmdResult {
    Ok(Frame::ok())
}

/// `BGSAVE [SCHEDULE]`
pub fn bgsave(_ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    match a.len() {
        1 => Ok(Frame::Simple(BGSAVE_REPLY.into())),
        2 if is(&a[1], "schedule") => Ok(Frame::Simple(BGSAVE_REPLY.into())),
        _ => Err(CmdError::Syntax),
    }
}

/// `LASTSAVE`: now, once every earlier write has committed.
pub fn lastsave(ex: &mut Exec, _a: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ex.now_ms / 1000))
}

/// `BGREWRITEAOF`
pub fn bgrewriteaof(_ex: &mut Exec, _a: &[Bytes]) -> CmdResult {
    Ok(Frame::Simple(BGREWRITEAOF_REPLY.into()))
}

/// `REPLICAOF host port | NO ONE` (and SLAVEOF)
pub fn replicaof(_ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&a[0]).to_uppercase();
    Err(CmdError::msg(format!(
        "ERR {name} not allowed: the storage fabric's lease decides which data node writes (FAILOVER moves it)"
    )))
}
