//! The writer's side of the storage fabric: start-up (fence older writers
//! with a new epoch, adopt the most up-to-date log among four promising
//! nodes, rebuild the engine from it, commit a `LeaderChange`), and the task
//! that ships queued records and publishes the commit LSN.

use crate::core::Shared;
use crate::durable::{LogStats, Progress};
use crate::metrics as m;
use anyhow::{Context, bail};
use bytes::Bytes;
use sixfold_engine::{Engine, decode_group};
use sixfold_fabric::{AppendError, Appender, COMMIT_QUORUM, CommitMode};
use sixfold_net::framed;
use sixfold_net::tls::{TlsFiles, client_endpoint, connect};
use sixfold_wire::{Epoch, ErrorCode, Lsn, Message, Record, RecordKind, Role, decode_run};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// This data node's id on the fabric.
const WRITER_NODE_ID: u32 = 1000;
/// Pause between retries while fewer than four nodes answer.
const RETRY_MS: u64 = 1_000;
/// Record bytes asked for per Read during recovery.
const READ_BYTES: u32 = 4 * 1024 * 1024;

/// Where the storage nodes are and how to reach them.
#[derive(Debug, Clone)]
pub struct FabricSettings {
    /// The six storage nodes.
    pub storage: Vec<SocketAddr>,
    /// Directory with ca.pem and this node's certificate.
    pub certs: PathBuf,
    /// Name of this node's certificate files.
    pub cert_name: String,
    /// What an acknowledgement must cover.
    pub mode: CommitMode,
}

/// A stream to one storage node.
async fn open(ep: &quinn::Endpoint, addr: SocketAddr) -> anyhow::Result<(quinn::SendStream, quinn::RecvStream)> {
    let conn = tokio::time::timeout(Duration::from_secs(2), connect(ep, addr)).await.context("connect timed out")??;
    let (mut tx, rx) = conn.open_bi().await?;
    framed::send(&mut tx, &Message::Hello { node: WRITER_NODE_ID, role: Role::Peer }).await?;
    Ok((tx, rx))
}

/// Asks every node to promise `epoch`: the promisers' `(last_epoch,
/// last_lsn, node)`, or the highest epoch a refusal named.
async fn prepare(ep: &quinn::Endpoint, s: &FabricSettings, epoch: Epoch) -> (Vec<(Epoch, Lsn, usize)>, Epoch) {
    let (mut promises, mut seen) = (Vec::new(), 0);
    for (i, addr) in s.storage.iter().enumerate() {
        let Ok((mut tx, mut rx)) = open(ep, *addr).await else { continue };
        if framed::send(&mut tx, &Message::Prepare { epoch }).await.is_err() {
            continue;
        }
        match framed::recv(&mut rx).await {
            Ok(Message::Promise { last_epoch, last_lsn, .. }) => promises.push((last_epoch, last_lsn, i)),
            Ok(Message::Error { code: ErrorCode::Fenced, current_epoch, .. }) => seen = seen.max(current_epoch),
            _ => {}
        }
    }
    (promises, seen)
}

/// Reads node `addr`'s whole log and applies its effect groups to `engine`.
/// Returns the last LSN and its epoch.
async fn replay(ep: &quinn::Endpoint, addr: SocketAddr, engine: &mut Engine) -> anyhow::Result<(Lsn, Epoch)> {
    let (mut tx, mut rx) = open(ep, addr).await?;
    let mut last = (0, 0);
    loop {
        framed::send(&mut tx, &Message::Read { from_lsn: last.0 + 1, max_bytes: READ_BYTES }).await?;
        let Message::Records { records, .. } = framed::recv(&mut rx).await? else {
            bail!("{addr} did not send records")
        };
        let recs = decode_run(&records)?;
        if recs.is_empty() {
            return Ok(last);
        }
        for r in recs {
            if r.kind == RecordKind::Effects {
                let group = decode_group(&r.payload).with_context(|| format!("record {}", r.lsn))?;
                engine.apply(&group).map_err(|e| anyhow::anyhow!("record {} does not apply: {e}", r.lsn))?;
            }
            last = (r.lsn, r.epoch);
        }
    }
}

