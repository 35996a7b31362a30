//! `sixfold-fabric-bench`: one writer appending to six local storage nodes
//! over QUIC with mutual TLS. Reports records/s, MB/s and per-batch ack
//! latency (p50/p99) for 100-byte and 4 KiB records in `commit = memory` and
//! `commit = disk` modes, next to the machine's raw fsync rate measured in
//! the same run. Output is a Markdown table.

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use sixfold_fabric::{Appender, CommitMode};
use sixfold_net::tls::{TlsFiles, client_endpoint, connect};
use sixfold_wire::{Record, RecordKind};
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Benchmark the storage fabric: six local `sixfold-storage` nodes.
#[derive(Debug, Parser)]
#[command(name = "sixfold-fabric-bench", version, about)]
struct Args {
    /// Seconds per configuration.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Working directory (certificates, node data); removed afterwards.
    #[arg(long, default_value = "/tmp/sixfold-fabric-bench")]
    dir: PathBuf,
    /// The storage node binary (default: next to this one).
    #[arg(long)]
    storage_bin: Option<PathBuf>,
}

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_nodes(bin: &Path, dir: &Path) -> anyhow::Result<(Nodes, Vec<SocketAddr>)> {
    let addrs: Vec<SocketAddr> =
        (0..6).map(|_| UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr())).collect::<Result<_, _>>()?;
    let mut kids = Vec::new();
    for i in 0..6 {
        let mut cmd = Command::new(bin);
        cmd.args(["--new-cluster", "--node-id", &(i + 1).to_string(), "--listen", &addrs[i].to_string()])
            .arg("--data-dir")
            .arg(dir.join(format!("node-{}", i + 1)))
            .arg("--certs")
            .arg(dir.join("certs"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for (j, a) in addrs.iter().enumerate() {
            if j != i {
                cmd.args(["--peer", &a.to_string()]);
            }
        }
        kids.push(cmd.spawn().with_context(|| format!("starting {}", bin.display()))?);
    }
    Ok((Nodes(kids), addrs))
}

/// fdatasync calls per second on a 4 KiB write, for `seconds`.
fn raw_fsync_rate(dir: &Path, seconds: u64) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let block = vec![7u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        f.write_all(&block)?;
        f.sync_data()?;
        n += 1;
    }
    std::fs::remove_file(&path)?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

struct Outcome {
    records: u64,
    bytes: u64,
    secs: f64,
    lat: Histogram<u64>,
}

async fn run(
    ep: &quinn::Endpoint,
    addrs: &[SocketAddr],
    mode: CommitMode,
    size: usize,
    batch: u64,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    let mut app = Appender::new(ep.clone(), addrs.to_vec(), 100, 1, mode, (0, 0));
    // Each run appends after what earlier runs left: continue their log.
    let payload = Bytes::from(vec![b'x'; size]);
    let mut lat = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        let from = app.last_lsn() + 1;
        let recs: Vec<Record> = (from..from + batch)
            .map(|lsn| Record { lsn, epoch: 1, kind: RecordKind::Effects, payload: payload.clone() })
            .collect();
        let t = Instant::now();
        app.append(recs).await.map_err(|e| anyhow::anyhow!("append failed: {e}"))?;
        lat.record(t.elapsed().as_micros().max(1) as u64)?;
        app.release_below(app.commit_lsn());
        records += batch;
        bytes += batch * size as u64;
    }
    Ok(Outcome { records, bytes, secs: start.elapsed().as_secs_f64(), lat })
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let bin = match a.storage_bin {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name("sixfold-storage"),
    };
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&a.dir)?;
    let names: Vec<String> = (1..=6).map(|i| format!("storage-{i}")).chain(["writer".to_string()]).collect();
    sixfold_net::certs::generate(&a.dir.join("certs"), &names)?;
    eprintln!("measuring the raw fsync rate...");
    let fsyncs = raw_fsync_rate(&a.dir, a.seconds.min(3))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rows = Vec::new();
    for (mode, mode_name) in [(CommitMode::Memory, "memory"), (CommitMode::Disk, "disk")] {
        for (size, batch) in [(100usize, 256u64), (4096, 32)] {
            // A fresh cluster per configuration, so every run starts at LSN 1.
            let dir = a.dir.join(format!("{mode_name}-{size}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(a.dir.join("certs"), dir.join("certs"))?;
            let (nodes, addrs) = start_nodes(&bin, &dir)?;
            eprintln!("running commit={mode_name}, {size}-byte records, {batch} per batch, {} s...", a.seconds);
            let o = rt.block_on(async {
                let ep = client_endpoint(&TlsFiles::in_dir(&dir.join("certs"), "writer"))?;
                for addr in &addrs {
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while connect(&ep, *addr).await.is_err() {
                        anyhow::ensure!(Instant::now() < deadline, "node {addr} did not start");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                run(&ep, &addrs, mode, size, batch, a.seconds).await
            })?;
            drop(nodes);
            std::fs::rename(dir.join("certs"), a.dir.join("certs"))?;
            rows.push(format!(
                "| {mode_name} | {size} B | {batch} | {:.0} | {:.1} | {:.2} | {:.2} |",
                o.records as f64 / o.secs,
                o.bytes as f64 / o.secs / 1e6,
                o.lat.value_at_quantile(0.5) as f64 / 1000.0,
                o.lat.value_at_quantile(0.99) as f64 / 1000.0,
            ));
        }
    }
    println!("Raw fsync rate (4 KiB write + fdatasync, same disk): {fsyncs:.0} /s\n");
    println!("| commit | record | records/batch | records/s | MB/s | batch ack p50 (ms) | batch ack p99 (ms) |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    let _ = std::fs::remove_dir_all(&a.dir);
    Ok(())
}
