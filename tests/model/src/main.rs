//! `sixfold-model-check`: checks the log protocol exhaustively for a small
//! world and prints, for each property, "holds" or the shortest trace found
//! that breaks it. Exits 1 when a property fails.

use anyhow::bail;
use clap::{Parser, ValueEnum};
use sixfold_fabric::{CommitMode, Rules};
use sixfold_model::{Config, LogModel};
use stateright::{Checker, Model};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Memory,
    Disk,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RuleSet {
    /// The rules of docs/protocol.md.
    Safe,
    /// Recovery as it was before them (any four promises, adopted log
    /// counted as committed), to show its counterexamples.
    Unsafe,
}

/// Model-check Sixfold's log protocol (six storage nodes, real state machines).
#[derive(Debug, Parser)]
#[command(name = "sixfold-model-check", version, about)]
struct Cli {
    /// Writers started over a run.
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Client writes per writer (besides its LeaderChange).
    #[arg(long, default_value_t = 1)]
    writes: u8,
    /// Faults per run: node crashes, wipes, link cuts, writer deaths, failed reads.
    #[arg(long, default_value_t = 2)]
    faults: u8,
    /// Let nodes be wiped (data directory lost).
    #[arg(long)]
    wipes: bool,
    /// Let a new writer pick the same epoch as the last one.
    #[arg(long)]
    duels: bool,
    /// Commit mode.
    #[arg(long, value_enum, default_value_t = Mode::Memory)]
    mode: Mode,
    /// Recovery rules.
    #[arg(long, value_enum, default_value_t = RuleSet::Safe)]
    rules: RuleSet,
    /// Split the flusher's step so appends come between its take and write.
    #[arg(long)]
    flush_race: bool,
    /// Faults are only link cuts, writer deaths and failed reads.
    #[arg(long)]
    no_crashes: bool,
    /// Storage nodes never fill holes from peers (a smaller world).
    #[arg(long)]
    no_fills: bool,
    /// Steps per run.
    #[arg(long, default_value_t = 24)]
    depth: usize,
    /// Breadth-first (shortest counterexamples; symmetry reduction by
    /// making every state its representative) instead of depth-first with
    /// stateright's symmetry reduction.
    #[arg(long)]
    bfs: bool,
    /// Random walks from this seed instead of an exhaustive search (finds
    /// deep counterexamples fast; proves nothing when it finds none).
    #[arg(long)]
    simulate: Option<u64>,
    /// Checker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop after this many seconds (the run then says it is incomplete).
    #[arg(long)]
    timeout_s: Option<u64>,
    /// Stop after about this many states: random walks that find the same
    /// things on a slow or busy machine as on a fast one (a time limit
    /// alone would make what they reach depend on the machine's speed).
    #[arg(long)]
    states: Option<usize>,
    /// Model leases of this many clock ticks: writers serve only while
    /// theirs holds, a replica pulls committed records, and a candidate may
    /// start after a quiet window (then checks: at most one writer serves
    /// at any instant; a serving writer has every acknowledged write).
    #[arg(long)]
    lease_ticks: Option<u8>,
    /// Clock ticks over a run (with --lease-ticks).
    #[arg(long, default_value_t = 6)]
    ticks: u8,
    /// With --lease-ticks: the clock-drift bound in ticks (a writer's clock
    /// may run this much slow over a lease; candidates wait it out too).
    #[arg(long, default_value_t = 0)]
    drift_ticks: u8,
    /// With --lease-ticks: a candidate serves at once after any quiet
    /// window, whatever its promises tell (to show the counterexample).
    #[arg(long)]
    lease_unsafe: bool,
    /// With --lease-ticks: writers renew their lease from every committed
    /// record, as before the commit-knowledge rule (R12).
    #[arg(long)]
    lease_from_commit: bool,
    /// Add a replica that stages records above the commit LSN and applies
    /// them at writers' commit notifications (`replica/src/staging.rs`).
    #[arg(long)]
    staging: bool,
    /// Snapshot markers a run may log (0: none): storage nodes truncate
    /// below committed ones and refill from a peer's base (R14).
    #[arg(long, default_value_t = 0)]
    marks: u8,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = Config {
        writers_max: cli.writers,
        writes_max: cli.writes,
        faults_max: cli.faults,
        wipes: cli.wipes,
        duels: cli.duels,
        mode: match cli.mode {
            Mode::Memory => CommitMode::Memory,
            Mode::Disk => CommitMode::Disk,
        },
        flush_race: cli.flush_race,
        no_crashes: cli.no_crashes,
        no_fills: cli.no_fills,
        canonical: cli.bfs || cli.simulate.is_some(),
        lease: cli.lease_ticks,
        ticks_max: cli.ticks,
        drift: cli.drift_ticks,
        lease_unsafe: cli.lease_unsafe,
        lease_from_commit: cli.lease_from_commit,
        staging: cli.staging,
        marks_max: cli.marks,
        enabled_only: cli.simulate.is_some(),
        rules: match cli.rules {
            RuleSet::Safe => Rules::Safe,
            RuleSet::Unsafe => Rules::Unsafe,
        },
    };
    println!("model: {cfg:?}, depth {}, {}", cli.depth, if cli.bfs { "BFS" } else { "DFS with symmetry reduction" });
    let start = Instant::now();
    let mut builder = LogModel(cfg).checker().target_max_depth(cli.depth).threads(cli.threads);
    if let Some(t) = cli.timeout_s {
        builder = builder.timeout(Duration::from_secs(t));
    }
    if let Some(n) = cli.states {
        builder = builder.target_state_count(n);
    }
    let how = Run { simulate: cli.simulate.is_some(), timeout_s: cli.timeout_s, depth: cli.depth };
    if let Some(seed) = cli.simulate {
        report(builder.spawn_simulation(seed, stateright::UniformChooser).join(), start, how)
    } else if cli.bfs {
        report(builder.spawn_bfs().join(), start, how)
    } else {
        report(builder.symmetry().spawn_dfs().join(), start, how)
    }
}

