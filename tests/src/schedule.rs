//! When faults strike, on whom, and how many are held at once. Every
//! 0.2–1.5 s (seeded) a fault of a random kind starts if fewer than
//! `overlap` are in force; each holds for a seeded while and is then
//! healed. With `overlap` 1 faults come one after another; above it they
//! pile up, within the fault envelope `docs/protocol.md` states for the
//! default commit mode: at most [`STORAGE_LOST_MAX`] storage nodes losing
//! memory or disk at once (a zone and one more), at most [`WIPED_MAX`] of
//! them wiped or cut within [`WIPE_SETTLE`]. A process that exits by itself
//! while no fault holds it is restarted (as a supervisor would) and the
//! timeline says so.

use crate::cluster::{Cluster, PROCESSES, REPLICA, STORAGE_NODES, WRITER};
use crate::faults::{Active, Ctx, heal, names, one_or_two, start};
use crate::nemesis::Nemesis;
use crate::workload::Clock;
use rand::Rng;
use rand::rngs::SmallRng;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Storage nodes that may be losing memory or disk at once.
pub const STORAGE_LOST_MAX: usize = 3;
/// Storage nodes that may have lost their whole log (wiped, cut) at once.
pub const WIPED_MAX: usize = 2;
/// A wiped or cut node counts as such this long after it restarts (while
/// it refills from its peers).
pub const WIPE_SETTLE: Duration = Duration::from_secs(20);
/// How often the scheduler looks at its faults.
const TICK: Duration = Duration::from_millis(50);

/// What the schedule did.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Every fault and restart, with its time.
    pub lines: Vec<String>,
    /// Faults started, per kind.
    pub counts: BTreeMap<Nemesis, u64>,
    /// The largest set of faults held at once.
    pub largest: Vec<String>,
}

/// Runs faults from `nemeses` until `duration` is over (none starts in the
/// last 2 s), at most `overlap` at once; heals everything at the end.
pub fn schedule(
    c: &mut Cluster,
    ctx: &Ctx,
    rng: &mut SmallRng,
    duration: Duration,
    nemeses: &[Nemesis],
    overlap: usize,
) -> anyhow::Result<Timeline> {
    let mut t = Timeline::default();
    let mut active: Vec<Active> = Vec::new();
    let mut settling: Vec<(usize, Instant)> = Vec::new();
    let end = Instant::now() + duration;
    let mut next = Instant::now() + gap(rng, overlap);
    let mut tag = 0;
    while Instant::now() + Duration::from_secs(2) < end {
        std::thread::sleep(TICK);
        let now = Instant::now();
        settling.retain(|(_, until)| *until > now);
        let (done, held): (Vec<Active>, Vec<Active>) = active.into_iter().partition(|f| f.until <= now);
        active = held;
        for f in done {
            settling.extend(f.wiped.iter().map(|&v| (v, now + WIPE_SETTLE)));
            heal(c, f)?;
            next = next.max(now + gap(rng, overlap));
        }
        supervise(c, &active, &ctx.clock, &mut t)?;
        if nemeses.is_empty() || active.len() >= overlap || now < next {
            continue;
        }
        next = now + gap(rng, overlap);
        let n = nemeses[rng.random_range(0..nemeses.len())];
        let Some(victims) = choose(n, rng, &active, &settling) else { continue };
        tag += 1;
        let at = secs(&ctx.clock);
        let f = start(c, ctx, n, &victims, hold(rng, n, overlap), tag, rng)?;
        t.lines.push(format!("{at:7.2}s {}", f.line));
        *t.counts.entry(n).or_default() += 1;
        active.push(f);
        if active.len() > t.largest.len() {
            t.largest = active.iter().map(|f| f.line.clone()).collect();
        }
    }
    for f in active {
        heal(c, f)?;
    }
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    Ok(t)
}

fn secs(clock: &Clock) -> f64 {
    clock.now() as f64 / 1e9
}

/// The pause before the next fault.
fn gap(rng: &mut SmallRng, overlap: usize) -> Duration {
    let ms = if overlap > 1 { rng.random_range(200..1000) } else { rng.random_range(500..1500) };
    Duration::from_millis(ms)
}

