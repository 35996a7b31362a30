//! A cluster of real processes on 127.0.0.1 for the harness: six storage
//! nodes, a writer and a replica, each killable and restartable. Binaries
//! come from the cargo target directory of the running test (built if
//! missing). Everything is killed when the cluster is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process slot.
struct Slot {
    args: Vec<String>,
    bin: PathBuf,
    child: Option<Child>,
}

impl Slot {
    fn start(&mut self) -> std::io::Result<()> {
        let child = Command::new(&self.bin)
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    fn signal(&mut self, sig: &str) {
        if let Some(c) = self.child.as_mut() {
            let _ = Command::new("kill").args([sig, &c.id().to_string()]).status();
            if sig == "-KILL" {
                let _ = c.wait();
                self.child = None;
            }
        }
    }
}

/// Six storage nodes, a writer and a replica.
pub struct Cluster {
    /// Data directory.
    pub dir: PathBuf,
    /// RESP port of the writer.
    pub writer_port: u16,
    /// RESP port of the replica.
    pub replica_port: u16,
    slots: Vec<Slot>,
}

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

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).unwrap_or_else(|_| ([127, 0, 0, 1], 0).into())
}

fn free_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

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
        let addrs: Vec<SocketAddr> = (0..6).map(|_| free_udp()).collect();
        let mut slots = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            let mut args = vec!["--node-id".to_string(), (i + 1).to_string(), "--listen".into(), a.to_string()];
            args.extend(["--threads".into(), "1".into(), "--certs".into(), certs.clone(), "--data-dir".into()]);
            args.push(dir.join(format!("node-{}", i + 1)).display().to_string());
            for (_, p) in addrs.iter().enumerate().filter(|(j, _)| *j != i) {
                args.extend(["--peer".into(), p.to_string()]);
            }
            slots.push(Slot { args, bin: bins.join("sixfold-storage"), child: None });
        }
        let mut storage = vec!["--certs".to_string(), certs];
        for a in &addrs {
            storage.extend(["--storage".into(), a.to_string()]);
        }
        let (writer_port, replica_port) = (free_tcp(), free_tcp());
        let mut w = vec![
            "--listen".to_string(),
            format!("127.0.0.1:{writer_port}"),
            "--commit-timeout-ms".into(),
            "1000".into(),
        ];
        w.extend(storage.clone());
        slots.push(Slot { args: w, bin: bins.join("sixfold-server"), child: None });
        let mut r = vec!["--role".to_string(), "replica".into(), "--zone".into(), "b".into()];
        r.extend([
            "--writer".into(),
            format!("127.0.0.1:{writer_port}"),
            "--listen".into(),
            format!("127.0.0.1:{replica_port}"),
        ]);
        r.extend(storage);
        slots.push(Slot { args: r, bin: bins.join("sixfold-server"), child: None });
        let mut c = Cluster { dir, writer_port, replica_port, slots };
        for i in 0..c.slots.len() {
            c.slots[i].start()?;
        }
        c.wait_serving(WRITER)?;
        c.wait_serving(REPLICA)?;
        Ok(c)
    }

    fn port(&self, i: usize) -> u16 {
        if i == WRITER { self.writer_port } else { self.replica_port }
    }

    /// Waits until data node `i` answers PING (60 s at most).
    pub fn wait_serving(&self, i: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ping(self.port(i)) {
            anyhow::ensure!(Instant::now() < deadline, "process {i} did not start serving");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// SIGKILL of process `i` (storage 0..6, [`WRITER`], [`REPLICA`]).
    pub fn kill(&mut self, i: usize) {
        self.slots[i].signal("-KILL");
    }

    /// Starts process `i` again (if it is down).
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        if self.slots[i].child.is_none() {
            self.slots[i].start()?;
        }
        Ok(())
    }

    /// SIGSTOP / SIGCONT of process `i`.
    pub fn pause(&mut self, i: usize, paused: bool) {
        self.slots[i].signal(if paused { "-STOP" } else { "-CONT" });
    }

    /// Whether process `i` is running.
    pub fn is_up(&self, i: usize) -> bool {
        self.slots[i].child.is_some()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for s in self.slots.iter_mut() {
            s.signal("-CONT");
            s.signal("-KILL");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `port` answers PING.
pub fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
