//! Each fault as something that starts and later ends: [`start`] injects
//! a fault of a kind on chosen victims and returns it [`Active`]; [`heal`]
//! ends it. The scheduler ([`crate::schedule`]) decides how many are held
//! at once and on whom.

use crate::cluster::{Cluster, PROCESSES, REPLICA, STORAGE_NODES, WRITER, zone};
use crate::nemesis::Nemesis;
use crate::net::Filter;
use crate::workload::{Clock, Recorded, writer_client};
use rand::Rng;
use rand::rngs::SmallRng;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The program that makes system calls fail in the process it starts.
pub const FIU_RUN: &str = "fiu-run";
/// Free space left on the small file system of a disk-full fault.
const DISK_FULL_SLACK_BYTES: u64 = 256 * 1024;
/// A value this large is over the writer's per-command limit.
const OVERSIZE_BYTES: usize = 33 * 1024 * 1024;

/// What a fault needs besides the cluster: the run's recording.
pub struct Ctx {
    /// Where extra clients record their operations.
    pub rec: Arc<Recorded>,
    /// The run's clock.
    pub clock: Arc<Clock>,
    /// Anomalies found by a fault itself (e.g. an oversized write accepted).
    pub anomalies: Arc<std::sync::Mutex<Vec<String>>>,
}

/// How a fault ends.
enum Undo {
    Nothing,
    Restart(Vec<usize>),
    Resume(Vec<usize>),
    Net {
        tag: u64,
        procs: Vec<usize>,
    },
    /// Restart the node normally (it ran under libfiu).
    Fiu(usize),
    /// Copy the node's directory off its small file system and restart it.
    DiskFull(usize),
    /// Stop the second writer and its client; the first comes back.
    SecondWriter {
        child: Child,
        stop: Arc<AtomicBool>,
        client: JoinHandle<()>,
        node: usize,
    },
    Thread(JoinHandle<()>),
}

/// A fault in force.
pub struct Active {
    /// Its kind.
    pub kind: Nemesis,
    /// What it did, for the timeline.
    pub line: String,
    /// When it is to end.
    pub until: Instant,
    /// Processes it holds: no other fault touches them, nobody restarts them.
    pub holds: Vec<usize>,
    /// Storage nodes whose memory or disk it costs.
    pub lost: Vec<usize>,
    /// Storage nodes whose whole log it cost (wiped or cut).
    pub wiped: Vec<usize>,
    undo: Undo,
}

fn name(i: usize) -> String {
    match i {
        WRITER => "data-a".into(),
        REPLICA => "data-b".into(),
        s => format!("storage-{}", s + 1),
    }
}

/// The names of processes, space separated.
pub fn names(processes: &[usize]) -> String {
    processes.iter().map(|&i| name(i)).collect::<Vec<_>>().join(" ")
}

