//! One scenario: a cluster, the recorded workload, faults ("nemeses") at
//! seeded random times, then healing, final reads and every check. Returns
//! the verdicts, the fault timeline and where the history was saved.

use crate::appends::{check_counter, check_list};
use crate::cluster::{Cluster, PROCESSES, REPLICA, WRITER};
use crate::nemesis::{Nemesis, available, schedule};
use crate::register::{Verdict, check};
use crate::replica::check_monotonic;
use crate::workload::{COUNTER, Clock, LISTS, Recorded, replica_reader, writer_client};
use rand::SeedableRng;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Faults injected, with times.
    pub timeline: Vec<String>,
    /// How the processes are networked, and faults this machine cannot inject.
    pub notes: Vec<String>,
    /// Where the history was written.
    pub history_path: std::path::PathBuf,
}

/// Search steps per register key.
const STEPS_PER_KEY: u64 = 50_000_000;
/// Writer-side clients.
const CLIENTS: u64 = 4;

/// Runs a scenario.
pub fn run(name: &str, seed: u64, duration: Duration, nemeses: &[Nemesis]) -> anyhow::Result<Report> {
    let mut cluster = Cluster::start(name)?;
    let (nemeses, mut notes) = available(&cluster, nemeses);
    notes.insert(0, cluster.net.describe());
    let (rec, clock, stop) = (Arc::new(Recorded::default()), Arc::new(Clock::new()), Arc::new(AtomicBool::new(false)));
    let mut threads = Vec::new();
    for p in 0..CLIENTS {
        let (rec, clock, stop, port) = (rec.clone(), clock.clone(), stop.clone(), cluster.writer);
        threads.push(std::thread::spawn(move || writer_client(port, p + 1, seed ^ p, &stop, &rec, &clock)));
    }
    {
        let (rec, stop, port) = (rec.clone(), stop.clone(), cluster.replica);
        threads.push(std::thread::spawn(move || replica_reader(port, &stop, &rec)));
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let timeline = schedule(&mut cluster, &mut rng, duration, &nemeses, &clock)?;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let secs = clock.now() as f64 / 1e9;
    heal(&mut cluster)?;
    let mut report = verify(&cluster, &rec)?;
    report.secs = secs;
    report.timeline = timeline;
    report.notes = notes;
    report.history_path = save(&cluster, &rec)?;
    Ok(report)
}

fn heal(c: &mut Cluster) -> anyhow::Result<()> {
    c.net.heal()?;
    for i in 0..PROCESSES {
        c.pause(i, false);
        c.restart(i)?;
    }
    c.wait_serving(WRITER)?;
    c.wait_serving(REPLICA)
}

fn final_client(addr: std::net::SocketAddr) -> anyhow::Result<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/"))?;
    let conn = c.get_connection_with_timeout(Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(conn)
}

fn verify(c: &Cluster, rec: &Recorded) -> anyhow::Result<Report> {
    let mut conn = final_client(c.writer)?;
    let (mut lost, mut violations, mut unknown) = (0u64, Vec::new(), Vec::new());
    let registers = rec.registers.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    match check(&registers, STEPS_PER_KEY) {
        Verdict::Linearizable => {}
        Verdict::Violation { key, detail } => violations.push(format!("register {key}: {detail}")),
        Verdict::Unknown { key } => unknown.push(key),
    }
    let appends = rec.appends.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    for i in 0..LISTS {
        let key = format!("l{i}");
        let list: Vec<u64> = redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query(&mut conn)?;
        if let Err(e) = check_list(appends.get(&key).map_or(&[][..], |v| v), &list) {
            if matches!(e, crate::appends::AppendError::Lost(_)) {
                lost += 1;
            }
            violations.push(format!("list {key}: {e}"));
        }
    }
    let value: u64 = redis::cmd("GET").arg(COUNTER).query::<Option<u64>>(&mut conn)?.unwrap_or(0);
    let (ok, maybe) = (rec.incr_ok.load(Ordering::Relaxed), rec.incr_unknown.load(Ordering::Relaxed));
    if let Err(e) = check_counter(ok, maybe, value) {
        lost += ok.saturating_sub(value);
        violations.push(format!("counter: {e}"));
    }
    let order: Vec<u64> = (1..=value).collect();
    let reads = rec.replica_reads.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    if let Err(e) = check_monotonic(&order, &reads) {
        violations.push(format!("replica: {e}"));
    }
    Ok(Report {
        ops: rec.ops.load(Ordering::Relaxed),
        secs: 0.0,
        lost,
        violations,
        unknown,
        timeline: Vec::new(),
        notes: Vec::new(),
        history_path: Default::default(),
    })
}

/// Writes the register history as text next to the system temp directory.
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
    std::fs::write(&path, out)?;
    Ok(path)
}

impl Report {
    /// The closing line: "N acknowledged writes lost, M linearizability violations".
    pub fn verdict(&self) -> String {
        format!("{} acknowledged writes lost, {} linearizability violations", self.lost, self.violations.len())
    }

    /// Whether everything held (unknown counts as not proven).
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.violations.is_empty() && self.unknown.is_empty()
    }
}
