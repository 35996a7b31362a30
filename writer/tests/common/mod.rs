//! Helpers for cross-process tests: start real `sixfold-server` and
//! `redis-server` processes on free 127.0.0.1 ports, kill them on drop, and
//! talk raw RESP to them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use sixfold_resp::{Frame, decode_frame};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A redis-rs connection to 127.0.0.1:`port` (replies within 20 s).
pub fn client(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let conn = c.get_connection().unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    conn
}

/// A redis-rs connection to a replica on 127.0.0.1:`port` in READONLY
/// mode: the replica serves its reads of keys (others get -MOVED).
pub fn replica_client(port: u16) -> redis::Connection {
    let mut c = client(port);
    let _: () = redis::cmd("READONLY").query(&mut c).unwrap();
    c
}

/// Runs an idempotent `cmd` on 127.0.0.1:`port` on a fresh connection,
/// again on a new one if the test process's socket call was interrupted
/// (EINTR: Linux interrupts a read with a timeout when this process is
/// stopped and continued, as a loaded CI machine may do).
pub fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> T {
    let mut tries = 0;
    loop {
        match cmd.query(&mut client(port)) {
            Ok(v) => return v,
            Err(e) if e.is_io_error() && tries < 5 && interrupted(&e) => tries += 1,
            Err(e) => panic!("{cmd:?} on port {port}: {e}"),
        }
    }
}

