//! Elections with real processes: data nodes started with the default
//! role (`auto`) pick their writer among themselves. A lone data node
//! elects itself, and again after a crash, with every acknowledged write;
//! two started at the same moment on an empty shard end with one writer,
//! and the history of acknowledged increments shows no two writers at once;
//! two started together as the writer (`--role writer`) both serve, one
//! as writer and the other, fenced, as its replica.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fabric, Proc, client, free_port, sixfold_on};
use sixfold_replica::campaign::stagger_ms;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Short leases so elections are quick; every node has the same.
const LEASE: [&str; 6] = ["--lease-ms", "400", "--lease-renew-ms", "80", "--clock-drift-ms", "40"];
/// How long an election may take at most in these tests.
const ELECTED_WITHIN: Duration = Duration::from_secs(30);

fn data_node(fabric: &Fabric, port: u16) -> Proc {
    sixfold_on(port, &[fabric.data_node_args(), LEASE.map(String::from).to_vec()].concat())
}

fn is_master(port: u16) -> bool {
    let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).and_then(|c| c.get_connection()) else {
        return false;
    };
    let role: redis::RedisResult<Vec<redis::Value>> = redis::cmd("ROLE").query(&mut c);
    matches!(role.ok().and_then(|r| r.into_iter().next()), Some(redis::Value::BulkString(b)) if b == b"master")
}

/// Waits until the node on `port` serves writes; returns how long it took.
fn until_writer(port: u16) -> Duration {
    let t0 = Instant::now();
    loop {
        if is_master(port) && redis::cmd("SET").arg("probe").arg(1).query::<()>(&mut client(port)).is_ok() {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < ELECTED_WITHIN, "127.0.0.1:{port} was not elected within {ELECTED_WITHIN:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_lone_data_node_elects_itself_and_again_after_a_crash() {
    let fabric = Fabric::start("election-lone");
    let port = free_port();
    let mut node = data_node(&fabric, port);
    eprintln!("elected in {} ms on an empty shard", until_writer(port).as_millis());
    let mut c = client(port);
    for i in 0..200 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c).unwrap();
    }
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let node = data_node(&fabric, port);
    eprintln!("elected again in {} ms after the crash", until_writer(node.port).as_millis());
    let mut c = client(port);
    for i in 0..200 {
        let v: Option<i64> = redis::cmd("GET").arg(format!("k{i}")).query(&mut c).unwrap();
        assert_eq!(v, Some(i), "acknowledged write k{i} survived the crash");
    }
}

/// One client per node INCRs a counter as fast as it can: each
/// acknowledged INCR with the node that answered it and when.
type Acks = Arc<Mutex<Vec<(u16, Instant, i64)>>>;

fn incrementer(port: u16, stop: Arc<AtomicBool>, acks: Acks, unknown: Arc<Mutex<u64>>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).and_then(|c| c.get_connection())
        else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while !stop.load(Ordering::Relaxed) {
            match redis::cmd("INCR").arg("c").query::<i64>(&mut c) {
                Ok(v) => acks.lock().unwrap().push((port, Instant::now(), v)),
                // A refusal (-MOVED, -CLUSTERDOWN, -LOADING, -TRYAGAIN) did nothing.
                Err(e) if e.code().is_some() => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => {
                    *unknown.lock().unwrap() += 1;
                    break;
                }
            }
        }
    }
}