/// Starts a fault of kind `n` on storage nodes `victims` (as many as the
/// kind uses) for `hold`; `tag` names its network rules.
pub fn start(
    c: &mut Cluster,
    ctx: &Ctx,
    n: Nemesis,
    victims: &[usize],
    hold: Duration,
    tag: u64,
    rng: &mut SmallRng,
) -> anyhow::Result<Active> {
    let a = victims.first().copied().unwrap_or(0);
    let ms = hold.as_millis();
    let mut f = Active {
        kind: n,
        line: String::new(),
        until: Instant::now() + hold,
        holds: victims.to_vec(),
        lost: Vec::new(),
        wiped: Vec::new(),
        undo: Undo::Nothing,
    };
    f.line = match n {
        Nemesis::KillStorage => {
            victims.iter().for_each(|&v| c.kill(v));
            (f.lost, f.undo) = (victims.to_vec(), Undo::Restart(victims.to_vec()));
            format!("SIGKILL {} for {ms} ms", names(victims))
        }
        Nemesis::PauseStorage => {
            victims.iter().for_each(|&v| c.pause(v, true));
            f.undo = Undo::Resume(victims.to_vec());
            format!("SIGSTOP {} for {ms} ms", names(victims))
        }
        Nemesis::KillReplica => {
            let r = Cluster::other(c.writer_now());
            c.kill(r);
            (f.holds, f.undo) = (vec![WRITER, REPLICA], Undo::Restart(vec![r]));
            format!("SIGKILL the replica ({}) for {ms} ms", name(r))
        }
        Nemesis::KillWriter => {
            // The other data node takes over; this one comes back as its replica.
            let w = c.writer_now();
            c.kill(w);
            c.restart(w)?;
            (f.holds, f.until) = (vec![WRITER, REPLICA], Instant::now());
            format!("SIGKILL the writer ({}), restarted at once as a replica: failover", name(w))
        }
        Nemesis::PauseWriter => {
            let w = c.writer_now();
            c.pause(w, true);
            (f.holds, f.undo) = (vec![WRITER, REPLICA], Undo::Resume(vec![w]));
            format!("SIGSTOP the writer ({}) for {ms} ms", name(w))
        }
        Nemesis::WipeStorage => {
            c.kill(a);
            std::fs::remove_dir_all(c.storage_dir(a))?;
            (f.lost, f.wiped, f.undo) = (vec![a], vec![a], Undo::Restart(vec![a]));
            format!("{} lost its data directory, restarted empty after {ms} ms", name(a))
        }
        Nemesis::FlipByte => {
            c.kill(a);
            let what = flip_byte(&c.storage_dir(a), rng)?;
            (f.lost, f.wiped, f.undo) = (vec![a], vec![a], Undo::Restart(vec![a]));
            format!("{}: flipped a byte of {what}, restarted after {ms} ms", name(a))
        }
        Nemesis::FsyncError => {
            c.kill(a);
            let wrapper = [FIU_RUN, "-x", "-c", "enable name=posix/io/sync/*"].map(String::from);
            // io-uring syncs bypass libc, where libfiu makes fsync fail.
            c.restart_under(a, &wrapper, &["--no-io-uring"])?;
            (f.lost, f.undo) = (vec![a], Undo::Fiu(a));
            format!("fsync errors on {} for {ms} ms", name(a))
        }
        Nemesis::DiskFull => {
            let size = disk_full(c, a)?;
            (f.lost, f.undo) = (vec![a], Undo::DiskFull(a));
            format!("{}'s disk full ({size} bytes) for {ms} ms", name(a))
        }
        Nemesis::TwoWriters => two_writers(c, ctx, tag, &mut f)?,
        Nemesis::Oversize => {
            let (addr, anomalies) = (c.addr(c.writer_now()), ctx.anomalies.clone());
            f.undo = Undo::Thread(std::thread::spawn(move || oversize(addr, &anomalies)));
            f.until = Instant::now();
            format!("a {OVERSIZE_BYTES}-byte SET sent to the writer")
        }
        Nemesis::ZoneAndWriter => {
            f.until = Instant::now();
            zone_and_writer(c, rng, hold)?
        }
        _ => {
            f.holds.clear();
            let (line, procs) = partition(c, n, rng, tag)?;
            f.undo = Undo::Net { tag, procs };
            format!("{line} for {ms} ms")
        }
    };
    Ok(f)
}

/// Ends a fault.
pub fn heal(c: &mut Cluster, f: Active) -> anyhow::Result<()> {
    match f.undo {
        Undo::Nothing => {}
        Undo::Restart(ps) => ps.iter().try_for_each(|&p| c.restart(p))?,
        Undo::Resume(ps) => ps.iter().for_each(|&p| c.pause(p, false)),
        Undo::Net { tag, procs } => procs.iter().try_for_each(|&p| c.net.remove(p, tag))?,
        Undo::Fiu(v) => {
            c.kill(v);
            c.restart(v)?;
        }
        Undo::DiskFull(v) => {
            c.kill(v);
            let dir = c.storage_dir(v);
            let real = dir.with_extension("real");
            run(Command::new("cp").arg("-a").arg(dir.join(".")).arg(&real))?;
            run(Command::new("umount").arg(&dir))?;
            std::fs::remove_dir(&dir)?;
            std::fs::rename(&real, &dir)?;
            c.restart(v)?;
        }
        Undo::SecondWriter { mut child, stop, client, node } => {
            stop.store(true, Ordering::Relaxed);
            let _ = child.kill();
            let _ = child.wait();
            let _ = client.join();
            c.restart(node)?;
        }
        Undo::Thread(t) => {
            let _ = t.join();
        }
    }
    Ok(())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "{cmd:?}: {status}");
    Ok(())
}

