//! A subscriber that stops reading cannot grow the server's memory: past
//! the pub/sub output limit it is disconnected at once and its output
//! dropped, even while a write to it is blocked (Redis's
//! `client-output-buffer-limit pubsub`). The server's RSS is read from
//! `/proc` while 1 GiB of messages is published.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, sixfold};
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
