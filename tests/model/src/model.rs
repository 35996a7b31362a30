//! The transitions: every step a storage node, a writer, the network or a
//! fault can take, each carried out by the project's own state machines.
//! Storage-node steps call [`LogState`](sixfold_storage_node::log::LogState)
//! as `node.rs` does; writer steps call [`Recovery`] and [`Pipeline`] as
//! `writer/src/fabric.rs` and the `Appender` do.

use crate::state::{Ghost, Link, NodeM, Phase, State, WriterM};
use bytes::Bytes;
use sixfold_fabric::pipeline::{Limits, Outcome};
use sixfold_fabric::{CommitMode, Pipeline, Promised, Recovery, Rules, STORAGE_NODES, Step};
use sixfold_storage_node::log::LogState;
use sixfold_wire::{Epoch, Lsn, Memory, Message, NodeId, Record, RecordKind, SnapshotMarker, decode_run};

/// The size of the checked world.
#[derive(Debug, Clone)]
pub struct Config {
    /// Writers started over the run (each recovers, then writes).
    pub writers_max: usize,
    /// Client writes per writer (besides its `LeaderChange`).
    pub writes_max: u8,
    /// Faults: node crashes (memory lost), wipes, link cuts, writer deaths.
    pub faults_max: u8,
    /// Whether a node may be wiped (counts as a fault).
    pub wipes: bool,
    /// Whether a new writer may pick the same epoch as the last one.
    pub duels: bool,
    /// The writers' commit mode.
    pub mode: CommitMode,
    /// The recovery rules.
    pub rules: Rules,
    /// Split the flusher's step in two (take, then write), so appends can
    /// come between: the flusher/truncation race.
    pub flush_race: bool,
    /// Faults are only link cuts, writer deaths and failed reads.
    pub no_crashes: bool,
    /// Storage nodes never fill holes from peers (a smaller world).
    pub no_fills: bool,
    /// Replace each state by its symmetry representative as it is made
    /// (so breadth-first search gets symmetry reduction too).
    pub canonical: bool,
    /// Leases, in clock ticks (`None`: not modelled): writers serve only
    /// while theirs holds, a clock ticks, a replica pulls committed
    /// records, and a candidate may start after a quiet window.
    pub lease: Option<u8>,
    /// Clock ticks over a run.
    pub ticks_max: u8,
    /// The clock-drift bound, in ticks: a writer's clock may run this much
    /// slow over a lease (it serves that much longer), and candidates wait
    /// a lease plus this bound, as `--clock-drift-ms` in the real code.
    pub drift: u8,
    /// A candidate after a quiet window serves at once whatever the
    /// promises tell (the rule without its condition, to show why it has one).
    pub lease_unsafe: bool,
    /// Writers renew their lease from every committed record, not only
    /// from those whose commit four nodes acknowledged learning (the rule
    /// before R12 bounded leases by promised commit LSNs, to show why).
    pub lease_from_commit: bool,
    /// Model a replica that reads every node's whole log (above the commit
    /// LSN), stages it, and applies at writers' commit notifications
    /// (`replica/src/staging.rs`): what it applies is visible to readers.
    pub staging: bool,
    /// Snapshots made over a run (0: none modelled): a writer logs a
    /// `SnapshotMarker` naming a snapshot of its committed log, and storage
    /// nodes truncate below a committed one (R14) and start their logs at
    /// a peer's base when they hold nothing past it.
    pub marks_max: u8,
    /// List only actions that change the state. Stateright's random walks
    /// record a chosen action by its index in a list from which the
    /// actions that did nothing were already removed, but replay a found
    /// path by index in the full list: a listed action that does nothing
    /// makes that replay go wrong ("Unable to reconstruct a `Path`").
    pub enabled_only: bool,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// A writer process starts in `epoch`.
    Start(Epoch),
    /// A candidate starts in `epoch` after its replica saw nothing
    /// committed for a whole lease (leases only).
    StartQuiet(Epoch),
    /// The clock advances one tick (leases only).
    Tick,
    /// The replica pulls the committed records of `node` (leases only).
    Pull(usize),
    /// Storage node `node` answers writer `w`'s Prepare.
    Prepare(usize, usize),
    /// Writer `w` reads the log it chose to adopt.
    Read(usize),
    /// That read hangs or ends short.
    ReadFails(usize),
    /// Writer `w` accepts a client write.
    Write(usize),
    /// The staging replica reads node `n`'s log from where it stands (with
    /// `staging`).
    StageRead(usize),
    /// Writer `w` tells the staging replica its commit LSN and the epoch
    /// of the record there; the replica applies what that proves.
    Notify(usize),
    /// Writer `w` logs a `LeaseRenewal` (leases only).
    Renew(usize),
    /// Writer `w` sends the next Append to `node`, which handles it and
    /// answers. (One step: what happens between the node's answer and the
    /// writer's reading it commutes with both, except a lost link, which
    /// loses the answer — the same as a cut before the Append.)
    Append(usize, usize),
    /// `w` receives `node`'s flush report.
    Report(usize, usize),
    /// `w` connects to `node` again.
    Connect(usize, usize),
    /// `node`'s flusher writes and syncs its unwritten records.
    Flush(usize),
    /// `node`'s flusher takes its unwritten records (with `flush_race`).
    FlushTake(usize),
    /// ... and writes and syncs them.
    FlushWrite(usize),
    /// Node `.0` fills its log from node `.1`.
    Fill(usize, usize),
    /// Fault: the link between `w` and `node` breaks (messages lost).
    Cut(usize, usize),
    /// Fault: `node` crashes and restarts (memory lost).
    Crash(usize),
    /// Fault: `node`'s data directory is lost.
    Wipe(usize),
    /// Fault: writer `w` dies.
    Die(usize),
    /// Writer `w` logs a `SnapshotMarker` for a verified snapshot of its
    /// log up to its commit LSN (with `marks_max`).
    Mark(usize),
    /// `node` truncates its log below its newest committed marker's
    /// snapshot (R14, no margin).
    Truncate(usize),
}

