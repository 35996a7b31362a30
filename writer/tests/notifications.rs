//! Keyspace notifications against Debian's `redis-server`: with
//! `notify-keyspace-events` set alike on both, a client subscribed to
//! `__key*__:*` on each must receive the same messages, in the same order,
//! for random writes of every family (strings, bitmaps, HyperLogLog,
//! lists, hashes, sets, sorted sets, geo, streams, and the generic
//! commands: DEL, EXPIRE in the future and the past, PERSIST, RENAME,
//! COPY, MOVE, RESTORE, SORT STORE), including writes that change nothing
//! (no event), that empty a collection (`del`) and that create a key
//! (`new`), and keys found expired (`expired`).
//!
//! Beside it: with a durable writer, a subscriber hears of a write only
//! once it committed (`writer/tests/durable.rs` holds that for replies;
//! the messages take the same path as PUBLISH's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sixfold_resp::Frame;

const SEQUENCES: u64 = 60;
const COMMANDS_PER_SEQUENCE: usize = 50;

fn pick<'a>(rng: &mut SmallRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn generate(rng: &mut SmallRng) -> Vec<String> {
    let k = pick(rng, &["a", "b", "c"]);
    let k2 = pick(rng, &["a", "b", "c", "d"]);
    let v = pick(rng, &["1", "2", "x", "10"]);
    let line: String = match rng.random_range(0..44) {
        0 => format!("SET {k} {v}"),
        1 => format!("SET {k} {v} EX 100"),
        2 => format!("SETNX {k} {v}"),
        3 => format!("APPEND {k} {v}"),
        4 => format!("INCR {k}"),
        5 => format!("INCRBYFLOAT {k} 1.5"),
        6 => format!("SETRANGE {k} 2 {v}"),
        7 => format!("GETDEL {k}"),
        8 => format!("GETEX {k} {}", pick(rng, &["EX 50", "PERSIST"])),
        9 => format!("MSET {k} {v} {k2} {v}"),
        10 => format!("SETBIT {k} 3 1"),
        11 => format!("PFADD {k} {v} y"),
        12 => format!("{} {k} {v}", pick(rng, &["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"])),
        13 => format!("{} {k}", pick(rng, &["LPOP", "RPOP"])),
        14 => format!("LMOVE {k} {k2} {} {}", pick(rng, &["LEFT", "RIGHT"]), pick(rng, &["LEFT", "RIGHT"])),
        15 => format!("{} {k} 0 {v}", pick(rng, &["LREM", "LTRIM", "LSET"])),
        16 => format!("HSET {k} f {v}"),
        17 => format!("{} {k} f", pick(rng, &["HDEL", "HINCRBY"])).replace("HINCRBY a f", "HINCRBY a f 2"),
        18 => format!("SADD {k} {v}"),
        19 => format!("SREM {k} {v}"),
        20 => format!("SPOP {k}"),
        21 => format!("SMOVE {k} {k2} {v}"),
        22 => format!("{} {k2} {k} c", pick(rng, &["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])),
        23 => format!("ZADD {k} {} {v}", pick(rng, &["1", "INCR 2", "NX 3"])),
        24 => format!("{} {k} {v}", pick(rng, &["ZREM", "ZINCRBY"]))
            .replace(&format!("ZINCRBY {k} {v}"), &format!("ZINCRBY {k} 1 {v}")),
        25 => format!("{} {k}", pick(rng, &["ZPOPMIN", "ZPOPMAX"])),
        26 => format!("ZUNIONSTORE {k2} 2 {k} c"),
        27 => format!("ZREMRANGEBYRANK {k} 0 0"),
        28 => format!("GEOADD {k} 13.{v} 38.1 {v}"),
        29 => format!("XADD {k} {}-1 f {v}", rng.random_range(1..30)),
        30 => format!("XADD {k} MAXLEN 1 {}-2 f {v}", rng.random_range(1..30)),
        31 => format!("XDEL {k} 5-1"),
        32 => format!("XGROUP CREATE {k} g 0 MKSTREAM"),
        33 => format!("XREADGROUP GROUP g c{} STREAMS {k} >", rng.random_range(0..2)),
        34 => format!("DEL {k} {k2}"),
        35 => format!("{} {k} {}", pick(rng, &["EXPIRE", "PEXPIRE"]), pick(rng, &["100", "-1", "0"])),
        36 => format!("PERSIST {k}"),
        37 => format!("{} {k} {k2}", pick(rng, &["RENAME", "RENAMENX", "COPY"])),
        38 => format!("MOVE {k} 1"),
        39 => format!("SORT {k} STORE {k2}"),
        40 => format!("PEXPIRE {k} 1"),
        41 => format!("GET {k}"),
        42 => format!("LPUSH {k} 3 1 2"),
        _ => format!("HINCRBYFLOAT {k} f 0.5"),
    };
    line.split(' ').map(String::from).collect()
}

/// The notifications that reached `sub` since the last call: it sends
/// PING and collects every message before the pong.
fn drain(sub: &mut Raw) -> Vec<Frame> {
    sub.send(&[b"PING"]);
    let mut out = Vec::new();
    loop {
        let f = sub.read().expect("the subscriber's connection");
        match &f {
            Frame::Array(items) | Frame::Push(items) if matches!(items.first(), Some(Frame::Bulk(b)) if b.as_ref() == b"pong") =>
            {
                return out;
            }
            _ => out.push(f),
        }
    }
}

fn subscriber(port: u16) -> Raw {
    let mut s = Raw::connect(port);
    s.send(&[b"PSUBSCRIBE", b"__key*__:*"]);
    s.read().expect("PSUBSCRIBE's reply");
    s
}

/// Commands run, messages Redis sent, `expired` ones among them, and the
/// commands whose messages differed.
fn run_sequences(flags: &str) -> (usize, usize, usize, Vec<String>) {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    for c in [&mut a, &mut b] {
        assert_eq!(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]), Frame::ok());
    }
    let (mut sa, mut sb) = (subscriber(ours.port), subscriber(theirs.port));
    let (mut total, mut messages, mut expired, mut mismatches) = (0, 0, 0, Vec::new());
    for seed in 0..SEQUENCES {
        let mut rng = SmallRng::seed_from_u64(seed);
        for c in [&mut a, &mut b] {
            c.cmd(&["FLUSHALL"]);
        }
        drain(&mut sa);
        drain(&mut sb);
        for _ in 0..COMMANDS_PER_SEQUENCE {
            let cmd = generate(&mut rng);
            if cmd[0] == "PEXPIRE" && cmd[2] == "1" {
                // A key that expires at once, then is found expired by a read.
                for c in [&mut a, &mut b] {
                    c.cmd(&cmd.iter().map(String::as_str).collect::<Vec<_>>());
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let (x, y) = (a.cmd(&args), b.cmd(&args));
            let (nx, ny) = (drain(&mut sa), drain(&mut sb));
            total += 1;
            messages += ny.len();
            expired += ny.iter().filter(|m| format!("{m:?}").contains("expired")).count();
            if nx != ny {
                mismatches.push(format!(
                    "seed {seed}: {cmd:?} (replies {x:?} / {y:?})\n  sixfold: {nx:?}\n  redis:   {ny:?}"
                ));
            }
        }
    }
    (total, messages, expired, mismatches)
}

#[test]
fn notifications_match_redis_for_every_family() {
    for (flags, least) in [("KEA", 1000), ("Kgn$lshzxt", 500), ("El", 30)] {
        let (total, messages, expired, mismatches) = run_sequences(flags);
        assert!(
            mismatches.is_empty(),
            "{flags}: {} of {total} commands notified differently; first ones:\n{}",
            mismatches.len(),
            mismatches.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
        );
        assert!(messages >= least, "{flags}: {messages} messages for {total} commands");
        assert!(expired > 0 || !flags.contains(['A', 'x']), "{flags}: no key was found expired");
    }
}

#[test]
fn the_setting_reads_and_prints_as_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    for v in ["KEA", "Kx$", "nAK", "", "Q", "gK"] {
        let (x, y) = (
            a.cmd(&["CONFIG", "SET", "notify-keyspace-events", v]),
            b.cmd(&["CONFIG", "SET", "notify-keyspace-events", v]),
        );
        assert_eq!(x, y, "CONFIG SET notify-keyspace-events {v}");
        let (x, y) =
            (a.cmd(&["CONFIG", "GET", "notify-keyspace-events"]), b.cmd(&["CONFIG", "GET", "notify-keyspace-events"]));
        assert_eq!(x, y, "CONFIG GET after {v}");
    }
}
