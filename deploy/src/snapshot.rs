//! `sixfold snapshot now | run | list | verify`: off-box snapshots of a
//! cluster started by `sixfold up` ([`sixfold_snapshot`]), into an object
//! store (a local directory by default, `s3://bucket/prefix?endpoint=...`
//! for S3), with progress on standard error. A verified snapshot is marked
//! in the log: the writer logs its `SnapshotMarker` (`REPLCONF
//! SNAPSHOT-MARKER`), and every data node reports it in INFO persistence.

use crate::layout::{Layout, STORAGE_NODES, read_endpoints, serving_writer};
use anyhow::Context;
use sixfold_net::tls::{TlsFiles, client_endpoint};
use sixfold_objstore::ObjectStore;
use sixfold_snapshot::{LogSource, Made, SnapError};
use sixfold_wire::SnapshotMarker;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fabric id the snapshotter reads under.
const SNAPSHOTTER_NODE_ID: u32 = 3000;
/// A storage node that does not answer within this is left for the next.
const READ_TIMEOUT_MS: u64 = 5_000;

/// The store named by `url`, or `<dir>/snapshots` when none is given.
pub async fn store(layout: &Layout, url: Option<&str>) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let default = layout.snapshot_store();
    let url = url.unwrap_or(&default);
    sixfold_objstore::open(url).await.with_context(|| format!("opening the object store {url}"))
}

fn log_source(layout: &Layout) -> anyhow::Result<LogSource> {
    let certs = layout.certs_dir();
    anyhow::ensure!(
        certs.join("snapshotter.pem").exists(),
        "{} has no snapshotter certificate (snapshotter.pem): it was made by an older `sixfold up`; create one with `sixfold-storage gen-certs`",
        certs.display()
    );
    let endpoint = client_endpoint(&TlsFiles::in_dir(&certs, "snapshotter")).context("starting the QUIC client")?;
    let storage = (0..STORAGE_NODES).map(|i| layout.storage_addr(i).parse()).collect::<Result<Vec<_>, _>>()?;
    Ok(LogSource { endpoint, storage, node_id: SNAPSHOTTER_NODE_ID, timeout: Duration::from_millis(READ_TIMEOUT_MS) })
}

/// Progress on standard error, at most every half second.
fn progress() -> impl FnMut(&str, u64) {
    let mut last = Instant::now();
    move |what: &str, n: u64| {
        if last.elapsed() > Duration::from_millis(500) {
            last = Instant::now();
            let unit = if what == "log" || what == "restored" { "LSN" } else { "bytes" };
            eprintln!("  {what}: {n} {unit}");
        }
    }
}

/// Makes a snapshot now and has the writer mark it in the log; returns
/// what to print.
/// `writer`: the writer's RESP address (default: found among the data
/// nodes `sixfold up` recorded).
pub async fn now(layout: &Layout, url: Option<&str>, writer: Option<&str>) -> anyhow::Result<String> {
    let store = store(layout, url).await?;
    let src = log_source(layout)?;
    eprintln!("restoring the newest snapshot in {} and reading the log past it...", store.describe());
    let started = Instant::now();
    let made = sixfold_snapshot::make(store.as_ref(), &src, progress()).await?;
    for s in made.iter().flat_map(|m| &m.skipped) {
        eprintln!("skipped: {s}");
    }
    let Some(m) = made else {
        return Ok("nothing to do: the newest snapshot holds the whole committed log".to_string());
    };
    let took = started.elapsed();
    let said = format!(
        "{}: LSN {} (epoch {}), {} keys, {} bytes, written and verified in {:.1} s",
        m.name,
        m.header.lsn,
        m.header.epoch,
        m.keys,
        m.bytes,
        took.as_secs_f64()
    );
    let marker = marker_of(&m, took);
    let (dir, writer) = (layout.dir.clone(), writer.map(str::to_string));
    let by = tokio::task::spawn_blocking(move || mark(&dir, writer.as_deref(), &marker))
        .await?
        .with_context(|| format!("{said}; but not marked in the log"))?;
    Ok(format!("{said}; marked in the log by the writer {by}"))
}

/// The marker of snapshot `m`, made in `took`.
fn marker_of(m: &Made, took: Duration) -> SnapshotMarker {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    SnapshotMarker {
        lsn: m.header.lsn,
        epoch: m.header.epoch,
        log_checksum: m.header.log_checksum,
        bytes: m.bytes,
        keys: m.keys,
        made_unix_ms: now.as_millis() as u64,
        duration_ms: took.as_millis() as u64,
        name: m.name.clone(),
    }
}

