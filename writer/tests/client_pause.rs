//! CLIENT PAUSE, UNPAUSE and UNBLOCK against Debian's `redis-server`: the
//! same script over two connections sees the same frames at the same
//! steps (a held command answers only after UNPAUSE or the pause's end,
//! followed by what the client sent after it), and the errors are Redis's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use sixfold_resp::Frame;
use std::time::Duration;

fn send(c: &mut Raw, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send(&a);
}

/// The script against one server: what each step saw.
fn script(port: u16) -> Vec<String> {
    let (mut a, mut b) = (Raw::connect(port), Raw::connect(port));
    let mut seen = Vec::new();
    let mut note = |what: &str, f: Option<Frame>| seen.push(format!("{what}: {f:?}"));
    a.cmd(&["SET", "k", "1"]);
    note("pause write", Some(a.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"])));
    note("read under a write pause", Some(b.cmd(&["GET", "k"])));
    send(&mut b, &["INCR", "k"]);
    send(&mut b, &["GET", "k"]);
    note("a write is held", b.read_within(300));
    note("another client reads", Some(a.cmd(&["GET", "k"])));
    note("a script is held too", {
        send(&mut a, &["EVAL", "return 1", "0"]);
        a.read_within(200)
    });
    // A third client: the first one's EVAL is held, with what follows it.
    let mut c = Raw::connect(port);
    note("unpause", Some(c.cmd(&["CLIENT", "UNPAUSE"])));
    note("the held write", b.read_within(2000));
    note("then the read sent after it", b.read_within(2000));
    note("the held script", a.read_within(2000));
    note("pause all", Some(a.cmd(&["CLIENT", "PAUSE", "500"])));
    send(&mut b, &["GET", "k"]);
    note("a read is held under ALL", b.read_within(100));
    note("released at the pause's end", b.read_within(3000));
    let Frame::Integer(bid) = b.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    let bid = bid.to_string();
    for reason in ["ERROR", "TIMEOUT"] {
        send(&mut b, &["BLPOP", "nothing", "0"]);
        std::thread::sleep(Duration::from_millis(100));
        note("unblock", Some(a.cmd(&["CLIENT", "UNBLOCK", &bid, reason])));
        note("the blocked client", b.read_within(2000));
    }
    note("unblock a client not blocked", Some(a.cmd(&["CLIENT", "UNBLOCK", &bid])));
    let errors: [&[&str]; 10] = [
        &["CLIENT", "PAUSE", "x"],
        &["CLIENT", "PAUSE", "-1"],
        &["CLIENT", "PAUSE", "10", "FOO"],
        &["CLIENT", "UNBLOCK", "x"],
        &["CLIENT", "UNBLOCK", "1", "FOO"],
        &["CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"],
        &["CLIENT", "UNPAUSE", "x"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "CACHING", "yes"],
    ];
    for e in errors {
        note(&e.join(" "), Some(a.cmd(e)));
    }
    seen
}

#[test]
fn pauses_and_unblocks_answer_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (x, y) = (script(ours.port), script(theirs.port));
    let differ: Vec<String> =
        x.iter().zip(&y).filter(|(p, q)| p != q).map(|(p, q)| format!("sixfold {p}\n  redis {q}")).collect();
    assert!(differ.is_empty() && x.len() == y.len(), "{}", differ.join("\n"));
}
