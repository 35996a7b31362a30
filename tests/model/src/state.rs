//! The model's state: six storage nodes (each the real [`LogState`] plus a
//! model of its segment files and its flusher), the writers that ever ran
//! (each a real [`Recovery`] or [`Pipeline`], and one link per node carrying
//! real fabric [`Message`]s in order, as a QUIC stream does), the faults
//! used, and the ghost record of what clients were told. With leases: a
//! clock, each writer's lease, and one replica's view of the log (a
//! candidate's quiet window).
//!
//! Symmetry: storage nodes are interchangeable, so a state is replaced by
//! the one whose nodes are sorted by a fingerprint of everything that
//! concerns them ([`State::representative`]).

use sixfold_fabric::{Pipeline, Promised, Recovery, STORAGE_NODES};
use sixfold_storage_node::log::LogState;
use sixfold_wire::{Epoch, Lsn, Memory};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// One storage node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeM {
    /// The node's log (the real state machine).
    pub log: LogState,
    /// Segment files: `(lsn, epoch)` of each record in the order written.
    pub disk: Vec<(Lsn, Epoch)>,
    /// Records the flusher took and has not written yet, with the log's
    /// generation when it took them.
    pub flushing: Option<(Vec<(Lsn, Epoch)>, u64)>,
    /// Highest commit LSN this node has served since it started.
    pub commit_seen: Lsn,
    /// Where the segment files start after: (LSN, epoch there), as the
    /// first file's name tells (with snapshots: truncation moves it).
    pub disk_base: (Lsn, Epoch),
}

/// A writer's link to one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Link {
    /// Connected.
    pub up: bool,
    /// A flush report not yet delivered (its own stream: it may overtake
    /// or trail the acks): the LSN and the epoch of the node's record there.
    pub flushed: Option<(Lsn, Epoch)>,
}

/// Where a writer is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Collecting promises and reading the adopted log.
    Recovering {
        /// The real recovery state machine.
        rec: Box<Recovery>,
        /// Nodes asked (bit per node).
        asked: u8,
    },
    /// Appending (the real pipeline, with its commit tracker).
    Writing(Box<Pipeline>),
    /// Crashed or fenced.
    Dead,
}

/// One writer process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriterM {
    /// Its epoch.
    pub epoch: Epoch,
    /// What it is doing.
    pub phase: Phase,
    /// Epoch of each record of its log (LSN `i + 1` at `log[i]`).
    pub log: Vec<Epoch>,
    /// Client writes it accepted.
    pub writes: u8,
    /// One link per storage node.
    pub links: [Link; STORAGE_NODES],
    /// The lease (with leases modelled).
    pub lease: LeaseM,
}

/// A writer's lease, as `writer/src/lease.rs` keeps it, in clock ticks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LeaseM {
    /// When each of its own records (LSN) was pushed: a committed one
    /// holds the lease until then plus the lease time.
    pub pushed: BTreeMap<Lsn, u8>,
    /// The lease holds while the clock is below this.
    pub until: u8,
    /// ... and not before this (waiting out the leases it fenced).
    pub not_before: u8,
    /// Commit LSN whose renewals were taken.
    pub seen_commit: Lsn,
    /// The promises of its recovery (for [`sixfold_fabric::leased_at_most`]).
    pub promises: Vec<Promised>,
    /// A candidate's quiet window: what its replica had applied when no
    /// commit had been seen for a whole lease (none for a plain start).
    pub quiet: Option<Lsn>,
    /// `LeaseRenewal` records logged.
    pub renewals: u8,
}

/// One replica's view: what it applied and when that last grew.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReplicaM {
    /// The last LSN applied.
    pub applied: Lsn,
    /// The clock when it last grew.
    pub progress_at: u8,
}

/// What clients and readers were shown, and violations seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Records a writer counted committed (a client got its reply):
    /// LSN → (record's epoch, epoch of the writer that first counted it).
    pub acked: BTreeMap<Lsn, (Epoch, Epoch)>,
    /// Records a storage node served as committed to a reader: LSN →
    /// (record's epoch, the node's promised epoch then — at least the
    /// epoch of the writer that announced the commit).
    pub visible: BTreeMap<Lsn, (Epoch, Epoch)>,
    /// An acknowledged record missing from a later writer's log or replaced.
    pub lost_ack: bool,
    /// A record a reader may have seen was later replaced or missing.
    pub lost_visible: bool,
    /// A node's commit LSN went back while it was up.
    pub commit_back: bool,
    /// Two writers served at the same tick.
    pub two_serving: bool,
    /// A serving writer lacked an acknowledged client write (a stale read).
    pub stale_read: bool,
    /// Records that are client writes: `(lsn, epoch)`.
    pub client_writes: std::collections::BTreeSet<(Lsn, Epoch)>,
    /// Verified snapshots (with snapshots): LSN → the epoch of every record
    /// up to it, as the committed log held them when it was made, and the
    /// epoch of the writer that committed them.
    pub snapshots: BTreeMap<Lsn, (Vec<Epoch>, Epoch)>,
    /// `SnapshotMarker` records, `(lsn, epoch)` → the snapshot LSN named.
    pub markers: BTreeMap<(Lsn, Epoch), Lsn>,
    /// A node truncated its log past every verified snapshot.
    pub truncated_unsafe: bool,
    /// A node truncated its log (shows the model reaches it).
    pub truncated: bool,
    /// A node started its log at a peer's base (shows the model reaches it).
    pub adopted_base: bool,
}