/// A connection to the writer: the data node at `writer` if given, else
/// the one of those `sixfold up` recorded in `dir` that serves as writer
/// now; and its address.
fn writer_conn(dir: &std::path::Path, writer: Option<&str>) -> anyhow::Result<(String, redis::Connection)> {
    let addr = match writer {
        Some(a) => a.to_string(),
        None => serving_writer(&read_endpoints(dir)?)?.1.clone(),
    };
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let c =
        client.get_connection_with_timeout(Duration::from_secs(2)).with_context(|| format!("connecting to {addr}"))?;
    Ok((addr, c))
}

/// Asks the writer to log `marker` (its reply waits for the commit);
/// returns the writer's address.
fn mark(dir: &std::path::Path, writer: Option<&str>, marker: &SnapshotMarker) -> anyhow::Result<String> {
    let (addr, mut c) = writer_conn(dir, writer)?;
    redis::cmd("REPLCONF")
        .arg("SNAPSHOT-MARKER")
        .arg(&marker.encode()[..])
        .query::<()>(&mut c)
        .with_context(|| format!("REPLCONF SNAPSHOT-MARKER on {addr}"))?;
    Ok(addr)
}

/// How far the log is past the newest marked snapshot: the writer's
/// `INFO persistence` (commit LSN minus the marked LSN).
fn unmarked_records(dir: &std::path::Path, writer: Option<&str>) -> anyhow::Result<u64> {
    let (_, mut c) = writer_conn(dir, writer)?;
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c)?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':'));
        Ok(line.with_context(|| format!("{name} in INFO persistence"))?.trim().parse()?)
    };
    Ok(field("log_commit_lsn")?.saturating_sub(field("snapshot_last_lsn")?))
}

/// The snapshotter as `sixfold up` runs it: every `check_ms`, when the log
/// is `every_records` or more past the newest marked snapshot, makes and
/// marks a new one. Runs until killed; a failed round is reported and
/// tried again at the next check.
pub async fn run(
    layout: &Layout,
    (url, writer): (Option<&str>, Option<&str>),
    every_records: u64,
    check_ms: u64,
) -> anyhow::Result<()> {
    eprintln!("snapshotter: a snapshot each time the log is {every_records} records past the newest one");
    loop {
        tokio::time::sleep(Duration::from_millis(check_ms)).await;
        let (dir, w) = (layout.dir.clone(), writer.map(str::to_string));
        match tokio::task::spawn_blocking(move || unmarked_records(&dir, w.as_deref())).await? {
            Ok(n) if n >= every_records => match now(layout, url, writer).await {
                Ok(line) => eprintln!("snapshotter: {line}"),
                Err(e) => eprintln!("snapshotter: this round failed: {e:#}"),
            },
            Ok(_) => {}
            Err(e) => eprintln!("snapshotter: cannot ask the writer ({e:#}); trying again"),
        }
    }
}

/// One line per snapshot: name, size, LSN, epoch, engine (headers only).
pub async fn list(layout: &Layout, url: Option<&str>) -> anyhow::Result<Vec<String>> {
    let store = store(layout, url).await?;
    let mut out = vec![format!("snapshots in {}:", store.describe())];
    for o in sixfold_snapshot::list(store.as_ref()).await? {
        out.push(match sixfold_snapshot::header(store.as_ref(), &o.name).await {
            Ok(h) => format!("{} {} bytes LSN {} epoch {} ({})", o.name, o.size, h.lsn, h.epoch, h.engine_version),
            Err(e) => format!("{} {} bytes: {e}", o.name, o.size),
        });
    }
    Ok(out)
}

/// Restores `name` (default: every snapshot) in memory and checks it;
/// fails if any does not verify.
pub async fn verify(layout: &Layout, url: Option<&str>, name: Option<&str>) -> anyhow::Result<Vec<String>> {
    let store = store(layout, url).await?;
    let names = match name {
        Some(n) => vec![n.to_string()],
        None => sixfold_snapshot::list(store.as_ref()).await?.into_iter().map(|o| o.name).collect(),
    };
    let (mut out, mut bad) = (Vec::new(), 0);
    for n in &names {
        eprintln!("verifying {n}...");
        let mut p = progress();
        match sixfold_snapshot::restore(store.as_ref(), n, |b| p("read", b)).await {
            Ok(r) => {
                let keys: usize = r.engine.keyspace().dbs.iter().map(|d| d.len()).sum();
                out.push(format!("{n}: verified, LSN {}, {keys} keys", r.header.lsn));
            }
            Err(e @ SnapError::Format { .. }) => {
                bad += 1;
                out.push(format!("{e}"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::ensure!(bad == 0, "{}\n{bad} of {} snapshots do not verify", out.join("\n"), names.len());
    Ok(out)
}
