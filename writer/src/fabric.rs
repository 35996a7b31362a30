//! The writer's side of the storage fabric: start-up (fence older writers
//! with a new epoch, adopt the most up-to-date log of a recovery quorum as
//! the pure `Recovery` state machine decides, rebuild the engine from it,
//! commit a `LeaderChange`), and the task
//! that ships queued records and publishes the commit LSN.

use crate::durable::{Log, LogStats};
use crate::metrics as m;
use anyhow::{Context, bail};
use bytes::Bytes;
use parking_lot::Mutex;
use sixfold_engine::cmd::cluster::Shard;
use sixfold_fabric::{
    Adopted, AppendError, Appender, CommitMode, LogReader, Promised, ReadError, Recovery, Rules, Step, leased_at_most,
    reader::open_stream,
};
use sixfold_net::framed;
use sixfold_net::tls::{TlsFiles, client_endpoint};
use sixfold_node::commits::Commits;
use sixfold_node::core::{Durable, SharedJournal};
use sixfold_node::{Progress, Shared};
use sixfold_wire::{Epoch, ErrorCode, Lsn, Message, Record, RecordKind, Role};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

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

/// How long one node may take to answer a Prepare.
const PREPARE_TIMEOUT_MS: u64 = 2_000;
/// How long one Read of the adopted log may take before recovery moves on
/// to the next promiser.
const READ_TIMEOUT_MS: u64 = 10_000;

/// Asks every node at once to promise `rec`'s epoch (a node that does not
/// answer costs [`PREPARE_TIMEOUT_MS`] once, not once per node after it)
/// and tells `rec` the answers, in node order; returns the promises.
async fn prepare(ep: &quinn::Endpoint, s: &FabricSettings, node_id: u32, rec: &mut Recovery) -> Vec<Promised> {
    let epoch = rec.epoch();
    let timeout = Duration::from_millis(PREPARE_TIMEOUT_MS);
    let asks = s.storage.iter().map(|addr| async move {
        let ask = async {
            let (mut tx, mut rx) = open_stream(ep, *addr, (node_id, Role::Peer), timeout).await?;
            framed::send(&mut tx, &Message::Prepare { epoch }).await?;
            anyhow::Ok(framed::recv(&mut rx).await?)
        };
        tokio::time::timeout(timeout, ask).await
    });
    let mut promises = Vec::new();
    for (i, answer) in futures::future::join_all(asks).await.into_iter().enumerate() {
        match answer {
            Ok(Ok(Message::Promise { last_epoch, last_lsn, commit_lsn, memory, .. })) => {
                let p = Promised { last_epoch, last_lsn, commit_lsn, memory };
                promises.push(p);
                rec.on_promise(i, p);
            }
            Ok(Ok(Message::Error { code: ErrorCode::Fenced, current_epoch, .. })) => rec.on_refused(i, current_epoch),
            Ok(Ok(other)) => tracing::warn!(node = i, ?other, "unexpected answer to Prepare"),
            Ok(Err(e)) => tracing::debug!(node = i, error = %e, "no promise"),
            Err(_) => tracing::warn!(node = i, "Prepare timed out"),
        }
    }
    promises
}

/// Reads node `addr`'s log from `from` up to `upto` (each Read bounded in time).
async fn read_log(
    ep: &quinn::Endpoint,
    addr: SocketAddr,
    node_id: u32,
    (from, upto): (Lsn, Lsn),
) -> Result<Vec<Record>, ReadError> {
    let timeout = Duration::from_millis(READ_TIMEOUT_MS);
    let mut reader = LogReader::open(ep, addr, (node_id, Role::Peer), timeout).await?;
    let mut out: Vec<Record> = Vec::new();
    while from + (out.len() as Lsn) <= upto {
        let got = reader.read(from + out.len() as Lsn, READ_BYTES).await?;
        if got.records.is_empty() {
            break;
        }
        out.extend(got.records.into_iter().take_while(|r| r.lsn <= upto));
    }
    Ok(out)
}

/// The adopted log, read as [`read_log`] from `from`, when the node may
/// have truncated it below a snapshot (R14): then it is read from the
/// node's base on, and the base `(LSN, epoch)` is returned too — every
/// record up to it is committed. A node whose base is past what this
/// engine `applied` cannot be read by it: it must restore a snapshot.
async fn read_adopted(
    ep: &quinn::Endpoint,
    addr: SocketAddr,
    node_id: u32,
    (from, upto, applied): (Lsn, Lsn, Lsn),
) -> anyhow::Result<(Vec<Record>, Option<(Lsn, Epoch)>)> {
    match read_log(ep, addr, node_id, (from, upto)).await {
        Ok(recs) => Ok((recs, None)),
        Err(ReadError::Truncated { base_lsn, base_epoch }) if base_lsn <= applied => {
            let recs = read_log(ep, addr, node_id, (base_lsn + 1, upto)).await?;
            Ok((recs, Some((base_lsn, base_epoch))))
        }
        Err(ReadError::Truncated { base_lsn, .. }) => Err(BehindSnapshot { base: base_lsn, applied }.into()),
        Err(e) => Err(e.into()),
    }
}

