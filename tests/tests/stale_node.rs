//! Hole 8 of the log-protocol issue, with real processes: the storage
//! nodes of the replica's zone stop hearing from the writer (its packets to
//! them are dropped, one way) but still answer the replica. The writer
//! commits on the other four; the replica must leave the nodes that stopped
//! learning commits and show new writes, not stay on them with "lag 0".
//! Needs network namespaces (root); without them it says so and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sixfold_harness::cluster::{Cluster, WRITER};
use sixfold_harness::nemesis::root;
use sixfold_harness::net::Filter;
use std::time::{Duration, Instant};

/// How long the replica may take to show a write (its staleness limit is 3 s).
const SHOWN_WITHIN: Duration = Duration::from_secs(20);

fn conn(addr: std::net::SocketAddr) -> redis::Connection {
    let c = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let conn = c.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn
}

#[test]
fn a_replica_leaves_nodes_that_stopped_hearing_from_the_writer() {
    let c = Cluster::start("stale-node").unwrap();
    if !c.net.partitions() {
        assert!(!root(), "as root the harness has network namespaces");
        eprintln!("skipped: one-way partitions need network namespaces (run as root)");
        return;
    }
    let mut w = conn(c.writer);
    let mut r = conn(c.replica);
    // A replica serves reads of keys to READONLY connections only.
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("before").query(&mut w).unwrap();
    let shows = |r: &mut redis::Connection, want: &str| {
        let deadline = Instant::now() + SHOWN_WITHIN;
        loop {
            let got: Option<String> = redis::cmd("GET").arg("k").query(r).ok().flatten();
            if got.as_deref() == Some(want) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert!(shows(&mut r, "before"), "the replica follows the writer before the fault");
    // Zone b (the replica's) holds storage nodes 3 and 4 (processes 2, 3).
    let zone_b = vec![c.net.ip(2), c.net.ip(3)];
    c.net.add(WRITER, 1, &Filter::To(zone_b)).unwrap();
    for i in 0..3 {
        let v = format!("after-{i}");
        let _: () = redis::cmd("SET").arg("k").arg(&v).query(&mut w).unwrap();
        assert!(shows(&mut r, &v), "the replica shows {v} within {SHOWN_WITHIN:?} of its commit");
    }
}
