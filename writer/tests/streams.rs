//! Streams against Debian's `redis-server`: random sequences of XADD (with
//! explicit and `ms-*` IDs, NOMKSTREAM, MAXLEN/MINID trimming, exact and
//! `~` with LIMIT), XTRIM, XDEL, XLEN, XRANGE, XREVRANGE, XSETID, XREAD,
//! the consumer-group commands (XGROUP, XREADGROUP with `>` and history,
//! NOACK, XACK, XPENDING, XCLAIM, XAUTOCLAIM) and XINFO, with bad IDs,
//! options, arities and wrong types: the replies must match. Idle times
//! (which depend on each server's clock) and `radix-tree-nodes` (the inner
//! nodes of Redis's radix tree) are set to 0 before comparing.
//!
//! Beside it: `*` IDs follow the clock and never go back; XREAD and
//! XREADGROUP with BLOCK wake on an XADD from another client (and `$`
//! means the last ID when the read blocked); a replica's digest equals the
//! writer's is in `common/engine/tests/effects.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sixfold_resp::Frame;
use std::time::Duration;

const SEQUENCES: u64 = 120;
const COMMANDS_PER_SEQUENCE: usize = 60;

fn pick<'a>(rng: &mut SmallRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn key(rng: &mut SmallRng) -> String {
    pick(rng, &["s", "s", "s", "t", "str", "nope"]).into()
}

/// An ID around the ones the sequence adds (milliseconds 1 to 40).
fn id(rng: &mut SmallRng) -> String {
    match rng.random_range(0..25) {
        0 => pick(rng, &["0-0", "0", "x", "1-", "-1", "18446744073709551615-18446744073709551615", "5-x", ""]).into(),
        1..=6 => format!("{}", rng.random_range(1..40)),
        _ => format!("{}-{}", rng.random_range(1..40), rng.random_range(0..3)),
    }
}

fn bound(rng: &mut SmallRng) -> String {
    match rng.random_range(0..8) {
        0 => "-".into(),
        1 => "+".into(),
        2 => format!("({}", id(rng)),
        _ => id(rng),
    }
}

fn group(rng: &mut SmallRng) -> String {
    pick(rng, &["g1", "g1", "g2", "nog"]).into()
}

fn consumer(rng: &mut SmallRng) -> String {
    pick(rng, &["alice", "bob", "carol"]).into()
}

fn count(rng: &mut SmallRng) -> String {
    pick(rng, &["1", "2", "3", "10", "0", "-1", "x"]).into()
}

fn trim(rng: &mut SmallRng) -> Vec<String> {
    let mut t = vec![pick(rng, &["MAXLEN", "MINID", "maxlen"]).to_string()];
    let op = pick(rng, &["", "", "=", "~"]);
    if !op.is_empty() {
        t.push(op.into());
    }
    t.push(if t[0].eq_ignore_ascii_case("MAXLEN") {
        pick(rng, &["0", "1", "3", "5", "-1", "x"]).into()
    } else {
        id(rng)
    });
    if rng.random_range(0..5) == 0 {
        t.extend(["LIMIT".into(), pick(rng, &["0", "1", "10", "-1"]).into()]);
    }
    t
}

fn fields(rng: &mut SmallRng) -> Vec<String> {
    let n = [1, 1, 2, 3][rng.random_range(0..4)];
    let mut f: Vec<String> = (0..n).flat_map(|i| [format!("f{i}"), format!("v{}", rng.random_range(0..9))]).collect();
    if rng.random_range(0..20) == 0 {
        f.pop();
    }
    f
}

fn xadd(rng: &mut SmallRng) -> Vec<String> {
    let mut c = vec!["XADD".into(), key(rng)];
    if rng.random_range(0..8) == 0 {
        c.push("NOMKSTREAM".into());
    }
    if rng.random_range(0..4) == 0 {
        c.extend(trim(rng));
    }
    c.push(match rng.random_range(0..6) {
        0 => format!("{}-*", rng.random_range(0..40)),
        _ => id(rng),
    });
    c.extend(fields(rng));
    c
}