/// Lease renewals a writer logs over a run (leases only).
const RENEWALS_MAX: u8 = 2;

fn record(lsn: Lsn, epoch: Epoch, kind: RecordKind) -> Record {
    Record { lsn, epoch, kind, payload: Bytes::new() }
}

/// A `SnapshotMarker` record naming a snapshot at `snapshot`.
fn marker_record(lsn: Lsn, epoch: Epoch, snapshot: Lsn) -> Record {
    let payload = SnapshotMarker { lsn: snapshot, ..Default::default() }.encode();
    Record { lsn, epoch, kind: RecordKind::SnapshotMarker, payload }
}

/// The record `(lsn, epoch)`: a marker if one was logged there, else effects.
fn record_of(g: &Ghost, lsn: Lsn, epoch: Epoch) -> Record {
    match g.markers.get(&(lsn, epoch)) {
        Some(&snap) => marker_record(lsn, epoch, snap),
        None => record(lsn, epoch, RecordKind::Effects),
    }
}

/// Limits small enough for a model: two Appends in flight per node. No
/// group commit: sending whatever the window allows reaches every batching
/// a grouped pipeline makes (pushes and sends are separate actions here),
/// and more interleavings besides.
fn limits() -> Limits {
    Limits {
        inflight_appends_max: 2,
        group_bytes_min: 0,
        node_timeout_ms: u64::MAX / 2,
        fill_wait_ms: 0,
        ..Limits::default()
    }
}

