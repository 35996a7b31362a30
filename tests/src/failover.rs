//! Failover under load, measured (the automatic-failover issue): the
//! recorded workload of [`crate::workload`] (clients that follow `-MOVED`)
//! and a cluster-aware client (redis-py's `RedisCluster`, in its own
//! process: `tests/py/cluster_client.py`) write while the data node serving
//! as writer is killed (SIGKILL) `kills` times at seeded moments; each time
//! the other data node must take over, and the killed one comes back as
//! its replica and catches up before the next kill. The failover time of
//! each kill is from the kill to the first acknowledgement of a write sent
//! after it (only the new writer can acknowledge it: the old one is dead). The run ends with the final check
//! of [`crate::verify`], and every `SET` the cluster client saw
//! acknowledged is read back.

use crate::cluster::{Cluster, REPLICA, WRITER};
use crate::history::{Nanos, Outcome, RegisterOp};
use crate::verify::{Findings, verify};
use crate::workload::{Clock, Recorded, replica_reader, writer_client};
use rand::{Rng, SeedableRng};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Writer-side clients of the recorded workload.
const CLIENTS: u64 = 4;
/// How long one failover may take before the run fails.
const TAKE_OVER: Duration = Duration::from_secs(30);
/// How long the restarted node may take to catch up.
const CATCH_UP: Duration = Duration::from_secs(60);

/// What a failover run found.
#[derive(Debug)]
pub struct FailoverReport {
    /// Milliseconds from each kill to the next acknowledged write.
    pub failover_ms: Vec<u64>,
    /// The final check.
    pub findings: Findings,
    /// The cluster client: SETs acknowledged, acknowledged after the last
    /// kill, and acknowledged ones missing or wrong at the end.
    pub cluster_client: Option<(u64, u64, Vec<String>)>,
    /// Operations of the recorded workload.
    pub ops: u64,
    /// One line per kill.
    pub lines: Vec<String>,
}

impl FailoverReport {
    /// Median and largest failover time, in milliseconds.
    pub fn median_max(&self) -> (u64, u64) {
        let mut t = self.failover_ms.clone();
        t.sort_unstable();
        (t.get(t.len() / 2).copied().unwrap_or(0), t.last().copied().unwrap_or(0))
    }

    /// Whether nothing was lost and nothing violated.
    pub fn passed(&self) -> bool {
        let f = &self.findings;
        let cluster_ok = self.cluster_client.as_ref().is_none_or(|(_, after, wrong)| *after > 0 && wrong.is_empty());
        f.lost == 0 && f.violations.is_empty() && f.unknown.is_empty() && cluster_ok
    }
}

/// The cluster client's process, its log and its stop file.
struct PyClient {
    child: Child,
    log: std::path::PathBuf,
    stop: std::path::PathBuf,
}

impl Drop for PyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the redis-py cluster client, if python3 with redis-py is there.
fn start_py(c: &Cluster) -> Option<PyClient> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/cluster_client.py");
    let ok = Command::new("python3").args(["-c", "import redis.cluster"]).status().is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let (log, stop) = (c.dir.join("cluster-client.log"), c.dir.join("cluster-client.stop"));
    let nodes = format!("{},{}", c.writer, c.replica);
    let child = Command::new("python3")
        .arg(script)
        .arg(nodes)
        .arg(&log)
        .arg(&stop)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(PyClient { child, log, stop })
}

/// Stops the cluster client and checks its acknowledged SETs against the
/// writer at `addr`; `last_kill` is when the last kill happened (the log's
/// line count then).
fn check_py(
    py: PyClient,
    addr: std::net::SocketAddr,
    lines_at_last_kill: usize,
) -> anyhow::Result<(u64, u64, Vec<String>)> {
    std::fs::write(&py.stop, b"")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut child = py;
    while child.child.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&child.log).unwrap_or_default();
    let acked: Vec<(usize, u64)> = text
        .lines()
        .enumerate()
        .filter_map(|(n, l)| l.strip_prefix("ok ").and_then(|i| i.parse().ok()).map(|i| (n, i)))
        .collect();
    let after = acked.iter().filter(|(n, _)| *n >= lines_at_last_kill).count() as u64;
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(5))?;
    let mut wrong = Vec::new();
    for (_, i) in &acked {
        let v: Option<u64> = redis::cmd("GET").arg(format!("py:{i}")).query(&mut conn)?;
        if v != Some(*i) {
            wrong.push(format!("py:{i} = {v:?}"));
        }
    }
    Ok((acked.len() as u64, after, wrong))
}

