//! The CLIENT subcommands that hold or release clients: PAUSE, UNPAUSE,
//! UNBLOCK (client-side caching's are in `crate::tracking`).

use crate::args::{int, is};
use crate::cmd::SessionResult;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;

fn arity_error(sub: &str) -> CmdError {
    CmdError::msg(format!("ERR wrong number of arguments for 'client|{}' command", sub.to_lowercase()))
}

/// `CLIENT PAUSE|UNPAUSE|UNBLOCK ...` (`sub` upper-cased).
pub fn client(e: &mut Engine, _id: ClientId, sub: &str, a: &[Bytes]) -> SessionResult {
    match (sub, a.len()) {
        ("PAUSE", 3 | 4) => {
            let ms = int(&a[2]).map_err(|_| CmdError::msg("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::msg("ERR timeout is negative"));
            }
            let all = match a.get(3) {
                None => true,
                Some(m) if is(m, "all") => true,
                Some(m) if is(m, "write") => false,
                Some(_) => return Err(CmdError::msg("ERR CLIENT PAUSE mode must be WRITE or ALL")),
            };
            let until = e.now_ms.checked_add(ms).ok_or_else(|| CmdError::msg("ERR timeout is out of range"))?;
            e.pause_clients(until, all);
            Ok(Some(Frame::ok()))
        }
        ("UNPAUSE", 2) => {
            e.unpause();
            Ok(Some(Frame::ok()))
        }
        ("UNBLOCK", 3 | 4) => {
            let target = int(&a[2])?;
            let error = match a.get(3) {
                None => false,
                Some(r) if is(r, "timeout") => false,
                Some(r) if is(r, "error") => true,
                Some(_) => return Err(CmdError::msg("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
            };
            let reply = error.then(|| Frame::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"));
            let done = u64::try_from(target).is_ok_and(|t| e.end_block(t, reply));
            Ok(Some(Frame::Integer(i64::from(done))))
        }
        ("UNBLOCK", _) => Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
        _ => Err(arity_error(sub)),
    }
}