/// A recovery cannot read the log from where this engine stands: the
/// storage nodes dropped the records between, below a snapshot.
#[derive(Debug, thiserror::Error)]
#[error(
    "the log was truncated below LSN {base} (a snapshot covers it) and this node applied only up to {applied}: restore the newest snapshot first"
)]
pub struct BehindSnapshot {
    /// Where the node's log starts after.
    pub base: Lsn,
    /// What this engine applied.
    pub applied: Lsn,
}

/// Runs recoveries (the pure [`Recovery`] state machine) until one adopts
/// a log: the adopted decision and the records read, up to its last LSN,
/// from the first one the caller lacks ([`first_to_read`]). Gives up after
/// `tries` rounds without a recovery quorum.
async fn adopt(
    ep: &quinn::Endpoint,
    s: &FabricSettings,
    node_id: u32,
    (applied, mut tries): (Lsn, u32),
) -> anyhow::Result<(Epoch, Adopted, (Vec<Record>, Option<(Lsn, Epoch)>), Option<Lsn>)> {
    let mut epoch: Epoch = 1;
    'epochs: loop {
        let mut rec = Recovery::new(epoch, s.mode, Rules::Safe);
        let promises = prepare(ep, s, node_id, &mut rec).await;
        let mut read = (Vec::new(), None);
        loop {
            match rec.step() {
                Step::Retry(e) => {
                    epoch = e;
                    continue 'epochs;
                }
                Step::Wait => {
                    tries = tries.saturating_sub(1);
                    anyhow::ensure!(tries > 0, "no recovery quorum (epoch {epoch})");
                    tracing::warn!(
                        epoch,
                        "no recovery quorum yet (four promises, three of them from nodes that lost no memory); retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                    epoch = epoch.checked_add(1).context("epochs exhausted")?;
                    continue 'epochs;
                }
                Step::Read { node, upto_lsn, .. } => {
                    let from = first_to_read(applied, rec.highest_promised_commit(), upto_lsn);
                    match read_adopted(ep, s.storage[node], node_id, (from, upto_lsn, applied)).await {
                        Ok((recs, base)) => {
                            let (lsn, e) = recs.last().map(|r| (r.lsn, r.epoch)).or(base).unwrap_or((0, 0));
                            rec.on_read(node, lsn, e);
                            read = (recs, base);
                        }
                        Err(e) if e.is::<BehindSnapshot>() => return Err(e),
                        Err(e) => {
                            tracing::warn!(node, error = %e, "could not read the adopted log; trying the next promiser");
                            rec.on_silent(node);
                        }
                    }
                }
                Step::Adopt(a) => return Ok((epoch, a, read, leased_at_most(&promises))),
            }
        }
    }
}

/// The first LSN of the adopted log (which ends at `upto`) a recovery must
/// read when the engine already applied up to `applied`: the records above
/// it (to apply), the one at the commit LSN the adopted log will count
/// (`known`: the new writer's committed base, whose epoch it needs) and
/// those above that (to resend), and at least the last one (which the
/// state machine checks). What the engine applied is committed, so it is
/// in the adopted log (R1–R6).
fn first_to_read(applied: Lsn, known: Lsn, upto: Lsn) -> Lsn {
    (applied + 1).min(known.max(1)).min(upto.max(1))
}

/// Start-up, and a replica's takeover: fences older writers, adopts the
/// most up-to-date log of a recovery quorum (`docs/protocol.md`; at most
/// `tries` rounds without one), commits a `LeaderChange` naming this node
/// (`node_id`, its RESP address `announce`) after it, then hands each
/// record above `applied` to `apply` (a new writer's engine starts empty,
/// a replica's holds what it applied).
pub async fn recover(
    s: &FabricSettings,
    (node_id, announce): (u32, &str),
    (applied, tries): (Lsn, u32),
    mut apply: impl FnMut(&Record) -> anyhow::Result<()>,
) -> anyhow::Result<Recovered> {
    let ep = client_endpoint(&TlsFiles::in_dir(&s.certs, &s.cert_name))?;
    let (epoch, adopted, (records, base), leased_at_most) = adopt(&ep, s, node_id, (applied, tries)).await?;
    let fenced = Instant::now();
    // Applied only once the LeaderChange committed them: a candidate fenced
    // before that has changed nothing and may go back to replicating.
    let to_apply: Vec<Record> = records.iter().filter(|r| r.lsn > applied).cloned().collect();
    let (last_lsn, mut known) = (adopted.last_lsn, adopted.known_commit);
    tracing::info!(epoch, last_lsn, known_commit = known, from = %s.storage[adopted.node], "rebuilt the engine from the log");
    let mut known_epoch = records.iter().find(|r| r.lsn == known).map_or(0, |r| r.epoch);
    // Records at or below a truncated node's base are committed (R14).
    if let Some((b, e)) = base.filter(|b| b.0 > known) {
        (known, known_epoch) = (b, e);
    }
    let suffix: Vec<Record> = records.into_iter().filter(|r| r.lsn > known).collect();
    let mut app = Appender::after_recovery(ep, s.storage.clone(), node_id, epoch, s.mode, (known, known_epoch), suffix);
    let change = Record {
        lsn: last_lsn + 1,
        epoch,
        kind: RecordKind::LeaderChange,
        payload: Bytes::from(format!("writer {node_id} epoch {epoch} at {announce}")),
    };
    let sent = Instant::now();
    append_until_committed(&mut app, vec![change]).await?;
    for r in &to_apply {
        apply(r).with_context(|| format!("record {}", r.lsn))?;
    }
    Ok(Recovered { app, fenced, sent: (last_lsn + 1, sent), leased_at_most })
}

