//! Faults ("nemeses") and their seeded schedule: process kills and pauses,
//! network partitions, one-way drops and packet loss (nftables in the
//! processes' namespaces), a storage node losing its data directory, and a
//! storage node whose fsyncs fail (libfiu's `fiu-run`). Each fault starts,
//! holds for a seeded while, and heals before the next one.

use crate::cluster::{Cluster, PROCESSES, REPLICA, STORAGE_NODES, WRITER, zone};
use crate::net::{Filter, installed};
use crate::workload::Clock;
use rand::Rng;
use rand::rngs::SmallRng;
use std::time::{Duration, Instant};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nemesis {
    /// SIGKILL of up to two storage nodes, restarted after a while.
    KillStorage,
    /// SIGSTOP of up to two storage nodes, SIGCONT after a while.
    PauseStorage,
    /// SIGKILL of the replica, restarted after a while.
    KillReplica,
    /// SIGKILL of the writer, restarted at once (it recovers from the log).
    KillWriter,
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
pub const ALL: [Nemesis; 12] = [
    Nemesis::KillStorage,
    Nemesis::PauseStorage,
    Nemesis::KillReplica,
    Nemesis::KillWriter,
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
pub const NAMES: &str = "kill, pause, kill-replica, kill-writer, isolate-node, isolate-zone, split-writer, \
                         one-way, loss, partition (the five network faults), wipe, fsync, overlap, all";

/// Parses a comma-separated list of names into faults.
pub fn parse(list: &str) -> Result<Vec<Nemesis>, String> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let one = match name {
            "kill" | "kill-storage" => Nemesis::KillStorage,
            "pause" | "pause-storage" => Nemesis::PauseStorage,
            "kill-replica" => Nemesis::KillReplica,
            "kill-writer" => Nemesis::KillWriter,
            "isolate-node" => Nemesis::IsolateNode,
            "isolate-zone" => Nemesis::IsolateZone,
            "split-writer" => Nemesis::SplitWriter,
            "one-way" => Nemesis::OneWay,
            "loss" => Nemesis::Loss,
            "wipe" | "lose-data" => Nemesis::WipeStorage,
            "fsync" => Nemesis::FsyncError,
            "overlap" | "zone-and-writer" => Nemesis::ZoneAndWriter,
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

/// The program that makes fsync fail in the process it starts.
const FIU_RUN: &str = "fiu-run";

/// Drops the faults this machine cannot inject, saying why.
pub fn available(c: &Cluster, nemeses: &[Nemesis]) -> (Vec<Nemesis>, Vec<String>) {
    let fiu = installed(FIU_RUN);
    let mut notes = Vec::new();
    let kept = nemeses
        .iter()
        .copied()
        .filter(|n| {
            let ok = match n {
                n if PARTITIONS.contains(n) => c.net.partitions(),
                Nemesis::FsyncError => fiu,
                _ => true,
            };
            if !ok {
                let why =
                    if *n == Nemesis::FsyncError { "fiu-run (fiu-utils) is not installed" } else { "no namespaces" };
                notes.push(format!("{n:?} skipped: {why}"));
            }
            ok
        })
        .collect();
    (kept, notes)
}

fn name(i: usize) -> String {
    match i {
        WRITER => "writer".into(),
        REPLICA => "replica".into(),
        s => format!("storage-{}", s + 1),
    }
}

fn names(processes: &[usize]) -> String {
    processes.iter().map(|&i| name(i)).collect::<Vec<_>>().join(" ")
}

/// One or two distinct processes among the first `n`.
fn one_or_two(rng: &mut SmallRng, n: usize) -> Vec<usize> {
    let a = rng.random_range(0..n);
    let pair = [a, (a + rng.random_range(1..n)) % n];
    pair[..rng.random_range(1..=2)].to_vec()
}

/// Injects one fault of kind `n`, holds it, heals it; returns what it did.
pub fn strike(c: &mut Cluster, n: Nemesis, rng: &mut SmallRng) -> anyhow::Result<String> {
    let victims = one_or_two(rng, STORAGE_NODES);
    let (a, names) = (victims[0], names(&victims));
    let hold = Duration::from_millis(rng.random_range(200..1500));
    let long_hold = Duration::from_millis(rng.random_range(500..3000));
    let ms = |d: Duration| d.as_millis();
    let line = match n {
        Nemesis::KillStorage | Nemesis::PauseStorage => {
            let kill = n == Nemesis::KillStorage;
            for &v in &victims {
                if kill { c.kill(v) } else { c.pause(v, true) }
            }
            std::thread::sleep(hold);
            for &v in &victims {
                if kill { c.restart(v)? } else { c.pause(v, false) }
            }
            format!("{} {names} for {} ms", if kill { "SIGKILL" } else { "SIGSTOP" }, ms(hold))
        }
        Nemesis::KillReplica => {
            c.kill(REPLICA);
            std::thread::sleep(hold);
            c.restart(REPLICA)?;
            format!("SIGKILL replica for {} ms", ms(hold))
        }
        Nemesis::KillWriter => {
            c.kill(WRITER);
            c.restart(WRITER)?;
            c.wait_serving(WRITER)?;
            "SIGKILL writer, restarted".into()
        }
        Nemesis::WipeStorage => {
            c.kill(a);
            std::fs::remove_dir_all(c.storage_dir(a))?;
            std::thread::sleep(hold);
            c.restart(a)?;
            format!("{} lost its data directory, restarted empty after {} ms", name(a), ms(hold))
        }
        Nemesis::FsyncError => fsync_errors(c, a, long_hold)?,
        Nemesis::ZoneAndWriter => zone_and_writer(c, rng, long_hold)?,
        _ => return partition(c, n, rng, long_hold),
    };
    Ok(line)
}

/// Overlapping faults (see [`Nemesis::ZoneAndWriter`]); holds them for
/// `hold` in all and waits until the writer serves again.
fn zone_and_writer(c: &mut Cluster, rng: &mut SmallRng, hold: Duration) -> anyhow::Result<String> {
    let z = rng.random_range(0..3);
    let zone_nodes: Vec<usize> = (0..STORAGE_NODES).filter(|&i| zone(i) == z).collect();
    let others: Vec<usize> = (0..STORAGE_NODES).filter(|&i| zone(i) != z).collect();
    let extra = others[rng.random_range(0..others.len())];
    for &v in &zone_nodes {
        c.kill(v);
    }
    std::thread::sleep(hold / 3);
    c.kill(WRITER);
    c.restart(WRITER)?;
    std::thread::sleep(hold / 3);
    c.pause(extra, true);
    std::thread::sleep(hold / 3);
    for &v in &zone_nodes {
        c.restart(v)?;
    }
    c.pause(extra, false);
    c.wait_serving(WRITER)?;
    Ok(format!(
        "SIGKILL zone {} ({}), then the writer (restarted with four nodes), then SIGSTOP {} — {} ms in all",
        z + 1,
        names(&zone_nodes),
        name(extra),
        hold.as_millis()
    ))
}

/// Restarts storage node `v` with every fsync failing, waits `hold`, then
/// restarts it normally; says whether the node stopped on the error.
fn fsync_errors(c: &mut Cluster, v: usize, hold: Duration) -> anyhow::Result<String> {
    c.kill(v);
    let wrapper = [FIU_RUN, "-x", "-c", "enable name=posix/io/sync/*"].map(String::from);
    // io-uring syncs bypass libc, where libfiu makes fsync fail.
    c.restart_under(v, &wrapper, &["--no-io-uring"])?;
    let end = Instant::now() + hold;
    while Instant::now() < end && c.is_up(v) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = !c.is_up(v);
    c.kill(v);
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    c.restart(v)?;
    let what = if stopped { "stopped on the error" } else { "still running (no fsync happened)" };
    Ok(format!("fsync errors on {} for {} ms: {what}", name(v), hold.as_millis()))
}

/// Installs a network fault, holds it, removes it.
fn partition(c: &mut Cluster, n: Nemesis, rng: &mut SmallRng, hold: Duration) -> anyhow::Result<String> {
    let net = &c.net;
    let line = match n {
        Nemesis::IsolateNode => {
            let v = rng.random_range(0..PROCESSES);
            let mut others = net.others(&[v]);
            others.push(net.host());
            net.add(v, &Filter::From(others.clone()))?;
            net.add(v, &Filter::To(others))?;
            format!("isolated {}", name(v))
        }
        Nemesis::IsolateZone => {
            let z = rng.random_range(0..3);
            let inside: Vec<usize> = (0..PROCESSES).filter(|&i| zone(i) == z).collect();
            let outside = net.others(&inside);
            for &i in &inside {
                net.add(i, &Filter::From(outside.clone()))?;
                net.add(i, &Filter::To(outside.clone()))?;
            }
            format!("isolated zone {} ({})", z + 1, names(&inside))
        }
        Nemesis::SplitWriter => {
            let storage: Vec<_> = (0..STORAGE_NODES).map(|i| net.ip(i)).collect();
            net.add(WRITER, &Filter::From(storage.clone()))?;
            net.add(WRITER, &Filter::To(storage))?;
            "split the writer from every storage node".into()
        }
        Nemesis::OneWay => {
            let from = rng.random_range(0..PROCESSES);
            let to = (from + rng.random_range(1..PROCESSES)) % PROCESSES;
            net.add(from, &Filter::To(vec![net.ip(to)]))?;
            format!("dropped packets {} -> {} (one way)", name(from), name(to))
        }
        _ => {
            let pct = rng.random_range(5..=30);
            let victims = one_or_two(rng, PROCESSES);
            for &v in &victims {
                net.add(v, &Filter::Loss(pct))?;
            }
            format!("{pct}% packet loss on {}", names(&victims))
        }
    };
    std::thread::sleep(hold);
    c.net.heal()?;
    Ok(format!("{line} for {} ms", hold.as_millis()))
}

/// Strikes a fault from `nemeses` every 0.5–1.5 s until `duration` is
/// over (none in the last 2 s); returns the timeline.
pub fn schedule(
    c: &mut Cluster,
    rng: &mut SmallRng,
    duration: Duration,
    nemeses: &[Nemesis],
    clock: &Clock,
) -> anyhow::Result<Vec<String>> {
    let mut timeline = Vec::new();
    let end = Instant::now() + duration;
    while Instant::now() + Duration::from_secs(2) < end {
        std::thread::sleep(Duration::from_millis(rng.random_range(500..1500)));
        if nemeses.is_empty() {
            continue;
        }
        let n = nemeses[rng.random_range(0..nemeses.len())];
        let at = clock.now() as f64 / 1e9;
        let line = strike(c, n, rng)?;
        timeline.push(format!("{at:7.2}s {line}"));
    }
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    Ok(timeline)
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
