//! The final check of a run, made from the fabric rather than from any
//! process's memory: the data node serving as writer is killed, and the
//! writer that follows (the other data node taking over, or it after its
//! restart) recovers from the storage nodes; every list, the counter and
//! its increments are read from it and checked against the history; the
//! other data node, once at (or past) the writer's LSN, must have the same
//! `DEBUG DIGEST`; last, the storage nodes are stopped
//! cleanly and their six logs on disk are compared record by record up to
//! the commit LSN.

use crate::appends::{AppendError, check_increments, check_list};
use crate::cluster::{Cluster, REPLICA, STORAGE_NODES, WRITER};
use crate::history::Nanos;
use crate::register::{Verdict, check};
use crate::replica::check_monotonic;
use crate::workload::{COUNTER, INCREMENTS, LISTS, Recorded};
use sixfold_storage_node::segments::SegmentStore;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// Search steps per register key.
const STEPS_PER_KEY: u64 = 50_000_000;
/// How long the replica may take to reach the writer's LSN at the end.
const CATCH_UP: Duration = Duration::from_secs(60);
/// How long the final failover may take.
const TAKE_OVER: Duration = Duration::from_secs(60);

/// What the final check found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Acknowledged writes lost (appends and increments).
    pub lost: u64,
    /// Violations of any check.
    pub violations: Vec<String>,
    /// Register keys whose check ran out of budget.
    pub unknown: Vec<String>,
    /// What was compared (LSNs, digests, storage logs).
    pub notes: Vec<String>,
}

fn client(addr: std::net::SocketAddr) -> anyhow::Result<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/"))?;
    let conn = c.get_connection_with_timeout(Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(conn)
}

/// Kills the writer, lets it recover from the fabric, and checks
/// everything (see the module doc). Leaves every process stopped.
pub fn verify(c: &mut Cluster, rec: &Recorded) -> anyhow::Result<Findings> {
    let mut f = Findings::default();
    let old = c.wait_writer(TAKE_OVER)?;
    c.kill(old);
    c.restart(old)?;
    c.wait_serving(old)?;
    let (writer, mut conn, read) = read_final(c)?;
    f.notes.push(format!("final check: the writer killed, the data node at {} serves as writer", c.addr(writer)));
    let registers = rec.registers.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    match check(&registers, STEPS_PER_KEY) {
        Verdict::Linearizable => {}
        Verdict::Violation { key, detail } => f.violations.push(format!("register {key}: {detail}")),
        Verdict::Unknown { key } => f.unknown.push(key),
    }
    let appends = rec.appends.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    for (key, list) in &read.lists {
        if let Err(e) = check_list(appends.get(key).map_or(&[][..], |v| v), list) {
            f.lost += u64::from(matches!(e, AppendError::Lost(_)));
            f.violations.push(format!("list {key}: {e}"));
        }
    }
    let (value, members) = (read.value, read.members);
    let increments = rec.increments.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    if let Err((lost, e)) = check_increments(&increments, &members, value) {
        f.lost += lost.len() as u64;
        f.violations.push(format!("counter: {e}"));
    }
    // The counter took the values 1..=value, in that order, on the writer.
    let order: Vec<u64> = (1..=value).collect();
    let (times, reads): (Vec<Nanos>, Vec<Option<u64>>) =
        rec.replica_reads.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.iter().copied().unzip();
    if let Err(e) = check_monotonic(&order, &reads) {
        let at = times.get(e.index()).map_or(0.0, |t| *t as f64 / 1e9);
        f.violations.push(format!("replica: {e} (at {at:.3} s; the counter ended at {value})"));
    }
    let commit = same_digest(c, (writer, &mut conn), &mut f)?;
    compare_logs(c, commit, &mut f)?;
    Ok(f)
}

/// What the final check reads from the writer.
struct FinalRead {
    lists: Vec<(String, Vec<u64>)>,
    value: u64,
    members: Vec<u64>,
}

fn read_from(conn: &mut redis::Connection) -> redis::RedisResult<FinalRead> {
    let mut lists = Vec::new();
    for i in 0..LISTS {
        let key = format!("l{i}");
        let list: Vec<u64> = redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query(conn)?;
        lists.push((key, list));
    }
    let value = redis::cmd("GET").arg(COUNTER).query::<Option<u64>>(conn)?.unwrap_or(0);
    let members: Vec<u64> = redis::cmd("SMEMBERS").arg(INCREMENTS).query(conn)?;
    Ok(FinalRead { lists, value, members })
}

