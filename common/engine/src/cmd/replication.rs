//! Replication and durability commands: WAIT, WAITAOF, ROLE, READONLY,
//! READWRITE and REPLCONF (a replica's acknowledgements to the writer).
//!
//! The engine answers them at once, as Redis does where a client may not
//! block (inside MULTI): WAIT counts no replicas; WAITAOF counts no local
//! fsync and, without a durable log, refuses `numlocal`. The durable writer
//! intercepts them outside transactions and blocks the client until the
//! storage fabric (WAITAOF) or the replicas (WAIT) confirm its last write,
//! using [`parse_wait`] for the arguments.

use crate::args::int;
use crate::cmd::SessionResult;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;

/// What a WAIT or WAITAOF asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    /// WAITAOF's `numlocal` (0 for WAIT).
    pub numlocal: i64,
    /// Replicas that must confirm.
    pub numreplicas: i64,
    /// Milliseconds to wait at most (0: no limit).
    pub timeout_ms: u64,
    /// WAITAOF (an array reply) rather than WAIT.
    pub aof: bool,
}

/// Parses WAIT or WAITAOF (`args[0]` is the name); `None` for other commands.
pub fn parse_wait(args: &[Bytes]) -> Option<Result<WaitFor, CmdError>> {
    let name = args.first()?;
    let aof = if name.eq_ignore_ascii_case(b"waitaof") {
        true
    } else if name.eq_ignore_ascii_case(b"wait") {
        false
    } else {
        return None;
    };
    Some(parse_args(&args[1..], aof))
}

fn parse_args(a: &[Bytes], aof: bool) -> Result<WaitFor, CmdError> {
    let arity = if aof { 3 } else { 2 };
    if a.len() != arity {
        let name = if aof { "waitaof" } else { "wait" };
        return Err(CmdError::msg(format!("ERR wrong number of arguments for '{name}' command")));
    }
    let numlocal = if aof { int(&a[0])? } else { 0 };
    let numreplicas = int(&a[arity - 2])?;
    let timeout = int(&a[arity - 1])?;
    if timeout < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    Ok(WaitFor { numlocal, numreplicas, timeout_ms: timeout as u64, aof })
}

/// The reply: WAIT's replica count, or WAITAOF's `[local, replicas]`.
pub fn wait_reply(w: &WaitFor, local: i64, replicas: i64) -> Frame {
    if w.aof { Frame::Array(vec![Frame::Integer(local), Frame::Integer(replicas)]) } else { Frame::Integer(replicas) }
}

/// WAIT numreplicas timeout, answered without blocking.
pub fn wait(_e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let w = parse_args(&a[1..], false)?;
    Ok(Some(wait_reply(&w, 0, 0)))
}

/// WAITAOF numlocal numreplicas timeout, answered without blocking.
pub fn waitaof(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let w = parse_args(&a[1..], true)?;
    if w.numlocal > 0 && e.config.durability == "none" {
        return Err(CmdError::msg("ERR WAITAOF cannot be used when numlocal is set but the durable log is disabled."));
    }
    Ok(Some(wait_reply(&w, 0, 0)))
}

/// ROLE: `[master, offset, [[ip, port, offset], ...]]` on the writer,
/// `[slave, host, port, state, offset]` on a replica, from the server's
/// [`crate::cmd::cluster::Shard`].
pub fn role(e: &mut Engine, _id: ClientId, _a: &[Bytes]) -> SessionResult {
    let t = crate::cmd::cluster::topology(e);
    let link_up = (e.shard)().link_up;
    if !t.me_master {
        return Ok(Some(Frame::Array(vec![
            Frame::bulk("slave"),
            Frame::bulk(t.master.ip.clone()),
            Frame::Integer(i64::from(t.master.port)),
            Frame::bulk(if link_up { "connected" } else { "connect" }),
            Frame::Integer(t.me.offset),
        ])));
    }
    let replicas = t
        .replicas
        .iter()
        .map(|r| {
            Frame::Array(vec![
                Frame::bulk(r.ip.clone()),
                Frame::bulk(r.port.to_string()),
                Frame::bulk(r.offset.to_string()),
            ])
        })
        .collect();
    Ok(Some(Frame::Array(vec![Frame::bulk("master"), Frame::Integer(t.me.offset), Frame::Array(replicas)])))
}

