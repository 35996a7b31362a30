//! `sixfold-chaos`: runs one fault-injection scenario against a cluster of
//! real processes and prints the verdict, the fault timeline and counts,
//! the largest set of faults held at once, how long writes were
//! unavailable, and where the history was saved. Exits 1 unless every
//! check passed.

use clap::Parser;
use sixfold_harness::nemesis::parse;
use sixfold_harness::scenario::run;
use std::time::Duration;

/// Fault-injection scenario runner.
#[derive(Debug, Parser)]
#[command(name = "sixfold-chaos", version, about)]
struct Args {
    /// Seed of the fault schedule and of the workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds to run (a trailing `s` is accepted: `60s`).
    #[arg(long, default_value = "60s")]
    duration: String,
    /// Faults, comma separated (empty: none). One of: kill, pause, kill-replica,
    /// kill-writer, pause-writer, two-writers, isolate-node, isolate-zone,
    /// split-writer, one-way, loss, partition (the five network faults), wipe,
    /// flip-byte, fsync, disk-full, oversize, zone-and-writer (a zone down, the
    /// writer killed and restarted on four nodes, a fifth paused), all.
    #[arg(long, default_value = "kill,pause,kill-replica,partition")]
    nemesis: String,
    /// Faults held at once, at most (1: each heals before the next starts).
    /// Storage nodes losing memory or disk stay within the fault envelope of
    /// docs/protocol.md: a zone and one more node, two of them wiped.
    #[arg(long, default_value_t = 1)]
    overlap: usize,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let secs: u64 = a.duration.trim_end_matches('s').parse().map_err(|_| anyhow::anyhow!("--duration like 60s"))?;
    let nemeses = parse(&a.nemesis).map_err(anyhow::Error::msg)?;
    eprintln!("running seed {} for {secs} s with {nemeses:?}, up to {} at once ...", a.seed, a.overlap);
    let r = run(&format!("chaos-{}", a.seed), a.seed, Duration::from_secs(secs), &nemeses, a.overlap)?;
    println!("{}", r.describe());
    if !r.passed() {
        std::process::exit(1);
    }
    Ok(())
}
