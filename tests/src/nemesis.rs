//! The kinds of fault ("nemeses") and their names: process kills and
//! pauses, network partitions, one-way drops and packet loss (nftables in
//! the processes' namespaces), a storage node losing its data directory, a
//! flipped byte in a sealed segment, fsyncs that fail (libfiu's `fiu-run`),
//! a full disk, two writers at once, an oversized write. How each starts
//! and ends is in [`crate::faults`]; when, and how many at once, in
//! [`crate::schedule`].

use crate::cluster::Cluster;
use crate::faults::FIU_RUN;
use crate::net::installed;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Nemesis {
    /// SIGKILL of up to two storage nodes, restarted after a while.
    KillStorage,
    /// SIGSTOP of up to two storage nodes, SIGCONT after a while.
    PauseStorage,
    /// SIGKILL of the replica, restarted after a while.
    KillReplica,
    /// SIGKILL of the writer, restarted at once (it recovers from the log).
    KillWriter,
    /// SIGSTOP of the writer, SIGCONT after a while (its connections to the
    /// storage nodes may time out meanwhile).
    PauseWriter,
    /// The writer killed and started again together with a second writer
    /// on the same storage nodes, with a client of its own; the second is
    /// killed when the fault ends.
    TwoWriters,
    /// One process cut off from every other and from the clients.
    IsolateNode,
    /// The processes of one zone cut off from the other two zones.
    IsolateZone,
    /// The writer cut off from every storage node (clients still reach it).
    SplitWriter,
    /// Packets from one process to another dropped, the other way kept.
    OneWay,
    /// Random loss of 5–30% of the packets of one or two processes.
    Loss,
    /// A storage node killed, its data directory deleted, restarted empty.
    WipeStorage,
    /// A storage node restarted with every fsync failing (libfiu).
    FsyncError,
    /// A storage node restarted on a file system just larger than its data,
    /// so that its writes soon fail with ENOSPC.
    DiskFull,
    /// A storage node killed, one byte of a sealed segment flipped,
    /// restarted (it must cut its log there and refill from peers).
    FlipByte,
    /// A client sends a value over the writer's per-command limit.
    Oversize,
    /// Overlapping faults: both storage nodes of a zone killed; while they
    /// are down the writer is killed and restarted (it must recover from
    /// the four nodes left, which it may do only if three are intact) and
    /// one more node is paused; then everything comes back.
    ZoneAndWriter,
}

/// Faults that need network namespaces.
pub const PARTITIONS: [Nemesis; 5] =
    [Nemesis::IsolateNode, Nemesis::IsolateZone, Nemesis::SplitWriter, Nemesis::OneWay, Nemesis::Loss];

/// Every fault.
pub const ALL: [Nemesis; 17] = [
    Nemesis::KillStorage,
    Nemesis::PauseStorage,
    Nemesis::KillReplica,
    Nemesis::KillWriter,
    Nemesis::PauseWriter,
    Nemesis::TwoWriters,
    Nemesis::DiskFull,
    Nemesis::FlipByte,
    Nemesis::Oversize,
    Nemesis::IsolateNode,
    Nemesis::IsolateZone,
    Nemesis::SplitWriter,
    Nemesis::OneWay,
    Nemesis::Loss,
    Nemesis::WipeStorage,
    Nemesis::FsyncError,
    Nemesis::ZoneAndWriter,
];

/// The names `--nemesis` accepts.
pub const NAMES: &str = "kill, pause, kill-replica, kill-writer, pause-writer, two-writers, isolate-node, \
                         isolate-zone, split-writer, one-way, loss, partition (the five network faults), wipe, \
                         flip-byte, fsync, disk-full, oversize, zone-and-writer, all";

/// Parses a comma-separated list of names into faults.
pub fn parse(list: &str) -> Result<Vec<Nemesis>, String> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let one = match name {
            "kill" | "kill-storage" => Nemesis::KillStorage,
            "pause" | "pause-storage" => Nemesis::PauseStorage,
            "kill-replica" => Nemesis::KillReplica,
            "kill-writer" => Nemesis::KillWriter,
            "pause-writer" => Nemesis::PauseWriter,
            "two-writers" => Nemesis::TwoWriters,
            "disk-full" => Nemesis::DiskFull,
            "flip-byte" => Nemesis::FlipByte,
            "oversize" => Nemesis::Oversize,
            "isolate-node" => Nemesis::IsolateNode,
            "isolate-zone" => Nemesis::IsolateZone,
            "split-writer" => Nemesis::SplitWriter,
            "one-way" => Nemesis::OneWay,
            "loss" => Nemesis::Loss,
            "wipe" | "lose-data" => Nemesis::WipeStorage,
            "fsync" => Nemesis::FsyncError,
            "zone-and-writer" => Nemesis::ZoneAndWriter,
            "partition" => {
                out.extend(PARTITIONS);
                continue;
            }
            "all" => {
                out.extend(ALL);
                continue;
            }
            other => return Err(format!("unknown nemesis {other} (one of: {NAMES})")),
        };
        out.push(one);
    }
    out.dedup();
    Ok(out)
}

/// Whether this process runs as root (mounts, namespaces).
pub fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

/// Whether this process can mount a small tmpfs (tried once, on a scratch
/// directory).
fn can_mount() -> bool {
    let dir = std::env::temp_dir().join(format!("sixfold-mount-probe-{}", std::process::id()));
    if !root() || std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ok = run(&["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs"]) && run(&["umount"]);
    let _ = std::fs::remove_dir(&dir);
    ok
}

/// Drops the faults this machine cannot inject, saying why.
pub fn available(c: &Cluster, nemeses: &[Nemesis]) -> (Vec<Nemesis>, Vec<String>) {
    let fiu = installed(FIU_RUN);
    let mut notes = Vec::new();
    let kept = nemeses
        .iter()
        .copied()
        .filter(|n| {
            let why = match n {
                n if PARTITIONS.contains(n) && !c.net.partitions() => Some("no namespaces"),
                Nemesis::FsyncError if !fiu => Some("fiu-run (fiu-utils) is not installed"),
                Nemesis::DiskFull if !can_mount() => Some("this process cannot mount a tmpfs (needs root)"),
                _ => None,
            };
            if let Some(why) = why {
                notes.push(format!("{n:?} skipped: {why}"));
            }
            why.is_none()
        })
        .collect();
    (kept, notes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_parse_and_groups_expand() {
        assert_eq!(parse("kill,pause").unwrap(), vec![Nemesis::KillStorage, Nemesis::PauseStorage]);
        assert_eq!(parse("partition").unwrap(), PARTITIONS.to_vec());
        assert_eq!(parse("all").unwrap(), ALL.to_vec());
        assert_eq!(parse("").unwrap(), vec![]);
        assert!(parse("kill,flood").unwrap_err().contains("unknown nemesis flood"));
    }
}