/// Kills storage node `v` and restarts it on a file system just larger
/// than its data; returns the file system's size.
fn disk_full(c: &mut Cluster, v: usize) -> anyhow::Result<u64> {
    c.kill(v);
    let dir = c.storage_dir(v);
    let real = dir.with_extension("real");
    std::fs::rename(&dir, &real)?;
    std::fs::create_dir(&dir)?;
    let size = dir_bytes(&real)? + DISK_FULL_SLACK_BYTES;
    run(Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}")]).arg("tmpfs").arg(&dir))?;
    run(Command::new("cp").arg("-a").arg(real.join(".")).arg(&dir))?;
    std::fs::remove_dir_all(&real)?;
    std::fs::create_dir(&real)?;
    c.restart(v)?;
    Ok(size)
}

fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() { dir_bytes(&e.path())? } else { m.len().div_ceil(4096) * 4096 };
    }
    Ok(total)
}

/// Flips one byte inside a sealed segment (the newest one when none is
/// sealed) of a stopped node's directory; says which.
fn flip_byte(dir: &Path, rng: &mut SmallRng) -> anyhow::Result<String> {
    let segs = dir.join("segments");
    let mut files: Vec<_> = std::fs::read_dir(&segs)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let Some(last) = files.len().checked_sub(1) else { return Ok("nothing (no segment yet)".into()) };
    let path = &files[if last == 0 { 0 } else { rng.random_range(0..last) }];
    let mut data = std::fs::read(path)?;
    if data.is_empty() {
        return Ok("nothing (an empty segment)".into());
    }
    let at = rng.random_range(0..data.len());
    data[at] ^= 1 << rng.random_range(0..8);
    std::fs::write(path, &data)?;
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    Ok(format!("{file} at offset {at} of {}", data.len()))
}

/// Kills the writer and starts it again together with a second writer on
/// the same storage nodes, and a client writing through the second one.
fn two_writers(c: &mut Cluster, ctx: &Ctx, tag: u64, f: &mut Active) -> anyhow::Result<String> {
    let w = c.writer_now();
    c.kill(w);
    let (child, addr) = c.extra_writer(w)?;
    c.restart_as_writer(w)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (rec, clock, s) = (ctx.rec.clone(), ctx.clock.clone(), stop.clone());
    let process = 1000 + tag;
    let client = std::thread::spawn(move || writer_client([addr, addr], process, process, &s, &rec, &clock));
    f.holds = vec![WRITER, REPLICA];
    f.undo = Undo::SecondWriter { child, stop, client, node: w };
    Ok(format!(
        "two writers started at once on the same storage nodes: {} and a second one (client {process} on the second)",
        name(w)
    ))
}

/// Sends a SET over the command limit; anything but the limit's error
/// (or no answer at all) is an anomaly.
fn oversize(addr: std::net::SocketAddr, anomalies: &std::sync::Mutex<Vec<String>>) {
    let reply = (|| -> redis::RedisResult<()> {
        let client = redis::Client::open(format!("redis://{addr}/"))?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))?;
        // A node that another fault paused or cut off never reads it: the
        // send must end too (heal joins this thread).
        conn.set_write_timeout(Some(Duration::from_secs(20)))?;
        redis::cmd("SET").arg("oversize").arg(vec![b'x'; OVERSIZE_BYTES]).query(&mut conn)
    })();
    let wrong = match &reply {
        Ok(()) => Some("accepted".to_string()),
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) => {
            let text = e.to_string();
            (!text.contains("over the durable log's limit")).then_some(text)
        }
        Err(_) => None, // the writer was down or paused: nothing to judge
    };
    if let Some(w) = wrong {
        anomalies.lock().map(|mut a| a.push(format!("an oversized SET was answered: {w}"))).ok();
    }
}