impl Config {
    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        let max_epoch = s.writers.iter().map(|w| w.epoch).max().unwrap_or(0);
        if s.writers.len() < self.writers_max {
            out.push(Action::Start(max_epoch + 1));
            if self.duels && max_epoch > 0 {
                out.push(Action::Start(max_epoch));
            }
            if max_epoch > 1 {
                // A real candidate knows no epoch: it prepares 1 first and
                // climbs past the refusals.
                out.push(Action::Start(1));
            }
            if let Some(l) = self.lease
                && s.now >= s.replica.progress_at.saturating_add(l).saturating_add(self.drift)
            {
                out.push(Action::StartQuiet(max_epoch + 1));
            }
        }
        if let Some(st) = &s.staging {
            (0..STORAGE_NODES)
                .filter(|&n| s.nodes[n].log.last_lsn() >= st.read_from())
                .for_each(|n| out.push(Action::StageRead(n)));
            for (w, wr) in s.writers.iter().enumerate() {
                if matches!(&wr.phase, Phase::Writing(p) if p.commit_lsn() > st.commit().0) {
                    out.push(Action::Notify(w));
                }
            }
        }
        if self.lease.is_some() {
            if s.now < self.ticks_max {
                out.push(Action::Tick);
            }
            (0..STORAGE_NODES)
                .filter(|&n| s.nodes[n].log.commit() > s.replica.applied)
                .for_each(|n| out.push(Action::Pull(n)));
        }
        let fault = s.faults < self.faults_max;
        for (w, wr) in s.writers.iter().enumerate() {
            match &wr.phase {
                Phase::Recovering { rec, asked } => {
                    (0..STORAGE_NODES).filter(|n| asked >> n & 1 == 0).for_each(|n| out.push(Action::Prepare(w, n)));
                    if matches!(rec.clone().step(), Step::Read { .. }) {
                        out.push(Action::Read(w));
                        if fault {
                            out.push(Action::ReadFails(w));
                        }
                    }
                }
                Phase::Writing(p) => {
                    if wr.writes < self.writes_max {
                        out.push(Action::Write(w));
                    }
                    if self.lease.is_some() && wr.lease.renewals < RENEWALS_MAX {
                        out.push(Action::Renew(w));
                    }
                    let newest = s.ghost.snapshots.keys().next_back().copied().unwrap_or(0);
                    if (s.ghost.snapshots.len() as u8) < self.marks_max && p.commit_lsn() > newest {
                        out.push(Action::Mark(w));
                    }
                    for (n, l) in wr.links.iter().enumerate() {
                        if !l.up {
                            out.push(Action::Connect(w, n));
                            continue;
                        }
                        if p.clone().poll_send(n, 0).is_some() {
                            out.push(Action::Append(w, n));
                        }
                        if l.flushed.is_some() {
                            out.push(Action::Report(w, n));
                        }
                        if fault {
                            out.push(Action::Cut(w, n));
                        }
                    }
                }
                Phase::Dead => {}
            }
            if fault && wr.phase != Phase::Dead {
                out.push(Action::Die(w));
            }
        }
        for (n, node) in s.nodes.iter().enumerate() {
            if node.flushing.is_none() && node.log.unwritten().next().is_some() {
                out.push(if self.flush_race { Action::FlushTake(n) } else { Action::Flush(n) });
            }
            if node.flushing.is_some() {
                out.push(Action::FlushWrite(n));
            }
            if self.marks_max > 0 && node.log.truncation_point(0).is_some() {
                out.push(Action::Truncate(n));
            }
            for (p, peer) in s.nodes.iter().enumerate() {
                if !self.no_fills && p != n && peer.log.last_lsn() > node.log.last_lsn() {
                    out.push(Action::Fill(n, p));
                }
            }
            if fault && !self.no_crashes {
                out.push(Action::Crash(n));
                if self.wipes {
                    out.push(Action::Wipe(n));
                }
            }
        }
    }

    fn step(&self, s: &mut State, a: Action) -> Option<()> {
        match a {
            Action::Start(epoch) => s.writers.push(WriterM::new(Recovery::new(epoch, self.mode, self.rules))),
            Action::StartQuiet(epoch) => {
                let mut w = WriterM::new(Recovery::new(epoch, self.mode, self.rules));
                w.lease.quiet = Some(s.replica.applied);
                s.writers.push(w);
            }
            Action::Tick => s.now += 1,
            Action::Pull(n) => {
                let commit = s.nodes[n].log.commit();
                if commit > s.replica.applied {
                    s.replica = crate::state::ReplicaM { applied: commit, progress_at: s.now };
                }
            }
            Action::StageRead(n) => stage_read(s, n)?,
            Action::Notify(w) => notify(s, w)?,
            Action::Prepare(w, n) => self.prepare(s, w, n)?,
            Action::Read(w) => self.read(s, w, false)?,
            Action::ReadFails(w) => {
                s.faults += 1;
                self.read(s, w, true)?
            }
            Action::Write(w) => {
                let wr = &mut s.writers[w];
                // A client's command runs only while the lease holds.
                if self.lease.is_some() && !wr.serving(s.now, self.drift) {
                    return None;
                }
                let Phase::Writing(p) = &mut wr.phase else { return None };
                let lsn = p.last_lsn() + 1;
                p.push(vec![record(lsn, wr.epoch, RecordKind::Effects)]);
                wr.log.push(wr.epoch);
                wr.writes += 1;
                if self.lease.is_some() {
                    wr.lease.pushed.insert(lsn, s.now);
                    s.ghost.client_writes.insert((lsn, wr.epoch));
                }
            }
            Action::Renew(w) => {
                let wr = &mut s.writers[w];
                let Phase::Writing(p) = &mut wr.phase else { return None };
                let lsn = p.last_lsn() + 1;
                p.push(vec![record(lsn, wr.epoch, RecordKind::LeaseRenewal)]);
                wr.log.push(wr.epoch);
                wr.lease.renewals += 1;
                wr.lease.pushed.insert(lsn, s.now);
            }
            Action::Mark(w) => mark(s, w)?,
            Action::Truncate(n) => truncate(s, n)?,
            Action::Append(w, n) => {
                let wr = &mut s.writers[w];
                let Phase::Writing(p) = &mut wr.phase else { return None };
                let m = p.poll_send(n, 0)?;
                let reply = deliver(&mut s.nodes[n], w as NodeId, m);
                let outcome = p.on_reply(n, reply, 0);
                outcome_of(s, w, n, outcome);
            }
            Action::Report(w, n) => {
                let (lsn, epoch) = s.writers[w].links[n].flushed.take()?;
                let Phase::Writing(p) = &mut s.writers[w].phase else { return None };
                let outcome = p.on_flushed(n, lsn, epoch);
                outcome_of(s, w, n, outcome);
            }
            Action::Connect(w, n) => {
                let wr = &mut s.writers[w];
                let Phase::Writing(p) = &mut wr.phase else { return None };
                p.on_connected(n);
                wr.links[n].up = true;
            }
            Action::FlushTake(n) => {
                let node = &mut s.nodes[n];
                let recs = node.log.unwritten().map(|r| (r.lsn, r.epoch)).collect();
                node.flushing = Some((recs, node.log.generation()));
            }
            Action::FlushWrite(n) => self.flush_write(s, n)?,
            Action::Flush(n) => {
                self.step(s, Action::FlushTake(n))?;
                self.flush_write(s, n)?
            }
            Action::Fill(n, p) => fill(s, n, p),
            Action::Cut(w, n) => {
                s.faults += 1;
                cut(&mut s.writers[w], n);
            }
            Action::Crash(n) => {
                s.faults += 1;
                let node = &mut s.nodes[n];
                let epochs = node.recovered_epochs();
                let (base, base_epoch) = node.disk_base;
                let marks = (base + 1..).zip(&epochs).filter_map(|(l, e)| Some((l, *s.ghost.markers.get(&(l, *e))?)));
                let marks = marks.collect();
                node.log = LogState::recovered(node.log.promised(), base, epochs, Memory::Restarted)
                    .with_recovered(base_epoch, marks);
                node.flushing = None;
                node.commit_seen = 0;
                s.writers.iter_mut().for_each(|w| cut(w, n));
            }
            Action::Wipe(n) => {
                s.faults += 1;
                s.nodes[n] = NodeM { log: LogState::recovered(0, 0, Vec::new(), Memory::Wiped), ..NodeM::fresh() };
                s.writers.iter_mut().for_each(|w| cut(w, n));
            }
            Action::Die(w) => {
                s.faults += 1;
                s.writers[w].phase = Phase::Dead;
                s.writers[w].links = Default::default();
            }
        }
        Some(())
    }

    fn prepare(&self, s: &mut State, w: usize, n: usize) -> Option<()> {
        let wr = &mut s.writers[w];
        let Phase::Recovering { rec, asked } = &mut wr.phase else { return None };
        *asked |= 1 << n;
        let log = &mut s.nodes[n].log;
        match log.prepare(wr.epoch, w as NodeId) {
            Ok((last_epoch, last_lsn)) => {
                let p = Promised { last_epoch, last_lsn, commit_lsn: log.commit(), memory: log.memory() };
                rec.on_promise(n, p);
                if self.lease.is_some() {
                    // In a canonical order: which node answered first does
                    // not matter to `leased_at_most`, and states that
                    // differ only in it are one.
                    wr.lease.promises.push(p);
                    let key = |p: &Promised| (p.last_epoch, p.last_lsn, p.commit_lsn, p.memory as u8);
                    wr.lease.promises.sort_unstable_by_key(key);
                }
            }
            Err(r) => rec.on_refused(n, r.current_epoch),
        }
        if let Step::Retry(epoch) = rec.step() {
            let quiet = wr.lease.quiet;
            *wr = WriterM::new(Recovery::new(epoch, self.mode, self.rules));
            wr.lease.quiet = quiet;
        }
        Some(())
    }

    /// Reads the chosen promiser's log up to the point it promised (or
    /// fails to), and, once a log is adopted, starts writing after it.
    fn read(&self, s: &mut State, w: usize, fails: bool) -> Option<()> {
        let wr = &mut s.writers[w];
        let Phase::Recovering { rec, .. } = &mut wr.phase else { return None };
        let Step::Read { node, upto_lsn, .. } = rec.step() else { return None };
        if fails {
            rec.on_silent(node);
            return Some(());
        }
        // Below a truncated node's base, the writer has the newest snapshot
        // (restored at start), and the base is a committed point (R14).
        let base = s.nodes[node].log.base();
        let epochs = restored_log(&mut s.ghost, &s.nodes[node]);
        let reached = upto_lsn.min(epochs.len() as Lsn);
        rec.on_read(node, reached, if reached == 0 { 0 } else { epochs[reached as usize - 1] });
        let Step::Adopt(a) = rec.step() else { return Some(()) };
        wr.log = epochs[..a.last_lsn as usize].to_vec();
        let known = a.known_commit.max(base.min(a.last_lsn));
        let committed = (known, if known == 0 { 0 } else { wr.log[known as usize - 1] });
        let suffix = (known + 1..=a.last_lsn).map(|l| record_of(&s.ghost, l, wr.log[l as usize - 1])).collect();
        let mut p = Pipeline::after_recovery(wr.epoch, self.mode, committed, suffix, limits());
        p.push(vec![record(a.last_lsn + 1, wr.epoch, RecordKind::LeaderChange)]);
        wr.log.push(wr.epoch);
        if let Some(l) = self.lease {
            // As `writer/src/replica.rs` campaign: a candidate whose quiet
            // window covered every record an older writer can have renewed
            // its lease from serves at once; any other waits out their leases.
            let most = sixfold_fabric::leased_at_most(&wr.lease.promises);
            let seen_all = wr.lease.quiet.zip(most).is_some_and(|(quiet, most)| most <= quiet)
                || (self.lease_unsafe && wr.lease.quiet.is_some());
            wr.lease.not_before = if seen_all { 0 } else { s.now.saturating_add(l).saturating_add(self.drift) };
            wr.lease.pushed.insert(a.last_lsn + 1, s.now);
        }
        for (n, l) in wr.links.iter_mut().enumerate() {
            l.up = true;
            p.on_connected(n);
        }
        wr.phase = Phase::Writing(Box::new(p));
        check_adopted(&mut s.ghost, &s.writers[w].log, s.writers[w].epoch);
        check_snapshots(&mut s.ghost, &s.writers[w].log, s.writers[w].epoch);
        Some(())
    }

    fn flush_write(&self, s: &mut State, n: usize) -> Option<()> {
        let node = &mut s.nodes[n];
        let (recs, generation) = node.flushing.take()?;
        if node.log.write_allowed(generation) {
            node.disk.extend(recs.iter().copied());
        }
        let last = recs.last().map_or(0, |r| r.0);
        node.log.on_written(last, generation);
        node.log.on_flushed(last, generation);
        let flushed = node.log.flushed_mark();
        for wr in &mut s.writers {
            // Flush reports matter to commits only in disk mode.
            if wr.links[n].up && self.mode == CommitMode::Disk {
                wr.links[n].flushed = Some(flushed);
            }
        }
        Some(())
    }
}

