//! The durable writer (`--durability fabric`) with six real storage nodes:
//! acknowledged writes survive SIGKILL of the writer; a read never sees a
//! write that is not committed; with three storage nodes stopped writes wait
//! and resume without restarting anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fabric, client, free_port, sixfold_on};
use redis::Commands;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn acknowledged_writes_survive_writer_kill() {
    let fabric = Fabric::start("kill");
    let port = free_port();
    let mut server = sixfold_on(port, &fabric.server_args());
    // Four concurrent clients; each remembers what was acknowledged.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let acked = acked.clone();
            std::thread::spawn(move || {
                let mut c = client(port);
                for i in 0..500 {
                    let key = format!("w{w}:k{i}");
                    let _: () = c.set(&key, i).unwrap();
                    let _: i64 = c.incr(format!("w{w}:counter"), 1).unwrap();
                    acked.lock().unwrap().push((key, i));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    // A new writer rebuilds everything from the fabric.
    let server = sixfold_on(port, &fabric.server_args());
    let mut c = client(server.port);
    for (key, v) in acked.lock().unwrap().iter() {
        assert_eq!(c.get::<_, Option<i64>>(key).unwrap(), Some(*v), "{key} lost");
    }
    for w in 0..4 {
        assert_eq!(c.get::<_, i64>(format!("w{w}:counter")).unwrap(), 500);
    }
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(info.contains("durability:fabric"), "{info}");
    let field = |name: &str| -> u64 {
        let line = info.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {info}"));
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    };
    assert!(field("log_commit_lsn:") >= 4000, "{info}");
    assert!(info.contains("storage_node_6_ack_lag:"), "{info}");
}

#[test]
fn no_dirty_reads_and_writes_resume_when_a_node_returns() {
    let fabric = Fabric::start("dirty");
    let port = free_port();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut args = fabric.server_args();
    args.extend(["--metrics-listen".to_string(), metrics.to_string()]);
    // A lease longer than the pause below: this test is about dirty reads
    // (with three nodes paused nothing commits, so a short lease lapses).
    args.extend(["--lease-ms", "10000", "--lease-renew-ms", "500"].map(String::from));
    let _server = sixfold_on(port, &args);
    let mut b = client(port);
    let _: () = b.set("k", "old").unwrap();
    let _: () = b.set("other", "x").unwrap();
    // Three nodes paused: no commit is possible.
    for i in 0..3 {
        fabric.signal(i, "-STOP");
    }
    let writer = std::thread::spawn(move || {
        let mut a = client(port);
        let _: () = a.set("k", "new").unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    let reader = std::thread::spawn(move || {
        let mut r = client(port);
        r.get::<_, String>("k").unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!writer.is_finished(), "the SET must wait for its commit");
    assert!(!reader.is_finished(), "a GET of a key with an uncommitted write must wait");
    assert_eq!(b.get::<_, String>("other").unwrap(), "x", "a clean key answers at once");
    fabric.signal(0, "-CONT");
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), "new", "the reader sees the committed value");
    for i in 1..3 {
        fabric.signal(i, "-CONT");
    }
    // The writer's metrics are exported.
    let text = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(metrics).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    use sixfold_writer::metrics as m;
    for name in [
        m::COMMIT_SECONDS,
        m::BATCH_RECORDS,
        m::BATCH_BYTES,
        m::COMMITTED_RECORDS,
        m::COMMIT_LSN,
        m::INFLIGHT_RECORDS,
        m::NODE_ACKED_LSN,
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing in:\n{text}");
    }
}

#[test]
fn writes_time_out_with_three_nodes_down_and_pipelines_keep_order() {
    let mut fabric = Fabric::start("timeout");
    let port = free_port();
    let mut args = fabric.server_args();
    args.extend(["--commit-timeout-ms".to_string(), "500".to_string()]);
    let _server = sixfold_on(port, &args);
    // A pipeline of 1,000 writes gets its 1,000 replies in order.
    let mut raw = common::Raw::connect(port);
    let batch: Vec<u8> = (0..1000).flat_map(|_| b"*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n".to_vec()).collect();
    raw.send_raw(&batch);
    for i in 1..=1000 {
        assert_eq!(raw.read(), Some(sixfold_resp::Frame::Integer(i)));
    }
    // Three nodes down: the write waits, then the client gets an error.
    for i in 0..3 {
        fabric.kill_node(i);
    }
    let started = std::time::Instant::now();
    let mut c = client(port);
    let err = c.set::<_, _, ()>("k", "v").expect_err("no commit, no success");
    assert_eq!(err.code(), Some("TIMEOUT"), "{err}");
    assert!(err.to_string().contains("outcome is unknown"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(450), "it waited for the commit timeout");
    // The connection stays usable: a read of a clean key answers at once.
    assert_eq!(c.get::<_, Option<String>>("clean").unwrap(), None);
    // One node back: writes resume without restarting anything.
    fabric.start_node(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = client(port);
        match c.set::<_, _, ()>("k2", "v2") {
            Ok(()) => break,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("writes did not resume: {e}"),
        }
    }
    assert_eq!(client(port).get::<_, String>("k2").unwrap(), "v2");
}

/// The faults of one round of the seeded test.
#[derive(Debug, Clone, Copy)]
enum Strike {
    /// SIGKILL of the writer.
    Writer,
    /// SIGKILL of two storage nodes picked at random, restarted while the
    /// writer keeps serving.
    TwoNodes,
    /// SIGKILL of two random storage nodes, then of the writer, which
    /// restarts and recovers from the four left.
    TwoNodesAndWriter,
    /// SIGKILL of both storage nodes of one zone, then of the writer.
    ZoneAndWriter,
}

/// Several clients write unique keys nonstop; at seeded random moments the
/// writer, any two storage nodes, or a whole zone (with the writer) are
/// SIGKILLed and restarted. Every acknowledged write must be there at the
/// end, read from a writer rebuilt from the fabric.
#[test]
fn no_acknowledged_write_lost_across_seeded_kills() {
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut fabric = Fabric::start("seeded");
    let port = free_port();
    let mut server = Some(sixfold_on(port, &fabric.server_args()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || write_unique_keys(port, w, &stop, &acked))
        })
        .collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5eed_0004);
    let strikes = [Strike::Writer, Strike::TwoNodes, Strike::TwoNodesAndWriter, Strike::ZoneAndWriter];
    for round in 0..12 {
        // Let the clients get some writes acknowledged, then strike at a
        // seeded random moment.
        let before = acked.lock().unwrap().len();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < before + 300 {
            assert!(std::time::Instant::now() < deadline, "writes did not resume after round {round}");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..500)));
        let strike = strikes[round % strikes.len()];
        let victims: Vec<usize> = match strike {
            Strike::Writer => vec![],
            Strike::TwoNodes | Strike::TwoNodesAndWriter => {
                let a = rng.random_range(0..6);
                vec![a, (a + rng.random_range(1..6)) % 6]
            }
            Strike::ZoneAndWriter => {
                let zone = rng.random_range(0..3) * 2;
                vec![zone, zone + 1]
            }
        };
        eprintln!("round {round}: {strike:?} {victims:?} after {} acknowledged writes", acked.lock().unwrap().len());
        for &i in &victims {
            fabric.kill_node(i);
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(50..300)));
        if !matches!(strike, Strike::TwoNodes) {
            server = Some(restart(server.take().unwrap(), port, &fabric));
        }
        for &i in &victims {
            fabric.start_node(i);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let _server = restart(server.take().unwrap(), port, &fabric);
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= 3600, "the clients kept writing through the faults ({} acknowledged)", acked.len());
    let mut c = client(port);
    for (key, v) in acked.iter() {
        assert_eq!(c.get::<_, Option<u64>>(key).unwrap(), Some(*v), "{key} was acknowledged and lost");
    }
}

/// SIGKILL of the writer, and a new one on the same port.
fn restart(mut s: common::Proc, port: u16, fabric: &Fabric) -> common::Proc {
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);
    sixfold_on(port, &fabric.server_args())
}

