//! DUMP and RESTORE against Debian's `redis-server`: a value of every type,
//! small and large (so Redis dumps listpacks, intsets, quicklists,
//! hashtables and skiplists, and LZF-compressed strings), dumped by Redis
//! is restored by Sixfold with the same contents, and dumped by Sixfold is
//! restored by Redis the same; strings dump to Redis's very bytes; and
//! RESTORE's errors and options answer as Redis's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, assert_no_differences, redis, same, sixfold};
use sixfold_resp::Frame;

fn many(n: usize, f: impl Fn(usize) -> String) -> Vec<String> {
    (0..n).map(f).collect()
}

/// One key of each shape.
fn shapes() -> Vec<Vec<String>> {
    let cmd = |head: &[&str], items: Vec<String>| {
        let mut c: Vec<String> = head.iter().map(|s| s.to_string()).collect();
        c.extend(items);
        c
    };
    vec![
        cmd(&["SET", "s:int", "12345"], vec![]),
        cmd(&["SET", "s:small", "hello"], vec![]),
        cmd(&["SET", "s:long"], vec!["abcdefghij".repeat(30)]),
        cmd(&["SET", "s:big", "-9223372036854775808"], vec![]),
        cmd(&["RPUSH", "l:small", "a", "1", "-70000"], vec!["x".repeat(70)]),
        cmd(&["RPUSH", "l:big"], many(3000, |i| format!("element-{i}"))),
        cmd(&["SADD", "set:ints"], many(50, |i| (i * 7).to_string())),
        cmd(&["SADD", "set:strs"], many(20, |i| format!("m{i}"))),
        cmd(&["SADD", "set:big"], many(1000, |i| format!("member:{i}"))),
        cmd(&["HSET", "h:small"], many(10, |i| if i % 2 == 0 { format!("f{i}") } else { i.to_string() })),
        cmd(&["HSET", "h:big"], many(600, |i| format!("v{i}"))),
        cmd(&["ZADD", "z:small"], many(10, |i| if i % 2 == 0 { format!("{i}.5") } else { format!("m{i}") })),
        cmd(&["ZADD", "z:big"], many(600, |i| if i % 2 == 0 { (i as f64 / 3.0).to_string() } else { format!("m{i}") })),
    ]
}

fn run(c: &mut Raw, args: &[String]) -> Frame {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    c.cmd(&a)
}

/// A key's contents in a comparable form (sorted where Redis leaves the
/// order open), with its type.
fn contents(c: &mut Raw, key: &str) -> Vec<Frame> {
    let Frame::Simple(kind) = c.cmd(&["TYPE", key]) else { panic!("TYPE {key}") };
    let sorted = |f: Frame| match f {
        Frame::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Frame::Array(items)
        }
        other => other,
    };
    let body = match kind.as_ref() {
        "string" => c.cmd(&["GET", key]),
        "list" => c.cmd(&["LRANGE", key, "0", "-1"]),
        "set" => sorted(c.cmd(&["SMEMBERS", key])),
        "hash" => sorted(c.cmd(&["HGETALL", key])),
        "zset" => c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        other => panic!("{key} is a {other}"),
    };
    vec![Frame::Simple(kind), body]
}