/// How long a fault holds: with overlap, up to past the QUIC idle timeout.
fn hold(rng: &mut SmallRng, n: Nemesis, overlap: usize) -> Duration {
    let short = matches!(n, Nemesis::KillStorage | Nemesis::PauseStorage | Nemesis::KillReplica | Nemesis::WipeStorage);
    let ms = match (overlap > 1, short) {
        (false, true) => rng.random_range(200..1500),
        (false, false) => rng.random_range(500..3000),
        (true, true) => rng.random_range(200..6000),
        (true, false) => rng.random_range(1000..15000),
    };
    Duration::from_millis(ms)
}

/// Whether a fault of kind `n` costs its victims' memory or disk, and
/// whether their whole log.
fn costs(n: Nemesis) -> (bool, bool) {
    match n {
        Nemesis::KillStorage | Nemesis::FsyncError | Nemesis::DiskFull => (true, false),
        Nemesis::WipeStorage | Nemesis::FlipByte => (true, true),
        _ => (false, false),
    }
}

/// The storage nodes a fault of kind `n` strikes (empty for faults that
/// pick their own), or `None` if it cannot start now: what it needs is
/// held by another fault, or it would leave the fault envelope.
fn choose(n: Nemesis, rng: &mut SmallRng, active: &[Active], settling: &[(usize, Instant)]) -> Option<Vec<usize>> {
    let held = |p: usize| active.iter().any(|f| f.holds.contains(&p));
    match n {
        Nemesis::ZoneAndWriter => return (active.is_empty() && settling.is_empty()).then(Vec::new),
        // Which data node is the writer changes with failovers: faults of
        // either hold both.
        Nemesis::KillWriter | Nemesis::PauseWriter | Nemesis::TwoWriters | Nemesis::KillReplica => {
            return (!held(WRITER) && !held(REPLICA)).then(Vec::new);
        }
        Nemesis::KillStorage
        | Nemesis::PauseStorage
        | Nemesis::WipeStorage
        | Nemesis::FsyncError
        | Nemesis::DiskFull
        | Nemesis::FlipByte => {}
        _ => return Some(Vec::new()),
    }
    let free: Vec<usize> = (0..STORAGE_NODES).filter(|&v| !held(v)).collect();
    if free.is_empty() {
        return None;
    }
    let want = if matches!(n, Nemesis::KillStorage | Nemesis::PauseStorage) { one_or_two(rng, 2).len() } else { 1 };
    let mut victims: Vec<usize> = Vec::new();
    while victims.len() < want.min(free.len()) {
        let v = free[rng.random_range(0..free.len())];
        if !victims.contains(&v) {
            victims.push(v);
        }
    }
    let (loses, wipes) = costs(n);
    let mut lost: Vec<usize> = active.iter().flat_map(|f| f.lost.iter().copied()).collect();
    let mut wiped: Vec<usize> = active.iter().flat_map(|f| f.wiped.iter().copied()).collect();
    lost.extend(settling.iter().map(|(v, _)| *v));
    wiped.extend(settling.iter().map(|(v, _)| *v));
    if loses {
        lost.extend(&victims);
    }
    if wipes {
        wiped.extend(&victims);
    }
    lost.sort_unstable();
    lost.dedup();
    wiped.sort_unstable();
    wiped.dedup();
    (lost.len() <= STORAGE_LOST_MAX && wiped.len() <= WIPED_MAX).then_some(victims)
}

/// Restarts processes that exited while no fault held them.
fn supervise(c: &mut Cluster, active: &[Active], clock: &Clock, t: &mut Timeline) -> anyhow::Result<()> {
    for p in 0..PROCESSES {
        if active.iter().any(|f| f.holds.contains(&p)) || c.is_up(p) {
            continue;
        }
        c.restart(p)?;
        t.lines.push(format!("{:7.2}s {} had exited by itself; restarted", secs(clock), names(&[p])));
    }
    Ok(())
}