fn read_options(rng: &mut SmallRng) -> Vec<String> {
    let mut c = Vec::new();
    if rng.random_range(0..2) == 0 {
        c.extend(["COUNT".into(), count(rng)]);
    }
    c
}

fn xreadgroup(rng: &mut SmallRng) -> Vec<String> {
    let mut c = vec!["XREADGROUP".into(), "GROUP".into(), group(rng), consumer(rng)];
    c.extend(read_options(rng));
    if rng.random_range(0..6) == 0 {
        c.push("NOACK".into());
    }
    c.push("STREAMS".into());
    c.push(key(rng));
    c.push(match rng.random_range(0..4) {
        0 => "0".into(),
        1 => id(rng),
        _ => ">".into(),
    });
    c
}

fn xpending(rng: &mut SmallRng) -> Vec<String> {
    let mut c = vec!["XPENDING".into(), key(rng), group(rng)];
    if rng.random_range(0..3) > 0 {
        if rng.random_range(0..3) == 0 {
            c.extend(["IDLE".into(), pick(rng, &["0", "3600000"]).into()]);
        }
        c.extend([bound(rng), bound(rng), count(rng)]);
        if rng.random_range(0..3) == 0 {
            c.push(consumer(rng));
        }
    }
    c
}

fn xclaim(rng: &mut SmallRng) -> Vec<String> {
    let mut c = vec!["XCLAIM".into(), key(rng), group(rng), consumer(rng), pick(rng, &["0", "0", "3600000"]).into()];
    for _ in 0..rng.random_range(1..4) {
        c.push(id(rng));
    }
    for _ in 0..rng.random_range(0..3) {
        match rng.random_range(0..7) {
            0 => c.push("FORCE".into()),
            1 => c.push("JUSTID".into()),
            2 => c.extend(["RETRYCOUNT".into(), pick(rng, &["5", "x"]).into()]),
            3 => c.extend(["TIME".into(), "1000".into()]),
            4 => c.extend(["IDLE".into(), pick(rng, &["10", "x"]).into()]),
            5 => c.extend(["LASTID".into(), id(rng)]),
            _ => c.push("BOGUS".into()),
        }
    }
    c
}

fn xgroup(rng: &mut SmallRng) -> Vec<String> {
    match rng.random_range(0..10) {
        0..=3 => {
            let mut c = vec!["XGROUP".into(), "CREATE".into(), key(rng), group(rng)];
            c.push(pick(rng, &["$", "0", "5", "3-1"]).into());
            if rng.random_range(0..2) == 0 {
                c.push("MKSTREAM".into());
            }
            if rng.random_range(0..4) == 0 {
                c.extend(["ENTRIESREAD".into(), pick(rng, &["0", "3", "-1", "-2"]).into()]);
            }
            c
        }
        4 => {
            let mut c = vec!["XGROUP".into(), "SETID".into(), key(rng), group(rng), pick(rng, &["$", "0", "4"]).into()];
            if rng.random_range(0..2) == 0 {
                c.extend(["ENTRIESREAD".into(), pick(rng, &["2", "-1"]).into()]);
            }
            c
        }
        5 => vec!["XGROUP".into(), "DESTROY".into(), key(rng), group(rng)],
        6 => vec!["XGROUP".into(), "CREATECONSUMER".into(), key(rng), group(rng), consumer(rng)],
        7 => vec!["XGROUP".into(), "DELCONSUMER".into(), key(rng), group(rng), consumer(rng)],
        8 => vec!["XGROUP".into(), pick(rng, &["HELP", "NOPE", "CREATE"]).into()],
        _ => vec!["XGROUP".into(), "SETID".into(), key(rng), group(rng), "0".into(), "ENTRIESREAD".into()],
    }
}

fn xinfo(rng: &mut SmallRng) -> Vec<String> {
    match rng.random_range(0..6) {
        0 => vec!["XINFO".into(), "STREAM".into(), key(rng)],
        1 => vec!["XINFO".into(), "GROUPS".into(), key(rng)],
        2 => vec!["XINFO".into(), "CONSUMERS".into(), key(rng), group(rng)],
        3 => vec!["XINFO".into(), pick(rng, &["HELP", "NOPE", "STREAM"]).into()],
        4 => vec!["XINFO".into(), "STREAM".into(), key(rng), pick(rng, &["FULLX", "COUNT"]).into()],
        _ => vec!["XINFO".into(), "GROUPS".into(), key(rng)],
    }
}