/// A storage node handles one message, as `node.rs` does.
fn deliver(node: &mut NodeM, from: NodeId, m: Message) -> Message {
    let Message::Append { epoch, prev_lsn, prev_epoch, commit_lsn, records } = m else {
        return Message::Error {
            code: sixfold_wire::ErrorCode::BadRequest,
            current_epoch: 0,
            last_lsn: 0,
            detail: String::new(),
        };
    };
    let records = decode_run(&records).unwrap_or_default();
    match node.log.append(from, epoch, prev_lsn, prev_epoch, commit_lsn, records) {
        Ok(acc) => {
            if let Some(from) = acc.truncated_from {
                node.disk.retain(|r| r.0 < from);
            }
            Message::Ack { epoch, scl: acc.scl, flushed: node.log.flushed() }
        }
        Err(r) => {
            if r.code == sixfold_wire::ErrorCode::LogMismatch
                && let Some(lsn) = node.log.drop_divergent(epoch, prev_lsn, prev_epoch)
            {
                node.disk.retain(|d| d.0 <= lsn);
            }
            Message::Error {
                code: r.code,
                current_epoch: r.current_epoch,
                last_lsn: node.log.last_lsn(),
                detail: String::new(),
            }
        }
    }
}

/// Node `n` fills from peer `p` as `service.rs` does: it reads the peer's
/// records from its own last LSN and hands them to the log; a peer whose
/// log starts past that answers `Truncated`, and the node starts its log
/// at the peer's base when it holds nothing past it (R14).
fn fill(s: &mut State, n: usize, p: usize) {
    let peer = s.nodes[p].log.clone();
    let node = &mut s.nodes[n];
    if node.log.fill_from() <= peer.base() {
        let (base, epoch) = peer.base_mark();
        if !node.log.adopt_base(base, epoch) {
            return;
        }
        node.disk.clear();
        node.disk_base = (base, epoch);
        s.ghost.adopted_base = true;
    }
    let from = node.log.fill_from();
    let recs: Vec<Record> =
        (from..=peer.last_lsn()).filter_map(|l| Some(record_of(&s.ghost, l, peer.epoch_at(l)?))).collect();
    if let Ok(Some(cut)) = node.log.fill(recs) {
        node.disk.retain(|r| r.0 <= cut);
    }
}