/// Writes keys `w{w}:{i}` until `stop`, reconnecting after errors; records
/// every acknowledged write in `acked`.
fn write_unique_keys(port: u16, w: usize, stop: &std::sync::atomic::AtomicBool, acked: &Mutex<Vec<(String, u64)>>) {
    use std::sync::atomic::Ordering;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else { continue };
        let Ok(mut conn) = c.get_connection_with_timeout(Duration::from_millis(500)) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            let key = format!("w{w}:{i}");
            if conn.set::<_, _, ()>(&key, i).is_err() {
                break;
            }
            acked.lock().unwrap().push((key, i));
            i += 1;
        }
        i += 1; // the failed write's key is not reused
    }
}

/// WAITAOF returns once the client's last write is on disk on four storage
/// nodes; WAIT counts replicas (none yet: it waits out its timeout); both
/// keep a pipeline's replies in order; INFO replication shows the fabric.
#[test]
fn wait_and_waitaof_follow_the_fabric() {
    let fabric = Fabric::start("wait");
    let port = free_port();
    let _server = sixfold_on(port, &fabric.server_args());
    let mut c = client(port);
    let _: () = c.set("a", 1).unwrap();
    let (local, replicas): (i64, i64) = redis::cmd("WAITAOF").arg(1).arg(0).arg(0).query(&mut c).unwrap();
    assert_eq!((local, replicas), (1, 0), "the write is on disk on four nodes");
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    let field = |info: &str, name: &str| -> u64 {
        let line = info.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {info}"));
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    };
    assert!(field(&info, "log_fabric_flushed_lsn:") >= field(&info, "log_commit_lsn:") - 1, "{info}");
    assert_eq!(redis::cmd("WAIT").arg(0).arg(0).query::<i64>(&mut c).unwrap(), 0);
    let started = std::time::Instant::now();
    assert_eq!(redis::cmd("WAIT").arg(1).arg(200).query::<i64>(&mut c).unwrap(), 0, "no replicas yet");
    assert!(started.elapsed() >= Duration::from_millis(190), "WAIT waited for its timeout");
    let err = redis::cmd("WAIT").arg(1).arg(-1).query::<i64>(&mut c).unwrap_err();
    assert!(err.to_string().contains("timeout is negative"), "{err}");
    // In one pipeline: the write, WAITAOF, and a read after it, in order.
    let mut raw = common::Raw::connect(port);
    raw.send_raw(b"SET b 2\r\nWAITAOF 1 0 1000\r\nGET b\r\n");
    use sixfold_resp::Frame;
    assert_eq!(raw.read(), Some(Frame::ok()));
    assert_eq!(raw.read(), Some(Frame::Array(vec![Frame::Integer(1), Frame::Integer(0)])));
    assert_eq!(raw.read(), Some(Frame::bulk("2")));
    // Inside MULTI it does not block.
    raw.send_raw(b"MULTI\r\nWAIT 1 0\r\nEXEC\r\n");
    assert_eq!(raw.read(), Some(Frame::ok()));
    assert_eq!(raw.read(), Some(Frame::Simple("QUEUED".into())));
    assert_eq!(raw.read(), Some(Frame::Array(vec![Frame::Integer(0)])));
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
    assert!(field(&info, "master_repl_offset:") >= 3, "{info}");
    assert!(info.contains("storage_node_6:acked_lsn="), "{info}");
}

