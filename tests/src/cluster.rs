//! A cluster of real processes for the harness: six storage nodes (two per
//! zone) and two equal data nodes (slot [`WRITER`] starts as the writer,
//! slot [`REPLICA`] as its replica; either takes over when the other
//! fails, and a restarted one comes back as a replica: [`Cluster::writer_now`]
//! says which serves), each killable and restartable, each in
//! its own network namespace when the harness runs as root ([`Net`]). Binaries
//! come from the cargo target directory of the running test (built if
//! missing). Everything is killed when the cluster is dropped.

use crate::net::Net;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process slot.
struct Slot {
    args: Vec<String>,
    bin: PathBuf,
    /// Where its stderr goes (appended to across restarts).
    log: PathBuf,
    child: Option<Child>,
}

impl Slot {
    /// Starts the process as process `i` of `net`, under `wrapper` (a
    /// program and its arguments, e.g. `fiu-run`) when given, with `extra`
    /// arguments after its own.
    fn start(&mut self, net: &Net, i: usize, wrapper: &[String], extra: &[&str]) -> std::io::Result<()> {
        self.child = Some(spawn(net, i, (&self.bin, &self.log), &self.args, wrapper, extra)?);
        Ok(())
    }

    fn signal(&mut self, sig: &str) {
        if let Some(c) = self.child.as_mut() {
            let _ = Command::new("kill").args([sig, &c.id().to_string()]).status();
            if sig == "-KILL" || sig == "-TERM" {
                let _ = c.wait();
                self.child = None;
            }
        }
    }

    /// Forgets the process if it exited by itself.
    fn reap(&mut self) {
        if self.child.as_mut().is_some_and(|c| !matches!(c.try_wait(), Ok(None))) {
            self.child = None;
        }
    }
}

/// Spawns `bin` with `args` and `extra` as process `i` of `net`, under
/// `wrapper` when given; its stderr is appended to `log`.
fn spawn(
    net: &Net,
    i: usize,
    (bin, log): (&Path, &Path),
    args: &[String],
    wrapper: &[String],
    extra: &[&str],
) -> std::io::Result<Child> {
    let mut cmd = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = net.command(i, Path::new(program));
            c.args(rest).arg(bin);
            c
        }
        None => net.command(i, bin),
    };
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    cmd.args(args).args(extra).env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(log).spawn()
}

/// Six storage nodes, a writer and a replica.
pub struct Cluster {
    /// Data directory.
    pub dir: PathBuf,
    /// RESP address of the writer.
    pub writer: SocketAddr,
    /// RESP address of the replica.
    pub replica: SocketAddr,
    /// Addresses, namespaces and partitions.
    pub net: Net,
    slots: Vec<Slot>,
}

/// Processes in a cluster.
pub const PROCESSES: usize = 8;
/// Storage nodes (processes 0..6).
pub const STORAGE_NODES: usize = 6;
/// Index of the writer among the processes (storage nodes are 0..6).
pub const WRITER: usize = 6;
/// Index of the replica.
pub const REPLICA: usize = 7;

/// The cargo target directory of the running test or binary (`target/<profile>`),
/// with sixfold-server and sixfold-storage built into it if missing.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // A test runs from target/<profile>/deps, a binary from target/<profile>.
    let parent = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir =
        if parent.ends_with("deps") { parent.parent().map(Path::to_path_buf).unwrap_or_default() } else { parent };
    if !dir.join("sixfold-server").exists() || !dir.join("sixfold-storage").exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "sixfold-writer", "-p", "sixfold-storage-node"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let _ = cmd.status();
    }
    dir
}

/// The zone (0, 1, 2) of process `i`: storage nodes two per zone, the
/// writer in the first zone, the replica in the second.
pub fn zone(i: usize) -> usize {
    match i {
        WRITER => 0,
        REPLICA => 1,
        _ => i / 2,
    }
}

/// The data directory of storage node `i` under the cluster's `dir`.
fn node_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("node-{}", i + 1))
}

/// Port storage nodes listen on in their own namespaces.
const STORAGE_PORT: u16 = 7000;
/// Port data nodes listen on in their own namespaces.
const RESP_PORT: u16 = 6379;
/// Segment file size of the harness's storage nodes: small, so that runs
/// have sealed segments (a flipped byte in one is a fault).
const SEGMENT_BYTES_MAX: &str = "4194304";

