//! The replica role (DESIGN §5): the [`Replicator`] stages records a
//! [`Puller`] reads from the storage nodes and applies them to the engine
//! under the core lock once the writer's notifications ([`crate::notify`])
//! prove them committed, so reads on this node see the log's effects in
//! order, never above the commit LSN, never going back. Write commands get
//! `-MOVED` (the engine's replica mode). The upstream link
//! ([`crate::upstream`]) acknowledges what was applied to the writer; when
//! the writer is gone the replica campaigns ([`crate::campaign`]).

use crate::notify::Notice;
use crate::puller::{PullSettings, Puller};
use crate::replicator::{Links, Replicator};
use crate::staging::Staging;
use sixfold_engine::cmd::cluster::{Member, Shard};
use sixfold_node::Shared;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// This replica's id on the fabric (writers use 1000).
const REPLICA_NODE_ID: u32 = 2000;
/// Record bytes asked for per Read: one batch.
pub const READ_BYTES_MAX: u32 = 1024 * 1024;

/// How a replica reaches the fabric and how much it may buffer.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    /// `host:port` of the writer (for `-MOVED` and ROLE).
    pub writer: String,
    /// The six storage nodes, zones a, a, b, b, c, c in this order.
    pub storage: Vec<SocketAddr>,
    /// This replica's zone (its storage nodes are read first).
    pub zone: String,
    /// Directory with ca.pem and this node's certificate.
    pub certs: PathBuf,
    /// Name of this node's certificate files.
    pub cert_name: String,
    /// Bound of staged records (read, not yet known committed): past it
    /// the replica stops reading ahead and lags.
    pub staged_bytes_max: u64,
    /// Bound of applied records retained until the writer's flush
    /// confirmation covers them.
    pub retained_bytes_max: u64,
    /// How long a replica must have seen nothing committed before it may
    /// take over: the writer's lease plus the clock-drift bound.
    pub quiet_ms: u64,
    /// Take over at once on start, without waiting for a lapse (`--role writer`).
    pub take_over_first: bool,
    /// This node's RESP address as others reach it (empty: the bound address).
    pub announce: String,
    /// Where storage nodes read retained records back (QUIC; none: not
    /// served).
    pub retention_listen: Option<SocketAddr>,
    /// Where the server on `retention_listen` hands reads (set by whoever
    /// starts it, inside the runtime).
    pub retention: Option<crate::retention::Desk>,
    /// The object store of the shard's snapshots (URL): on start the node
    /// restores the newest that verifies, then replays the log past it.
    pub snapshot_store: Option<String>,
}

/// The writer's commit LSN and its replicas, as its ROLE reports them.
pub type WriterRole = (u64, Vec<Member>);

/// What `INFO replication` reports on a replica.
#[derive(Debug, Default)]
pub struct ReplicaStats {
    /// The writer's RESP address `host:port`: from `--writer`, then from
    /// the last `LeaderChange` record applied (empty: not known yet).
    pub writer: std::sync::Mutex<String>,
    /// Last LSN applied.
    pub applied_lsn: AtomicU64,
    /// Epoch of the record at `applied_lsn` (0: none applied).
    pub applied_epoch: AtomicU64,
    /// Last LSN staged (read, maybe not committed; never visible).
    pub staged_to: AtomicU64,
    /// Bytes of staged records, their peak and their bound.
    pub staged_bytes: AtomicU64,
    /// Peak of `staged_bytes`.
    pub staged_bytes_peak: AtomicU64,
    /// Bound of `staged_bytes`.
    pub staged_bytes_max: AtomicU64,
    /// Staged records dropped because another epoch replaced them (or
    /// the node read from differs), all told.
    pub staged_discarded: AtomicU64,
    /// Bytes of applied records retained until the flush confirmation.
    pub retained_bytes: AtomicU64,
    /// Peak of `retained_bytes`.
    pub retained_bytes_peak: AtomicU64,
    /// Bound of `retained_bytes`.
    pub retained_bytes_max: AtomicU64,
    /// Highest commit LSN heard from a storage node or the writer.
    pub commit_lsn: AtomicU64,
    /// The writer's commit LSN from its last ROLE (0: not heard yet).
    pub writer_commit: Arc<AtomicU64>,
    /// Milliseconds since the oldest commit notification not yet applied
    /// was heard (0 when caught up).
    pub lag_ms: AtomicU64,
    /// 1 once the replica caught up with the log for the first time.
    pub caught_up_once: AtomicU64,
    /// The writer's commit LSN when this replica first heard from it (0:
    /// not yet): the replica serves reads once it applied this far, so a
    /// restarted replica never shows an older state than it (or another)
    /// showed.
    pub catch_up_to: AtomicU64,
    /// The writer's commit LSN and replicas, from its ROLE.
    pub shard: std::sync::Mutex<WriterRole>,
    /// Snapshots restored because the storage nodes truncated their logs
    /// past what this replica applied.
    pub restored_snapshots: AtomicU64,
}

