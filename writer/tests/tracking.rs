//! Client-side caching (`CLIENT TRACKING`) against Debian's
//! `redis-server`: the same scenario of several connections runs on both,
//! and after every step each connection must have received the same
//! frames (replies, RESP3 `invalidate` pushes, RESP2 messages on
//! `__redis__:invalidate`): default mode (a read key invalidated once by
//! another client's write, by expiry, by FLUSHALL), REDIRECT to a RESP2
//! subscriber and to a RESP3 client, BCAST with and without prefixes,
//! OPTIN/OPTOUT with CLIENT CACHING, NOLOOP, a client's own write
//! invalidated after its reply, a redirect target gone, and the errors,
//! TRACKINGINFO and GETREDIR replies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use sixfold_resp::Frame;

/// Everything `c` received within a short quiet window.
fn received(c: &mut Raw) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Some(f) = c.read_within(if out.is_empty() { 150 } else { 50 }) {
        out.push(f);
    }
    out
}

/// Runs `steps` (connection, command; `$n` is connection n's client ID)
/// on a server with `conns` connections; what each connection received
/// after each step.
fn play(port: u16, conns: usize, steps: &[(usize, &str)]) -> Vec<String> {
    let mut c: Vec<Raw> = (0..conns).map(|_| Raw::connect(port)).collect();
    let ids: Vec<String> = c.iter_mut().map(|c| format!("{:?}", c.cmd(&["CLIENT", "ID"]))).collect();
    let ids: Vec<String> =
        ids.iter().map(|s| s.trim_start_matches("Integer(").trim_end_matches(')').to_string()).collect();
    let mut log = Vec::new();
    for (i, (who, line)) in steps.iter().enumerate() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| match w.strip_prefix('$') {
                Some(n) if !n.is_empty() && n.chars().all(|d| d.is_ascii_digit()) => {
                    ids[n.parse::<usize>().unwrap()].clone()
                }
                _ => w.to_string(),
            })
            .collect();
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        c[*who].send(&args);
        if line.starts_with("DEBUG SLEEP") {
            std::thread::sleep(std::time::Duration::from_millis(120));
        }
        for (n, conn) in c.iter_mut().enumerate() {
            let got = received(conn);
            if !got.is_empty() && !line.starts_with("HELLO") {
                // Client IDs differ between the servers: named by connection.
                let mut text = format!("step {i} ({who}: {line}) -> conn {n}: {got:?}");
                for (m, id) in ids.iter().enumerate() {
                    text = text.replace(&format!("Integer({id})"), &format!("Integer(${m})"));
                }
                log.push(text);
            }
        }
    }
    log
}

fn same_on_both(name: &str, conns: usize, steps: &[(usize, &str)]) {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (x, y) = (play(ours.port, conns, steps), play(theirs.port, conns, steps));
    for (a, b) in x.iter().zip(&y) {
        assert_eq!(a, b, "{name}: first difference (sixfold, then redis)");
    }
    assert_eq!(x.len(), y.len(), "{name}: sixfold {x:#?}\nredis {y:#?}");
}

#[test]
fn default_mode_invalidates_a_read_key_once() {
    same_on_both(
        "default",
        2,
        &[
            (0, "HELLO 3"),
            (0, "CLIENT TRACKING ON"),
            (0, "CLIENT TRACKINGINFO"),
            (0, "CLIENT GETREDIR"),
            (1, "SET k v"),
            (0, "GET k"),
            (0, "MGET a b"),
            (1, "SET k w"),
            (1, "SET k x"),
            (1, "DEL a b"),
            (0, "GET k"),
            (0, "SET k mine"),
            (0, "HGET h f"),
            (1, "HSET h f v"),
            (0, "GET t"),
            (1, "SET t v PX 1"),
            (0, "GET t"),
            (1, "PEXPIRE k 1"),
            (0, "GET k"),
            (0, "GET z"),
            (1, "FLUSHALL"),
            (1, "SET z 1"),
            (0, "CLIENT TRACKING OFF"),
            (0, "CLIENT TRACKINGINFO"),
            (0, "GET z"),
            (1, "SET z 2"),
        ],
    );
}

