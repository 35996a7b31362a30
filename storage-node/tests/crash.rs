//! Crash safety of a storage node, with six real processes:
//! - SIGKILL of a node in the middle of heavy appends, 50 times at seeded
//!   random moments: after each restart every record the node had reported
//!   flushed is intact, everything it serves passes its CRC and is what the
//!   writer wrote (nothing past a torn tail is served);
//! - a corrupted byte in a segment file is detected on restart, the log is
//!   cut there, and the node recovers the lost part from its peers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Cluster, append_all, payload, read_all, records, wait_ready};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sixfold_fabric::{Appender, CommitMode};
use sixfold_wire::{Lsn, Role, decode_run};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KILLS: usize = 50;
const SEED: u64 = 0x5eed;
/// Pause between two batches of 200 appends.
const APPEND_PAUSE_MS: u64 = 40;

/// Checks a node's served log: valid records, contiguous from 1, written by
/// the writer, covering at least `flushed`.
fn check_log(bytes: &[u8], flushed: Lsn, node: usize) {
    let recs = decode_run(bytes).unwrap_or_else(|e| panic!("node {node} served a bad log: {e}"));
    assert!(
        recs.len() as Lsn >= flushed,
        "node {node} lost flushed records: has {}, reported {flushed} flushed",
        recs.len()
    );
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.lsn, i as Lsn + 1);
        assert_eq!(r.payload, payload(r.lsn), "node {node} record {} differs from what was written", r.lsn);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kills_during_heavy_appends_lose_nothing_flushed() {
    let mut c = Cluster::new("crash");
    let ep = c.writer_endpoint();
    wait_ready(&ep, &c.addrs).await;
    let acks = Arc::new(Mutex::new([(0u64, 0u64); 6]));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ep, addrs, acks, stop) = (ep.clone(), c.addrs.clone(), acks.clone(), stop.clone());
        tokio::spawn(async move {
            let mut app = Appender::new(ep, addrs, 100, 1, CommitMode::Memory, (0, 0));
            while !stop.load(Ordering::Relaxed) {
                let from = app.last_lsn() + 1;
                if app.append(records(from, 200)).await.is_err() {
                    continue;
                }
                {
                    let mut a = acks.lock().unwrap();
                    for (i, slot) in a.iter_mut().enumerate() {
                        *slot = app.node_ack(i).unwrap();
                    }
                }
                // Each kill reads the victim's whole log back: keep it to a
                // few hundred thousand records.
                tokio::time::sleep(Duration::from_millis(APPEND_PAUSE_MS)).await;
            }
            app.last_lsn()
        })
    };
    let mut rng = SmallRng::seed_from_u64(SEED);
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..200))).await;
        let victim = rng.random_range(0..6);
        let (_, flushed) = acks.lock().unwrap()[victim];
        c.kill(victim);
        c.start(victim);
        wait_ready(&ep, &c.addrs[victim..=victim]).await;
        let served = read_all(&ep, c.addrs[victim], Role::Peer).await;
        check_log(&served, flushed, victim);
        if kill % 10 == 9 {
            eprintln!("{} kills done, node {victim} had {flushed} flushed", kill + 1);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let last = writer.await.unwrap();
    assert!(last > 10_000, "appends kept going during the kills ({last} records)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_segment_byte_is_cut_and_refilled_from_peers() {
    let mut c = Cluster::new("corrupt");
    let ep = c.writer_endpoint();
    wait_ready(&ep, &c.addrs).await;
    let mut app = Appender::new(ep.clone(), c.addrs.clone(), 100, 1, CommitMode::Disk, (0, 0));
    append_all(&mut app, 1, 20_000, 1000).await.unwrap();
    app.settle().await.unwrap();
    let reference = read_all(&ep, c.addrs[0], Role::Peer).await;
    c.kill(2);
    let seg_dir = c.dir.join("node-3/segments");
    let mut segs: Vec<_> = std::fs::read_dir(&seg_dir).unwrap().map(|e| e.unwrap().path()).collect();
    segs.sort();
    let mut data = std::fs::read(&segs[0]).unwrap();
    let at = data.len() / 2;
    data[at] ^= 0x5a;
    std::fs::write(&segs[0], &data).unwrap();
    c.start(2);
    wait_ready(&ep, &c.addrs[2..3]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while read_all(&ep, c.addrs[2], Role::Peer).await != reference {
        assert!(Instant::now() < deadline, "node 3 did not recover its log from peers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(c.log_path(2)).unwrap();
    assert!(log.contains("recovery cut the log"), "the corruption was reported: {log}");
}
