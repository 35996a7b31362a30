//! Replicas (`sixfold-server --role replica`) with six real storage nodes
//! and a writer: they converge to the writer's state digest, catch up after
//! a SIGKILL or a SIGSTOP with a bounded apply buffer, never go back in
//! time, never show uncommitted data, and redirect writes with -MOVED.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fabric, Proc, Raw, client, free_port, info_field, query, replica_client, sixfold_on};
use rand::{Rng, SeedableRng};
use redis::Commands;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

fn digest(port: u16) -> String {
    query(port, redis::cmd("DEBUG").arg("DIGEST"))
}

/// Waits until the replica on `port` has the writer's digest.
fn converge(writer: u16, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    // The writer's digest moves on its own as keys expire (logged DELs):
    // compare against its current value each time.
    while digest(port) != digest(writer) {
        if Instant::now() > deadline {
            let info = |p: u16| redis::cmd("INFO").query::<String>(&mut client(p)).unwrap();
            let size = |p: u16| redis::cmd("DBSIZE").query::<u64>(&mut client(p)).unwrap();
            panic!(
                "{what}: replica {port} did not reach the writer's digest\nreplica ({} keys):\n{}\nwriter ({} keys):\n{}",
                size(port),
                info(port),
                size(writer),
                info(writer)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A seeded random workload over every data type, pipelined.
fn random_writes(port: u16, seed: u64, n: usize) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut c = client(port);
    let mut pipe = redis::pipe();
    for i in 0..n {
        let k = format!("k{}", rng.random_range(0..200));
        match rng.random_range(0..9) {
            0 => pipe.set(&k, i).ignore(),
            1 => pipe.cmd("INCRBYFLOAT").arg(format!("f{}", rng.random_range(0..20))).arg(1.5).ignore(),
            2 => pipe.lpush(format!("l{}", rng.random_range(0..20)), i).ignore(),
            3 => pipe.sadd(format!("s{}", rng.random_range(0..20)), i % 50).ignore(),
            4 => pipe.hset(format!("h{}", rng.random_range(0..20)), format!("f{}", i % 30), i).ignore(),
            5 => pipe.zadd(format!("z{}", rng.random_range(0..20)), i, rng.random_range(0..100)).ignore(),
            6 => pipe.del(&k).ignore(),
            7 => pipe.cmd("SPOP").arg(format!("s{}", rng.random_range(0..20))).ignore(),
            _ => pipe.pexpire(&k, rng.random_range(1..50)).ignore(),
        };
        if i % 500 == 499 || i == n - 1 {
            let _: () = pipe.query(&mut c).unwrap();
            pipe = redis::pipe();
        }
    }
}

struct Shard {
    fabric: Fabric,
    writer: Proc,
    replicas: Vec<Proc>,
}

fn shard(name: &str, replica_extra: &[&str]) -> Shard {
    let fabric = Fabric::start(name);
    let writer = sixfold_on(free_port(), &fabric.server_args());
    let replicas: Vec<Proc> = ["b", "c"]
        .iter()
        .map(|zone| sixfold_on(free_port(), &fabric.replica_args(writer.port, zone, replica_extra)))
        .collect();
    // A replica answers -LOADING until it first caught up with the log.
    for r in &replicas {
        let deadline = Instant::now() + Duration::from_secs(30);
        let info = |p: u16| redis::cmd("INFO").arg("replication").query::<String>(&mut client(p)).unwrap();
        while !info(r.port).contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "replica {} did not catch up", r.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Shard { fabric, writer, replicas }
}

#[test]
fn replicas_converge_catch_up_after_a_kill_and_redirect_writes() {
    let mut s = shard("converge", &[]);
    random_writes(s.writer.port, 7, 3_000);
    for r in &s.replicas {
        converge(s.writer.port, r.port, "after the random workload");
    }
    // Writes on a replica are redirected to the writer, with the key's slot.
    let mut c = client(s.replicas[0].port);
    let err = c.set::<_, _, ()>("foo", "bar").unwrap_err();
    assert_eq!(err.code(), Some("MOVED"), "{err}");
    assert!(err.to_string().contains(&format!("12182 127.0.0.1:{}", s.writer.port)), "{err}");
    let role: redis::Value = redis::cmd("ROLE").query(&mut c).unwrap();
    assert!(format!("{role:?}").contains("slave"), "{role:?}");
    assert_eq!(redis::cmd("READONLY").query::<String>(&mut c).unwrap(), "OK");
    // A replica killed while writes go on catches up from LSN 1 after a restart.
    let port = s.replicas[0].port;
    s.replicas[0].child.kill().unwrap();
    s.replicas[0].child.wait().unwrap();
    random_writes(s.writer.port, 8, 2_000);
    s.replicas[0] = sixfold_on(port, &s.fabric.replica_args(s.writer.port, "b", &[]));
    for r in &s.replicas {
        converge(s.writer.port, r.port, "after the restart");
    }
}

#[test]
fn replica_reads_are_monotonic_and_never_uncommitted() {
    let s = shard("monotonic", &[]);
    let (writer, replica) = (s.writer.port, s.replicas[0].port);
    let sent = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let incrementer = {
        let (sent, stop) = (sent.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = client(writer);
            while !stop.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::SeqCst);
                let _: i64 = c.incr("counter", 1).unwrap();
            }
        })
    };
    let mut r = replica_client(replica);
    let (mut last, mut reads) = (0i64, 0);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let v: i64 = r.get::<_, Option<i64>>("counter").unwrap().unwrap_or(0);
        assert!(v >= last, "the replica went back in time: {v} after {last}");
        assert!(v <= sent.load(Ordering::SeqCst), "the replica showed {v}, beyond every INCR sent");
        (last, reads) = (v, reads + 1);
    }
    stop.store(true, Ordering::Relaxed);
    incrementer.join().unwrap();
    assert!(last > 0 && reads > 100, "reads kept seeing progress ({reads} reads, last {last})");
    // With four storage nodes stopped (zones a and c) a write cannot
    // commit; the two of zone b hold it, and the replica of zone b reads
    // it from them into its staging area, but keeps showing the old value
    // while the writer's client waits.
    converge(writer, replica, "before the stop");
    let before: i64 = replica_client(replica).get("counter").unwrap();
    let stalled = [0, 1, 4, 5];
    for i in stalled {
        s.fabric.signal(i, "-STOP");
    }
    let applied = info_field(replica, "replica_applied_lsn");
    let mut raw = Raw::connect(writer);
    raw.send_raw(b"INCR counter\r\n");
    let deadline = Instant::now() + Duration::from_secs(2);
    while info_field(replica, "replica_staged_lsn") <= applied {
        assert!(Instant::now() < deadline, "the uncommitted INCR did not reach the replica's staging area");
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..20 {
        let v: i64 = replica_client(replica).get("counter").unwrap();
        assert_eq!(v, before, "an uncommitted write is invisible, though staged");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info_field(replica, "replica_applied_lsn"), applied, "nothing uncommitted was applied");
    for i in stalled {
        s.fabric.signal(i, "-CONT");
    }
    assert_eq!(raw.read(), Some(sixfold_resp::Frame::Integer(before + 1)));
    converge(writer, replica, "after the commit");
}

#[test]
fn a_stopped_replica_catches_up_within_its_buffer_bound() {
    let bound = 2 * 1024 * 1024;
    let bound_arg = bound.to_string();
    let s = shard("stopped", &["--staged-bytes-max", &bound_arg, "--retained-bytes-max", &bound_arg]);
    let replica = s.replicas[0].port;
    let pid = s.replicas[0].child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let mut raw = Raw::connect(s.writer.port);
    for chunk in 0..100 {
        let batch: Vec<u8> =
            (0..1000).flat_map(|i| format!("SET key:{chunk}:{i} {:0>40}\r\n", i).into_bytes()).collect();
        raw.send_raw(&batch);
        for _ in 0..1000 {
            assert_eq!(raw.read(), Some(sixfold_resp::Frame::ok()));
        }
    }
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    converge(s.writer.port, replica, "after SIGCONT");
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut client(replica)).unwrap(), 100_000);
    // The writer's flush confirmations let the retained records go.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(replica, "replica_retained_bytes") > bound / 8 {
        assert!(Instant::now() < deadline, "retained records were not dropped once flushed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = info_field(replica, "replica_staged_bytes_peak");
    assert!(peak > 0 && peak <= bound, "the staging area peaked at {peak} bytes, bound {bound}");
    let kept = info_field(replica, "replica_retained_bytes_peak");
    assert!(kept > 0 && kept <= bound, "retention peaked at {kept} bytes, bound {bound}");
    assert_eq!(info_field(replica, "replica_lag_records"), 0);
}

