//! One scenario: a cluster, the recorded workload, faults ("nemeses") at
//! seeded random times — one at a time, or up to `overlap` at once — then
//! healing and the final check ([`crate::verify`]). Returns the verdicts,
//! the fault timeline and counts, how long writes were unavailable, and
//! where the history was saved.

use crate::cluster::{Cluster, PROCESSES};
use crate::faults::Ctx;
use crate::history::{Nanos, Outcome};
use crate::nemesis::{Nemesis, available};
use crate::schedule::{Timeline, schedule};
use crate::verify::verify;
use crate::workload::{Clock, Recorded, replica_reader, writer_client};
use anyhow::Context as _;
use rand::SeedableRng;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a scenario found.
#[derive(Debug)]
pub struct Report {
    /// Operations completed.
    pub ops: u64,
    /// Seconds the workload ran.
    pub secs: f64,
    /// Acknowledged writes lost (appends and increments).
    pub lost: u64,
    /// Linearizability violations (register keys) and other anomalies.
    pub violations: Vec<String>,
    /// Keys whose check ran out of budget.
    pub unknown: Vec<String>,
    /// Faults injected and restarts, with times; counts; the largest set held at once.
    pub timeline: Timeline,
    /// Seconds in which no write was acknowledged for over a second, in
    /// all, and the longest such stretch.
    pub unavailable: (f64, f64),
    /// How the processes are networked, faults this machine cannot inject,
    /// and what the final check compared.
    pub notes: Vec<String>,
    /// Where the history was written.
    pub history_path: std::path::PathBuf,
}

/// Writer-side clients.
const CLIENTS: u64 = 4;
/// A stretch without an acknowledged write longer than this is unavailability.
const UNAVAILABLE_AFTER: Nanos = 1_000_000_000;

/// Runs a scenario with at most `overlap` faults held at once.
/// A run that fails keeps its processes' logs ([`keep_logs`]).
pub fn run(name: &str, seed: u64, duration: Duration, nemeses: &[Nemesis], overlap: usize) -> anyhow::Result<Report> {
    let mut cluster = Cluster::start(name)?;
    exercise(&mut cluster, seed, duration, nemeses, overlap).map_err(|e| {
        let kept = keep_logs(&cluster);
        e.context(kept)
    })
}

