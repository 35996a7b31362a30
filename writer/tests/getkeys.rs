//! What a command waits for (hole 9 of the log-protocol issue): for every
//! data command in Sixfold's table, the keys the durable writer waits on
//! (`command_keys`) are a superset of what Debian's `redis-server` names in
//! `COMMAND GETKEYS` for the same arguments, or the command waits for every
//! pending write (`None`). Before the fix, ZUNIONSTORE/ZINTERSTORE/
//! ZDIFFSTORE named only their destination, so they read another client's
//! uncommitted write to a source key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{Raw, redis};
use sixfold_engine::cmd::{Handler, TABLE, command_keys};
use sixfold_resp::Frame;

/// Arguments for commands whose generic `k1 k2 ...` form is not valid.
fn sample(name: &str, arity: i32) -> Vec<String> {
    let fixed: &[&str] = match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => &["dst", "2", "src1", "src2", "WEIGHTS", "1", "2"],
        "zunion" | "zinter" | "zdiff" | "sintercard" | "zintercard" => &["2", "s1", "s2"],
        "lmpop" | "zmpop" => &["2", "l1", "l2", "LEFT"],
        "blmpop" => &["0", "2", "l1", "l2", "LEFT"],
        "bzmpop" => &["0", "2", "z1", "z2", "MIN"],
        "object" => &["ENCODING", "k1"],
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => &["k1", "k2", "0"],
        "blmove" => &["k1", "k2", "LEFT", "RIGHT", "0"],
        "brpoplpush" => &["k1", "k2", "0"],
        "mset" | "msetnx" => &["k1", "v1", "k2", "v2"],
        "pfmerge" => &["dst", "src1", "src2"],
        "xread" => &["COUNT", "2", "STREAMS", "s1", "s2", "0", "0"],
        "xreadgroup" => &["GROUP", "g", "c", "STREAMS", "s1", "s2", ">", ">"],
        "xgroup" => &["CREATE", "s1", "g", "$"],
        "xinfo" => &["STREAM", "s1"],
        "xadd" => &["s1", "*", "f", "v"],
        "xclaim" | "xautoclaim" => &["s1", "g", "c", "0", "0-0"],
        _ => &[],
    };
    if !fixed.is_empty() {
        return fixed.iter().map(|s| s.to_string()).collect();
    }
    let n = if arity < 0 { -arity - 1 } else { arity - 1 };
    (1..=n).map(|i| format!("k{i}")).collect()
}

fn strings(f: &Frame) -> Vec<String> {
    match f {
        Frame::Array(items) => items
            .iter()
            .map(|i| match i {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("unexpected item {other:?}"),
            })
            .collect(),
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn every_command_waits_for_at_least_the_keys_redis_names() {
    let server = redis();
    let mut r = Raw::connect(server.port);
    let mut checked = 0;
    for spec in TABLE.iter().filter(|s| matches!(s.handler, Handler::Data(_))) {
        let mut args = vec![spec.name.to_string()];
        args.extend(sample(spec.name, spec.arity));
        if args.len() == 1 {
            continue; // no arguments, no keys (and GETKEYS needs one)
        }
        let mut q: Vec<&str> = vec!["COMMAND", "GETKEYS"];
        q.extend(args.iter().map(String::as_str));
        let theirs = match r.cmd(&q) {
            Frame::Error(e) if e.contains("no key arguments") => Vec::new(),
            // Commands newer than Debian's Redis 7.0 cannot be compared.
            Frame::Error(e) if e.contains("Invalid command specified") => continue,
            Frame::Error(e) => panic!("{args:?}: redis-server refused the sample: {e}"),
            f => strings(&f),
        };
        let bytes: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.clone())).collect();
        if let Some(ours) = command_keys(&bytes) {
            let ours: Vec<String> = ours.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
            for k in &theirs {
                assert!(ours.contains(k), "{args:?}: Redis names key {k:?}, Sixfold waits only for {ours:?}");
            }
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} commands compared");
}

#[test]
fn set_operations_wait_for_their_source_keys() {
    let args: Vec<Bytes> = ["ZUNIONSTORE", "dst", "2", "a", "b"].iter().map(|s| Bytes::from(*s)).collect();
    let keys = command_keys(&args).unwrap();
    assert_eq!(keys, vec![Bytes::from("dst"), Bytes::from("a"), Bytes::from("b")]);
    let bad: Vec<Bytes> = ["ZUNIONSTORE", "dst", "x", "a"].iter().map(|s| Bytes::from(*s)).collect();
    assert_eq!(command_keys(&bad), None, "an unreadable count waits for everything");
}

#[test]
fn a_geo_search_that_stores_names_its_destination() {
    let args = |s: &str| s.split(' ').map(|p| Bytes::from(p.to_string())).collect::<Vec<_>>();
    let keys = command_keys(&args("GEORADIUS src 15 37 200 km STOREDIST dst")).unwrap();
    assert_eq!(keys, vec![Bytes::from("src"), Bytes::from("dst")]);
    let keys = command_keys(&args("GEORADIUSBYMEMBER src m 10 km ASC STORE dst")).unwrap();
    assert_eq!(keys, vec![Bytes::from("src"), Bytes::from("dst")]);
    assert_eq!(command_keys(&args("GEORADIUS src 15 37 200 km")).unwrap(), vec![Bytes::from("src")]);
}
