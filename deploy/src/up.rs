//! `sixfold up`: a complete local cluster as child processes. Creates a
//! development CA and certificates on first use, starts six storage nodes
//! and the equal data nodes, waits until their election has a writer,
//! prints the endpoints, starts the snapshotter (`sixfold snapshot run`),
//! streams every child's log lines with its name as
//! prefix, restarts nothing, and on Ctrl-C or SIGTERM (also when the whole
//! process group gets it) stops the data nodes, then the storage nodes; it
//! also stops once every child has exited. The data stays in the
//! directory: running `sixfold up` on it again brings every acknowledged
//! write back.

use crate::layout::{ENDPOINTS_FILE, Kind, Layout, Member};
use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sixfold_resp::probe;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// How long a data node may take to answer PING after it starts, and the
/// election to find a writer (it first recovers the whole log).
const READY_TIMEOUT_MS: u64 = 120_000;
/// How long children get to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT_MS: u64 = 10_000;

/// A running child: its pid and name.
struct Running {
    name: String,
    kind: Kind,
    pid: u32,
}

/// Starts the cluster described by `layout` with the binaries in `bin_dir`,
/// and runs until a signal stops it.
/// The snapshotter runs when `snapshot_every_records` is above 0.
pub async fn up(layout: &Layout, bin_dir: &Path, snapshot_every_records: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(&layout.dir).with_context(|| format!("creating {}", layout.dir.display()))?;
    let certs = layout.dir.join("certs");
    // The first `sixfold up` in a directory creates the cluster.
    let new_cluster = !certs.join("ca.pem").exists();
    if new_cluster {
        sixfold_net::certs::generate(&certs, &Layout::cert_names())
            .with_context(|| format!("creating certificates in {}", certs.display()))?;
        println!("created a development CA and certificates in {}", certs.display());
    }
    anyhow::ensure!(
        certs.join("data.pem").exists(),
        "{} has no certificate for the data nodes (data.pem): it was made by an older `sixfold up`; use a new --dir",
        certs.display()
    );
    // Registered before any child starts, so a SIGTERM to the whole
    // process group is never missed.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let (exits_tx, mut exits) = mpsc::channel::<(String, String)>(64);
    let mut running = Vec::new();
    let mut members = layout.members();
    for m in members.iter_mut().filter(|m| new_cluster && m.kind == Kind::Storage) {
        m.args.push("--new-cluster".into());
    }
    for m in &members {
        running.push(spawn(m, bin_dir, exits_tx.clone())?);
    }
    let data: Vec<&Member> = members.iter().filter(|m| m.kind == Kind::Data).collect();
    for m in &data {
        println!("waiting for {} on {} ...", m.name, m.listen);
        wait_ready(&m.listen, &mut exits).await?;
    }
    println!("waiting for the data nodes to elect their writer ...");
    let writer = wait_writer(&data, &mut exits).await?;
    let endpoints: String = data.iter().map(|m| format!("{} {}\n", m.name, m.listen)).collect();
    std::fs::write(layout.dir.join(ENDPOINTS_FILE), endpoints)?;
    print_table(&members, writer);
    if snapshot_every_records > 0 {
        let snapshotter = snapshotter(layout, snapshot_every_records);
        running.push(spawn(&snapshotter, bin_dir, exits_tx.clone())?);
        println!("{}", snapshotter.listen);
    }
    drop(exits_tx);
    let mut exited = Vec::new();
    let stopping = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break true,
            _ = term.recv() => break true,
            exit = exits.recv() => match exit {
                Some((name, status)) => {
                    println!("{name} exited ({status}); sixfold up does not restart it");
                    exited.push(name);
                    if exited.len() == running.len() {
                        println!("every process of the cluster has exited");
                        break false;
                    }
                }
                None => break false,
            },
        }
    };
    if stopping {
        println!("stopping the cluster ...");
        stop(&running, &exited, &mut exits).await;
    }
    Ok(())
}

fn print_table(members: &[Member], writer: &Member) {
    println!();
    println!("{:<11} {:<8} {:<5} {:<17} {:<17}", "NODE", "ROLE", "ZONE", "ADDRESS", "METRICS");
    for m in members {
        let role = match m.kind {
            Kind::Storage => "storage",
            Kind::Data if m.name == writer.name => "writer",
            Kind::Data => "replica",
            Kind::Snapshotter => "snapshotter",
        };
        println!("{:<11} {:<8} {:<5} {:<17} http://{}/metrics", m.name, role, m.zone, m.listen, m.metrics);
    }
    println!();
    let port = writer.listen.rsplit(':').next().unwrap_or("");
    println!("the cluster is up: redis-cli -c -p {port} (the writer now; -c follows it after a failover)");
    println!(
        "`sixfold status` shows who holds the lease; Ctrl-C stops the cluster; the data stays for the next `sixfold up`"
    );
}

