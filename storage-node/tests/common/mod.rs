//! Helpers for storage-node tests: a cluster of six real `sixfold-storage`
//! processes on 127.0.0.1 (killed on drop), the writer's endpoint, and
//! reading a node's whole log.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use sixfold_fabric::{AppendError, Appender};
use sixfold_net::framed;
use sixfold_net::tls::{TlsFiles, client_endpoint, connect};
use sixfold_wire::{Lsn, Message, Record, RecordKind, Role, decode_run};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sixfold-storage");
const ZONES: [&str; 6] = ["a", "a", "b", "b", "c", "c"];

pub struct Cluster {
    pub dir: PathBuf,
    pub addrs: Vec<SocketAddr>,
    /// Each node's Prometheus endpoint.
    pub metrics: Vec<SocketAddr>,
    procs: Vec<Option<Child>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], sixfold_net::ports::unused_local_port().unwrap()))
}

impl Cluster {
    pub fn new(name: &str) -> Cluster {
        Cluster::with_certs(name, &[])
    }

    /// A cluster whose CA also issued certificates named `extra`.
    pub fn with_certs(name: &str, extra: &[&str]) -> Cluster {
        let dir = std::env::temp_dir().join(format!("sixfold-six-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut names: Vec<String> = (1..=6).map(|i| format!("storage-{i}")).collect();
        names.extend(["writer", "replica"].iter().chain(extra).map(|s| s.to_string()));
        let status = Command::new(BIN)
            .args(["gen-certs", "--names", &names.join(","), "--dir"])
            .arg(dir.join("certs"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let addrs: Vec<SocketAddr> = (0..6).map(|_| free_port()).collect();
        let metrics = (0..6).map(|_| free_port()).collect();
        let mut c = Cluster { dir, addrs, metrics, procs: (0..6).map(|_| None).collect() };
        for i in 0..6 {
            c.start(i);
        }
        c
    }

    pub fn start(&mut self, i: usize) {
        let mut cmd = Command::new(BIN);
        if !self.dir.join(format!("node-{}", i + 1)).exists() {
            cmd.arg("--new-cluster");
        }
        cmd.args(["--node-id", &(i + 1).to_string(), "--zone", ZONES[i], "--listen", &self.addrs[i].to_string()])
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{}", i + 1)))
            .arg("--certs")
            .arg(self.dir.join("certs"))
            .args(["--segment-bytes-max", "1048576"])
            .args(["--metrics-listen", &self.metrics[i].to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        let log = std::fs::File::options().create(true).append(true).open(self.log_path(i)).unwrap();
        cmd.stderr(log);
        for (j, a) in self.addrs.iter().enumerate() {
            if j != i {
                cmd.args(["--peer", &a.to_string()]);
            }
        }
        self.procs[i] = Some(cmd.spawn().unwrap());
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{}.log", i + 1))
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill().unwrap();
            p.wait().unwrap();
        }
    }

    pub fn writer_endpoint(&self) -> quinn::Endpoint {
        client_endpoint(&TlsFiles::in_dir(&self.dir.join("certs"), "writer")).unwrap()
    }
}

pub fn records(from: Lsn, n: u64) -> Vec<Record> {
    (from..from + n).map(|lsn| Record { lsn, epoch: 1, kind: RecordKind::Effects, payload: payload(lsn) }).collect()
}

/// Reads a node's whole log (as a peer: above the commit LSN too), as bytes.
pub async fn read_all(ep: &quinn::Endpoint, addr: SocketAddr, role: Role) -> Vec<u8> {
    let conn = connect(ep, addr).await.unwrap();
    let (mut tx, mut rx) = conn.open_bi().await.unwrap();
    framed::send(&mut tx, &Message::Hello { node: 99, role }).await.unwrap();
    let mut all = Vec::new();
    let mut next = 1;
    loop {
        framed::send(&mut tx, &Message::Read { from_lsn: next, max_bytes: 1 << 20, wait_ms: 0 }).await.unwrap();
        let Message::Records { records, .. } = framed::recv(&mut rx).await.unwrap() else { panic!("Records expected") };
        let recs = decode_run(&records).unwrap();
        if recs.is_empty() {
            return all;
        }
        assert_eq!(recs[0].lsn, next);
        next += recs.len() as Lsn;
        all.extend_from_slice(&records);
    }
}

pub async fn wait_ready(ep: &quinn::Endpoint, addrs: &[SocketAddr]) {
    for a in addrs {
        let deadline = Instant::now() + Duration::from_secs(20);
        while connect(ep, *a).await.is_err() {
            assert!(Instant::now() < deadline, "node {a} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub async fn append_all(app: &mut Appender, from: Lsn, n: u64, batch: u64) -> Result<Lsn, AppendError> {
    let mut lsn = from;
    let mut commit = 0;
    while lsn < from + n {
        let k = batch.min(from + n - lsn);
        commit = app.append(records(lsn, k)).await?;
        lsn += k;
    }
    Ok(commit)
}

/// The payload the tests write at `lsn` (about 100 bytes).
pub fn payload(lsn: Lsn) -> Bytes {
    Bytes::from(format!("SET key:{lsn:012} {:0>80}", lsn))
}