impl ReplicaStats {
    /// The writer's RESP address now (empty: not known).
    pub fn writer(&self) -> String {
        self.writer.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Sets the writer's RESP address.
    pub fn set_writer(&self, addr: &str) {
        if let Ok(mut w) = self.writer.lock() {
            addr.clone_into(&mut w);
        }
    }

    /// The replica's figures once it replicates again from `from`, after
    /// this node stopped being the writer (the shard's writer is not known
    /// until the log names it), with the record `applied` (LSN, epoch).
    pub fn restart_at(&self, applied: (sixfold_wire::Lsn, sixfold_wire::Epoch)) {
        self.set_writer("");
        self.applied_lsn.store(applied.0, Ordering::Relaxed);
        self.applied_epoch.store(applied.1, Ordering::Relaxed);
        self.commit_lsn.store(applied.0, Ordering::Relaxed);
        self.lag_ms.store(0, Ordering::Relaxed);
        let fresh = u64::from(applied.0 == 0);
        self.caught_up_once.store(1 - fresh, Ordering::Relaxed);
        self.catch_up_to.store(0, Ordering::Relaxed);
    }

    /// INFO replication fields.
    pub fn info(&self) -> Vec<(String, String)> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let writer = self.writer();
        let (host, port) = writer.rsplit_once(':').unwrap_or((&writer, "0"));
        let (applied, commit) = (get(&self.applied_lsn), get(&self.commit_lsn));
        let up = get(&self.caught_up_once) == 1;
        let fields = [
            ("master_host", host.to_string()),
            ("master_port", port.to_string()),
            ("master_link_status", if up { "up" } else { "down" }.to_string()),
            ("master_sync_in_progress", u8::from(!up).to_string()),
            ("slave_repl_offset", applied.to_string()),
            ("slave_read_only", "1".to_string()),
            ("replica_applied_lsn", applied.to_string()),
            ("replica_commit_lsn", commit.to_string()),
            ("replica_lag_records", commit.saturating_sub(applied).to_string()),
            ("replica_lag_bytes", get(&self.staged_bytes).to_string()),
            ("replica_lag_ms", get(&self.lag_ms).to_string()),
            ("replica_staged_lsn", get(&self.staged_to).to_string()),
            ("replica_staged_bytes", get(&self.staged_bytes).to_string()),
            ("replica_staged_bytes_peak", get(&self.staged_bytes_peak).to_string()),
            ("replica_staged_bytes_max", get(&self.staged_bytes_max).to_string()),
            ("replica_staged_discarded_records", get(&self.staged_discarded).to_string()),
            ("replica_retained_bytes", get(&self.retained_bytes).to_string()),
            ("replica_retained_bytes_peak", get(&self.retained_bytes_peak).to_string()),
            ("replica_retained_bytes_max", get(&self.retained_bytes_max).to_string()),
            ("replica_snapshot_restores", get(&self.restored_snapshots).to_string()),
        ];
        let mut v: Vec<(String, String)> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let shard = self.shard.lock().map(|g| g.clone()).unwrap_or_default();
        v.push(("master_repl_offset".into(), shard.0.to_string()));
        for (i, m) in shard.1.iter().enumerate() {
            v.push((format!("slave{i}"), format!("ip={},port={},state=online,offset={}", m.ip, m.port, m.offset)));
        }
        v
    }

    /// The shard as ROLE and CLUSTER show it on this replica.
    pub fn shard(&self) -> Shard {
        let (commit_lsn, replicas) = self.shard.lock().map(|g| g.clone()).unwrap_or_default();
        Shard {
            commit_lsn,
            applied_lsn: self.applied_lsn.load(Ordering::Relaxed),
            link_up: self.caught_up_once.load(Ordering::Relaxed) == 1,
            replicas,
        }
    }
}

/// The INFO replication fields of a replica.
pub fn show_replica_info(core: &Shared, stats: &Arc<ReplicaStats>) {
    let (info, shard) = (stats.clone(), stats.clone());
    let mut core = core.lock();
    core.set_info_extra(Box::new(move |section| match section {
        "replication" => info.info(),
        _ => Vec::new(),
    }));
    core.set_shard_view(Box::new(move || shard.shard()));
}