/// Reads the final state from the data node serving as writer. The writer
/// may change meanwhile (the restarted data node takes over once a quiet
/// window passes in which it heard no commit, which it may not have while
/// it started: `-MOVED` then): the new one is found and read again, as a
/// client following the redirect would.
fn read_final(c: &Cluster) -> anyhow::Result<(usize, redis::Connection, FinalRead)> {
    let deadline = Instant::now() + TAKE_OVER;
    loop {
        let writer = c.wait_writer(TAKE_OVER)?;
        let mut conn = client(c.addr(writer))?;
        match read_from(&mut conn) {
            Ok(read) => return Ok((writer, conn, read)),
            Err(e) if Instant::now() < deadline => {
                eprintln!("final check: reading from {} failed ({e}); finding the writer again", c.addr(writer));
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The offset ROLE reports (the writer's commit LSN, the replica's applied LSN).
fn offset(conn: &mut redis::Connection) -> anyhow::Result<u64> {
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(conn)?;
    let at = if matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master") { 1 } else { 4 };
    match role.get(at) {
        Some(redis::Value::Int(n)) => Ok(u64::try_from(*n)?),
        other => anyhow::bail!("ROLE offset: {other:?}"),
    }
}

/// Waits until the replica has applied the writer's commit LSN and
/// compares their `DEBUG DIGEST`; returns the commit LSN.
fn same_digest(c: &Cluster, (w, writer): (usize, &mut redis::Connection), f: &mut Findings) -> anyhow::Result<u64> {
    let other = Cluster::other(w);
    c.wait_serving(other)?;
    let lsn = offset(writer)?;
    let mut replica = client(c.addr(other))?;
    let deadline = Instant::now() + CATCH_UP;
    let mut at = offset(&mut replica)?;
    while at < lsn && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        at = offset(&mut replica)?;
    }
    let digest = |conn: &mut redis::Connection| redis::cmd("DEBUG").arg("DIGEST").query::<String>(conn);
    // The clients stopped: later records are lease renewals, which change
    // no data, so the replica at or past the writer's LSN has its data.
    let (w, r) = (digest(writer)?, digest(&mut replica)?);
    if at < lsn {
        f.violations.push(format!("replica at LSN {at}, writer at {lsn} after {} s", CATCH_UP.as_secs()));
    } else if w != r {
        f.violations.push(format!("writer at LSN {lsn}, replica at {at}: DEBUG DIGEST {w} and {r}"));
    } else {
        f.notes.push(format!("writer at LSN {lsn}, replica at {at}: DEBUG DIGEST {w} on both"));
    }
    Ok(lsn)
}

/// The epoch and a hash of each record from LSN 1 to `upto` the node at
/// `dir` holds on disk (it stops at the first it lacks).
fn log_hashes(dir: &std::path::Path, upto: u64) -> anyhow::Result<Vec<(u64, u64)>> {
    let (store, rec) = SegmentStore::open(&dir.join("segments"), u64::MAX, false)?;
    anyhow::ensure!(rec.base == 0, "{}: log starts above LSN {}", dir.display(), rec.base);
    let mut out = Vec::new();
    while (out.len() as u64) < upto.min(rec.epochs.len() as u64) {
        let from = out.len() as u64 + 1;
        let records = store.read(from, upto, 16 << 20)?;
        if records.is_empty() {
            break;
        }
        for r in records {
            let mut h = DefaultHasher::new();
            (r.epoch, r.kind as u8, &r.payload[..]).hash(&mut h);
            out.push((r.epoch, h.finish()));
        }
    }
    Ok(out)
}

/// Stops every process (storage nodes cleanly: they write everything to
/// disk first) and compares the six logs up to `commit`: at each LSN one
/// record (the committed one) must be held by at least four nodes (a commit
/// quorum), and a node holding another record there must hold it with an
/// older epoch — a suffix an older writer left on a node the new writer had
/// not yet brought back in line (R1 allows it: such a node's
/// acknowledgements and commit LSN stop below it) — and, by log matching,
/// nothing of the committed log after it.
fn compare_logs(c: &mut Cluster, commit: u64, f: &mut Findings) -> anyhow::Result<()> {
    c.kill(WRITER);
    c.kill(REPLICA);
    let mut logs = Vec::new();
    for i in 0..STORAGE_NODES {
        c.terminate(i);
        logs.push(log_hashes(&c.storage_dir(i), commit)?);
    }
    let mut complete = vec![true; logs.len()];
    // Where each node's log first holds an older record (log matching:
    // from there on it holds no record of the committed log).
    let mut diverged: Vec<Option<usize>> = vec![None; logs.len()];
    let mut replaced = 0;
    for lsn in 0..commit as usize {
        let held: Vec<(usize, (u64, u64))> =
            logs.iter().enumerate().filter_map(|(i, l)| Some((i, *l.get(lsn)?))).collect();
        let alike = |r: &(u64, u64)| held.iter().filter(|(_, o)| o == r).count();
        let Some(&(_, chosen)) = held.iter().find(|(_, r)| alike(r) >= 4) else {
            let nodes: Vec<String> = held.iter().map(|(i, (e, _))| format!("storage-{} (epoch {e})", i + 1)).collect();
            f.violations.push(format!("LSN {}: no record held by four nodes alike: {}", lsn + 1, nodes.join(", ")));
            return Ok(());
        };
        for (i, l) in logs.iter().enumerate() {
            match l.get(lsn) {
                Some(r) if *r == chosen => {
                    if let Some(at) = diverged[i] {
                        f.violations.push(format!(
                            "LSN {}: storage-{} holds the committed record after an older one at LSN {}",
                            lsn + 1,
                            i + 1,
                            at + 1
                        ));
                        return Ok(());
                    }
                }
                Some(&(epoch, _)) if epoch < chosen.0 => {
                    replaced += 1;
                    complete[i] = false;
                    diverged[i].get_or_insert(lsn);
                }
                Some(&(epoch, _)) => {
                    f.violations.push(format!(
                        "LSN {}: storage-{} holds a record of epoch {epoch}, four others one of epoch {}",
                        lsn + 1,
                        i + 1,
                        chosen.0
                    ));
                    return Ok(());
                }
                None => complete[i] = false,
            }
        }
    }
    let lengths: Vec<String> = logs.iter().map(|l| l.len().to_string()).collect();
    f.notes.push(format!(
        "storage logs up to commit LSN {commit}: held through it by {} of 6 (lengths {}); \
         {replaced} records of older epochs not yet replaced",
        complete.iter().filter(|c| **c).count(),
        lengths.join(" ")
    ));
    Ok(())
}
