//! CLUSTER COUNTKEYSINSLOT, GETKEYSINSLOT and ASKING against a
//! `redis-server --cluster-enabled yes` that owns every slot (the shape of
//! a Sixfold shard): the same keys give the same replies and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Proc, Raw, free_port, sixfold, wait_ready};
use sixfold_resp::Frame;
use std::process::{Command, Stdio};

/// A one-node Redis cluster owning all 16384 slots.
fn redis_cluster() -> Proc {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("sixfold-redis-cluster-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-config-file"])
        .arg(dir.join("nodes.conf"))
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    wait_ready(port, &mut child);
    let mut c = Raw::connect(port);
    assert_eq!(c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), Frame::ok());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !matches!(c.cmd(&["CLUSTER", "INFO"]), Frame::Bulk(b) if b.starts_with(b"cluster_state:ok")) {
        assert!(std::time::Instant::now() < deadline, "the one-node Redis cluster did not come up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Proc { child, port }
}

/// Keys of a slot come back in an order each server chooses: compare sorted.
fn sorted(f: Frame) -> Frame {
    match f {
        Frame::Array(mut xs) => {
            xs.sort_by_key(|x| format!("{x:?}"));
            Frame::Array(xs)
        }
        other => other,
    }
}

#[test]
fn keys_in_slots_are_counted_and_listed_like_redis() {
    let (ours, theirs) = (sixfold(&[]), redis_cluster());
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    for c in [&mut a, &mut b] {
        for k in ["{user1}:a", "{user1}:b", "{user1}:c", "foo", "bar", "{user2}:x"] {
            assert_eq!(c.cmd(&["SET", k, "v"]), Frame::ok());
        }
    }
    let slot = match a.cmd(&["CLUSTER", "KEYSLOT", "{user1}"]) {
        Frame::Integer(n) => n.to_string(),
        other => panic!("{other:?}"),
    };
    let cases: Vec<Vec<&str>> = vec![
        vec!["CLUSTER", "COUNTKEYSINSLOT", &slot],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "0"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "16384"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "-1"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "x"],
        vec!["CLUSTER", "GETKEYSINSLOT", &slot, "10"],
        vec!["CLUSTER", "GETKEYSINSLOT", &slot, "2"],
        vec!["CLUSTER", "GETKEYSINSLOT", &slot, "0"],
        vec!["CLUSTER", "GETKEYSINSLOT", &slot, "-1"],
        vec!["CLUSTER", "GETKEYSINSLOT", "99999", "1"],
        vec!["ASKING"],
    ];
    for args in &cases {
        let (x, y) = (a.cmd(args), b.cmd(args));
        if args.len() == 4 && args[1] == "GETKEYSINSLOT" && args[3] == "2" {
            // Any two of the slot's three keys.
            assert!(matches!(&x, Frame::Array(v) if v.len() == 2), "{args:?}: {x:?}");
            continue;
        }
        assert_eq!(sorted(x), sorted(y), "{args:?}: sixfold, then redis-server");
    }
}