/// A replica staged an old writer's uncommitted record; a new writer
/// (restarted on the same address, recovering without the two nodes that
/// hold it) replaces it at that LSN. The replica drops the staged record
/// and never shows it. The shard commits on disk (`--commit disk`), so
/// storage nodes killed and restarted still form a recovery quorum.
#[test]
fn staged_records_of_an_old_epoch_are_discarded() {
    let mut fabric = Fabric::start("epochs");
    let mut args = fabric.server_args();
    args.extend(["--commit", "disk"].map(String::from));
    let writer = free_port();
    let mut w = sixfold_on(writer, &args);
    let r = sixfold_on(free_port(), &fabric.replica_args(writer, "b", &[]));
    let replica = r.port;
    let _: i64 = client(writer).incr("counter", 5).unwrap();
    converge(writer, replica, "before the faults");
    // Only zone b (nodes 3 and 4) receives the next write: it never commits.
    let others = [0, 1, 4, 5];
    for i in others {
        fabric.kill_node(i);
    }
    let applied = info_field(replica, "replica_applied_lsn");
    let mut raw = Raw::connect(writer);
    raw.send_raw(b"INCR counter\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(replica, "replica_staged_lsn") <= applied {
        assert!(Instant::now() < deadline, "the uncommitted INCR did not reach the replica's staging area");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The writer dies; a new one recovers from the four other nodes.
    for i in [2, 3] {
        fabric.signal(i, "-STOP");
    }
    w.child.kill().unwrap();
    w.child.wait().unwrap();
    for i in others {
        fabric.start_node(i);
    }
    let _w = sixfold_on(writer, &args);
    let _: i64 = client(writer).incr("counter", 10).unwrap();
    for i in [2, 3] {
        fabric.signal(i, "-CONT");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: Option<i64> = replica_client(replica).get("counter").unwrap();
        assert_ne!(v, Some(6), "the replica showed the old writer's uncommitted INCR");
        if v == Some(15) {
            break;
        }
        assert!(Instant::now() < deadline, "the replica did not reach the new writer's value: {v:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(info_field(replica, "replica_staged_discarded_records") > 0, "the old epoch's staged records were dropped");
    converge(writer, replica, "after the new writer");
}

#[test]
fn wait_counts_replicas_and_cluster_clients_read_from_them() {
    let s = shard("cluster", &[]);
    let (w, r0, r1) = (s.writer.port, s.replicas[0].port, s.replicas[1].port);
    let mut c = client(w);
    let _: () = c.set("k", "v").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(w, "connected_slaves") < 2 {
        assert!(Instant::now() < deadline, "the replicas did not announce themselves");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(redis::cmd("WAIT").arg(2).arg(5000).query::<i64>(&mut c).unwrap(), 2);
    assert_eq!(replica_client(r0).get::<_, String>("k").unwrap(), "v", "WAIT 2 returned: both replicas have it");
    // Every node describes the same shard: all slots on the writer.
    for port in [w, r0, r1] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut client(port)).unwrap();
            let range: (u16, u16) = (
                redis::from_redis_value_ref(&slots[0][0]).unwrap(),
                redis::from_redis_value_ref(&slots[0][1]).unwrap(),
            );
            let nodes: Vec<(String, u16, String)> =
                slots[0][2..].iter().map(|n| redis::from_redis_value_ref(n).unwrap()).collect();
            let mut ports: Vec<u16> = nodes.iter().map(|n| n.1).collect();
            if slots.len() == 1 && range == (0, 16383) && ports[0] == w {
                ports.sort_unstable();
                let mut want = vec![w, r0, r1];
                want.sort_unstable();
                if ports == want {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "CLUSTER SLOTS on {port}: {slots:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // One shard: every node names the same shard id (40 hex digits).
    let shard_ids: Vec<String> =
        [w, r0, r1].iter().map(|p| redis::cmd("CLUSTER").arg("MYSHARDID").query(&mut client(*p)).unwrap()).collect();
    assert!(shard_ids.iter().all(|id| *id == shard_ids[0] && id.len() == 40), "{shard_ids:?}");
    // The redis crate's cluster client: writes go to the writer, reads to replicas.
    let cluster = redis::cluster::ClusterClient::builder(vec![format!("redis://127.0.0.1:{w}/")])
        .read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy)
        .build()
        .unwrap();
    let mut cc = cluster.get_connection().unwrap();
    for i in 0..200 {
        let _: () = cc.set(format!("rs:{i}"), i).unwrap();
    }
    assert_eq!(redis::cmd("WAIT").arg(2).arg(5000).query::<i64>(&mut c).unwrap(), 2);
    let processed = |p: u16| -> u64 {
        let info: String = redis::cmd("INFO").arg("stats").query(&mut client(p)).unwrap();
        let line = info.lines().find(|l| l.starts_with("total_commands_processed:")).unwrap();
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    };
    let before = processed(r0) + processed(r1);
    for i in 0..200 {
        assert_eq!(cc.get::<_, i64>(format!("rs:{i}")).unwrap(), i);
    }
    let served = processed(r0) + processed(r1) - before;
    assert!(served >= 100, "replicas served {served} of 200 reads");
    // redis-py's RedisCluster (PyPI `redis`, installed by .ci/run).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster_client.py");
    let out = std::process::Command::new("python3")
        .args([script, &w.to_string(), &r0.to_string(), &r1.to_string()])
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "redis-py RedisCluster failed (pip install -r writer/tests/requirements.txt):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// By default a replica redirects a plain connection's reads of keys to
/// the writer (Redis Cluster's rule) and serves READONLY ones; with
/// `--replica-reads-any` it serves every connection, as a standalone Redis
/// replica does.
#[test]
fn replicas_serve_reads_to_readonly_connections_or_to_all_with_the_flag() {
    let s = shard("reads-any", &["--replica-reads-any"]);
    let mut c = client(s.writer.port);
    let _: () = c.set("k", "v").unwrap();
    while info_field(s.writer.port, "connected_slaves") < 2 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(redis::cmd("WAIT").arg(2).arg(5000).query::<i64>(&mut c).unwrap(), 2);
    let mut plain = client(s.replicas[0].port);
    assert_eq!(plain.get::<_, String>("k").unwrap(), "v", "a plain connection reads from the replica");
    let err = plain.set::<_, _, ()>("k", "w").unwrap_err();
    assert_eq!(err.code(), Some("MOVED"), "writes are still redirected: {err}");
    drop(s);
    let s = shard("reads-readonly", &[]);
    let mut plain = client(s.replicas[0].port);
    let err = plain.get::<_, String>("k").unwrap_err();
    assert_eq!(err.code(), Some("MOVED"), "without the flag a plain read is redirected: {err}");
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut plain).unwrap(), 0, "keyless reads are served");
    let mut ro = replica_client(s.replicas[0].port);
    assert_eq!(ro.get::<_, Option<String>>("k").unwrap(), None, "a READONLY connection reads from the replica");
}

/// With a password on every data node, a replica authenticates to the
/// writer with `--masterauth`: it catches up, serves reads, and WAIT on
/// the writer counts it. Without `--masterauth` it never registers.
#[test]
fn replicas_authenticate_to_a_writer_with_a_password() {
    let fabric = Fabric::start("masterauth");
    let auth = ["--requirepass", "pw", "--masterauth", "pw"];
    let owned = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let writer = sixfold_on(free_port(), &[fabric.server_args(), owned(&auth)].concat());
    let replica = sixfold_on(free_port(), &fabric.replica_args(writer.port, "b", &auth));
    let stranger = sixfold_on(free_port(), &fabric.replica_args(writer.port, "c", &["--requirepass", "pw"]));
    let authed = |port: u16| {
        let c = redis::Client::open(format!("redis://:pw@127.0.0.1:{port}/")).unwrap();
        let conn = c.get_connection().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        conn
    };
    let mut w = authed(writer.port);
    let _: () = w.set("k", "v").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO").arg("replication").query(&mut authed(replica.port)).unwrap();
        if info.contains("master_link_status:up") {
            break;
        }
        assert!(Instant::now() < deadline, "the replica did not catch up:\n{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _: () = w.set("k", "w").unwrap();
    let counted: i64 = redis::cmd("WAIT").arg(2).arg(1000).query(&mut w).unwrap();
    assert_eq!(counted, 1, "the replica with --masterauth counts, the one without does not");
    let mut r = authed(replica.port);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    assert_eq!(r.get::<_, String>("k").unwrap(), "w");
    drop(stranger);
}

/// A script's writes reach the log as the effects of the commands it ran
/// (DESIGN §2): SPOP and TIME inside a script give every replica the
/// writer's result, with no Lua on the replica; a script that fails keeps
/// what it wrote before the error (as in Redis); EVAL_RO runs on a replica.
#[test]
fn scripts_replicate_as_the_effects_of_their_commands() {
    let s = shard("scripts", &[]);
    let mut c = client(s.writer.port);
    let _: () = redis::cmd("SADD").arg("set").arg((0..50).collect::<Vec<_>>()).query(&mut c).unwrap();
    let body = "local m = redis.call('spop', KEYS[1]) redis.call('rpush', KEYS[2], m) \
                local t = redis.call('time') redis.call('hset', KEYS[3], m, t[1] .. '.' .. t[2]) return m";
    for _ in 0..20 {
        let _: String = redis::cmd("EVAL").arg(body).arg(3).arg("set").arg("popped").arg("when").query(&mut c).unwrap();
    }
    let failing = "redis.call('set', KEYS[1], 'before') return redis.call('incr', KEYS[2])";
    let err = redis::cmd("EVAL").arg(failing).arg(2).arg("a").arg("popped").query::<()>(&mut c).unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    for r in &s.replicas {
        converge(s.writer.port, r.port, "after the scripts");
    }
    assert_eq!(query::<Option<String>>(s.writer.port, redis::cmd("GET").arg("a")).as_deref(), Some("before"));
    let mut rc = replica_client(s.replicas[0].port);
    let n: i64 =
        redis::cmd("EVAL_RO").arg("return redis.call('llen', KEYS[1])").arg(1).arg("popped").query(&mut rc).unwrap();
    assert_eq!(n, 20);
}

const COUNTER_LIB: &str = "#!lua name=counter\n\
    redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n\
    redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";

/// Function libraries are durable state: a replica applies FUNCTION LOAD
/// and DELETE from the log (its digest, which covers libraries, reaches
/// the writer's) and runs FCALL_RO; a writer restarted on the same
/// fabric recovers the libraries and runs FCALL.
#[test]
fn functions_reach_replicas_and_a_restarted_writer() {
    let mut s = shard("functions", &[]);
    let w = s.writer.port;
    let name: String = query(w, redis::cmd("FUNCTION").arg("LOAD").arg(COUNTER_LIB));
    assert_eq!(name, "counter");
    let gone = "#!lua name=gone\nredis.register_function('g', function() return 1 end)";
    let _: String = query(w, redis::cmd("FUNCTION").arg("LOAD").arg(gone));
    let _: () = query(w, redis::cmd("FUNCTION").arg("DELETE").arg("gone"));
    for _ in 0..10 {
        let _: i64 = query(w, redis::cmd("FCALL").arg("bump").arg(1).arg("n").arg(2));
    }
    for r in &s.replicas {
        converge(w, r.port, "after the functions");
    }
    let mut rc = replica_client(s.replicas[0].port);
    let n: String = redis::cmd("FCALL_RO").arg("peek").arg(1).arg("n").query(&mut rc).unwrap();
    assert_eq!(n, "20");
    let err = redis::cmd("FCALL_RO").arg("g").arg(0).query::<i64>(&mut rc).unwrap_err();
    assert!(err.to_string().contains("Function not found"), "{err}");
    // The replicas go first (they would campaign); then the writer.
    s.replicas.clear();
    s.writer.child.kill().unwrap();
    s.writer.child.wait().unwrap();
    let writer = sixfold_on(free_port(), &s.fabric.server_args());
    let n: i64 = query(writer.port, redis::cmd("FCALL").arg("bump").arg(1).arg("n").arg(1));
    assert_eq!(n, 21, "the restarted writer has the library and the data");
    let libs: Vec<redis::Value> = query(writer.port, redis::cmd("FUNCTION").arg("LIST"));
    assert_eq!(libs.len(), 1, "only the library not deleted: {libs:?}");
}

/// Streams replicate with their groups (a replica's digest is the
/// writer's after XADD with `*`, ~ trims and group reads and claims), and
/// a reader blocked on a replica (XREAD BLOCK on a READONLY connection)
/// wakes when the replica applies the writer's XADD.
#[test]
fn streams_replicate_and_blocked_replica_readers_wake() {
    let s = shard("streams", &[]);
    let mut w = Raw::connect(s.writer.port);
    for i in 0..300 {
        w.cmd(&["XADD", "s", "MAXLEN", "~", "150", "*", "n", &i.to_string()]);
    }
    w.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
    w.cmd(&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "20", "STREAMS", "s", ">"]);
    w.cmd(&["XAUTOCLAIM", "s", "g", "bob", "0", "0-0", "COUNT", "5"]);
    w.cmd(&["XACK", "s", "g", "0-1"]);
    for r in &s.replicas {
        converge(s.writer.port, r.port, "after stream writes");
    }
    let mut reader = Raw::connect(s.replicas[0].port);
    assert_eq!(reader.cmd(&["READONLY"]), sixfold_resp::Frame::ok());
    reader.send(&[b"XREAD", b"BLOCK", b"10000", b"STREAMS", b"s", b"$"]);
    assert!(reader.read_within(300).is_none(), "the replica's XREAD waits");
    w.cmd(&["XADD", "s", "*", "n", "fresh"]);
    let got = reader.read_within(5000).expect("the blocked replica reader woke");
    assert!(format!("{got:?}").contains("fresh"), "{got:?}");
}

/// Client-side caching against a replica: a READONLY RESP3 connection
/// tracking a key it read gets its invalidation when the replica applies
/// the writer's write to it.
#[test]
fn a_replica_invalidates_tracked_keys_as_it_applies_writes() {
    let s = shard("tracking", &[]);
    let mut w = Raw::connect(s.writer.port);
    w.cmd(&["SET", "k", "old"]);
    converge(s.writer.port, s.replicas[0].port, "before tracking");
    let mut r = Raw::connect(s.replicas[0].port);
    r.cmd(&["HELLO", "3"]);
    assert_eq!(r.cmd(&["READONLY"]), sixfold_resp::Frame::ok());
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "ON"]), sixfold_resp::Frame::ok());
    assert_eq!(r.cmd(&["GET", "k"]), sixfold_resp::Frame::Bulk("old".into()));
    w.cmd(&["SET", "k", "new"]);
    let push = r.read_within(5000).expect("an invalidation from the replica");
    assert_eq!(
        push,
        sixfold_resp::Frame::Push(vec![
            sixfold_resp::Frame::Bulk("invalidate".into()),
            sixfold_resp::Frame::Array(vec![sixfold_resp::Frame::Bulk("k".into())])
        ])
    );
}