fn exercise(
    cluster: &mut Cluster,
    seed: u64,
    duration: Duration,
    nemeses: &[Nemesis],
    overlap: usize,
) -> anyhow::Result<Report> {
    let (nemeses, mut notes) = available(cluster, nemeses);
    notes.insert(0, cluster.net.describe());
    let (rec, clock, stop) = (Arc::new(Recorded::default()), Arc::new(Clock::new()), Arc::new(AtomicBool::new(false)));
    let mut threads = Vec::new();
    for p in 0..CLIENTS {
        let (rec, clock, stop) = (rec.clone(), clock.clone(), stop.clone());
        let addrs = [cluster.writer, cluster.replica];
        threads.push(std::thread::spawn(move || writer_client(addrs, p + 1, seed ^ p, &stop, &rec, &clock)));
    }
    {
        let (rec, stop, port, clock) = (rec.clone(), stop.clone(), cluster.replica, clock.clone());
        threads.push(std::thread::spawn(move || replica_reader(port, &stop, &rec, &clock)));
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let ctx = Ctx { rec: rec.clone(), clock: clock.clone(), anomalies: Arc::new(Mutex::new(Vec::new())) };
    let timeline = schedule(cluster, &ctx, &mut rng, duration, &nemeses, overlap.max(1))?;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let secs = clock.now() as f64 / 1e9;
    heal(cluster).context("healing every fault after the run")?;
    let found = verify(cluster, &rec)?;
    let mut violations = found.violations;
    violations.extend(ctx.anomalies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.iter().cloned());
    notes.extend(found.notes);
    if found.lost > 0 || !violations.is_empty() {
        notes.push(keep_logs(cluster));
    }
    Ok(Report {
        ops: rec.ops.load(Ordering::Relaxed),
        secs,
        lost: found.lost,
        violations,
        unknown: found.unknown,
        unavailable: unavailable(&rec, clock.now())?,
        timeline,
        notes,
        history_path: save(cluster, &rec)?,
    })
}

/// Copies the processes' logs out of the cluster's directory (removed when
/// the cluster is dropped); returns a note saying where.
fn keep_logs(c: &Cluster) -> String {
    let name = c.dir.file_name().and_then(|n| n.to_str()).unwrap_or("run");
    let to = std::env::temp_dir().join(format!("sixfold-logs-{name}"));
    let copied = std::fs::create_dir_all(&to).and_then(|()| {
        for e in std::fs::read_dir(c.logs_dir())? {
            let e = e?;
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
        Ok(())
    });
    match copied {
        Ok(()) => format!("process logs: {}", to.display()),
        Err(e) => format!("process logs not kept: {e}"),
    }
}

fn heal(c: &mut Cluster) -> anyhow::Result<()> {
    c.net.heal()?;
    for i in 0..PROCESSES {
        c.pause(i, false);
        c.restart(i)?;
    }
    c.wait_serving(crate::cluster::WRITER)?;
    c.wait_serving(crate::cluster::REPLICA)?;
    c.wait_writer(Duration::from_secs(60)).map(|_| ())
}

/// Stretches of over [`UNAVAILABLE_AFTER`] between acknowledged writes
/// (and before the first, and after the last until `end`): their total
/// and the longest, in seconds.
fn unavailable(rec: &Recorded, end: Nanos) -> anyhow::Result<(f64, f64)> {
    let poisoned = || anyhow::anyhow!("poisoned");
    let mut acked: Vec<Nanos> = rec
        .appends
        .lock()
        .map_err(|_| poisoned())?
        .values()
        .flatten()
        .filter(|a| a.outcome == Outcome::Ok)
        .map(|a| a.completed)
        .collect();
    let registers = rec.registers.lock().map_err(|_| poisoned())?;
    acked.extend(
        registers
            .iter()
            .filter(|r| r.outcome == Outcome::Ok && matches!(r.op, crate::history::RegisterOp::Write(_)))
            .map(|r| r.completed),
    );
    acked.sort_unstable();
    acked.push(end);
    let (mut total, mut longest, mut last) = (0, 0, 0);
    for t in acked {
        let gap = t.saturating_sub(last);
        if gap > UNAVAILABLE_AFTER {
            total += gap;
            longest = longest.max(gap);
        }
        last = t;
    }
    Ok((total as f64 / 1e9, longest as f64 / 1e9))
}

/// Writes the register history and the replica's reads of the counter as
/// text into the system temp directory.
fn save(c: &Cluster, rec: &Recorded) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::temp_dir()
        .join(format!("sixfold-history-{}.txt", c.dir.file_name().and_then(|n| n.to_str()).unwrap_or("run")));
    let mut out = String::new();
    for call in rec.registers.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.iter() {
        let _ = writeln!(
            out,
            "{} {} {:?} {} {} {:?}",
            call.process, call.key, call.op, call.invoked, call.completed, call.outcome
        );
    }
    for (at, v) in rec.replica_reads.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.iter() {
        let _ = writeln!(out, "replica GET {} at {at}: {v:?}", crate::workload::COUNTER);
    }
    std::fs::write(&path, out)?;
    Ok(path)
}

impl Report {
    /// The closing line: "N acknowledged writes lost, M violations".
    pub fn verdict(&self) -> String {
        format!("{} acknowledged writes lost, {} violations", self.lost, self.violations.len())
    }

    /// Whether everything held (unknown counts as not proven).
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.violations.is_empty() && self.unknown.is_empty()
    }

    /// Everything a person reading the run needs, one item per line.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for n in &self.notes {
            let _ = writeln!(out, "{n}");
        }
        let _ = writeln!(out, "faults ({}):", self.timeline.lines.len());
        for t in &self.timeline.lines {
            let _ = writeln!(out, "  {t}");
        }
        let counts: Vec<String> = self.timeline.counts.iter().map(|(n, k)| format!("{n:?} {k}")).collect();
        let _ = writeln!(out, "faults per kind: {}", counts.join(", "));
        let _ = writeln!(out, "largest set held at once ({}):", self.timeline.largest.len());
        for l in &self.timeline.largest {
            let _ = writeln!(out, "  {l}");
        }
        let (total, longest) = self.unavailable;
        let _ = writeln!(
            out,
            "writes unavailable (no acknowledgement for over 1 s): {total:.1} s in all, longest {longest:.1} s"
        );
        let rate = self.ops as f64 / self.secs.max(1e-9);
        let _ = writeln!(out, "{} operations in {:.1} s ({rate:.0}/s)", self.ops, self.secs);
        for v in &self.violations {
            let _ = writeln!(out, "VIOLATION {v}");
        }
        for k in &self.unknown {
            let _ = writeln!(out, "UNKNOWN: the check of register {k} ran out of budget");
        }
        let _ = writeln!(out, "history: {}", self.history_path.display());
        let _ = write!(out, "{}", self.verdict());
        out
    }
}