fn payload(c: &mut Raw, key: &str) -> Vec<u8> {
    match c.cmd(&["DUMP", key]) {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(c: &mut Raw, key: &str, p: &[u8]) -> Frame {
    c.cmd_bytes(&[b"RESTORE", key.as_bytes(), b"0", p, b"REPLACE"])
}

#[test]
fn values_move_both_ways_between_redis_and_sixfold() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    for c in shapes() {
        assert!(!matches!(run(&mut b, &c), Frame::Error(_)), "{c:?}");
    }
    let keys: Vec<String> = shapes().iter().map(|c| c[1].clone()).collect();
    for key in &keys {
        let want = contents(&mut b, key);
        // Redis → Sixfold.
        let from_redis = payload(&mut b, key);
        assert_eq!(restore(&mut a, key, &from_redis), Frame::Simple("OK".into()), "{key}");
        let got = contents(&mut a, key);
        assert!(got.iter().zip(&want).all(|(x, y)| same(x, y)), "{key} restored from Redis: {got:.200?}");
        // Sixfold → Redis, into another key.
        let back = format!("{key}:back");
        let from_sixfold = payload(&mut a, key);
        assert_eq!(restore(&mut b, &back, &from_sixfold), Frame::Simple("OK".into()), "{key}");
        assert_eq!(contents(&mut b, &back), want, "{key} restored into Redis");
        if key.starts_with("s:") {
            assert_eq!(from_sixfold, from_redis, "{key}: a string dumps to Redis's bytes");
        }
    }
}

#[test]
fn restore_answers_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    for c in [&mut a, &mut b] {
        c.cmd(&["SET", "k", "v"]);
    }
    let good = payload(&mut b, "k");
    let mut bad = good.clone();
    bad[1] ^= 1;
    let (p, broken): (&[u8], &[u8]) = (&good, &bad);
    let w = |x: &'static str| x.as_bytes();
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![w("DUMP"), w("missing")],
        vec![w("RESTORE"), w("k"), w("0"), p],
        vec![w("RESTORE"), w("k2"), w("-1"), p],
        vec![w("RESTORE"), w("k2"), w("x"), p],
        vec![w("RESTORE"), w("k2"), w("0"), w("junk")],
        vec![w("RESTORE"), w("k2"), w("0"), broken],
        vec![w("RESTORE"), w("k2"), w("0"), p, w("IDLETIME"), w("-1")],
        vec![w("RESTORE"), w("k2"), w("0"), p, w("IDLETIME"), w("5"), w("FREQ"), w("3")],
        vec![w("RESTORE"), w("k2"), w("0"), p, w("FREQ"), w("300")],
        vec![w("RESTORE"), w("k2"), w("0"), p, w("NOPE")],
        vec![w("RESTORE"), w("k2"), w("0"), p, w("IDLETIME")],
        vec![w("RESTORE"), w("k2"), w("0"), p, w("IDLETIME"), w("100")],
        vec![w("OBJECT"), w("IDLETIME"), w("k2")],
        vec![w("RESTORE"), w("k2"), w("0"), p, w("REPLACE"), w("FREQ"), w("7")],
        vec![w("RESTORE"), w("k3"), w("1"), p, w("ABSTTL")],
        vec![w("EXISTS"), w("k3")],
        vec![w("RESTORE"), w("k2"), w("1"), p, w("REPLACE"), w("ABSTTL")],
        vec![w("EXISTS"), w("k2")],
        vec![w("RESTORE"), w("k4"), w("100000"), p],
        vec![w("TTL"), w("k4")],
        vec![w("GET"), w("k4")],
        vec![w("RESTORE"), w("k")],
    ];
    let mut mismatches = Vec::new();
    for c in &cases {
        let (x, y) = (a.cmd_bytes(c), b.cmd_bytes(c));
        if x != y {
            mismatches.push(format!("{:?}\n  sixfold: {x:?}\n  redis:   {y:?}", String::from_utf8_lossy(c[0])));
        }
    }
    assert_no_differences(&mismatches, cases.len());
}