/// Overlapping faults in one fixed sequence (see [`Nemesis::ZoneAndWriter`]).
fn zone_and_writer(c: &mut Cluster, rng: &mut SmallRng, hold: Duration) -> anyhow::Result<String> {
    let z = rng.random_range(0..3);
    let zone_nodes: Vec<usize> = (0..STORAGE_NODES).filter(|&i| zone(i) == z).collect();
    let others: Vec<usize> = (0..STORAGE_NODES).filter(|&i| zone(i) != z).collect();
    let extra = others[rng.random_range(0..others.len())];
    zone_nodes.iter().for_each(|&v| c.kill(v));
    std::thread::sleep(hold / 3);
    let w = c.writer_now();
    c.kill(w);
    c.restart(w)?;
    std::thread::sleep(hold / 3);
    c.pause(extra, true);
    std::thread::sleep(hold / 3);
    zone_nodes.iter().try_for_each(|&v| c.restart(v))?;
    c.pause(extra, false);
    // Other faults held at once may keep the restarted node from answering
    // (paused, cut off): that is noted, not an error of the run; the final
    // heal still requires every process to serve.
    let late = match c.wait_serving(w) {
        Ok(()) => "",
        Err(_) => " (the restarted node did not answer PING within 60 s: other faults held it)",
    };
    Ok(format!(
        "SIGKILL zone {} ({}), then the writer (restarted with four nodes), then SIGSTOP {} — {} ms in all{late}",
        z + 1,
        names(&zone_nodes),
        name(extra),
        hold.as_millis()
    ))
}

/// One or two distinct processes among the first `n`.
pub fn one_or_two(rng: &mut SmallRng, n: usize) -> Vec<usize> {
    let a = rng.random_range(0..n);
    let pair = [a, (a + rng.random_range(1..n)) % n];
    pair[..rng.random_range(1..=2)].to_vec()
}

/// Installs a network fault under `tag`; returns what it did and the
/// processes whose namespaces hold its rules.
fn partition(c: &Cluster, n: Nemesis, rng: &mut SmallRng, tag: u64) -> anyhow::Result<(String, Vec<usize>)> {
    let net = &c.net;
    Ok(match n {
        Nemesis::IsolateNode => {
            let v = rng.random_range(0..PROCESSES);
            let mut others = net.others(&[v]);
            others.push(net.host());
            net.add(v, tag, &Filter::From(others.clone()))?;
            net.add(v, tag, &Filter::To(others))?;
            (format!("isolated {}", name(v)), vec![v])
        }
        Nemesis::IsolateZone => {
            let z = rng.random_range(0..3);
            let inside: Vec<usize> = (0..PROCESSES).filter(|&i| zone(i) == z).collect();
            let outside = net.others(&inside);
            for &i in &inside {
                net.add(i, tag, &Filter::From(outside.clone()))?;
                net.add(i, tag, &Filter::To(outside.clone()))?;
            }
            (format!("isolated zone {} ({})", z + 1, names(&inside)), inside)
        }
        Nemesis::SplitWriter => {
            let storage: Vec<_> = (0..STORAGE_NODES).map(|i| net.ip(i)).collect();
            let w = c.writer_now();
            net.add(w, tag, &Filter::From(storage.clone()))?;
            net.add(w, tag, &Filter::To(storage))?;
            (format!("split the writer ({}) from every storage node", name(w)), vec![w])
        }
        Nemesis::OneWay => {
            let from = rng.random_range(0..PROCESSES);
            let to = (from + rng.random_range(1..PROCESSES)) % PROCESSES;
            net.add(from, tag, &Filter::To(vec![net.ip(to)]))?;
            (format!("dropped packets {} -> {} (one way)", name(from), name(to)), vec![from])
        }
        _ => {
            let pct = rng.random_range(5..=30);
            let victims = one_or_two(rng, PROCESSES);
            for &v in &victims {
                net.add(v, tag, &Filter::Loss(pct))?;
            }
            (format!("{pct}% packet loss on {}", names(&victims)), victims)
        }
    })
}
