//! Log truncation below snapshots (`docs/protocol.md` R14) with real
//! processes: `sixfold up` with its snapshotter, small segment files and a
//! small margin. The storage nodes drop whole segment files below the
//! newest committed snapshot marker; a replica paused while they did so
//! restores the newest snapshot and catches up; a storage node whose data
//! directory is lost starts its log at its peers' base and fills from
//! them; both data nodes come back from snapshot + log with the same data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{conn, up_with, wait_line};

const KEYS: usize = 20_000;

/// A gauge of the Prometheus endpoint at `port` (0 when not exported yet).
fn gauge(port: u16, name: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let value = text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')).map(|v| v.trim().to_string());
    value.and_then(|v| v.parse::<f64>().ok()).map_or(0, |v| v as u64)
}

/// Waits until `ok()` holds, or fails with `what`.
fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn info_field(port: u16, section: &str, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(&mut conn(port)).unwrap();
    let line = info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::to_string);
    line.unwrap_or_default().trim().to_string()
}

fn digest(port: u16) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(&mut conn(port)).unwrap()
}

fn dbsize(port: u16) -> usize {
    redis::cmd("DBSIZE").query(&mut conn(port)).unwrap()
}

/// The pid of the data node serving RESP on `port`.
fn data_node_pid(port: u16) -> String {
    let out = Command::new("pgrep").args(["-f", &format!("sixfold-server.* 127.0.0.1:{port} ")]).output().unwrap();
    let pids = String::from_utf8_lossy(&out.stdout).to_string();
    pids.lines().next().unwrap_or_else(|| panic!("no data node on {port}")).to_string()
}

/// The first LSN of the oldest segment file of a storage node.
fn first_segment_lsn(dir: &Path, node: usize) -> u64 {
    let segs = dir.join(format!("storage-{node}")).join("segments");
    let names = std::fs::read_dir(&segs).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok());
    names.filter_map(|n| n.split(['-', '.']).next()?.parse().ok()).min().unwrap_or(0)
}

fn write_keys(port: u16) {
    let mut w = conn(port);
    for chunk in 0..KEYS / 500 {
        let mut p = redis::pipe();
        for i in chunk * 500..(chunk + 1) * 500 {
            p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        }
        p.query::<()>(&mut w).unwrap();
    }
}

#[test]
fn storage_nodes_truncate_below_snapshots_and_lagging_or_wiped_nodes_come_back() {
    let dir = std::env::temp_dir().join(format!("sixfold-trunc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = 17_000 + (std::process::id() % 100) as u16 * 40;
    let storage_metrics = |i: usize| base + 20 + i as u16;
    let args = ["--snapshot-every-records", "2000", "--truncate-margin-records", "200", "--segment-bytes-max", "32768"];
    let (first, writer) = up_with(&dir, base, &args);
    let replica = if writer == base { base + 1 } else { base };
    // The replica is paused while the log grows and is truncated past it.
    let pid = data_node_pid(replica);
    let applied: u64 = info_field(replica, "replication", "replica_applied_lsn").parse().unwrap();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    write_keys(writer);
    let truncated = || (0..6).all(|i| gauge(storage_metrics(i), "sixfold_storage_base_lsn") > applied + 1000);
    wait_for("every storage node truncated its log below a snapshot", Duration::from_secs(90), truncated);
    // The gauge moves once the files are deleted.
    for node in 1..=6 {
        assert!(first_segment_lsn(&dir, node) > 1000, "storage-{node}'s oldest segment files are gone");
    }
    let snapshot_lsn = gauge(storage_metrics(0), "sixfold_storage_snapshot_lsn");
    assert!(gauge(storage_metrics(0), "sixfold_storage_base_lsn") <= snapshot_lsn - 200, "the margin is kept");
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    // It cannot read the log from where it stopped: it restores a snapshot,
    // then reads on, and ends with every key.
    let restored = || info_field(replica, "replication", "replica_snapshot_restores").parse::<u64>().unwrap_or(0) >= 1;
    wait_for("the paused replica restored a snapshot", Duration::from_secs(60), restored);
    let same = || dbsize(base) == KEYS && dbsize(base + 1) == KEYS && digest(base) == digest(base + 1);
    wait_for("both data nodes hold every key, the same", Duration::from_secs(60), same);
    let before = digest(base);
    let group = format!("-{}", first.child.id());
    assert!(Command::new("kill").args(["-TERM", "--", &group]).status().unwrap().success());
    wait_line(&first, "stopped", Duration::from_secs(40));
    drop(first);
    // storage-3 loses its data directory: its peers' logs start past LSN 1,
    // so it starts its own at their base and fills from there.
    std::fs::remove_dir_all(dir.join("storage-3")).unwrap();
    let (second, writer) = up_with(&dir, base, &args);
    let filled = || {
        let scl = gauge(storage_metrics(0), "sixfold_storage_scl");
        gauge(storage_metrics(2), "sixfold_storage_base_lsn") > 1000
            && gauge(storage_metrics(2), "sixfold_storage_scl") >= scl
    };
    wait_for("the wiped storage node filled from its peers' base", Duration::from_secs(60), filled);
    assert!(first_segment_lsn(&dir, 3) > 1000, "its log starts at the base");
    for port in [base, base + 1] {
        assert_ne!(
            info_field(port, "persistence", "snapshot_restored"),
            "none",
            "data node {port} restored a snapshot"
        );
        wait_for("a data node replayed the log past the snapshot", Duration::from_secs(30), || digest(port) == before);
    }
    assert_eq!(dbsize(writer), KEYS);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