fn generate(rng: &mut SmallRng) -> Vec<String> {
    let mut c: Vec<String> = match rng.random_range(0..24) {
        0..=5 => xadd(rng),
        6 => {
            let mut c = vec!["XTRIM".into(), key(rng)];
            c.extend(trim(rng));
            c
        }
        7 => {
            let mut c = vec!["XDEL".into(), key(rng)];
            (0..rng.random_range(1..4)).for_each(|_| c.push(id(rng)));
            c
        }
        8 => vec!["XLEN".into(), key(rng)],
        9 | 10 => {
            let mut c = vec![pick(rng, &["XRANGE", "XREVRANGE"]).into(), key(rng), bound(rng), bound(rng)];
            if rng.random_range(0..3) == 0 {
                c.extend(["COUNT".into(), count(rng)]);
            }
            c
        }
        11 => {
            let mut c = vec!["XSETID".into(), key(rng), id(rng)];
            match rng.random_range(0..4) {
                0 => c.extend(["ENTRIESADDED".into(), pick(rng, &["0", "5", "100", "-1"]).into()]),
                1 => c.extend(["MAXDELETEDID".into(), id(rng)]),
                _ => {}
            }
            c
        }
        12 => {
            let mut c = vec!["XREAD".into()];
            c.extend(read_options(rng));
            c.push("STREAMS".into());
            let (k1, k2) = (key(rng), key(rng));
            if rng.random_range(0..3) == 0 {
                c.extend([k1, k2, id(rng), pick(rng, &["$", "0", ">"]).into()]);
            } else {
                c.extend([k1, pick(rng, &["0", "$", "3"]).into()]);
            }
            c
        }
        13..=15 => xreadgroup(rng),
        16 => {
            let mut c = vec!["XACK".into(), key(rng), group(rng)];
            (0..rng.random_range(1..4)).for_each(|_| c.push(id(rng)));
            c
        }
        17 => xpending(rng),
        18 => xclaim(rng),
        19 => {
            let mut c = vec!["XAUTOCLAIM".into(), key(rng), group(rng), consumer(rng), "0".into(), bound(rng)];
            if rng.random_range(0..2) == 0 {
                c.extend(["COUNT".into(), count(rng)]);
            }
            if rng.random_range(0..3) == 0 {
                c.push("JUSTID".into());
            }
            c
        }
        20 => xgroup(rng),
        21 => xinfo(rng),
        22 => vec![pick(rng, &["TYPE", "OBJECT", "EXISTS"]).into(), key(rng)],
        _ => vec!["SET".into(), "str".into(), "v".into()],
    };
    if c[0] == "OBJECT" {
        c.insert(1, "ENCODING".into());
    }
    c.retain(|a| !a.is_empty() || rng.random_range(0..2) == 0);
    c
}

/// Idle times and radix tree node counts set to 0, as both servers' own.
fn canon(args: &[&str], f: Frame) -> Frame {
    let zero_after = |f: Frame, names: &[&str]| -> Frame {
        let Frame::Map(pairs) = f else { return f };
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| {
                let hit = matches!(&k, Frame::Bulk(b) if names.iter().any(|n| n.as_bytes() == b.as_ref()));
                (k, if hit { Frame::Integer(0) } else { v })
            })
            .collect();
        Frame::Map(pairs)
    };
    match (args[0], f) {
        ("XPENDING", Frame::Array(items)) if args.len() > 3 => Frame::Array(
            items
                .into_iter()
                .map(|e| match e {
                    Frame::Array(mut e) if e.len() == 4 => {
                        e[2] = Frame::Integer(0);
                        Frame::Array(e)
                    }
                    e => e,
                })
                .collect(),
        ),
        ("XINFO", Frame::Array(items)) => Frame::Array(items.into_iter().map(|m| zero_after(m, &["idle"])).collect()),
        ("XINFO", f) => zero_after(f, &["radix-tree-nodes"]),
        (_, f) => f,
    }
}