/// A number from `INFO replication` on `port`.
pub fn info_field(port: u16, name: &str) -> u64 {
    let info: String = query(port, redis::cmd("INFO").arg("replication"));
    let line = info.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap_or_else(|| panic!("{name} in {info}"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

fn interrupted(e: &redis::RedisError) -> bool {
    use std::error::Error;
    type Inner = std::sync::Arc<dyn Error + Send + Sync>;
    e.source()
        .and_then(|s| s.downcast_ref::<Inner>())
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::Interrupted)
}

pub fn free_port() -> u16 {
    sixfold_net::ports::unused_local_port().unwrap()
}

/// Waits until a server started as `child` accepts connections on
/// 127.0.0.1:`port`.
pub fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server on port {port} exited early: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not start");
}

/// Starts `sixfold-server --durability none` (memory only) with `extra` flags.
pub fn sixfold(extra: &[&str]) -> Proc {
    let args: Vec<String> = ["--durability", "none"].iter().chain(extra).map(|s| s.to_string()).collect();
    sixfold_on(free_port(), &args)
}

/// Starts Debian's `redis-server` without persistence, in a directory of
/// its own (a SAVE in a test must not leave a `dump.rdb` that the next
/// redis-server started in the same directory would load).
pub fn redis() -> Proc {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("sixfold-test-redis-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server); .ci/run installs it");
    wait_ready(port, &mut child);
    Proc { child, port }
}

/// A raw RESP connection.
pub struct Raw {
    pub sock: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        sock.set_nodelay(true).unwrap();
        Raw { sock, buf: Vec::new() }
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        let f = Frame::Array(args.iter().map(|a| Frame::Bulk(Bytes::copy_from_slice(a))).collect());
        self.sock.write_all(&f.to_bytes(sixfold_resp::Protocol::Resp2)).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }

    /// The next frame if one arrives within `ms` milliseconds (`None`
    /// otherwise: the server is holding the reply).
    pub fn read_within(&mut self, ms: u64) -> Option<Frame> {
        let deadline = Instant::now() + Duration::from_millis(ms);
        loop {
            if let Some((f, n)) = decode_frame(&self.buf).unwrap() {
                self.buf.drain(..n);
                return Some(f);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 64 * 1024];
            let got = self.sock.read(&mut chunk);
            self.sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            match got {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return None;
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Reads one reply; `None` if the server closed the connection.
    pub fn read(&mut self) -> Option<Frame> {
        loop {
            if let Some((f, n)) = decode_frame(&self.buf).unwrap() {
                self.buf.drain(..n);
                return Some(f);
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    pub fn cmd(&mut self, args: &[&str]) -> Frame {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd_bytes(&a)
    }

    /// A command of binary arguments.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Frame {
        self.send(args);
        self.read().expect("connection closed")
    }
}

/// Sends each case to Sixfold (`ours`) and Redis (`theirs`) in turn; the
/// cases whose replies differ, described (HELLO's reply names each server,
/// so it is not compared).
pub fn differences(ours: &mut Raw, theirs: &mut Raw, cases: &[Vec<&str>]) -> Vec<String> {
    let mut out = Vec::new();
    for args in cases {
        let (x, y) = (ours.cmd(args), theirs.cmd(args));
        if x != y && args[0] != "HELLO" {
            out.push(format!("{args:?}\n  sixfold: {x:?}\n  redis:   {y:?}"));
        }
    }
    out
}

/// Fails, listing them, when any of `total` replies differed.
pub fn assert_no_differences(mismatches: &[String], total: usize) {
    assert!(mismatches.is_empty(), "{} of {total} replies differ:\n{}", mismatches.len(), mismatches.join("\n"));
}

pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// The `sixfold-storage` binary next to `sixfold-server`, built if missing
/// (it belongs to another package of the workspace).
pub fn storage_bin() -> std::path::PathBuf {
    let server = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sixfold-server"));
    let bin = server.with_file_name("sixfold-storage");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "sixfold-storage-node", "--bin", "sixfold-storage"]);
        if server.components().any(|c| c.as_os_str() == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building sixfold-storage");
    }
    bin
}

/// Six storage nodes and their certificates, for `--durability fabric`.
pub struct Fabric {
    pub dir: std::path::PathBuf,
    pub addrs: Vec<std::net::SocketAddr>,
    pub nodes: Vec<Option<Child>>,
    /// More flags for every storage node.
    pub node_args: Vec<String>,
}

impl Drop for Fabric {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().flatten() {
            let _ = n.kill();
            let _ = n.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fabric {
    pub fn start(name: &str) -> Fabric {
        Fabric::start_with(name, &[])
    }

    /// Six storage nodes started with `node_args` besides the usual flags.
    pub fn start_with(name: &str, node_args: &[&str]) -> Fabric {
        let dir = std::env::temp_dir().join(format!("sixfold-durable-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut gen_certs = Command::new(storage_bin());
        gen_certs.args(["gen-certs", "--dir"]).arg(dir.join("certs")).stdout(Stdio::null());
        assert!(gen_certs.status().unwrap().success());
        let addrs = (0..6).map(|_| SocketAddr::from(([127, 0, 0, 1], free_port()))).collect();
        let node_args = node_args.iter().map(|a| a.to_string()).collect();
        let mut f = Fabric { dir, addrs, nodes: (0..6).map(|_| None).collect(), node_args };
        for i in 0..6 {
            f.start_node(i);
        }
        f
    }

    /// SIGKILL of storage node `i` (0-based).
    pub fn kill_node(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].as_mut() {
            n.kill().unwrap();
            n.wait().unwrap();
        }
    }

    pub fn start_node(&mut self, i: usize) {
        let mut cmd = Command::new(storage_bin());
        if !self.dir.join(format!("node-{}", i + 1)).exists() {
            cmd.arg("--new-cluster");
        }
        cmd.args(["--node-id", &(i + 1).to_string(), "--listen", &self.addrs[i].to_string()])
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{}", i + 1)))
            .arg("--certs")
            .arg(self.dir.join("certs"))
            .args(&self.node_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for (j, a) in self.addrs.iter().enumerate() {
            if j != i {
                cmd.args(["--peer", &a.to_string()]);
            }
        }
        self.nodes[i] = Some(cmd.spawn().unwrap());
    }

    pub fn signal(&self, i: usize, sig: &str) {
        let pid = self.nodes[i].as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
    }

    /// `sixfold-server --durability fabric --role writer` flags for these
    /// nodes: a writer that takes over at once.
    pub fn server_args(&self) -> Vec<String> {
        let mut a = self.data_node_args();
        a.extend(["--role", "writer"].map(String::from));
        a
    }

    /// `sixfold-server --durability fabric` flags for these nodes (role
    /// `auto` unless more flags say otherwise).
    pub fn data_node_args(&self) -> Vec<String> {
        let mut a = vec![
            "--durability".into(),
            "fabric".into(),
            "--certs".into(),
            self.dir.join("certs").display().to_string(),
        ];
        for s in &self.addrs {
            a.push("--storage".into());
            a.push(s.to_string());
        }
        a
    }
}

impl Fabric {
    /// `sixfold-server --role replica` flags: this fabric, the writer on
    /// `writer_port`, zone `zone`, and `extra`.
    pub fn replica_args(&self, writer_port: u16, zone: &str, extra: &[&str]) -> Vec<String> {
        let mut a = self.data_node_args();
        a.extend(
            ["--role", "replica", "--writer", &format!("127.0.0.1:{writer_port}"), "--zone", zone].map(String::from),
        );
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }
}

/// Starts `sixfold-server` on `port` with `args` (waits until it serves).
pub fn sixfold_on(port: u16, args: &[String]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sixfold-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--seed", "1"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start sixfold-server");
    wait_ready(port, &mut child);
    Proc { child, port }
}

/// Equal, with floats compared by value.
pub fn same(a: &Frame, b: &Frame) -> bool {
    match (a, b) {
        (Frame::Bulk(x), Frame::Bulk(y)) if x != y => {
            let num = |b: &[u8]| std::str::from_utf8(b).ok().and_then(|s| s.parse::<f64>().ok());
            matches!((num(x), num(y)), (Some(p), Some(q)) if p == q && x.contains(&b'.') | y.contains(&b'.') | x.contains(&b'e') | y.contains(&b'e'))
        }
        (Frame::Array(x), Frame::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        _ => a == b,
    }
}
