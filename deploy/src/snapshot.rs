//! `sixfold snapshot now | list | verify`: off-box snapshots of a cluster
//! started by `sixfold up` ([`sixfold_snapshot`]), into an object store (a
//! local directory by default, `s3://bucket/prefix?endpoint=...` for S3),
//! with progress on standard error.

use crate::layout::{Layout, STORAGE_NODES};
use anyhow::Context;
use sixfold_net::tls::{TlsFiles, client_endpoint};
use sixfold_objstore::ObjectStore;
use sixfold_snapshot::{LogSource, SnapError};
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

/// Makes a snapshot now; returns what to print.
pub async fn now(layout: &Layout, url: Option<&str>) -> anyhow::Result<String> {
    let store = store(layout, url).await?;
    let src = log_source(layout)?;
    eprintln!("restoring the newest snapshot in {} and reading the log past it...", store.describe());
    let started = Instant::now();
    let made = sixfold_snapshot::make(store.as_ref(), &src, progress()).await?;
    for s in made.iter().flat_map(|m| &m.skipped) {
        eprintln!("skipped: {s}");
    }
    Ok(match made {
        None => "nothing to do: the newest snapshot holds the whole committed log".to_string(),
        Some(m) => format!(
            "{}: LSN {} (epoch {}), {} keys, {} bytes, written and verified in {:.1} s",
            m.name,
            m.header.lsn,
            m.header.epoch,
            m.keys,
            m.bytes,
            started.elapsed().as_secs_f64()
        ),
    })
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
