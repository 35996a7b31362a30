//! MONITOR against Debian's `redis-server`: the same commands from another
//! client give the same lines on both servers (timestamps and the
//! client's port aside): quoting, redacted passwords, hidden
//! administrative commands, scripts before their commands, transactions
//! at EXEC, blocking commands once, and a monitor that may not touch keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use sixfold_resp::Frame;

fn lines(port: u16) -> (Vec<String>, Frame) {
    let (mut m, mut a) = (Raw::connect(port), Raw::connect(port));
    assert_eq!(m.cmd(&["MONITOR"]), Frame::Simple("OK".into()));
    let script: Vec<Vec<&[u8]>> = vec![
        vec![b"SET", b"k", b"a b\"\\\n\r\t\x07\x08\x01\xc3\xa9"],
        vec![b"GET", b"nokey"],
        vec![b"AUTH", b"secret"],
        vec![b"HELLO", b"2", b"AUTH", b"default", b"secret", b"SETNAME", b"n"],
        vec![b"CONFIG", b"GET", b"port"],
        vec![b"CLIENT", b"SETNAME", b"z"],
        vec![b"CLIENT", b"LIST"],
        vec![b"MULTI"],
        vec![b"INCR", b"n"],
        vec![b"EXEC"],
        vec![b"EVAL", b"redis.call('set','x','1') return 1", b"0"],
        vec![b"SELECT", b"3"],
        vec![b"PING"],
        vec![b"NOSUCH"],
        vec![b"GET"],
        vec![b"BLPOP", b"q", b"0.05"],
        vec![b"SELECT", b"0"],
        vec![b"ECHO", b"done"],
    ];
    for c in &script {
        a.cmd_bytes(c);
    }
    let mut out = Vec::new();
    while let Some(Frame::Simple(l)) = m.read_within(1000) {
        // "<time> [<db> <addr>] args" → "[<db> <who>] args", the port dropped.
        let rest = l.split_once(' ').map_or("", |(_, r)| r).to_string();
        let who = rest.split(']').next().unwrap_or("").to_string();
        let db = who.trim_start_matches('[').split(' ').next().unwrap_or("").to_string();
        let kind = if who.ends_with(" lua") { "lua" } else { "client" };
        out.push(format!("[{db} {kind}]{}", rest.split_once(']').map_or("", |(_, r)| r)));
        if rest.ends_with("\"done\"") {
            break;
        }
    }
    (out, m.cmd(&["GET", "k"]))
}

#[test]
fn monitor_shows_what_redis_shows() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (x, y) = (lines(ours.port), lines(theirs.port));
    assert_eq!(x, y);
    assert!(x.0.len() >= 12, "{:?}", x.0);
}