/// Starts replicating after the record `applied` (LSN, epoch; (0, 0):
/// none): reading, staging, applying, hearing notifications and
/// acknowledging; returns the tasks (aborted when this replica takes over).
pub fn replicate(
    core: &Shared,
    s: &ReplicaSettings,
    stats: &Arc<ReplicaStats>,
    endpoint: &quinn::Endpoint,
    applied: (sixfold_wire::Lsn, sixfold_wire::Epoch),
) -> Vec<JoinHandle<()>> {
    stats.staged_bytes_max.store(s.staged_bytes_max, Ordering::Relaxed);
    stats.retained_bytes_max.store(s.retained_bytes_max, Ordering::Relaxed);
    let settings = PullSettings {
        storage: s.storage.clone(),
        zones: ["a", "a", "b", "b", "c", "c"].iter().map(|z| z.to_string()).collect(),
        own_zone: s.zone.clone(),
        node_id: REPLICA_NODE_ID,
        read_bytes_max: READ_BYTES_MAX,
        read_timeout_ms: 1_000,
    };
    // One read out at a time: the replicator asks for the next when the
    // answer is in (its staging bound is the backpressure).
    let (asks, asks_rx) = mpsc::channel(1);
    let (answers_tx, answers) = mpsc::channel(1);
    let (notices_tx, notices) = watch::channel(Notice::default());
    let (acked, acked_rx) = watch::channel(applied.0);
    let staging = Staging::new(applied, s.staged_bytes_max as usize, s.retained_bytes_max as usize);
    let retained = s.retention.as_ref().map_or_else(|| mpsc::channel(1).1, |desk| desk.open());
    let links = Links { asks, answers, notices, acked, retained };
    let replicator = Replicator::new(core.clone(), stats.clone(), (staging, s.snapshot_store.clone()), links);
    vec![
        tokio::spawn(Puller::new(endpoint.clone(), settings).run(asks_rx, answers_tx)),
        tokio::spawn(replicator.run()),
        tokio::spawn(crate::notify::run(stats.clone(), core.clone(), notices_tx)),
        tokio::spawn(crate::upstream::run(s.announce.clone(), acked_rx, stats.clone(), core.clone())),
    ]
}

/// Turns `-LOADING` off once the replica applied the writer's commit LSN
/// of its first contact ([`ReplicaStats::catch_up_to`]). A storage node's
/// view of the commit LSN is not enough: a node that just restarted may
/// know only an old one.
pub fn serve_when_caught_up(core: &Shared, stats: &ReplicaStats) {
    let target = stats.catch_up_to.load(Ordering::Relaxed);
    if target == 0 {
        return;
    }
    let applied = stats.applied_lsn.load(Ordering::Relaxed);
    if applied >= target && stats.caught_up_once.swap(1, Ordering::Relaxed) == 0 {
        core.lock().set_loading(false);
        tracing::info!(applied, target, "caught up with the writer's commit LSN: serving reads");
    }
}

/// The RESP address a `LeaderChange` record names (`writer N epoch E at
/// HOST:PORT`), if any.
pub fn leader_address(payload: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(payload).ok()?;
    let (_, addr) = text.rsplit_once(" at ")?;
    (!addr.is_empty()).then(|| addr.to_string())
}

/// After a failover the last `LeaderChange` names the new writer: writes
/// are redirected there, ROLE and INFO name it, the upstream link moves.
pub(crate) fn follow_leader_changes(core: &Shared, stats: &ReplicaStats, records: &[sixfold_wire::Record]) {
    let newest = records.iter().rev().find(|r| r.kind == sixfold_wire::RecordKind::LeaderChange);
    let Some(addr) = newest.and_then(|r| leader_address(&r.payload)) else { return };
    let old = stats.writer();
    if old != addr {
        tracing::info!(from = %old, to = %addr, "the shard has a new writer");
        // Not under the `writer` lock: INFO reads it under the core lock.
        stats.set_writer(&addr);
        core.lock().set_replica_of(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_change_names_the_writers_address() {
        assert_eq!(leader_address(b"writer 2000 epoch 7 at 10.0.0.5:6379").as_deref(), Some("10.0.0.5:6379"));
        assert_eq!(leader_address(b"writer 1000 epoch 1"), None, "records before addresses were logged");
        assert_eq!(leader_address(b"writer 1000 epoch 1 at "), None);
        assert_eq!(leader_address(&[0xff, 0xfe]), None);
    }
}