/// Flat RESP2 maps as RESP3-style maps, so `canon` sees one shape.
fn as_map(args: &[&str], f: Frame) -> Frame {
    let mapify = |f: Frame| match f {
        Frame::Array(v) if v.len() % 2 == 0 && v.iter().step_by(2).all(|k| matches!(k, Frame::Bulk(_))) => {
            let mut it = v.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Frame::Map(pairs)
        }
        f => f,
    };
    match (args[0], args.get(1).copied(), f) {
        ("XINFO", Some("STREAM"), f) => mapify(f),
        ("XINFO", _, Frame::Array(items)) => Frame::Array(items.into_iter().map(mapify).collect()),
        (_, _, f) => f,
    }
}

#[test]
fn stream_commands_answer_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let mut mismatches = Vec::new();
    let (mut total, mut delivered) = (0, 0);
    // SIXFOLD_STREAMS_SEED=n runs sequence n alone and prints each step.
    let only: Option<u64> = std::env::var("SIXFOLD_STREAMS_SEED").ok().and_then(|s| s.parse().ok());
    for seed in only.map_or(0..SEQUENCES, |s| s..s + 1) {
        let mut rng = SmallRng::seed_from_u64(seed);
        for c in [&mut a, &mut b] {
            c.cmd(&["FLUSHALL"]);
            c.cmd(&["XADD", "s", "1-1", "f", "v"]);
            c.cmd(&["XGROUP", "CREATE", "s", "g1", "0"]);
        }
        for _ in 0..COMMANDS_PER_SEQUENCE {
            let cmd = generate(&mut rng);
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let (x, y) = (a.cmd(&args), b.cmd(&args));
            let (x, y) = (canon(&args, as_map(&args, x)), canon(&args, as_map(&args, y)));
            total += 1;
            if only.is_some() {
                eprintln!("{cmd:?}\n  sixfold: {x:.300?}\n  redis:   {y:.300?}");
            }
            if args[0] == "XREADGROUP" && matches!(&y, Frame::Array(v) if !v.is_empty()) {
                delivered += 1;
            }
            if x != y {
                mismatches.push(format!("seed {seed}: {cmd:?}\n  sixfold: {x:.400?}\n  redis:   {y:.400?}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {total} replies differ; first ones:\n{}",
        mismatches.len(),
        mismatches.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(total >= 7000 && delivered >= 150, "{total} commands, {delivered} XREADGROUPs that delivered");
}

/// Parses an ID reply.
fn id_of(f: &Frame) -> (u64, u64) {
    let Frame::Bulk(b) = f else { panic!("not an ID: {f:?}") };
    let s = std::str::from_utf8(b).unwrap();
    let (ms, seq) = s.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

#[test]
fn automatic_ids_follow_the_clock_and_never_go_back() {
    let ours = sixfold(&[]);
    let mut c = Raw::connect(ours.port);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let first = id_of(&c.cmd(&["XADD", "s", "*", "f", "v"]));
    assert!(first.0 >= now_ms && first.0 < now_ms + 60_000, "{first:?} near {now_ms}");
    let mut last = first;
    for _ in 0..500 {
        let next = id_of(&c.cmd(&["XADD", "s", "*", "f", "v"]));
        assert!(next > last, "{next:?} after {last:?}");
        last = next;
    }
    // An ID set ahead of the clock: the next is right after it.
    let ahead = format!("{}-5", last.0 + 3_600_000);
    assert_eq!(c.cmd(&["XSETID", "s", &ahead]), Frame::ok());
    assert_eq!(id_of(&c.cmd(&["XADD", "s", "*", "f", "v"])), (last.0 + 3_600_000, 6));
    assert_eq!(c.cmd(&["XLEN", "s"]), Frame::Integer(502));
}

#[test]
fn blocked_reads_wake_on_an_add_from_another_client() {
    let ours = sixfold(&[]);
    let (mut reader, mut writer) = (Raw::connect(ours.port), Raw::connect(ours.port));
    writer.cmd(&["XADD", "s", "1-1", "f", "old"]);
    // `$` is the last ID when the read blocked: the old entry is not read.
    reader.send(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    assert!(reader.read_within(300).is_none(), "XREAD waits");
    writer.cmd(&["XADD", "s", "2-1", "f", "new"]);
    let got = reader.read_within(2000).expect("XREAD woke");
    assert_eq!(format!("{got:?}").matches("new").count(), 1, "{got:?}");
    assert!(!format!("{got:?}").contains("old"), "{got:?}");
    // A group read blocks until an entry comes, then owns it as pending.
    writer.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
    reader.send(&[b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"5000", b"STREAMS", b"s", b">"]);
    assert!(reader.read_within(300).is_none(), "XREADGROUP waits");
    writer.cmd(&["XADD", "s", "3-1", "f", "grouped"]);
    let got = reader.read_within(2000).expect("XREADGROUP woke");
    assert!(format!("{got:?}").contains("grouped"), "{got:?}");
    let pending = writer.cmd(&["XPENDING", "s", "g"]);
    assert!(format!("{pending:?}").starts_with("Array([Integer(1)"), "{pending:?}");
    // A blocked group read ends when its group or its key goes, as Redis's.
    reader.send(&[b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"]);
    assert!(reader.read_within(300).is_none(), "XREADGROUP waits");
    writer.cmd(&["XGROUP", "DESTROY", "s", "g"]);
    assert_eq!(
        reader.read_within(2000),
        Some(Frame::Error("NOGROUP the consumer group this client was blocked on no longer exists".into()))
    );
    writer.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
    reader.send(&[b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"]);
    assert!(reader.read_within(300).is_none(), "XREADGROUP waits");
    writer.cmd(&["DEL", "s"]);
    assert_eq!(reader.read_within(2000), Some(Frame::Error("UNBLOCKED the stream key no longer exists".into())));
    writer.cmd(&["XADD", "s", "9-1", "f", "again"]);
    // A timeout answers a null array.
    reader.send(&[b"XREAD", b"BLOCK", b"100", b"STREAMS", b"s", b"$"]);
    assert_eq!(reader.read_within(3000), Some(Frame::NullArray));
    std::thread::sleep(Duration::from_millis(10));
}

/// Approximate trimming works on Redis's nodes (100 entries each by
/// default, or `stream-node-max-entries`): after XDELs and trims with `~`,
/// MAXLEN and MINID, with and without LIMIT, the length, the node count
/// (`radix-tree-keys`) and the first entry match Redis's.
#[test]
fn approximate_trims_remove_the_nodes_redis_removes() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let info = |c: &mut Raw| {
        let Frame::Array(v) = c.cmd(&["XINFO", "STREAM", "s"]) else { panic!() };
        [v[1].clone(), v[3].clone(), v[17].clone()]
    };
    for node_size in ["100", "7"] {
        for c in [&mut a, &mut b] {
            c.cmd(&["FLUSHALL"]);
            assert_eq!(c.cmd(&["CONFIG", "SET", "stream-node-max-entries", node_size]), Frame::ok());
            for i in 1..=730 {
                c.cmd(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
            }
            c.cmd(&["XDEL", "s", "3-0", "150-0", "151-0", "400-0"]);
        }
        let steps: &[&[&str]] = &[
            &["XTRIM", "s", "MAXLEN", "~", "700"],
            &["XTRIM", "s", "MAXLEN", "~", "600"],
            &["XTRIM", "s", "MINID", "~", "250"],
            &["XTRIM", "s", "MAXLEN", "~", "100", "LIMIT", "150"],
            &["XADD", "s", "MAXLEN", "~", "300", "731-0", "f", "v"],
            &["XTRIM", "s", "MINID", "~", "700", "LIMIT", "0"],
            &["XTRIM", "s", "MAXLEN", "=", "20"],
            &["XTRIM", "s", "MAXLEN", "~", "0"],
        ];
        for step in steps {
            let (x, y) = (a.cmd(step), b.cmd(step));
            assert_eq!(x, y, "node size {node_size}: {step:?}");
            assert_eq!(info(&mut a), info(&mut b), "node size {node_size}: after {step:?}: length, nodes, first entry");
        }
    }
}