/// Streams of every shape Redis dumps (entries with the node's fields and
/// others, deleted entries, several nodes, groups with pending entries,
/// one of them deleted since, consumers with none, an empty stream with a
/// group) move both ways: entries, counters, groups, pending entries and
/// consumers compare equal (idle times and radix tree sizes aside).
#[test]
fn streams_move_both_ways_between_redis_and_sixfold() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let mut setup: Vec<Vec<String>> = Vec::new();
    let mut add = |words: &[&str]| setup.push(words.iter().map(|w| w.to_string()).collect());
    add(&["XADD", "st:small", "1-1", "a", "1", "b", "two"]);
    add(&["XADD", "st:small", "1-2", "a", "3", "b", "four"]);
    add(&["XADD", "st:small", "7-0", "c", "-70000", "d", &"x".repeat(100)]);
    add(&["XDEL", "st:small", "1-2"]);
    for i in 1..=350 {
        let v = i.to_string();
        add(&["XADD", "st:big", &format!("{i}-{}", i % 3), "f", &v, "g", &format!("value-{v}")]);
    }
    add(&["XGROUP", "CREATE", "st:big", "g1", "0"]);
    add(&["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "30", "STREAMS", "st:big", ">"]);
    add(&["XCLAIM", "st:big", "g1", "bob", "0", "5-2", "TIME", "1000", "RETRYCOUNT", "4"]);
    add(&["XDEL", "st:big", "3-0", "200-2"]);
    add(&["XGROUP", "CREATE", "st:big", "g2", "$"]);
    add(&["XGROUP", "CREATECONSUMER", "st:big", "g2", "carol"]);
    add(&["XGROUP", "CREATE", "st:empty", "g", "$", "MKSTREAM"]);
    for c in &setup {
        assert!(!matches!(run(&mut b, c), Frame::Error(_)), "{c:?}");
    }
    for key in ["st:small", "st:big", "st:empty"] {
        let want = stream_contents(&mut b, key);
        let from_redis = payload(&mut b, key);
        assert_eq!(restore(&mut a, key, &from_redis), Frame::Simple("OK".into()), "{key}");
        assert_eq!(stream_contents(&mut a, key), want, "{key} restored from Redis");
        let back = format!("{key}:back");
        let from_sixfold = payload(&mut a, key);
        assert_eq!(restore(&mut b, &back, &from_sixfold), Frame::Simple("OK".into()), "{key}");
        assert_eq!(stream_contents(&mut b, &back), want, "{key} restored into Redis");
    }
}

/// A stream's entries, XINFO STREAM, its groups, their pending entries and
/// consumers, with idle times and radix tree sizes set to 0.
fn stream_contents(c: &mut Raw, key: &str) -> Vec<Frame> {
    let zero = |f: Frame, names: &[&str]| match f {
        Frame::Array(items) => {
            let mut out = Vec::new();
            let mut hit = false;
            for i in items {
                out.push(if hit { Frame::Integer(0) } else { i.clone() });
                hit = matches!(&i, Frame::Bulk(b) if names.iter().any(|n| n.as_bytes() == b.as_ref()));
            }
            Frame::Array(out)
        }
        f => f,
    };
    let mut out = vec![c.cmd(&["XRANGE", key, "-", "+"])];
    out.push(zero(c.cmd(&["XINFO", "STREAM", key]), &["radix-tree-keys", "radix-tree-nodes"]));
    let groups = c.cmd(&["XINFO", "GROUPS", key]);
    out.push(groups.clone());
    let Frame::Array(groups) = groups else { panic!("{groups:?}") };
    for g in groups {
        let Frame::Array(fields) = g else { panic!("{g:?}") };
        let Frame::Bulk(name) = &fields[1] else { panic!("{fields:?}") };
        let name = String::from_utf8_lossy(name).into_owned();
        let Frame::Array(pending) = c.cmd(&["XPENDING", key, &name, "-", "+", "1000"]) else { panic!() };
        out.push(Frame::Array(pending.into_iter().map(|p| zero_at(p, 2)).collect()));
        let Frame::Array(consumers) = c.cmd(&["XINFO", "CONSUMERS", key, &name]) else { panic!() };
        out.extend(consumers.into_iter().map(|f| zero(f, &["idle"])));
    }
    out
}

fn zero_at(f: Frame, i: usize) -> Frame {
    match f {
        Frame::Array(mut v) => {
            v[i] = Frame::Integer(0);
            Frame::Array(v)
        }
        f => f,
    }
}
