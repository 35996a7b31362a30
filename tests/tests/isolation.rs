//! The writer cut off from the storage fabric (its namespace's packets to
//! and from all six storage nodes dropped): the other data node takes
//! over; the old writer answers no read begun after its lease could have
//! lasted (its last committed record was sent before the cut); after
//! healing there is one writer — the old one became its replica in place —
//! and every acknowledged write is there. Needs network namespaces (root);
//! without them it says so and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sixfold_harness::cluster::{Cluster, STORAGE_NODES};
use sixfold_harness::nemesis::root;
use sixfold_harness::net::Filter;
use std::time::{Duration, Instant};

/// The lease and drift bound of the data nodes (the defaults).
const LEASE_AND_DRIFT: Duration = Duration::from_millis(600 + 60);

fn conn(addr: std::net::SocketAddr) -> redis::Connection {
    let c = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let conn = c.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn
}

#[test]
fn a_writer_cut_off_from_the_fabric_stops_serving_and_the_other_takes_over() {
    let mut c = Cluster::start("isolated-writer").unwrap();
    if !c.net.partitions() {
        assert!(!root(), "as root the harness has network namespaces");
        eprintln!("skipped: cutting a namespace off needs network namespaces (run as root)");
        return;
    }
    let old = c.wait_writer(Duration::from_secs(30)).unwrap();
    let new = Cluster::other(old);
    let mut w = conn(c.addr(old));
    for i in 0..100 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut w).unwrap();
    }
    let storage: Vec<_> = (0..STORAGE_NODES).map(|i| c.net.ip(i)).collect();
    c.net.add(old, 7, &Filter::From(storage.clone())).unwrap();
    c.net.add(old, 7, &Filter::To(storage)).unwrap();
    let cut = Instant::now();
    // Reads on the old writer: none begun after its lease ended succeeds.
    let mut served_late = Vec::new();
    let mut r = conn(c.addr(old));
    while cut.elapsed() < LEASE_AND_DRIFT * 4 {
        let begun = cut.elapsed();
        let got: redis::RedisResult<Option<i64>> = redis::cmd("GET").arg("k1").query(&mut r);
        if got.is_ok() && begun > LEASE_AND_DRIFT {
            served_late.push(begun);
        }
        if got.as_ref().is_err_and(|e| e.code().is_none()) {
            r = conn(c.addr(old));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(served_late.is_empty(), "the cut-off writer served reads begun {served_late:?} after the cut");
    // The other data node takes over and takes writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sixfold_harness::cluster::serves(c.addr(new)) {
        assert!(Instant::now() < deadline, "the other data node did not take over");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut n = conn(c.addr(new));
    let _: () = redis::cmd("SET").arg("after").arg("cut").query(&mut n).unwrap();
    eprintln!("the other data node serves {} ms after the cut", cut.elapsed().as_millis());
    // Heal: the old writer meets the new epoch and becomes its replica.
    c.net.remove(old, 7).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let role: redis::RedisResult<Vec<redis::Value>> = redis::cmd("ROLE").query(&mut conn(c.addr(old)));
        let follows = role.as_ref().is_ok_and(|r| {
            matches!(r.first(), Some(redis::Value::BulkString(b)) if b == b"slave")
                && r.get(1) == Some(&redis::Value::BulkString(c.addr(new).ip().to_string().into_bytes()))
        });
        if follows {
            break;
        }
        assert!(Instant::now() < deadline, "the old writer did not become a replica of the new one: {role:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.serving_writer(), Some(new), "one writer after healing");
    for i in 0..100 {
        let v: Option<i64> = redis::cmd("GET").arg(format!("k{i}")).query(&mut n).unwrap();
        assert_eq!(v, Some(i), "acknowledged write k{i}");
    }
    assert!(c.is_up(old), "the old writer is the same process, now a replica");
}
