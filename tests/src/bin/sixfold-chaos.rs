//! `sixfold-chaos`: runs one fault-injection scenario against a cluster of
//! real processes on 127.0.0.1 and prints the verdict, the fault timeline,
//! and where the history was saved. Exits 1 unless every check passed.

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
    /// kill-writer, isolate-node, isolate-zone, split-writer, one-way, loss,
    /// partition (the five network faults), wipe, fsync, overlap (a zone down,
    /// the writer killed and restarted on four nodes, a fifth paused), all.
    #[arg(long, default_value = "kill,pause,kill-replica,partition")]
    nemesis: String,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let secs: u64 = a.duration.trim_end_matches('s').parse().map_err(|_| anyhow::anyhow!("--duration like 60s"))?;
    let nemeses = parse(&a.nemesis).map_err(anyhow::Error::msg)?;
    eprintln!("running seed {} for {secs} s with {nemeses:?} ...", a.seed);
    let r = run(&format!("chaos-{}", a.seed), a.seed, Duration::from_secs(secs), &nemeses)?;
    for n in &r.notes {
        println!("{n}");
    }
    println!("faults ({}):", r.timeline.len());
    for t in &r.timeline {
        println!("  {t}");
    }
    println!("{} operations in {:.1} s ({:.0}/s)", r.ops, r.secs, r.ops as f64 / r.secs.max(1e-9));
    for v in &r.violations {
        println!("VIOLATION {v}");
    }
    for k in &r.unknown {
        println!("UNKNOWN: the check of register {k} ran out of budget");
    }
    println!("history: {}", r.history_path.display());
    println!("{}", r.verdict());
    if !r.passed() {
        std::process::exit(1);
    }
    Ok(())
}