/// Waits until data node `i` has caught up with the writer once.
fn caught_up(c: &Cluster, i: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let info = redis::Client::open(format!("redis://{}/", c.addr(i)))
            .and_then(|cl| cl.get_connection_with_timeout(Duration::from_secs(1)))
            .and_then(|mut conn| redis::cmd("INFO").arg("replication").query::<String>(&mut conn));
        if info.is_ok_and(|t| t.contains("master_link_status:up")) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the restarted data node did not catch up in {CATCH_UP:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Acknowledged writes: when each was sent and when its acknowledgement came.
fn acked_writes(rec: &Recorded) -> Vec<(Nanos, Nanos)> {
    let mut t: Vec<(Nanos, Nanos)> = Vec::new();
    if let Ok(r) = rec.registers.lock() {
        let writes = r.iter().filter(|c| c.outcome == Outcome::Ok && matches!(c.op, RegisterOp::Write(_)));
        t.extend(writes.map(|c| (c.invoked, c.completed)));
    }
    if let Ok(a) = rec.appends.lock() {
        t.extend(a.values().flatten().filter(|a| a.outcome == Outcome::Ok).map(|a| (a.invoked, a.completed)));
    }
    t
}

/// Milliseconds from `kill` to the first acknowledgement of a write sent after it.
fn failover_ms(acked: &[(Nanos, Nanos)], kill: Nanos) -> u64 {
    acked.iter().filter(|(sent, _)| *sent > kill).map(|(_, done)| (done - kill) / 1_000_000).min().unwrap_or(u64::MAX)
}

/// Kills the writer `kills` times under load (see the module doc).
pub fn kill_writers(
    name: &str,
    seed: u64,
    kills: usize,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<FailoverReport> {
    let mut c = Cluster::start(name)?;
    let (rec, clock, stop) = (Arc::new(Recorded::default()), Arc::new(Clock::new()), Arc::new(AtomicBool::new(false)));
    let mut threads = Vec::new();
    for p in 0..CLIENTS {
        let (rec, clock, stop, addrs) = (rec.clone(), clock.clone(), stop.clone(), [c.writer, c.replica]);
        threads.push(std::thread::spawn(move || writer_client(addrs, p + 1, seed ^ p, &stop, &rec, &clock)));
    }
    {
        let (rec, stop, addr, clock) = (rec.clone(), stop.clone(), c.replica, clock.clone());
        threads.push(std::thread::spawn(move || replica_reader(addr, &stop, &rec, &clock)));
    }
    let py = start_py(&c);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let (mut kill_times, mut lines, mut py_lines) = (Vec::new(), Vec::new(), 0);
    for k in 1..=kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(1_000..3_000)));
        let w = c.wait_writer(TAKE_OVER)?;
        // From when the process is gone (kill waits for it): no write sent
        // later can be acknowledged by it.
        c.kill(w);
        let at = clock.now();
        if let Some(p) = &py {
            py_lines = std::fs::read_to_string(&p.log).map_or(0, |t| t.lines().count());
        }
        let started = Instant::now();
        let new = c.wait_writer(TAKE_OVER)?;
        anyhow::ensure!(new == Cluster::other(w), "kill {k}: the killed node serves again?");
        let line = format!(
            "kill {k}: SIGKILL {} at {:.2} s; {} serves after {} ms",
            c.addr(w),
            at as f64 / 1e9,
            c.addr(new),
            started.elapsed().as_millis()
        );
        progress(&line);
        lines.push(line);
        kill_times.push(at);
        c.restart(w)?;
        caught_up(&c, w)?;
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let acked = acked_writes(&rec);
    let failover_ms = kill_times.iter().map(|&k| failover_ms(&acked, k)).collect();
    let writer = c.wait_writer(TAKE_OVER)?;
    let cluster_client = match py {
        Some(p) => Some(check_py(p, c.addr(writer), py_lines)?),
        None => {
            progress("python3 with redis-py is not installed: the RedisCluster client did not run");
            None
        }
    };
    for i in [WRITER, REPLICA] {
        c.wait_serving(i)?;
    }
    let findings = verify(&mut c, &rec)?;
    Ok(FailoverReport { failover_ms, findings, cluster_client, ops: rec.ops.load(Ordering::Relaxed), lines })
}