/// Writer `w` logs a marker for a snapshot of its log up to its commit
/// LSN: the snapshotter read that committed log, wrote, read back and
/// verified it (so it exists, whatever happens to the marker).
fn mark(s: &mut State, w: usize) -> Option<()> {
    let wr = &mut s.writers[w];
    let Phase::Writing(p) = &mut wr.phase else { return None };
    let c = p.commit_lsn();
    let snap = wr.log.get(..c as usize)?.to_vec();
    let lsn = p.last_lsn() + 1;
    p.push(vec![marker_record(lsn, wr.epoch, c)]);
    wr.log.push(wr.epoch);
    wr.lease.pushed.insert(lsn, s.now);
    s.ghost.markers.insert((lsn, wr.epoch), c);
    s.ghost.snapshots.insert(c, (snap, wr.epoch));
    Some(())
}

/// Node `n` truncates below its newest committed marker's snapshot (R14);
/// a verified snapshot must hold everything it drops.
fn truncate(s: &mut State, n: usize) -> Option<()> {
    let node = &mut s.nodes[n];
    let t = node.log.truncation_point(0)?;
    node.log.truncate_below(t);
    let base = node.log.base_mark();
    node.disk.retain(|r| r.0 > base.0);
    node.disk_base = base;
    let g = &mut s.ghost;
    g.truncated = true;
    g.truncated_unsafe |= g.snapshots.range(base.0..).next().is_none();
    Some(())
}