impl Cluster {
    /// Starts everything under a fresh directory named after `name`;
    /// returns once the writer and the replica answer.
    pub fn start(name: &str) -> anyhow::Result<Cluster> {
        let dir = std::env::temp_dir().join(format!("sixfold-harness-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bins = bin_dir();
        let status = Command::new(bins.join("sixfold-storage"))
            .args(["gen-certs", "--dir"])
            .arg(dir.join("certs"))
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "gen-certs failed");
        let certs = dir.join("certs").display().to_string();
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let net = Net::new(PROCESSES);
        let addrs: Vec<SocketAddr> = (0..STORAGE_NODES).map(|i| net.listen_addr(i, true, STORAGE_PORT)).collect();
        let mut slots = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            let mut args = vec!["--node-id".to_string(), (i + 1).to_string(), "--listen".into(), a.to_string()];
            args.extend(["--threads".into(), "1".into(), "--segment-bytes-max".into(), SEGMENT_BYTES_MAX.into()]);
            args.extend(["--certs".into(), certs.clone(), "--data-dir".into()]);
            args.push(node_dir(&dir, i).display().to_string());
            for (_, p) in addrs.iter().enumerate().filter(|(j, _)| *j != i) {
                args.extend(["--peer".into(), p.to_string()]);
            }
            let log = logs.join(format!("storage-{}.log", i + 1));
            slots.push(Slot { args, bin: bins.join("sixfold-storage"), log, child: None });
        }
        let mut storage = vec!["--certs".to_string(), certs];
        for a in &addrs {
            storage.extend(["--storage".into(), a.to_string()]);
        }
        let (writer, replica) = (net.listen_addr(WRITER, false, RESP_PORT), net.listen_addr(REPLICA, false, RESP_PORT));
        for (listen, zone) in [(writer, "a"), (replica, "b")] {
            let mut a = vec!["--listen".to_string(), listen.to_string(), "--zone".into(), zone.into()];
            a.extend(["--commit-timeout-ms".into(), "1000".into()]);
            // Clients and the other data node reach it from other network
            // namespaces, without a password.
            a.extend(["--protected-mode".into(), "no".into()]);
            a.extend(storage.clone());
            let log = logs.join(format!("data-{zone}.log"));
            slots.push(Slot { args: a, bin: bins.join("sixfold-server"), log, child: None });
        }
        let mut c = Cluster { dir, writer, replica, net, slots };
        // Only the first start of a storage node is a new cluster's: a node
        // restarted after its directory was wiped must know it lost data.
        // The first data node starts as the writer; every later start of a
        // data node is an equal one (`--role auto`), so a restarted writer
        // does not take the role back from the one that took over.
        for i in 0..c.slots.len() {
            let extra: &[&str] = match i {
                WRITER => &["--role", "writer"],
                _ if i < STORAGE_NODES => &["--new-cluster"],
                _ => &[],
            };
            c.slots[i].start(&c.net, i, &[], extra)?;
        }
        c.wait_serving(WRITER)?;
        c.wait_serving(REPLICA)?;
        c.wait_writer(Duration::from_secs(60))?;
        Ok(c)
    }

    /// The data node serving as the writer now, if one does: it answers a
    /// read of a key on a plain connection (a replica redirects it; a
    /// writer waiting out an old lease asks to retry).
    pub fn serving_writer(&self) -> Option<usize> {
        [WRITER, REPLICA].into_iter().find(|&i| serves(self.addr(i)))
    }

    /// The data node serving as the writer, or [`WRITER`] while none does.
    pub fn writer_now(&self) -> usize {
        self.serving_writer().unwrap_or(WRITER)
    }

    /// The other data node.
    pub fn other(i: usize) -> usize {
        if i == WRITER { REPLICA } else { WRITER }
    }