/// How a run was made, for its verdict.
#[derive(Debug, Clone, Copy)]
struct Run {
    simulate: bool,
    timeout_s: Option<u64>,
    depth: usize,
}

fn report(checker: impl Checker<LogModel>, start: Instant, how: Run) -> anyhow::Result<()> {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "explored {} states ({} unique), max depth {}, in {secs:.1} s",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth()
    );
    let timed_out = how.timeout_s.is_some_and(|t| secs >= t as f64);
    match (how.simulate, timed_out) {
        (true, _) => println!("random walks: what holds here is not proven"),
        (false, true) => {
            println!("INCOMPLETE: the time limit stopped the search (proven only below depth {})", checker.max_depth())
        }
        (false, false) => println!("complete: every state up to depth {} explored", how.depth),
    }
    let mut failed = false;
    for p in checker.model().properties() {
        let found = checker.discovery(p.name);
        match (p.expectation, found) {
            (stateright::Expectation::Sometimes, Some(_)) => println!("reached: {}", p.name),
            (stateright::Expectation::Sometimes, None) => {
                println!("NOT REACHED: {} (the model is too small to show anything)", p.name);
                failed = true;
            }
            (_, None) => println!("holds: {}", p.name),
            (_, Some(path)) => {
                failed = true;
                let steps = path.into_vec();
                println!(
                    "VIOLATED: {} ({} steps)\n  trace (storage nodes 0-5, writers by start order):",
                    p.name,
                    steps.len() - 1
                );
                print_trace(checker.model(), steps);
            }
        }
    }
    if failed {
        bail!("the model check failed");
    }
    println!("model check passed");
    Ok(())
}

/// Prints the actions of a trace with the nodes' own numbers (the checker's
/// states are renumbered for symmetry at every step), then the final state.
fn print_trace(model: &LogModel, steps: Vec<(sixfold_model::state::State, Option<sixfold_model::Action>)>) {
    let mut names: [usize; sixfold_fabric::STORAGE_NODES] = std::array::from_fn(|i| i);
    let mut last = None;
    for (s, a) in steps {
        let Some(a) = a else {
            last = Some(s);
            break;
        };
        println!("    {:?}", a.renamed(&names));
        if let Some(raw) = model.next_raw(&s, a) {
            let (_, perm) = raw.representative_with_perm();
            let old = names;
            names = std::array::from_fn(|i| old[perm[i]]);
            last = Some(raw);
        }
    }
    if let Some(s) = last {
        let (canon, _) = s.representative_with_perm();
        println!("  final state (nodes renumbered):\n{}", sixfold_model::state::summary(&canon));
    }
}