/// A node's log as a writer that adopts it holds it: below the node's
/// base, the newest snapshot (which must reach the base), then the
/// node's records.
fn restored_log(g: &mut Ghost, node: &NodeM) -> Vec<Epoch> {
    let base = node.log.base() as usize;
    let mut log = match g.snapshots.iter().next_back() {
        _ if base == 0 => Vec::new(),
        Some((_, (snap, _))) if snap.len() >= base => snap[..base].to_vec(),
        _ => {
            g.truncated_unsafe = true;
            vec![0; base]
        }
    };
    log.extend(node.epochs());
    log
}

/// A new writer's log must agree with every snapshot an earlier writer's
/// commits made (a restored engine and the log it continues are one history).
fn check_snapshots(g: &mut Ghost, log: &[Epoch], epoch: Epoch) {
    let agrees = |(l, (snap, by)): (&Lsn, &(Vec<Epoch>, Epoch))| *by >= epoch || log.get(..*l as usize) == Some(snap);
    g.lost_ack |= !g.snapshots.iter().all(agrees);
}

fn cut(wr: &mut WriterM, n: usize) {
    if let Phase::Writing(p) = &mut wr.phase
        && wr.links[n].up
    {
        p.on_lost(n);
    }
    wr.links[n] = Link::default();
}