    /// Waits until a data node serves as the writer; returns it.
    pub fn wait_writer(&self, within: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(w) = self.serving_writer() {
                return Ok(w);
            }
            anyhow::ensure!(Instant::now() < deadline, "no data node serves as the writer after {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The RESP address of data node `i` ([`WRITER`] or [`REPLICA`]).
    pub fn addr(&self, i: usize) -> SocketAddr {
        if i == WRITER { self.writer } else { self.replica }
    }

    /// Waits until data node `i` answers PING (60 s at most).
    pub fn wait_serving(&self, i: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ping(self.addr(i)) {
            anyhow::ensure!(Instant::now() < deadline, "process {i} did not start serving: {}", self.describe(i));
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Process `i`'s state as `/proc` tells it and the last lines of its
    /// log, for an error that has to be understood from CI output alone.
    fn describe(&self, i: usize) -> String {
        const LOG_TAIL_LINES: usize = 25;
        let state = match self.slots[i].child.as_ref() {
            None => "not started".to_string(),
            Some(c) => std::fs::read_to_string(format!("/proc/{}/status", c.id()))
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("State:")).map(str::to_string))
                .map_or_else(|| format!("pid {} gone", c.id()), |st| format!("pid {} {st}", c.id())),
        };
        let log = std::fs::read_to_string(&self.slots[i].log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n  ");
        format!("{state}; the end of {}:\n  {tail}", self.slots[i].log.display())
    }

    /// SIGKILL of process `i` (storage 0..6, [`WRITER`], [`REPLICA`]).
    pub fn kill(&mut self, i: usize) {
        self.slots[i].signal("-KILL");
    }

    /// SIGTERM of process `i`, waiting until it exits (a storage node
    /// first writes everything it holds to disk).
    pub fn terminate(&mut self, i: usize) {
        self.slots[i].signal("-TERM");
    }

    /// Starts process `i` again if it is down (killed, or exited by itself).
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.restart_under(i, &[], &[])
    }

    /// Starts data node `i` again as `--role writer` (it fences the other
    /// at once), if it is down.
    pub fn restart_as_writer(&mut self, i: usize) -> anyhow::Result<()> {
        self.restart_under(i, &[], &["--role", "writer"])
    }

    /// Starts process `i` again under `wrapper`, with `extra` arguments,
    /// if it is down.
    pub fn restart_under(&mut self, i: usize, wrapper: &[String], extra: &[&str]) -> anyhow::Result<()> {
        self.slots[i].reap();
        if self.slots[i].child.is_none() {
            self.slots[i].start(&self.net, i, wrapper, extra)?;
        }
        Ok(())
    }

    /// Starts one more writer (`--role writer`: it fences the others at
    /// once) on the same storage nodes, in data node `i`'s namespace,
    /// listening on the next port; returns it and its address.
    pub fn extra_writer(&self, i: usize) -> anyhow::Result<(Child, SocketAddr)> {
        let listen = self.net.listen_addr(i, false, RESP_PORT + 1);
        let mut args = self.slots[i].args.clone();
        if let Some(i) = args.iter().position(|a| a == "--listen") {
            args[i + 1] = listen.to_string();
        }
        Ok((spawn(&self.net, i, (&self.slots[i].bin, &self.slots[i].log), &args, &[], &["--role", "writer"])?, listen))
    }

    /// Where the processes' logs are.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The data directory of storage node `i`.
    pub fn storage_dir(&self, i: usize) -> PathBuf {
        node_dir(&self.dir, i)
    }

    /// SIGSTOP / SIGCONT of process `i`.
    pub fn pause(&mut self, i: usize, paused: bool) {
        self.slots[i].signal(if paused { "-STOP" } else { "-CONT" });
    }

    /// Whether process `i` is running.
    pub fn is_up(&mut self, i: usize) -> bool {
        self.slots[i].reap();
        self.slots[i].child.is_some()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for s in self.slots.iter_mut() {
            s.signal("-CONT");
            s.signal("-KILL");
        }
        for i in 0..STORAGE_NODES {
            // A disk-full fault may have left a small file system mounted.
            let _ = Command::new("umount").arg(node_dir(&self.dir, i)).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `addr` answers PING.
pub fn ping(addr: SocketAddr) -> bool {
    sixfold_resp::probe::answers_ping(&addr.to_string())
}

/// Whether the data node at `addr` serves as the writer (see
/// [`Cluster::serving_writer`]).
pub fn serves(addr: SocketAddr) -> bool {
    sixfold_resp::probe::serves_as_writer(&addr.to_string())
}