/// A recovery that committed its `LeaderChange`.
pub struct Recovered {
    /// The appender, ready for the next LSN.
    pub app: Appender,
    /// When the storage nodes were fenced (the log adopted).
    pub fenced: Instant,
    /// The `LeaderChange`'s LSN and when it was sent (the lease runs from
    /// then, once four nodes acknowledged learning its commit).
    pub sent: (Lsn, Instant),
    /// The highest LSN from which a writer it fenced can have renewed its
    /// lease, if the promises tell ([`leased_at_most`]).
    pub leased_at_most: Option<Lsn>,
}

/// Makes `core` the writer's, behind the recovery `r`: installs the log
/// and the lease, and starts the task that ships records. With `wait_out`
/// the lease holds only once any lease of a writer it fenced has ended;
/// without, at once (the caller knows they have). Returns when the lease
/// may first hold (see [`crate::lease::Lease::not_before`]) and the
/// shipping task, which ends when this writer is fenced.
pub fn start_writing(
    core: &Shared,
    r: Recovered,
    (lease, wait_out): (crate::lease::LeaseSettings, bool),
    commit_timeout: Duration,
) -> (Instant, tokio::task::JoinHandle<anyhow::Error>) {
    let Recovered { app, fenced, sent, .. } = r;
    let start = Progress { commit: app.commit_lsn(), flushed: app.fabric_flushed_lsn() };
    let (progress_tx, progress_rx) = watch::channel(start);
    let held = Arc::new(crate::lease::Lease::new(lease, fenced, wait_out));
    let log = Log::new(app.epoch(), app.last_lsn() + 1, progress_rx.clone(), held.clone());
    let (wake, stats, backlog_full) = (log.wake.clone(), log.stats.clone(), log.backlog_full.clone());
    let log = Arc::new(Mutex::new(log));
    let replicas = core.lock().replicas();
    let commits = Arc::new(Commits::new(start.commit));
    let durable = Durable {
        epoch: app.epoch(),
        progress: progress_rx,
        commits: commits.clone(),
        backlog_full,
        commit_timeout,
        replicas: replicas.clone(),
    };
    let journal: SharedJournal = log.clone();
    core.promote(journal, durable, views(app.epoch(), &stats, &held, &replicas));
    let renew = Duration::from_millis(lease.renew_ms);
    let serve_from = held.not_before();
    let shipping =
        tokio::spawn(ship(core.clone(), (app, sent), (progress_tx, commits), (log, wake, stats), held, renew));
    (serve_from, shipping)
}

/// What INFO and ROLE/CLUSTER show on the writer: the log's figures, its
/// epoch, the lease left, the replicas and what they applied.
fn views(
    epoch: Epoch,
    stats: &Arc<LogStats>,
    lease: &Arc<crate::lease::Lease>,
    registry: &Arc<sixfold_node::acks::Registry>,
) -> (sixfold_engine::InfoExtra, sixfold_engine::ShardView) {
    let (info_stats, lease, info_registry) = (stats.clone(), lease.clone(), registry.clone());
    let info: sixfold_engine::InfoExtra = Box::new(move |section| {
        let mut fields = info_stats.info(section);
        if section == "replication" {
            fields.push(("writer_epoch".into(), epoch.to_string()));
            let left = lease.left_at(Instant::now()).as_millis();
            fields.push(("lease_left_ms".into(), if lease.holds() { left } else { 0 }.to_string()));
            fields.extend(info_registry.info(info_stats.commit_lsn.load(std::sync::atomic::Ordering::Relaxed)));
        }
        fields
    });
    let (stats, registry) = (stats.clone(), registry.clone());
    let shard: sixfold_engine::ShardView = Box::new(move || Shard {
        commit_lsn: stats.commit_lsn.load(std::sync::atomic::Ordering::Relaxed),
        replicas: registry.members(),
        ..Shard::default()
    });
    (info, shard)
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

/// Records pushed: (last LSN, when), until they commit (for the commit
/// latency histogram), and until four nodes acknowledged learning their
/// commit (for the lease). Bounded by the appender's held-bytes limit.
type Pending = std::collections::VecDeque<(Lsn, Instant)>;

/// Takes the entries of `pending` at or below `lsn`, oldest first.
fn passed(pending: &mut Pending, lsn: Lsn) -> impl Iterator<Item = Instant> + '_ {
    std::iter::from_fn(move || pending.pop_front_if(|(last, _)| *last <= lsn).map(|(_, at)| at))
}

