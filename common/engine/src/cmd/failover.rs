//! FAILOVER (Redis 6.2 syntax): `FAILOVER [TO host port [FORCE]] [ABORT]
//! [TIMEOUT ms]` on the writer hands its role to a caught-up replica. The
//! engine checks the request against the shard as it knows it, pauses
//! writes (they answer `-TRYAGAIN` until the handover ends), and leaves
//! the request for the server ([`Engine::take_failover`]), which waits for
//! every write to commit and the target to apply it, asks the target to
//! take over (`REPLCONF TAKEOVER <lsn>`), and is then fenced by it and
//! becomes its replica. ABORT, or the timeout, resumes writes.

use crate::args::{int, upper};
use crate::cmd::SessionResult;
use crate::cmd::cluster::topology;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;

/// A planned failover the server is to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverRequest {
    /// The replica to hand over to, `host:port`.
    pub target: String,
    /// Give up (and resume writes) after this long; 0: no limit.
    pub timeout_ms: u64,
    /// Hand over at the timeout even if the target has not caught up.
    pub force: bool,
}

/// What FAILOVER's arguments ask for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    to: Option<(String, i64)>,
    force: bool,
    timeout_ms: u64,
}

/// Parses `[TO host port] [FORCE] [TIMEOUT ms]` in any order, as Redis does.
fn parse(a: &[Bytes]) -> Result<Args, CmdError> {
    let mut out = Args::default();
    let mut i = 1;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "TIMEOUT" if i + 1 < a.len() && out.timeout_ms == 0 => {
                let ms = int(&a[i + 1])?;
                if ms <= 0 {
                    return Err(CmdError::msg("ERR FAILOVER timeout must be greater than 0"));
                }
                out.timeout_ms = ms as u64;
                i += 2;
            }
            "TO" if i + 2 < a.len() && out.to.is_none() => {
                let port = int(&a[i + 2])?;
                out.to = Some((String::from_utf8_lossy(&a[i + 1]).into_owned(), port));
                i += 3;
            }
            "FORCE" if !out.force => (out.force, i) = (true, i + 1),
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(out)
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms], with Redis's
/// checks in Redis's order.
pub fn failover(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    if a.len() == 2 && a[1].eq_ignore_ascii_case(b"abort") {
        if !e.abort_failover() {
            return Err(CmdError::msg("ERR No failover in progress."));
        }
        return Ok(Some(Frame::ok()));
    }
    let args = parse(a)?;
    if e.failover_in_progress() {
        return Err(CmdError::msg("ERR FAILOVER already in progress."));
    }
    if e.config.replica_of.is_some() {
        return Err(CmdError::msg("ERR FAILOVER is not valid when server is a replica."));
    }
    let t = topology(e);
    if t.replicas.is_empty() {
        return Err(CmdError::msg("ERR FAILOVER requires connected replicas."));
    }
    if args.force && (args.timeout_ms == 0 || args.to.is_none()) {
        return Err(CmdError::msg("ERR FAILOVER with force option requires both a timeout and target HOST and IP."));
    }
    let target = match &args.to {
        Some((host, port)) => t.replicas.iter().find(|r| r.ip == *host && i64::from(r.port) == *port),
        None => t.replicas.iter().max_by_key(|r| r.offset),
    };
    let Some(target) = target else {
        return Err(CmdError::msg("ERR FAILOVER target HOST and PORT is not a replica."));
    };
    let req = FailoverRequest {
        target: format!("{}:{}", target.ip, target.port),
        timeout_ms: args.timeout_ms,
        force: args.force,
    };
    e.start_failover(req);
    Ok(Some(Frame::ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::words as args;

    #[test]
    fn parses_redis_syntax_and_its_errors() {
        let p = parse(&args("FAILOVER TO 10.0.0.2 6380 FORCE TIMEOUT 500")).unwrap();
        assert_eq!(p, Args { to: Some(("10.0.0.2".into(), 6380)), force: true, timeout_ms: 500 });
        assert_eq!(parse(&args("FAILOVER")).unwrap(), Args::default());
        let err = |s: &str| parse(&args(s)).unwrap_err().to_string();
        assert!(err("FAILOVER TIMEOUT 0").contains("greater than 0"));
        assert_eq!(err("FAILOVER TO host"), "ERR syntax error");
        assert_eq!(err("FAILOVER ABORT TIMEOUT 5"), "ERR syntax error");
        assert_eq!(err("FAILOVER FORCE FORCE"), "ERR syntax error");
        assert_eq!(err("FAILOVER TO host x"), "ERR value is not an integer or out of range");
    }
}
