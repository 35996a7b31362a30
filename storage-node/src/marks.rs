//! Which snapshot a storage node may truncate below (`docs/protocol.md`,
//! R14): the `SnapshotMarker` records the node holds above its commit LSN,
//! and the newest snapshot LSN named by a marker it knows is committed. A
//! marker is logged only after the snapshotter wrote, read back and
//! verified the snapshot; only a committed one counts, since an
//! uncommitted record may still be replaced by a newer writer's.
//!
//! No I/O: the log state machine feeds it every record it takes
//! ([`Marks::note`]), every cut ([`Marks::cut_after`]) and every rise of
//! its commit LSN ([`Marks::on_commit`]).

use sixfold_wire::{Lsn, Record, RecordKind, SnapshotMarker};

/// Uncommitted markers a node tracks at most (older ones are forgotten:
/// truncation waits for a later marker, which is safe).
pub const PENDING_MARKS_MAX: usize = 64;

/// The snapshot markers of one node's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Marks {
    /// `(marker LSN, snapshot LSN)` of markers above the commit LSN, in
    /// LSN order.
    pending: Vec<(Lsn, Lsn)>,
    /// The newest snapshot LSN a committed marker names.
    snapshot: Lsn,
}

impl Marks {
    /// Notes `r` if it is a `SnapshotMarker` (one whose payload does not
    /// decode is ignored: it cannot allow truncation).
    pub fn note(&mut self, r: &Record) {
        if r.kind != RecordKind::SnapshotMarker {
            return;
        }
        let Ok(m) = SnapshotMarker::decode(&r.payload) else { return };
        // A snapshot holds the state at an LSN before its marker's.
        if m.lsn >= r.lsn {
            return;
        }
        debug_assert!(self.pending.last().is_none_or(|p| p.0 < r.lsn), "markers noted in LSN order");
        if self.pending.len() == PENDING_MARKS_MAX {
            self.pending.remove(0);
        }
        self.pending.push((r.lsn, m.lsn));
    }

    /// Records above `lsn` were dropped: so are their markers.
    pub fn cut_after(&mut self, lsn: Lsn) {
        self.pending.retain(|p| p.0 <= lsn);
    }

    /// The node's commit LSN rose to `commit`: markers at or below it are
    /// committed.
    pub fn on_commit(&mut self, commit: Lsn) {
        let n = self.pending.partition_point(|p| p.0 <= commit);
        for (_, snap) in self.pending.drain(..n) {
            self.snapshot = self.snapshot.max(snap);
        }
    }

    /// The newest snapshot LSN a committed marker names (0: none).
    pub fn snapshot(&self) -> Lsn {
        self.snapshot
    }

    /// Markers found in the segment files at start-up, in LSN order (none
    /// is known committed yet: the commit LSN is learned again).
    pub fn recovered(pending: Vec<(Lsn, Lsn)>) -> Marks {
        let skip = pending.len().saturating_sub(PENDING_MARKS_MAX);
        Marks { pending: pending[skip..].to_vec(), snapshot: 0 }
    }
}

/// `(marker LSN, snapshot LSN)` of `r` when it is a marker that decodes
/// (what segment recovery collects).
pub fn marker_of(r: &Record) -> Option<(Lsn, Lsn)> {
    let mut m = Marks::default();
    m.note(r);
    m.pending.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn marker(lsn: Lsn, snap: Lsn) -> Record {
        let payload = SnapshotMarker { lsn: snap, epoch: 1, ..Default::default() }.encode();
        Record { lsn, epoch: 1, kind: RecordKind::SnapshotMarker, payload }
    }

    #[test]
    fn only_committed_markers_count() {
        let mut m = Marks::default();
        m.note(&marker(10, 8));
        m.note(&marker(20, 18));
        assert_eq!(m.snapshot(), 0);
        m.on_commit(15);
        assert_eq!(m.snapshot(), 8);
        m.cut_after(19);
        m.on_commit(25);
        assert_eq!(m.snapshot(), 8, "the marker at 20 was replaced before it committed");
    }

    #[test]
    fn bad_markers_are_ignored() {
        let mut m = Marks::default();
        m.note(&Record { lsn: 5, epoch: 1, kind: RecordKind::SnapshotMarker, payload: Bytes::from_static(b"x") });
        m.note(&marker(6, 6));
        m.note(&Record { lsn: 7, epoch: 1, kind: RecordKind::Effects, payload: marker(7, 3).payload });
        m.on_commit(10);
        assert_eq!(m.snapshot(), 0);
        assert_eq!(marker_of(&marker(9, 4)), Some((9, 4)));
    }

    #[test]
    fn pending_markers_are_bounded() {
        let mut m = Marks::default();
        for i in 1..=(PENDING_MARKS_MAX as Lsn + 5) {
            m.note(&marker(i * 2, i * 2 - 1));
        }
        assert_eq!(m.pending.len(), PENDING_MARKS_MAX);
        m.on_commit(LSN_TOP);
        assert_eq!(m.snapshot(), (PENDING_MARKS_MAX as Lsn + 5) * 2 - 1);
    }

    const LSN_TOP: Lsn = 1 << 40;
}