/// Ships queued records to the fabric (several batches in flight per node),
/// publishes the commit LSN, renews the lease with each record whose
/// commit four nodes acknowledged learning (from when it was sent; the
/// first is the `LeaderChange`, `first`) and logs a `LeaseRenewal` after
/// `renew` without any record. Returns once this writer is fenced (it must not serve any
/// more; dropping `progress` fails the replies still waiting).
pub async fn ship(
    core: Shared,
    (mut app, first): (Appender, (Lsn, Instant)),
    (progress, commits): (watch::Sender<Progress>, Arc<Commits>),
    (log, wake, stats): (Arc<Mutex<Log>>, Arc<tokio::sync::Notify>, Arc<LogStats>),
    lease: Arc<crate::lease::Lease>,
    renew: Duration,
) -> anyhow::Error {
    let locked = || sixfold_node::core::lock_journal(&log);
    // However this task ends (fenced, or dropped), waiting replies learn
    // that their outcome is unknown.
    let _closing = CloseOnDrop(commits.clone());
    publish(&app, &stats);
    let (mut pending, mut unleased) = (Pending::new(), Pending::from([first]));
    let mut last_push = Instant::now();
    loop {
        tokio::select! {
            _ = wake.notified(), if app.accepts() => {
                let records = locked().take_queue();
                let failover = core.take_failover();
                if let Some(req) = failover {
                    tokio::spawn(crate::handover::hand_over(core.clone(), req, progress.subscribe()));
                }
                if let Some(last) = records.last() {
                    metrics::histogram!(m::BATCH_RECORDS).record(records.len() as f64);
                    let bytes: usize = records.iter().map(Record::encoded_len).sum();
                    metrics::histogram!(m::BATCH_BYTES).record(bytes as f64);
                    last_push = Instant::now();
                    pending.push_back((last.lsn, last_push));
                    unleased.push_back((last.lsn, last_push));
                    app.push(records);
                }
            }
            _ = tokio::time::sleep_until((last_push + renew).into()), if app.accepts() => {
                locked().log_renewal();
                last_push = Instant::now();
            }
            stepped = app.step() => {
                if let Err(e) = stepped {
                    tracing::warn!(error = %e, "this writer must not serve any more");
                    return e.into();
                }
            }
        }
        passed(&mut unleased, app.lease_lsn()).for_each(|at| lease.renewed(at));
        let lsn = app.commit_lsn();
        let last = *progress.borrow();
        if app.fabric_flushed_lsn() > last.flushed && lsn == last.commit {
            progress.send_replace(Progress { commit: lsn, flushed: app.fabric_flushed_lsn() });
            publish(&app, &stats);
        }
        if lsn > last.commit {
            for at in passed(&mut pending, lsn) {
                metrics::histogram!(m::COMMIT_SECONDS).record(at.elapsed().as_secs_f64());
            }
            metrics::counter!(m::COMMITTED_RECORDS).increment(lsn - last.commit);
            progress.send_replace(Progress { commit: lsn, flushed: app.fabric_flushed_lsn() });
            commits.advance(lsn);
            publish(&app, &stats);
            locked().on_commit(lsn);
        }
    }
}

/// Closes the writer's commit waiters when the shipping task ends.
struct CloseOnDrop(Arc<Commits>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::first_to_read;

    #[test]
    fn a_recovery_reads_only_what_the_engine_lacks_and_the_committed_base() {
        assert_eq!(first_to_read(0, 0, 0), 1, "an empty log: nothing to read");
        assert_eq!(first_to_read(0, 50, 60), 1, "an empty engine reads the whole log");
        assert_eq!(first_to_read(70, 50, 60), 50, "the committed base's record, for its epoch");
        assert_eq!(first_to_read(40, 50, 60), 41, "the records the engine lacks");
        assert_eq!(first_to_read(60, 60, 60), 60, "at least the last record");
        assert_eq!(first_to_read(60, 0, 60), 1, "no commit learned: from the start");
    }
}
