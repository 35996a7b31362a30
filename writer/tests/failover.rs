//! Automatic failover with real processes: a replica started with
//! `--failover` takes over, in place, when the writer is killed: it serves
//! as the writer with every acknowledged write, its clients stay
//! connected through the change, and another replica follows it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fabric, client, free_port, replica_client, sixfold_on};
use std::time::{Duration, Instant};

/// Short leases so the test is quick; the writer's and the replica's agree.
const LEASE: [&str; 6] = ["--lease-ms", "600", "--lease-renew-ms", "100", "--clock-drift-ms", "50"];
/// How long the takeover may take at most in this test.
const TAKEOVER_WITHIN: Duration = Duration::from_secs(20);

fn role(c: &mut redis::Connection) -> Option<String> {
    let v: Vec<redis::Value> = redis::cmd("ROLE").query(c).ok()?;
    match v.first() {
        Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

#[test]
fn a_replica_takes_over_in_place_with_every_acknowledged_write() {
    let fabric = Fabric::start("failover");
    let lease: Vec<String> = LEASE.iter().map(|s| s.to_string()).collect();
    let mut writer = sixfold_on(free_port(), &[fabric.server_args(), lease.clone()].concat());
    let replica_args = fabric.replica_args(writer.port, "b", &[LEASE.as_slice(), &["--failover"]].concat());
    let replica = sixfold_on(free_port(), &replica_args);
    let other = sixfold_on(free_port(), &fabric.replica_args(writer.port, "c", &LEASE));
    let mut w = client(writer.port);
    for i in 0..300 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut w).unwrap();
    }
    let _: i64 = redis::cmd("RPUSH").arg("list").arg("a").arg("b").query(&mut w).unwrap();
    let mut r = client(replica.port);
    assert_eq!(role(&mut r).as_deref(), Some("slave"));
    let err = redis::cmd("SET").arg("x").arg("1").query::<()>(&mut r).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("moved"), "a replica redirects writes: {err}");
    writer.child.kill().unwrap();
    writer.child.wait().unwrap();
    let killed = Instant::now();
    // The same connection to the replica: it becomes the writer's.
    let first_write = loop {
        assert!(killed.elapsed() < TAKEOVER_WITHIN, "no takeover within {TAKEOVER_WITHIN:?}");
        if redis::cmd("SET").arg("after").arg("failover").query::<()>(&mut r).is_ok() {
            break killed.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("first acknowledged write on the new writer {} ms after the kill", first_write.as_millis());
    assert_eq!(role(&mut r).as_deref(), Some("master"));
    for i in 0..300 {
        let v: Option<i64> = redis::cmd("GET").arg(format!("k{i}")).query(&mut r).unwrap();
        assert_eq!(v, Some(i), "acknowledged write k{i} survived the failover");
    }
    let list: Vec<String> = redis::cmd("LRANGE").arg("list").arg(0).arg(-1).query(&mut r).unwrap();
    assert_eq!(list, ["a", "b"]);
    // The other replica follows: it redirects writes to the new writer and
    // names it in ROLE, and shows the new writer's write.
    let mut o = replica_client(other.port);
    let moved_to = format!("127.0.0.1:{}", replica.port);
    let deadline = Instant::now() + TAKEOVER_WITHIN;
    loop {
        let err = redis::cmd("SET").arg("y").arg("1").query::<()>(&mut o).unwrap_err().to_string();
        let seen: Option<String> = redis::cmd("GET").arg("after").query(&mut o).unwrap_or(None);
        if err.contains(&moved_to) && seen.as_deref() == Some("failover") {
            break;
        }
        assert!(Instant::now() < deadline, "the other replica still says {err}, reads {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut o).unwrap();
    assert_eq!(role.get(2), Some(&redis::Value::Int(replica.port as i64)), "ROLE names the new writer: {role:?}");
    // And its writes are durable: a writer recovered from the fabric has them.
    drop(replica);
    let again = sixfold_on(free_port(), &[fabric.server_args(), lease].concat());
    let v: Option<String> = redis::cmd("GET").arg("after").query(&mut client(again.port)).unwrap();
    assert_eq!(v.as_deref(), Some("failover"));
}

/// Two replicas may take over, equally caught up and with ports in the same
/// hash stagger step (the writer's list of replicas orders them 60 ms
/// apart, unless one of them missed it): exactly one serves as the writer,
/// with every acknowledged write; the other follows it (one fenced after
/// it had begun to write became a replica in place). Campaigns at the same
/// moment are in `election.rs`.
#[test]
fn of_two_candidates_one_takes_over_and_the_other_follows() {
    let fabric = Fabric::start("failover-two");
    let lease: Vec<String> = LEASE.iter().map(|s| s.to_string()).collect();
    let mut writer = sixfold_on(free_port(), &[fabric.server_args(), lease].concat());
    let extra = [LEASE.as_slice(), &["--failover"]].concat();
    let pa = free_port();
    let step = |p: u16| sixfold_replica::campaign::stagger_ms(&format!("127.0.0.1:{p}"));
    let pb =
        (0..1000).map(|_| free_port()).find(|p| step(*p) == step(pa) && *p != pa).expect("a port in the same step");
    let mut a = sixfold_on(pa, &fabric.replica_args(writer.port, "b", &extra));
    let mut b = sixfold_on(pb, &fabric.replica_args(writer.port, "c", &extra));
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut client(writer.port)).unwrap();
    writer.child.kill().unwrap();
    writer.child.wait().unwrap();
    let killed = Instant::now();
    let (mut ca, mut cb) = (client(a.port), client(b.port));
    loop {
        let roles = (role(&mut ca), role(&mut cb));
        if roles.0.as_deref() == Some("master") || roles.1.as_deref() == Some("master") {
            break;
        }
        assert!(killed.elapsed() < TAKEOVER_WITHIN, "no takeover within {TAKEOVER_WITHIN:?}: {roles:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give a second takeover every chance to happen, then look again.
    std::thread::sleep(Duration::from_secs(3));
    // A candidate whose takeover is fenced before its LeaderChange commits
    // goes back to replicating; one fenced after it began to write becomes
    // a replica in place: both still run.
    let mut running = Vec::new();
    for p in [&mut a, &mut b] {
        assert!(p.child.try_wait().unwrap().is_none(), "a fenced node goes on as a replica");
        running.push(p.port);
    }
    let roles: Vec<Option<String>> = running.iter().map(|p| role(&mut client(*p))).collect();
    assert_eq!(roles.iter().filter(|r| r.as_deref() == Some("master")).count(), 1, "one writer: {roles:?}");
    let new = running[roles.iter().position(|r| r.as_deref() == Some("master")).unwrap()];
    let mut n = client(new);
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut n).unwrap();
    assert_eq!(v.as_deref(), Some("v"), "the acknowledged write survived");
    let _: () = redis::cmd("SET").arg("k").arg("w").query(&mut n).unwrap();
    for follower in running.iter().filter(|p| **p != new) {
        let mut f = replica_client(*follower);
        assert_eq!(role(&mut f).as_deref(), Some("slave"), "the other stood down");
        let deadline = Instant::now() + TAKEOVER_WITHIN;
        while redis::cmd("GET").arg("k").query::<Option<String>>(&mut f).ok().flatten().as_deref() != Some("w") {
            assert!(Instant::now() < deadline, "the follower shows the new writer's write");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// FAILOVER's replies on a writer without replicas and on bad input are
/// Redis's (Debian's redis-server is the oracle).
#[test]
fn failover_replies_match_redis_without_replicas() {
    let (ours, theirs) = (common::sixfold(&[]), common::redis());
    let cases = [
        "FAILOVER",
        "FAILOVER ABORT",
        "FAILOVER TO 127.0.0.1 1",
        "FAILOVER FORCE",
        "FAILOVER TO 127.0.0.1 1 FORCE TIMEOUT 10",
        "FAILOVER TIMEOUT 0",
        "FAILOVER TIMEOUT -5",
        "FAILOVER TIMEOUT x",
        "FAILOVER TO 127.0.0.1",
        "FAILOVER ABORT TIMEOUT 5",
        "FAILOVER BOGUS",
    ];
    for case in cases {
        let run = |port: u16| {
            let mut raw = common::Raw::connect(port);
            raw.cmd(&case.split(' ').collect::<Vec<_>>())
        };
        assert_eq!(run(ours.port), run(theirs.port), "{case}");
    }
}

/// A client that follows `-MOVED` (to the address it names) and retries
/// `-TRYAGAIN` and `-CLUSTERDOWN`, as cluster clients do. Counts what else
/// it saw.
#[derive(Default)]
struct Seen {
    acks: Vec<(Instant, i64)>,
    redirects: u64,
    retries: u64,
    other_errors: Vec<String>,
    lost_connections: u64,
}

fn following_incrs(start: u16, stop: &std::sync::atomic::AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut addr = format!("127.0.0.1:{start}");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok(mut c) = redis::Client::open(format!("redis://{addr}/")).and_then(|c| c.get_connection()) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match redis::cmd("INCR").arg("counter").query::<i64>(&mut c) {
                Ok(v) => seen.acks.push((Instant::now(), v)),
                Err(e) if e.code() == Some("MOVED") => {
                    seen.redirects += 1;
                    addr = e.redirect_node().map(|(a, _)| a.to_string()).unwrap_or(addr);
                    break;
                }
                Err(e) if matches!(e.code(), Some("TRYAGAIN" | "CLUSTERDOWN")) => {
                    seen.retries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) if e.code().is_some() => seen.other_errors.push(e.to_string()),
                Err(_) => {
                    seen.lost_connections += 1;
                    break;
                }
            }
        }
    }
    seen
}

/// FAILOVER under load: the writer hands over to a caught-up data node;
/// clients that follow -MOVED see nothing but -MOVED and -TRYAGAIN (no
/// lost connection, no other error), every acknowledged INCR is in the
/// new writer's counter, and the old writer is its replica, in place.
#[test]
fn failover_under_load_hands_over_with_nothing_lost() {
    let fabric = Fabric::start("failover-planned");
    let lease: Vec<String> = LEASE.iter().map(|s| s.to_string()).collect();
    let old = sixfold_on(free_port(), &[fabric.server_args(), lease.clone()].concat());
    let new = sixfold_on(free_port(), &[fabric.data_node_args(), lease].concat());
    let mut w = client(old.port);
    let deadline = Instant::now() + TAKEOVER_WITHIN;
    while !redis::cmd("INFO").arg("replication").query::<String>(&mut w).unwrap().contains("connected_slaves:1") {
        assert!(Instant::now() < deadline, "the data node did not connect to the writer as its replica");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, port) = (stop.clone(), old.port);
            std::thread::spawn(move || following_incrs(port, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    let ok: String = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(new.port)
        .arg("TIMEOUT")
        .arg(10_000)
        .query(&mut w)
        .unwrap();
    assert_eq!(ok, "OK");
    while role(&mut client(new.port)).as_deref() != Some("master") {
        assert!(asked.elapsed() < TAKEOVER_WITHIN, "no handover within {TAKEOVER_WITHIN:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen: Vec<Seen> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let acks: Vec<(Instant, i64)> = seen.iter().flat_map(|s| s.acks.iter().copied()).collect();
    let others: Vec<&String> = seen.iter().flat_map(|s| &s.other_errors).collect();
    assert!(others.is_empty(), "errors other than -MOVED/-TRYAGAIN: {others:?}");
    let lost: u64 = seen.iter().map(|s| s.lost_connections).sum();
    assert_eq!(lost, 0, "no client lost its connection (no reply of unknown outcome)");
    assert!(seen.iter().all(|s| s.redirects > 0), "every client was redirected to the new writer");
    assert!(acks.iter().any(|(at, _)| *at > asked + Duration::from_millis(100)), "writes went on after the handover");
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut client(new.port)).unwrap();
    assert_eq!(counter, acks.len() as i64, "every acknowledged INCR, and nothing else, is in the counter");
    let mut times: Vec<Instant> = acks.iter().map(|(at, _)| *at).collect();
    times.sort();
    let pause = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    let retries: u64 = seen.iter().map(|s| s.retries).sum();
    eprintln!(
        "{} INCRs acknowledged; writes paused for {} ms at most; {retries} retried",
        acks.len(),
        pause.as_millis()
    );
    let old_role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut w).unwrap();
    assert_eq!(old_role.get(2), Some(&redis::Value::Int(i64::from(new.port))), "the old writer follows: {old_role:?}");
    let info: String = redis::cmd("INFO").arg("replication").query(&mut client(new.port)).unwrap();
    assert!(info.contains("master_failover_state:no-failover"), "{info}");
}