/// The whole model state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// The six storage nodes.
    pub nodes: [NodeM; STORAGE_NODES],
    /// Writers, in the order they started.
    pub writers: Vec<WriterM>,
    /// Faults injected so far.
    pub faults: u8,
    /// What was observed.
    pub ghost: Ghost,
    /// The clock (ticks), with leases modelled.
    pub now: u8,
    /// The replica whose quiet windows candidates start from.
    pub replica: ReplicaM,
    /// A replica that stages records above the commit LSN and applies them
    /// at a writer's commit notification (with `--staging`): the real
    /// `sixfold_replica::staging::Staging`.
    pub staging: Option<sixfold_replica::staging::Staging>,
}

impl NodeM {
    /// A node of a new cluster.
    pub fn fresh() -> NodeM {
        NodeM {
            log: LogState::recovered(0, 0, Vec::new(), Memory::Intact),
            disk: Vec::new(),
            flushing: None,
            commit_seen: 0,
            disk_base: (0, 0),
        }
    }

    /// Epoch of every record of the log above its base (LSN `base + 1 + i`
    /// at `[i]`).
    pub fn epochs(&self) -> Vec<Epoch> {
        (self.log.base() + 1..=self.log.last_lsn()).filter_map(|l| self.log.epoch_at(l)).collect()
    }

    /// What the segment files recover to: the records in LSN order from
    /// the disk's base up to the first one out of place (segment recovery
    /// cuts the log there).
    pub fn recovered_epochs(&self) -> Vec<Epoch> {
        let mut out = Vec::new();
        for &(lsn, e) in &self.disk {
            if lsn != self.disk_base.0 + out.len() as Lsn + 1 {
                break;
            }
            out.push(e);
        }
        out
    }
}

impl WriterM {
    /// A writer starting a recovery.
    pub fn new(rec: Recovery) -> WriterM {
        WriterM {
            epoch: rec.epoch(),
            phase: Phase::Recovering { rec: Box::new(rec), asked: 0 },
            log: Vec::new(),
            writes: 0,
            links: Default::default(),
            lease: LeaseM::default(),
        }
    }

    /// Whether this writer serves reads and writes at `now`, when its clock
    /// may run up to `drift` ticks slow over a lease (it takes its lease
    /// to end that much later than it does).
    pub fn serving(&self, now: u8, drift: u8) -> bool {
        matches!(self.phase, Phase::Writing(_))
            && now >= self.lease.not_before
            && now < self.lease.until.saturating_add(drift)
    }
}

fn fingerprint(s: &State, i: usize) -> u64 {
    let mut h = DefaultHasher::new();
    s.nodes[i].hash(&mut h);
    for w in &s.writers {
        w.links[i].hash(&mut h);
        if let Phase::Writing(p) = &w.phase {
            p.node_ack(i).hash(&mut h);
        }
        if let Phase::Recovering { asked, .. } = &w.phase {
            (asked >> i & 1).hash(&mut h);
        }
    }
    h.finish()
}

impl stateright::Representative for State {
    fn representative(&self) -> State {
        self.representative_with_perm().0
    }
}

impl State {
    /// The symmetry representative, and the renumbering that made it
    /// (node `i` of the result was node `perm[i]`).
    pub fn representative_with_perm(&self) -> (State, [usize; STORAGE_NODES]) {
        let mut perm: [usize; STORAGE_NODES] = std::array::from_fn(|i| i);
        let keys: Vec<u64> = (0..STORAGE_NODES).map(|i| fingerprint(self, i)).collect();
        perm.sort_by_key(|&i| keys[i]);
        let mut s = self.clone();
        for (i, &from) in perm.iter().enumerate() {
            s.nodes[i] = self.nodes[from].clone();
        }
        for w in &mut s.writers {
            let links = w.links.clone();
            for (i, &from) in perm.iter().enumerate() {
                w.links[i] = links[from].clone();
            }
            match &mut w.phase {
                Phase::Writing(p) => p.permute_nodes(&perm),
                Phase::Recovering { rec, asked } => {
                    rec.permute_nodes(&perm);
                    let old = *asked;
                    *asked = perm.iter().enumerate().fold(0, |a, (i, &from)| a | ((old >> from & 1) << i));
                }
                Phase::Dead => {}
            }
        }
        (s, perm)
    }
}

/// A few lines that say what each node and writer holds.
pub fn summary(s: &State) -> String {
    let mut out = String::new();
    for (i, n) in s.nodes.iter().enumerate() {
        out += &format!(
            "    node {i}: promised {} base {:?} log {:?} commit {} flushed {} {:?}\n",
            n.log.promised(),
            n.log.base_mark(),
            n.epochs(),
            n.log.commit(),
            n.log.flushed(),
            n.log.memory()
        );
    }
    for (i, w) in s.writers.iter().enumerate() {
        let (phase, commit) = match &w.phase {
            Phase::Recovering { .. } => ("recovering", 0),
            Phase::Writing(p) => ("writing", p.commit_lsn()),
            Phase::Dead => ("dead", 0),
        };
        out += &format!("    writer {i}: epoch {} {phase} log {:?} commit {commit}\n", w.epoch, w.log);
    }
    out += &format!("    acknowledged {:?} visible {:?}", s.ghost.acked, s.ghost.visible);
    if !s.ghost.snapshots.is_empty() {
        out += &format!("\n    snapshots {:?} markers {:?}", s.ghost.snapshots, s.ghost.markers);
    }
    out
}