fn outcome_of(s: &mut State, w: usize, n: usize, o: Outcome) {
    match o {
        Outcome::Ok => {}
        Outcome::Fenced(_) => {
            s.writers[w].phase = Phase::Dead;
            s.writers[w].links = Default::default();
        }
        Outcome::Drop(_) => cut(&mut s.writers[w], n),
    }
}

/// A new writer's log must hold every record that a writer of an earlier
/// epoch showed a client or reader (leader completeness). Records first
/// committed by a newer writer do not bind it: a writer that adopts late,
/// after a newer one took over, is fenced at its first Append.
fn check_adopted(g: &mut Ghost, log: &[Epoch], epoch: Epoch) {
    let holds = |(l, (e, by)): (&Lsn, &(Epoch, Epoch))| *by >= epoch || log.get(*l as usize - 1) == Some(e);
    g.lost_ack |= !g.acked.iter().all(holds);
    g.lost_visible |= !g.visible.iter().all(holds);
}

/// Notes what writers acknowledged and nodes serve as committed.
fn observe(s: &mut State) {
    let g = &mut s.ghost;
    for wr in &s.writers {
        let Phase::Writing(p) = &wr.phase else { continue };
        for l in 1..=p.commit_lsn() {
            // A commit beyond the writer's own log counts records it never wrote.
            let Some(&e) = wr.log.get(l as usize - 1) else {
                g.lost_ack = true;
                break;
            };
            g.lost_ack |= g.acked.entry(l).or_insert((e, wr.epoch)).0 != e;
            g.lost_visible |= g.visible.get(&l).is_some_and(|v| v.0 != e);
        }
    }
    for node in &mut s.nodes {
        let c = node.log.commit();
        g.commit_back |= c < node.commit_seen;
        node.commit_seen = node.commit_seen.max(c);
        for l in 1..=c {
            let Some(e) = node.log.epoch_at(l) else { continue };
            g.lost_visible |= g.visible.entry(l).or_insert((e, node.log.promised())).0 != e;
            g.lost_ack |= g.acked.get(&l).is_some_and(|a| a.0 != e);
        }
    }
}

/// The staging replica reads node `n`'s log (a `Peer` read: everything
/// the node holds) from where its chain stands, as the puller would, and
/// takes the node's commit LSN, with its record there, as a commit fact
/// (`replica/src/replicator.rs`); what that proves it applies.
fn stage_read(s: &mut State, n: usize) -> Option<()> {
    let st = s.staging.as_mut()?;
    let from = st.read_from();
    let log = &s.nodes[n].log;
    if from <= log.base() {
        // Truncated past the replica: it would restore a snapshot (not modelled).
        return None;
    }
    let records: Vec<Record> =
        (from..=log.last_lsn()).filter_map(|l| Some(record_of(&s.ghost, l, log.epoch_at(l)?))).collect();
    let before = st.clone();
    let fact = sixfold_replica::replicator::committed_in(&records, s.nodes[n].log.commit());
    // A refused read (a lagging node) changes nothing: the puller reads another.
    let _ = st.on_read(records);
    if let Some((c, e)) = fact {
        st.on_commit(c, e);
    }
    let changed = *st != before;
    let promised = s.nodes[n].log.promised();
    apply_ready(s, promised);
    changed.then_some(())
}

/// The staging replica applies what its commit facts prove: it becomes
/// visible to its readers, so it must be the committed log (`epoch`
/// names who made it visible, for the ghost's record).
fn apply_ready(s: &mut State, epoch: sixfold_wire::Epoch) {
    let Some(st) = s.staging.as_mut() else { return };
    let g = &mut s.ghost;
    for r in st.take_ready() {
        g.lost_visible |= g.visible.entry(r.lsn).or_insert((r.epoch, epoch)).0 != r.epoch;
        g.lost_ack |= g.acked.get(&r.lsn).is_some_and(|a| a.0 != r.epoch);
    }
}

/// Writer `w` notifies its commit (LSN, epoch there); what the replica
/// applies becomes visible to its readers: it must be the committed log.
fn notify(s: &mut State, w: usize) -> Option<()> {
    let wr = &s.writers[w];
    let Phase::Writing(p) = &wr.phase else { return None };
    let c = p.commit_lsn();
    let e = *wr.log.get(c.checked_sub(1)? as usize)?;
    let epoch = wr.epoch;
    let st = s.staging.as_mut()?;
    let before = st.clone();
    st.on_commit(c, e);
    let changed = *st != before;
    apply_ready(s, epoch);
    changed.then_some(())
}

