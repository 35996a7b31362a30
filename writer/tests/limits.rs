//! Clients cannot grow the server's memory without bound. A subscriber
//! that stops reading: past the pub/sub output limit it is disconnected
//! at once and its output dropped, even while a write to it is blocked
//! (Redis's `client-output-buffer-limit pubsub`), while 1 GiB of messages
//! is published. 10,000 strangers that each declare a 512 MB bulk: none is
//! reserved (CVE-2021-32675). The server's RSS is read from `/proc`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, sixfold};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Resident set size of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    kb * 1024
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected_and_memory_stays_bounded() {
    let server = sixfold(&[]);
    let pid = server.child.id();
    let mut publisher = client(server.port);
    let baseline = rss(pid);
    // The subscriber: subscribes, reads the confirmation, then never reads.
    let mut sub = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sub.write_all(b"SUBSCRIBE flood\r\n").unwrap();
    let mut confirm = [0u8; 64];
    let n = sub.read(&mut confirm).unwrap();
    assert!(String::from_utf8_lossy(&confirm[..n]).contains("subscribe"), "subscribed");
    // Peak RSS, sampled while the flood runs.
    let (peak, done) = (Arc::new(AtomicU64::new(baseline)), Arc::new(AtomicBool::new(false)));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let message = vec![b'x'; 1 << 20];
    let started = Instant::now();
    let mut receivers = Vec::new();
    for _ in 0..64 {
        let mut pipe = redis::pipe();
        for _ in 0..16 {
            pipe.cmd("PUBLISH").arg("flood").arg(&message[..]);
        }
        receivers.extend(pipe.query::<Vec<i64>>(&mut publisher).unwrap());
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let grew = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    assert_eq!(receivers.len(), 1024, "1 GiB published");
    assert_eq!(receivers.last(), Some(&0), "the subscriber was disconnected");
    let numsub: Vec<redis::Value> = redis::cmd("PUBSUB").arg("NUMSUB").arg("flood").query(&mut publisher).unwrap();
    assert_eq!(numsub.get(1), Some(&redis::Value::Int(0)));
    assert!(grew <= 64 << 20, "RSS grew by {} MiB (limit 64 MiB)", grew >> 20);
    eprintln!("1 GiB published in {:.1} s; RSS grew by {} MiB at most", started.elapsed().as_secs_f64(), grew >> 20);
    // The subscriber's socket is closed: reading drains what the kernel
    // held, then ends.
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut drained = 0usize;
    loop {
        match sub.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    assert!(drained < 64 << 20, "only what was in flight reached it ({drained} bytes)");
}

#[test]
fn ten_thousand_strangers_declaring_512_mb_bulks_reserve_nothing() {
    // 10,000 sockets here and as many in the server (it inherits the limit).
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let want = hard.max(12_000);
    assert!(
        setrlimit(Resource::RLIMIT_NOFILE, want, want).is_ok(),
        "this test needs RLIMIT_NOFILE of 12,000 (hard limit {hard}; raising it needs root)"
    );
    let server = sixfold(&["--requirepass", "pw", "--maxclients", "20000"]);
    let pid = server.child.id();
    let baseline = rss(pid);
    let mut socks = Vec::new();
    for _ in 0..10_000 {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.write_all(b"*2\r\n$3\r\nSET\r\n$536870912\r\nxxxx").unwrap();
        socks.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let grew = rss(pid).saturating_sub(baseline);
    let mut first = socks.swap_remove(0);
    first.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = [0u8; 256];
    let n = first.read(&mut answer).unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("-ERR Protocol error"), "refused");
    assert!(grew <= 64 << 20, "10,000 declared 512 MB bulks: RSS grew by {} MiB (limit 64 MiB)", grew >> 20);
    eprintln!("10,000 declared 512 MB bulks: RSS grew by {} MiB", grew >> 20);
    let _: String = redis::cmd("PING")
        .query(
            &mut redis::Client::open(format!("redis://:pw@127.0.0.1:{}/", server.port))
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap();
}

/// The soft limit: a subscriber over it for longer than its seconds is
/// disconnected at its next message (`client-output-buffer-limit pubsub`).
#[test]
fn a_subscriber_over_the_soft_limit_for_its_seconds_is_disconnected() {
    let server = sixfold(&[]);
    let mut publisher = client(server.port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 0 1mb 1")
        .query(&mut publisher)
        .unwrap();
    let mut sub = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sub.write_all(b"SUBSCRIBE slow\r\n").unwrap();
    let mut confirm = [0u8; 64];
    let _ = sub.read(&mut confirm).unwrap();
    let message = vec![b'y'; 1 << 20];
    let publish = |c: &mut redis::Connection| -> i64 {
        let mut pipe = redis::pipe();
        // More than the kernel's socket buffers take off its output.
        for _ in 0..32 {
            pipe.cmd("PUBLISH").arg("slow").arg(&message[..]);
        }
        *pipe.query::<Vec<i64>>(c).unwrap().last().unwrap()
    };
    assert_eq!(publish(&mut publisher), 1, "over the soft limit, not yet for a second");
    std::thread::sleep(Duration::from_millis(1_500));
    publish(&mut publisher);
    // Its connection closes within the write's check interval.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let numsub: Vec<redis::Value> = redis::cmd("PUBSUB").arg("NUMSUB").arg("slow").query(&mut publisher).unwrap();
        if numsub.get(1) == Some(&redis::Value::Int(0)) {
            break;
        }
        assert!(Instant::now() < deadline, "not disconnected after its second: {numsub:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
