//! Six real `sixfold-storage` processes on 127.0.0.1: 100,000 records
//! appended through the fabric client are served back identically by all
//! six; with two nodes killed appends still commit, with three they do not;
//! killed nodes restart, fill their holes from peers and converge to
//! byte-identical logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use sixfold_fabric::{AppendError, Appender, CommitMode};
use sixfold_net::framed;
use sixfold_net::tls::{TlsFiles, client_endpoint, connect};
use sixfold_wire::{Lsn, Message, Record, RecordKind, Role, decode_run};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sixfold-storage");
const ZONES: [&str; 6] = ["a", "a", "b", "b", "c", "c"];

struct Cluster {
    dir: PathBuf,
    addrs: Vec<SocketAddr>,
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

fn free_udp_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl Cluster {
    fn new(name: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("sixfold-six-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let status = Command::new(BIN)
            .args(["gen-certs", "--dir"])
            .arg(dir.join("certs"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let addrs: Vec<SocketAddr> = (0..6).map(|_| free_udp_port()).collect();
        let mut c = Cluster {
            dir,
            addrs,
            procs: (0..6).map(|_| None).collect(),
        };
        for i in 0..6 {
            c.start(i);
        }
        c
    }

    fn start(&mut self, i: usize) {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--node-id",
            &(i + 1).to_string(),
            "--zone",
            ZONES[i],
            "--listen",
            &self.addrs[i].to_string(),
        ])
        .arg("--data-dir")
        .arg(self.dir.join(format!("node-{}", i + 1)))
        .arg("--certs")
        .arg(self.dir.join("certs"))
        .args(["--segment-bytes-max", "1048576"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
        for (j, a) in self.addrs.iter().enumerate() {
            if j != i {
                cmd.args(["--peer", &a.to_string()]);
            }
        }
        self.procs[i] = Some(cmd.spawn().unwrap());
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill().unwrap();
            p.wait().unwrap();
        }
    }

    fn writer_endpoint(&self) -> quinn::Endpoint {
        client_endpoint(&TlsFiles::in_dir(&self.dir.join("certs"), "writer")).unwrap()
    }
}

fn records(from: Lsn, n: u64) -> Vec<Record> {
    (from..from + n)
        .map(|lsn| Record {
            lsn,
            epoch: 1,
            kind: RecordKind::Effects,
            payload: Bytes::from(format!("SET key:{lsn} value-{lsn}")),
        })
        .collect()
}

/// Reads a node's whole log (as a peer: above the commit LSN too), as bytes.
async fn read_all(ep: &quinn::Endpoint, addr: SocketAddr, role: Role) -> Vec<u8> {
    let conn = connect(ep, addr).await.unwrap();
    let (mut tx, mut rx) = conn.open_bi().await.unwrap();
    framed::send(&mut tx, &Message::Hello { node: 99, role })
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut next = 1;
    loop {
        framed::send(
            &mut tx,
            &Message::Read {
                from_lsn: next,
                max_bytes: 1 << 20,
            },
        )
        .await
        .unwrap();
        let Message::Records { records, .. } = framed::recv(&mut rx).await.unwrap() else {
            panic!("Records expected")
        };
        let recs = decode_run(&records).unwrap();
        if recs.is_empty() {
            return all;
        }
        assert_eq!(recs[0].lsn, next);
        next += recs.len() as Lsn;
        all.extend_from_slice(&records);
    }
}

async fn wait_ready(ep: &quinn::Endpoint, addrs: &[SocketAddr]) {
    for a in addrs {
        let deadline = Instant::now() + Duration::from_secs(20);
        while connect(ep, *a).await.is_err() {
            assert!(Instant::now() < deadline, "node {a} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn append_all(app: &mut Appender, from: Lsn, n: u64, batch: u64) -> Result<Lsn, AppendError> {
    let mut lsn = from;
    let mut commit = 0;
    while lsn < from + n {
        let k = batch.min(from + n - lsn);
        commit = app.append(records(lsn, k)).await?;
        lsn += k;
    }
    Ok(commit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_nodes_commit_serve_survive_and_converge() {
    let mut c = Cluster::new("main");
    let ep = c.writer_endpoint();
    wait_ready(&ep, &c.addrs).await;
    let mut app = Appender::new(
        ep.clone(),
        c.addrs.clone(),
        100,
        1,
        CommitMode::Memory,
        (0, 0),
    );

    // 100,000 records, committed, served back identically by all six.
    assert_eq!(
        append_all(&mut app, 1, 100_000, 1000).await.unwrap(),
        100_000
    );
    app.append(Vec::new()).await.unwrap(); // carries the final commit LSN
    let first = read_all(&ep, c.addrs[0], Role::Reader).await;
    assert_eq!(decode_run(&first).unwrap().len(), 100_000);
    for a in &c.addrs[1..] {
        assert!(
            read_all(&ep, *a, Role::Reader).await == first,
            "node {a} serves a different log"
        );
    }

    // Two nodes down (both of zone a): appends still commit.
    c.kill(0);
    c.kill(1);
    assert_eq!(
        append_all(&mut app, 100_001, 2_000, 500).await.unwrap(),
        102_000
    );
    // Three down: no commit.
    c.kill(2);
    match app.append(records(102_001, 10)).await {
        Err(AppendError::NoQuorum { acked }) => assert_eq!(acked, 3),
        other => panic!("three nodes down must not commit: {other:?}"),
    }

    // Restarted nodes fill their holes from peers (the writer no longer
    // holds the committed records, so it cannot back-fill them), then the
    // writer continues.
    app.release_below(app.commit_lsn());
    for i in 0..3 {
        c.start(i);
    }
    wait_ready(&ep, &c.addrs[..3]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match app.append(records(app.last_lsn() + 1, 10)).await {
            Ok(commit) if commit == app.last_lsn() => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("appends did not resume: {other:?}"),
        }
    }
    app.append(Vec::new()).await.unwrap();
    let reference = read_all(&ep, c.addrs[5], Role::Peer).await;
    assert_eq!(
        decode_run(&reference).unwrap().last().unwrap().lsn,
        app.last_lsn()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for a in &c.addrs {
        while read_all(&ep, *a, Role::Peer).await != reference {
            assert!(Instant::now() < deadline, "node {a} did not converge");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