/// With a password, an unauthenticated connection's REPLCONF is refused
/// (`-NOAUTH`) and registers nothing: WAIT does not count it, INFO does
/// not list it. After AUTH the same REPLCONFs register a replica.
#[test]
fn an_anonymous_replconf_is_refused_and_never_counted() {
    use sixfold_resp::Frame;
    let fabric = Fabric::start("replconf-auth");
    let port = free_port();
    let args = [fabric.server_args(), vec!["--requirepass".into(), "s3cret".into()]].concat();
    let _server = sixfold_on(port, &args);
    let mut anon = common::Raw::connect(port);
    for cmd in [
        &["REPLCONF", "LISTENING-PORT", "7000"][..],
        &["REPLCONF", "IP-ADDRESS", "10.0.0.9"],
        &["REPLCONF", "ACK", "999999"],
    ] {
        match anon.cmd(cmd) {
            Frame::Error(e) => assert!(e.starts_with("NOAUTH"), "{cmd:?}: {e}"),
            other => panic!("{cmd:?} answered {other:?}"),
        }
    }
    let mut c = client(port);
    let _: () = redis::cmd("AUTH").arg("s3cret").query(&mut c).unwrap();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(redis::cmd("WAIT").arg(1).arg(100).query::<i64>(&mut c).unwrap(), 0, "no replica was registered");
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
    assert!(info.contains("connected_slaves:0"), "{info}");
    // Authenticated, the same announcements count.
    assert_eq!(anon.cmd(&["AUTH", "s3cret"]), Frame::ok());
    for cmd in [&["REPLCONF", "LISTENING-PORT", "7000"][..], &["REPLCONF", "IP-ADDRESS", "10.0.0.9"]] {
        assert_eq!(anon.cmd(cmd), Frame::ok(), "{cmd:?}");
    }
    anon.send(&[b"REPLCONF", b"ACK", b"999999"]);
    assert_eq!(
        redis::cmd("WAIT").arg(1).arg(2000).query::<i64>(&mut c).unwrap(),
        1,
        "the authenticated replica counts"
    );
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
    assert!(info.contains("connected_slaves:1"), "{info}");
}

/// A keyspace notification tells of a write only once it committed: with
/// three storage nodes paused the subscriber hears nothing of a SET; once
/// one returns, the SET commits and the notification arrives.
#[test]
fn keyspace_notifications_wait_for_their_commit() {
    let fabric = Fabric::start("notify");
    let port = free_port();
    let mut args = fabric.server_args();
    args.extend(["--lease-ms", "10000", "--lease-renew-ms", "500"].map(String::from));
    let _server = sixfold_on(port, &args);
    // A first writer takes clients once any lease before it could have
    // ended (this test's lease: 10 s): wait through the client with the
    // longer timeout before the raw connections.
    let _: () =
        redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("KEA").query(&mut client(port)).unwrap();
    let mut sub = common::Raw::connect(port);
    sub.send(&[b"SUBSCRIBE", b"__keyevent@0__:set"]);
    sub.read().expect("SUBSCRIBE's reply");
    for i in 0..3 {
        fabric.signal(i, "-STOP");
    }
    let writer = std::thread::spawn(move || {
        let mut a = client(port);
        let _: () = a.set("k", "uncommitted until a node returns").unwrap();
    });
    assert!(sub.read_within(600).is_none(), "a notification of an uncommitted write was sent");
    fabric.signal(0, "-CONT");
    writer.join().unwrap();
    let m = sub.read_within(5000).expect("the notification after the commit");
    assert!(format!("{m:?}").contains("__keyevent@0__:set"), "{m:?}");
    for i in 1..3 {
        fabric.signal(i, "-CONT");
    }
}
