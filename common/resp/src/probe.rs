//! Blocking one-request probes of a RESP server, for the tools that start,
//! watch or measure Sixfold (`sixfold up`, `sixfold failover`, the
//! benchmarks, the fault harness): whether a server answers, and whether a
//! data node serves as the shard's writer now.

use crate::{Frame, decode_frame};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a probe waits to connect, and then for the reply.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest reply a probe reads.
const REPLY_BYTES_MAX: usize = 64 * 1024;

/// Sends `request` (RESP or an inline command) to `addr` and returns the
/// first reply, or `None` if the server cannot be reached, does not answer
/// within [`PROBE_TIMEOUT`] or answers with something that is not RESP.
pub fn ask(addr: &str, request: &[u8]) -> Option<Frame> {
    let to = addr.to_socket_addrs().ok()?.next()?;
    let mut s = TcpStream::connect_timeout(&to, PROBE_TIMEOUT).ok()?;
    s.set_read_timeout(Some(PROBE_TIMEOUT)).ok()?;
    s.write_all(request).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < REPLY_BYTES_MAX {
        let n = s.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some((frame, _)) = decode_frame(&buf).ok()? {
            return Some(frame);
        }
    }
    None
}

/// Whether `addr` answers PING with PONG.
pub fn answers_ping(addr: &str) -> bool {
    matches!(ask(addr, b"PING\r\n"), Some(Frame::Simple(s)) if s == "PONG")
}

/// Whether the data node at `addr` serves as the shard's writer now: it
/// answers a read of a key on a plain connection (a replica redirects it
/// with `-MOVED`, a writer waiting out an older writer's lease or pausing
/// for a failover asks to retry, a loading node says `-LOADING`).
pub fn serves_as_writer(addr: &str) -> bool {
    matches!(ask(addr, b"EXISTS sixfold-probe\r\n"), Some(Frame::Integer(_)))
}

/// Whether the data node at `addr` serves as a replica of the writer on
/// port `writer_port` with its link up (ROLE: `slave`, that port,
/// `connected`).
pub fn follows(addr: &str, writer_port: u16) -> bool {
    let Some(Frame::Array(role)) = ask(addr, b"ROLE\r\n") else { return false };
    match role.as_slice() {
        [Frame::Bulk(r), _, Frame::Integer(port), Frame::Bulk(state), ..] => {
            &r[..] == b"slave" && *port == i64::from(writer_port) && &state[..] == b"connected"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that answers one connection with `reply`.
    fn one_reply(reply: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut b = [0u8; 64];
                let _ = s.read(&mut b);
                let _ = s.write_all(reply);
            }
        });
        addr
    }

    #[test]
    fn a_writer_answers_a_redirect_does_not() {
        assert!(serves_as_writer(&one_reply(b":0\r\n")));
        assert!(!serves_as_writer(&one_reply(b"-MOVED 0 10.0.0.1:6379\r\n")));
        assert!(!serves_as_writer(&one_reply(b"-TRYAGAIN the lease of an older writer may hold\r\n")));
        assert!(answers_ping(&one_reply(b"+PONG\r\n")));
        let role = |state: &str| {
            format!("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:7000\r\n${}\r\n{state}\r\n:5\r\n", state.len())
        };
        let leaked = |s: String| -> &'static [u8] { Box::leak(s.into_bytes().into_boxed_slice()) };
        assert!(follows(&one_reply(leaked(role("connected"))), 7000));
        assert!(!follows(&one_reply(leaked(role("connected"))), 7001), "another writer");
        assert!(!follows(&one_reply(leaked(role("connect"))), 7000), "link down");
        assert!(!follows(&one_reply(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"), 7000));
        assert!(!answers_ping(&one_reply(b"-LOADING\r\n")));
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        assert!(!answers_ping(&closed), "nothing listens there");
    }
}