/// Start-up: fences older writers, rebuilds `engine` from the most
/// up-to-date log among four promising nodes, and commits a `LeaderChange`
/// after it. Returns the appender, ready for the next LSN.
pub async fn recover(s: &FabricSettings, engine: &mut Engine) -> anyhow::Result<Appender> {
    let ep = client_endpoint(&TlsFiles::in_dir(&s.certs, &s.cert_name))?;
    let mut epoch = 1;
    let promises = loop {
        let (promises, seen) = prepare(&ep, s, epoch).await;
        if promises.len() >= COMMIT_QUORUM {
            break promises;
        }
        if seen >= epoch {
            epoch = seen + 1;
            continue;
        }
        tracing::warn!(answered = promises.len(), "fewer than four storage nodes promised; retrying");
        tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
    };
    let Some(&(_, _, best)) = promises.iter().max() else { bail!("no promises") };
    let (last_lsn, last_epoch) = replay(&ep, s.storage[best], engine).await?;
    tracing::info!(epoch, last_lsn, from = %s.storage[best], "rebuilt the engine from the log");
    let mut app = Appender::new(ep, s.storage.clone(), WRITER_NODE_ID, epoch, s.mode, (last_lsn, last_epoch));
    let change = Record {
        lsn: last_lsn + 1,
        epoch,
        kind: RecordKind::LeaderChange,
        payload: Bytes::from(format!("writer {WRITER_NODE_ID} epoch {epoch}")),
    };
    append_until_committed(&mut app, vec![change]).await?;
    Ok(app)
}

/// Appends `records` and waits until they commit; fails only if fenced.
async fn append_until_committed(app: &mut Appender, records: Vec<Record>) -> anyhow::Result<Lsn> {
    let mut next = records;
    loop {
        match app.append(std::mem::take(&mut next)).await {
            Ok(commit) => return Ok(commit),
            Err(AppendError::Fenced(e)) => bail!("fenced by epoch {e}: another writer took over"),
            Err(AppendError::NoQuorum { acked }) => {
                tracing::warn!(acked, "writes wait: fewer than four storage nodes acknowledged");
            }
        }
    }
}

fn publish(app: &Appender, stats: &LogStats) {
    use std::sync::atomic::Ordering::Relaxed;
    stats.commit_lsn.store(app.commit_lsn(), Relaxed);
    stats.flushed_lsn.store(app.fabric_flushed_lsn(), Relaxed);
    stats.inflight_bytes.store(app.held_bytes() as u64, Relaxed);
    metrics::gauge!(m::INFLIGHT_BYTES).set(app.held_bytes() as f64);
    for (i, slot) in stats.node_scl.iter().enumerate() {
        let scl = app.node_ack(i).map_or(0, |(scl, _)| scl);
        slot.store(scl, Relaxed);
        metrics::gauge!(m::NODE_ACKED_LSN, "node" => (i + 1).to_string()).set(scl as f64);
    }
    metrics::gauge!(m::COMMIT_LSN).set(app.commit_lsn() as f64);
    let last = stats.last_lsn.load(Relaxed);
    metrics::gauge!(m::INFLIGHT_RECORDS).set(last.saturating_sub(app.commit_lsn()) as f64);
}

/// Records pushed and not yet committed: (last LSN, when), for the commit
/// latency histogram. Bounded by the appender's held-bytes limit.
type Pending = std::collections::VecDeque<(Lsn, std::time::Instant)>;

/// Ships queued records to the fabric (several batches in flight per node)
/// and publishes the commit LSN. Stops the process if this writer is fenced.
pub async fn ship(
    core: Shared,
    mut app: Appender,
    progress: watch::Sender<Progress>,
    wake: std::sync::Arc<tokio::sync::Notify>,
    stats: std::sync::Arc<LogStats>,
) {
    publish(&app, &stats);
    let mut pending = Pending::new();
    loop {
        tokio::select! {
            _ = wake.notified(), if app.accepts() => {
                let records = core.lock().take_queue();
                if let Some(last) = records.last() {
                    metrics::histogram!(m::BATCH_RECORDS).record(records.len() as f64);
                    let bytes: usize = records.iter().map(Record::encoded_len).sum();
                    metrics::histogram!(m::BATCH_BYTES).record(bytes as f64);
                    pending.push_back((last.lsn, std::time::Instant::now()));
                    app.push(records);
                }
            }
            stepped = app.step() => {
                if let Err(e) = stepped {
                    tracing::error!(error = %e, "stopping: this writer must not serve any more");
                    std::process::exit(3);
                }
            }
        }
        let lsn = app.commit_lsn();
        let last = *progress.borrow();
        if app.fabric_flushed_lsn() > last.flushed && lsn == last.commit {
            progress.send_replace(Progress { commit: lsn, flushed: app.fabric_flushed_lsn() });
            publish(&app, &stats);
        }
        if lsn > last.commit {
            while pending.front().is_some_and(|(last, _)| *last <= lsn) {
                if let Some((_, at)) = pending.pop_front() {
                    metrics::histogram!(m::COMMIT_SECONDS).record(at.elapsed().as_secs_f64());
                }
            }
            metrics::counter!(m::COMMITTED_RECORDS).increment(lsn - last.commit);
            progress.send_replace(Progress { commit: lsn, flushed: app.fabric_flushed_lsn() });
            publish(&app, &stats);
            core.lock().on_commit(lsn);
        }
    }
}