/// Renews leases as `writer/src/fabric.rs` does (a record of the writer's
/// own whose commit four nodes acknowledged learning holds its lease until
/// its push time plus the lease),
/// then notes two writers serving at once, and a serving writer that lacks
/// an acknowledged client write (its reads would be stale).
fn observe_leases(s: &mut State, (l, drift): (u8, u8), from_commit: bool) {
    for wr in &mut s.writers {
        let Phase::Writing(p) = &wr.phase else { continue };
        let commit = if from_commit { p.commit_lsn() } else { p.lease_lsn() };
        for lsn in wr.lease.seen_commit + 1..=commit {
            if let Some(&at) = wr.lease.pushed.get(&lsn) {
                wr.lease.until = wr.lease.until.max(at.saturating_add(l));
            }
        }
        wr.lease.seen_commit = wr.lease.seen_commit.max(commit);
    }
    let serving: Vec<&WriterM> = s.writers.iter().filter(|w| w.serving(s.now, drift)).collect();
    let g = &mut s.ghost;
    g.two_serving |= serving.len() > 1;
    for w in serving {
        let has = |(lsn, e): &(Lsn, Epoch)| w.log.get(*lsn as usize - 1) == Some(e);
        let acked_writes = g
            .acked
            .iter()
            .filter(|(lsn, (e, _))| g.client_writes.contains(&(**lsn, *e)))
            .map(|(lsn, (e, _))| (*lsn, *e));
        g.stale_read |= !acked_writes.collect::<Vec<_>>().iter().all(has);
    }
}

/// The checked model.
pub struct LogModel(pub Config);

impl LogModel {
    /// The state after `a`, not replaced by its symmetry representative.
    pub fn next_raw(&self, s: &State, a: Action) -> Option<State> {
        let mut next = s.clone();
        self.0.step(&mut next, a)?;
        observe(&mut next);
        if let Some(l) = self.0.lease {
            observe_leases(&mut next, (l, self.0.drift), self.0.lease_from_commit);
        }
        Some(next)
    }
}

impl Action {
    /// The same action with storage node `i` called `names[i]`.
    pub fn renamed(&self, names: &[usize; STORAGE_NODES]) -> Action {
        let n = |i: usize| names[i];
        match *self {
            Action::Prepare(w, i) => Action::Prepare(w, n(i)),
            Action::Append(w, i) => Action::Append(w, n(i)),
            Action::Report(w, i) => Action::Report(w, n(i)),
            Action::Connect(w, i) => Action::Connect(w, n(i)),
            Action::Cut(w, i) => Action::Cut(w, n(i)),
            Action::Flush(i) => Action::Flush(n(i)),
            Action::FlushTake(i) => Action::FlushTake(n(i)),
            Action::FlushWrite(i) => Action::FlushWrite(n(i)),
            Action::Fill(i, j) => Action::Fill(n(i), n(j)),
            Action::Pull(i) => Action::Pull(n(i)),
            Action::StageRead(i) => Action::StageRead(n(i)),
            Action::Crash(i) => Action::Crash(n(i)),
            Action::Wipe(i) => Action::Wipe(n(i)),
            Action::Truncate(i) => Action::Truncate(n(i)),
            ref other => other.clone(),
        }
    }
}

impl stateright::Model for LogModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            nodes: std::array::from_fn(|_| NodeM::fresh()),
            writers: Vec::new(),
            faults: 0,
            ghost: Ghost::default(),
            now: 0,
            replica: Default::default(),
            staging: self.0.staging.then(|| {
                let one = record(1, 1, RecordKind::Effects).encoded_len();
                sixfold_replica::staging::Staging::new((0, 0), 2 * one, 2 * one)
            }),
        }]
    }

    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        self.0.actions(s, out);
        if self.0.enabled_only {
            out.retain(|a| self.0.step(&mut s.clone(), a.clone()).is_some());
        }
    }

    fn next_state(&self, s: &State, a: Action) -> Option<State> {
        let next = self.next_raw(s, a)?;
        Some(if self.0.canonical { stateright::Representative::representative(&next) } else { next })
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        crate::props::properties(self.0.lease.is_some(), self.0.staging, self.0.marks_max > 0)
    }
}