/// Waits until one data node serves as the writer (only a writer whose
/// lease holds answers a read of a key on a plain connection: replicas
/// redirect it, a writer still waiting out an old lease asks to retry) and
/// every other one replicates it (so the writer named is not one a second
/// candidate is about to depose); returns it.
async fn wait_writer<'a>(
    data: &[&'a Member],
    exits: &mut mpsc::Receiver<(String, String)>,
) -> anyhow::Result<&'a Member> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
    loop {
        for m in data {
            if probing(&m.listen, probe::serves_as_writer).await && followed(m, data).await {
                return Ok(m);
            }
        }
        if let Ok((name, status)) = exits.try_recv() {
            anyhow::bail!("{name} exited ({status}) while the cluster was starting; see its log above");
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no writer elected within {READY_TIMEOUT_MS} ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether every data node but `writer` replicates it.
async fn followed(writer: &Member, data: &[&Member]) -> bool {
    let port: u16 = writer.listen.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
    for m in data.iter().filter(|m| m.name != writer.name) {
        let addr = m.listen.clone();
        if !tokio::task::spawn_blocking(move || probe::follows(&addr, port)).await.unwrap_or(false) {
            return false;
        }
    }
    true
}

fn spawn(m: &Member, bin_dir: &Path, exits: mpsc::Sender<(String, String)>) -> anyhow::Result<Running> {
    let bin = binary(bin_dir, m.kind)?;
    let mut child = Command::new(&bin)
        .args(&m.args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} ({})", m.name, bin.display()))?;
    let pid = child.id().context("the child has no pid")?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(prefix_lines(m.name.clone(), out));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(prefix_lines(m.name.clone(), err));
    }
    let name = m.name.clone();
    tokio::spawn(async move {
        let status = match child.wait().await {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        let _ = exits.send((name, status)).await;
    });
    Ok(Running { name: m.name.clone(), kind: m.kind, pid })
}

fn binary(bin_dir: &Path, kind: Kind) -> anyhow::Result<PathBuf> {
    let name = match kind {
        Kind::Storage => "sixfold-storage",
        Kind::Data => "sixfold-server",
        Kind::Snapshotter => "sixfold",
    };
    let path = bin_dir.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} not found; build the workspace first (cargo build --release) or pass --bin-dir",
        path.display()
    );
    Ok(path)
}

async fn prefix_lines(name: String, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{name:>10} | {line}");
    }
}

/// The snapshotter of the cluster in `layout` (`listen` says what it does).
fn snapshotter(layout: &Layout, every_records: u64) -> Member {
    let store = layout.snapshot_store();
    let mut args: Vec<String> = vec!["snapshot".into(), "run".into(), "--dir".into()];
    args.push(layout.dir.display().to_string());
    args.extend(["--storage-port".into(), layout.storage_port.to_string()]);
    args.extend(["--every-records".into(), every_records.to_string()]);
    args.extend(["--store".into(), store.clone()]);
    Member {
        name: "snapshotter".into(),
        kind: Kind::Snapshotter,
        zone: "-".into(),
        listen: format!(
            "snapshotter: a snapshot into {store} each time the log is {every_records} records past the newest"
        ),
        metrics: "-".into(),
        args,
    }
}

/// Waits until `addr` answers PING, or a child exits first.
async fn wait_ready(addr: &str, exits: &mut mpsc::Receiver<(String, String)>) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
    loop {
        if ping(addr).await {
            return Ok(());
        }
        if let Ok((name, status)) = exits.try_recv() {
            anyhow::bail!("{name} exited ({status}) while the cluster was starting; see its log above");
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{addr} did not answer within {READY_TIMEOUT_MS} ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ping(addr: &str) -> bool {
    probing(addr, probe::answers_ping).await
}

/// Runs a blocking probe of `addr` off the async threads.
async fn probing(addr: &str, probe: fn(&str) -> bool) -> bool {
    let addr = addr.to_string();
    tokio::task::spawn_blocking(move || probe(&addr)).await.unwrap_or(false)
}

/// SIGTERM to the data nodes, then to the storage nodes (those not in
/// `exited`); SIGKILL to any that has not exited after [`STOP_TIMEOUT_MS`].
async fn stop(running: &[Running], exited: &[String], exits: &mut mpsc::Receiver<(String, String)>) {
    let mut alive: HashMap<&str, u32> =
        running.iter().filter(|r| !exited.contains(&r.name)).map(|r| (r.name.as_str(), r.pid)).collect();
    for storage in [false, true] {
        let group: Vec<&Running> = running.iter().filter(|r| (r.kind == Kind::Storage) == storage).collect();
        for r in group.iter().filter(|r| alive.contains_key(r.name.as_str())) {
            let _ = kill(Pid::from_raw(r.pid as i32), Signal::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(STOP_TIMEOUT_MS);
        while group.iter().any(|r| alive.contains_key(r.name.as_str())) {
            match tokio::time::timeout_at(deadline, exits.recv()).await {
                Ok(Some((name, _))) => {
                    alive.remove(name.as_str());
                }
                _ => break,
            }
        }
        for r in group.iter().filter(|r| alive.contains_key(r.name.as_str())) {
            println!("{} did not stop in time: SIGKILL", r.name);
            let _ = kill(Pid::from_raw(r.pid as i32), Signal::SIGKILL);
        }
    }
    println!("stopped");
}