/// REPLCONF: `LISTENING-PORT`, `IP-ADDRESS` and others answer OK; `ACK
/// <lsn>` answers nothing (as in Redis). The writer records both before
/// the engine runs them ([`parse_replconf`]). `TAKEOVER <lsn>` (a writer
/// handing over in a planned failover) is for replicas only; `NOTIFY 1`
/// (a replica asking for commit notifications on this connection) for the
/// writer only. `SNAPSHOT-MARKER <payload>` (the snapshotter: log a
/// verified snapshot's marker) the server runs itself.
pub fn replconf(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    if a[1].eq_ignore_ascii_case(b"ack") {
        return Ok(None);
    }
    if a[1].eq_ignore_ascii_case(b"notify") && e.config.replica_of.is_some() {
        return Err(CmdError::msg("ERR REPLCONF NOTIFY is for the writer: this node is a replica"));
    }
    if a[1].eq_ignore_ascii_case(b"snapshot-marker") {
        // The server runs it before the engine; here only from MULTI.
        return Err(CmdError::msg("ERR REPLCONF SNAPSHOT-MARKER cannot run inside MULTI"));
    }
    if a[1].eq_ignore_ascii_case(b"takeover") && e.config.replica_of.is_none() {
        return Err(CmdError::msg("ERR REPLCONF TAKEOVER is for replicas: this node is the writer"));
    }
    Ok(Some(Frame::ok()))
}

/// What a REPLCONF tells the writer about the replica on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplConf {
    /// The replica's RESP port.
    ListeningPort(u16),
    /// The replica's address as clients reach it.
    IpAddress(String),
    /// The replica applied the log up to this LSN.
    Ack(u64),
    /// The writer hands over (FAILOVER): take over once this LSN is applied.
    Takeover(u64),
    /// A replica asks for commit notifications on this connection (the
    /// number is the version of their format, 1).
    Notify(u64),
    /// The snapshotter asks the writer to log a `SnapshotMarker` with
    /// this payload.
    SnapshotMarker(Bytes),
}

/// Parses a REPLCONF the writer tracks; `None` for anything else.
pub fn parse_replconf(a: &[Bytes]) -> Option<ReplConf> {
    if a.len() != 3 || !a[0].eq_ignore_ascii_case(b"replconf") {
        return None;
    }
    if a[1].eq_ignore_ascii_case(b"snapshot-marker") {
        return Some(ReplConf::SnapshotMarker(a[2].clone()));
    }
    let text = std::str::from_utf8(&a[2]).ok()?;
    match crate::args::upper(&a[1]).as_str() {
        "LISTENING-PORT" => text.parse().ok().map(ReplConf::ListeningPort),
        "IP-ADDRESS" => Some(ReplConf::IpAddress(text.to_string())),
        "ACK" => text.parse().ok().map(ReplConf::Ack),
        "TAKEOVER" => text.parse().ok().map(ReplConf::Takeover),
        "NOTIFY" => text.parse().ok().map(ReplConf::Notify),
        _ => None,
    }
}

/// READONLY and READWRITE: a replica serves reads of keys only to
/// connections in READONLY mode; others get `-MOVED` to the writer (Redis
/// Cluster's rule). Accepted on every data node.
pub fn readonly(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    if let Some(s) = e.sessions.get_mut(&id) {
        s.readonly = a[0].eq_ignore_ascii_case(b"readonly");
    }
    Ok(Some(Frame::ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::words as args;

    #[test]
    fn parses_wait_and_waitaof() {
        let w = parse_wait(&args("WAIT 2 100")).unwrap().unwrap();
        assert_eq!(w, WaitFor { numlocal: 0, numreplicas: 2, timeout_ms: 100, aof: false });
        let w = parse_wait(&args("waitaof 1 0 0")).unwrap().unwrap();
        assert_eq!(w, WaitFor { numlocal: 1, numreplicas: 0, timeout_ms: 0, aof: true });
        assert!(parse_wait(&args("GET k")).is_none());
        let err = |s| parse_wait(&args(s)).unwrap().unwrap_err().to_string();
        assert_eq!(err("WAIT 1 -1"), "ERR timeout is negative");
        assert_eq!(err("WAIT x 1"), "ERR value is not an integer or out of range");
        assert_eq!(err("WAITAOF 1 1"), "ERR wrong number of arguments for 'waitaof' command");
        assert_eq!(
            wait_reply(&parse_wait(&args("WAITAOF 1 0 5")).unwrap().unwrap(), 1, 0).to_bytes(Default::default()),
            Bytes::from_static(b"*2\r\n:1\r\n:0\r\n")
        );
    }
}