/// Two data nodes started on an empty shard `rep` ms apart (every other
/// repetition with ports in the same stagger step, so they campaign at
/// the same moment): one writer in the end, every acknowledged INCR value
/// distinct (two writers at once would hand out the same values), the
/// acknowledgements of the two nodes in two runs that do not interleave,
/// and the final count covers all of them.
fn two_nodes_at_once(rep: u64) {
    let fabric = Fabric::start(&format!("election-two-{rep}"));
    let pa = free_port();
    let same_step = rep.is_multiple_of(2);
    let step = |p: u16| stagger_ms(&format!("127.0.0.1:{p}"));
    let pb = (0..1000)
        .map(|_| free_port())
        .find(|p| *p != pa && (step(*p) == step(pa)) == same_step)
        .expect("a second port");
    let (a, b) = (data_node(&fabric, pa), {
        std::thread::sleep(Duration::from_millis(rep * 37 % 200));
        data_node(&fabric, pb)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let acks: Acks = Arc::default();
    let unknown = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = [pa, pb]
        .into_iter()
        .map(|p| {
            let (stop, acks, unknown) = (stop.clone(), acks.clone(), unknown.clone());
            std::thread::spawn(move || incrementer(p, stop, acks, unknown))
        })
        .collect();
    let t0 = Instant::now();
    while acks.lock().unwrap().len() < 200 {
        assert!(t0.elapsed() < ELECTED_WITHIN, "no writer within {ELECTED_WITHIN:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    let masters: Vec<u16> = [pa, pb].into_iter().filter(|p| is_master(*p)).collect();
    assert_eq!(masters.len(), 1, "repetition {rep}: one writer, not {masters:?}");
    let mut acks = acks.lock().unwrap().clone();
    acks.sort_by_key(|(_, at, _)| *at);
    let mut values: Vec<i64> = acks.iter().map(|(_, _, v)| *v).collect();
    values.sort_unstable();
    let n = values.len();
    values.dedup();
    assert_eq!(values.len(), n, "repetition {rep}: an INCR value was acknowledged twice (two writers at once)");
    let runs = acks.windows(2).filter(|w| w[0].0 != w[1].0).count() + 1;
    assert!(runs <= 2, "repetition {rep}: acknowledgements of the two nodes interleave ({runs} runs)");
    let last = redis::cmd("GET").arg("c").query::<i64>(&mut client(masters[0])).unwrap();
    let unknown = *unknown.lock().unwrap() as i64;
    assert!(
        last >= n as i64 && last <= n as i64 + unknown,
        "repetition {rep}: counter {last} after {n} acknowledged and {unknown} unknown INCRs"
    );
    eprintln!("repetition {rep}: writer 127.0.0.1:{}, {n} INCRs acknowledged, {runs} run(s)", masters[0]);
    drop((a, b));
}

#[test]
fn two_data_nodes_started_together_elect_one_writer() {
    // 20 repetitions in the full run; SIXFOLD_ELECTION_REPS changes it.
    let reps = std::env::var("SIXFOLD_ELECTION_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    for rep in 0..reps {
        two_nodes_at_once(rep);
    }
}

/// Whether the node on `port` answers PING within a second.
fn answers_ping(port: u16) -> bool {
    let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).and_then(|c| c.get_connection()) else {
        return false;
    };
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    redis::cmd("PING").query::<String>(&mut c).is_ok_and(|p| p == "PONG")
}

#[test]
fn two_data_nodes_started_as_the_writer_together_both_serve() {
    // A node started as the writer that a second one fences before its
    // LeaderChange commits goes back to replicating: it must then serve
    // clients as a replica, not keep its port silent.
    let reps = std::env::var("SIXFOLD_ELECTION_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    for rep in 0..reps {
        let fabric = Fabric::start(&format!("election-writers-{rep}"));
        let ports = [free_port(), free_port()];
        assert_ne!(ports[0], ports[1]);
        let args = [fabric.data_node_args(), LEASE.map(String::from).to_vec(), vec!["--role".into(), "writer".into()]]
            .concat();
        let nodes: Vec<_> = ports
            .map(|p| {
                let args = args.clone();
                std::thread::spawn(move || sixfold_on(p, &args))
            })
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let t0 = Instant::now();
        loop {
            let serving = ports.map(answers_ping);
            let masters: Vec<u16> = ports.into_iter().filter(|p| is_master(*p)).collect();
            if serving == [true, true] && masters.len() == 1 {
                eprintln!("repetition {rep}: both serve, writer 127.0.0.1:{}", masters[0]);
                break;
            }
            assert!(
                t0.elapsed() < ELECTED_WITHIN,
                "repetition {rep}: after {ELECTED_WITHIN:?} PING answered {serving:?}, writers {masters:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(nodes);
    }
}