#[test]
fn redirect_bcast_optin_optout_and_noloop_answer_as_redis() {
    same_on_both(
        "redirect to a RESP2 subscriber",
        3,
        &[
            (2, "SUBSCRIBE __redis__:invalidate"),
            (0, "CLIENT TRACKING ON REDIRECT $2"),
            (0, "CLIENT GETREDIR"),
            (0, "GET k"),
            (1, "SET k v"),
            (0, "CLIENT TRACKING ON REDIRECT $1"),
            (0, "CLIENT TRACKING OFF"),
            (0, "CLIENT TRACKING ON REDIRECT 999999"),
        ],
    );
    same_on_both(
        "bcast",
        2,
        &[
            (0, "HELLO 3"),
            (0, "CLIENT TRACKING ON BCAST PREFIX user: PREFIX cart:"),
            (0, "CLIENT TRACKINGINFO"),
            (1, "SET user:1 a"),
            (1, "SET other b"),
            (1, "MSET cart:9 x user:2 y"),
            (0, "CLIENT TRACKING ON BCAST PREFIX u"),
            (0, "CLIENT TRACKING ON BCAST PREFIX order:"),
            (0, "CLIENT TRACKINGINFO"),
            (1, "SET order:1 z"),
            (0, "CLIENT TRACKING ON"),
            (0, "CLIENT TRACKING OFF"),
            (0, "CLIENT TRACKING ON BCAST NOLOOP"),
            (0, "SET mine 1"),
            (1, "SET theirs 1"),
        ],
    );
    same_on_both(
        "optin and optout",
        2,
        &[
            (0, "HELLO 3"),
            (0, "CLIENT CACHING YES"),
            (0, "CLIENT TRACKING ON OPTIN"),
            (0, "CLIENT CACHING NO"),
            (0, "GET a"),
            (1, "SET a 1"),
            (0, "CLIENT CACHING YES"),
            (0, "CLIENT TRACKINGINFO"),
            (0, "GET b"),
            (0, "GET c"),
            (1, "MSET b 1 c 1"),
            (0, "CLIENT TRACKING ON OPTOUT"),
            (0, "CLIENT TRACKING OFF"),
            (0, "CLIENT TRACKING ON OPTOUT"),
            (0, "GET d"),
            (0, "CLIENT CACHING NO"),
            (0, "GET e"),
            (1, "MSET d 1 e 1"),
            (0, "CLIENT TRACKING ON OPTIN OPTOUT"),
            (0, "CLIENT TRACKING ON BCAST OPTIN"),
            (0, "CLIENT TRACKING ON PREFIX x"),
            (0, "CLIENT TRACKING MAYBE"),
            (0, "CLIENT TRACKING ON REDIRECT $1 REDIRECT $0"),
        ],
    );
}

#[test]
fn a_redirect_to_a_client_gone_is_reported() {
    let ours = sixfold(&[]);
    let mut a = Raw::connect(ours.port);
    let mut gone = Raw::connect(ours.port);
    let Frame::Integer(gone_id) = gone.cmd(&["CLIENT", "ID"]) else { panic!() };
    a.cmd(&["HELLO", "3"]);
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &gone_id.to_string()]), Frame::ok());
    a.cmd(&["GET", "k"]);
    drop(gone);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut b = Raw::connect(ours.port);
    b.cmd(&["SET", "k", "v"]);
    let push = a.read_within(2000).expect("a tracking-redir-broken push");
    assert_eq!(
        push,
        Frame::Push(vec![Frame::Bulk("tracking-redir-broken".into()), Frame::Integer(gone_id)]),
        "{push:?}"
    );
    let info = a.cmd(&["CLIENT", "TRACKINGINFO"]);
    assert!(format!("{info:?}").contains("broken_redirect"), "{info:?}");
}
