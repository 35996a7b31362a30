//! Segment files: the durable log on disk. Each file `<first_lsn>.seg`
//! (20 digits) holds a contiguous run of records in their wire layout.
//! Writes go to the newest segment and are made durable by [`SegmentStore::sync`]
//! (group fsync); sealed and active segments are read through memmap2.
//!
//! Recovery ([`SegmentStore::open`]) reads every segment, verifies every
//! record's CRC and the LSN order, cuts the log at the first bad or torn
//! record (truncating that file and deleting the later ones) and says so.

use crate::uring::Uring;
use memmap2::Mmap;
use sixfold_wire::{Epoch, Lsn, Record};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One segment file.
#[derive(Debug)]
struct Segment {
    first_lsn: Lsn,
    path: PathBuf,
    /// Byte offset of each record; `offsets[i]` is LSN `first_lsn + i`.
    offsets: Vec<u64>,
    len_bytes: u64,
}

impl Segment {
    fn last_lsn(&self) -> Lsn {
        self.first_lsn + self.offsets.len() as Lsn - 1
    }
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// LSNs at or below this are not on disk (dropped below a snapshot).
    pub base: Lsn,
    /// Epoch of the record at `base` (in the first segment's name).
    pub base_epoch: Epoch,
    /// `(marker LSN, snapshot LSN)` of the snapshot markers found.
    pub marks: Vec<(Lsn, Lsn)>,
    /// Epoch of each intact record above `base`, in order.
    pub epochs: Vec<Epoch>,
    /// Where the log was cut, and why (a torn or corrupt tail).
    pub cut: Option<String>,
    /// The cut was inside a sealed segment (one with a later segment after
    /// it): records written and synced long ago are gone — the disk lied,
    /// or lost them — not just a tail torn by a crash.
    pub sealed_lost: bool,
}

/// The segment files of one node.
#[derive(Debug)]
pub struct SegmentStore {
    dir: PathBuf,
    segment_bytes_max: u64,
    segments: Vec<Segment>,
    active: Option<File>,
    /// io-uring for writes and syncs, when the kernel allows it.
    uring: Option<Uring>,
    /// A segment file was created or removed since the last sync.
    dir_dirty: bool,
}

/// A segment's file: `<first LSN>-<epoch of the record before it>.seg`, so
/// the epoch at the log's base survives when the segments below it are
/// dropped (`<first LSN>.seg`, from before truncation existed, reads as
/// epoch 0).
fn segment_path(dir: &Path, first_lsn: Lsn, prev_epoch: Epoch) -> PathBuf {
    dir.join(format!("{first_lsn:020}-{prev_epoch:020}.seg"))
}

/// `(first LSN, epoch before it)` from a segment's file name (`None`: a
/// name of the older form, renamed when the store opens).
fn parse_segment_name(name: &str) -> Option<(Lsn, Option<Epoch>)> {
    let stem = name.strip_suffix(".seg")?;
    match stem.split_once('-') {
        Some((first, prev)) => Some((first.parse().ok()?, Some(prev.parse().ok()?))),
        None => Some((stem.parse().ok()?, None)),
    }
}

/// Makes a directory's entries durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SegmentStore {
    /// Opens (creating) `dir`, recovers the log in it. Writes go through
    /// io-uring when `use_uring` and the kernel allows it.
    pub fn open(dir: &Path, segment_bytes_max: u64, use_uring: bool) -> io::Result<(SegmentStore, Recovery)> {
        Self::open_with(dir, segment_bytes_max, use_uring, &mut |_| Ok(()))
    }

    /// [`Self::open`], calling `before_sealed_cut` before it cuts records
    /// out of a sealed segment (so the caller can record the loss durably
    /// before the evidence is gone).
    pub fn open_with(
        dir: &Path,
        segment_bytes_max: u64,
        use_uring: bool,
        before_sealed_cut: &mut dyn FnMut(&Path) -> io::Result<()>,
    ) -> io::Result<(SegmentStore, Recovery)> {
        fs::create_dir_all(dir)?;
        let mut firsts: Vec<(Lsn, Option<Epoch>, PathBuf)> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let (first, prev) = parse_segment_name(e.file_name().to_str()?)?;
                Some((first, prev, e.path()))
            })
            .collect();
        firsts.sort_unstable();
        let mut store = SegmentStore {
            dir: dir.to_path_buf(),
            segment_bytes_max,
            segments: Vec::new(),
            active: None,
            uring: if use_uring { Uring::new().ok() } else { None },
            dir_dirty: false,
        };
        let base = firsts.first().map_or(0, |f| f.0.saturating_sub(1));
        let base_epoch = firsts.first().and_then(|f| f.1).unwrap_or(0);
        let mut rec =
            Recovery { base, base_epoch, epochs: Vec::new(), marks: Vec::new(), cut: None, sealed_lost: false };
        for (n, (first, prev, path)) in firsts.iter().enumerate() {
            let expected = base + rec.epochs.len() as Lsn + 1;
            // A name of the older form gets the epoch before it, so the
            // base's epoch is right once the files below it are dropped.
            let renamed;
            let path = match prev {
                None if *first == expected => {
                    renamed = segment_path(dir, *first, rec.epochs.last().copied().unwrap_or(base_epoch));
                    fs::rename(path, &renamed)?;
                    store.dir_dirty = true;
                    &renamed
                }
                _ => path,
            };
            if rec.cut.is_some() || *first != expected {
                if rec.cut.is_none() {
                    rec.sealed_lost = true;
                    before_sealed_cut(path)?;
                }
                rec.cut.get_or_insert(format!("segment {} does not continue the log at {expected}", path.display()));
                fs::remove_file(path)?;
                store.dir_dirty = true;
                continue;
            }
            let (seg, epochs, problem) = scan(path, *first, &mut rec.marks)?;
            rec.epochs.extend(epochs);
            if let Some(p) = problem {
                rec.sealed_lost = n + 1 < firsts.len();
                if rec.sealed_lost {
                    before_sealed_cut(path)?;
                }
                let f = OpenOptions::new().write(true).open(path)?;
                f.set_len(seg.len_bytes)?;
                f.sync_all()?;
                rec.cut =
                    Some(format!("{}: {p}; log cut after LSN {}", path.display(), base + rec.epochs.len() as Lsn));
            }
            if seg.offsets.is_empty() {
                fs::remove_file(path)?;
                store.dir_dirty = true;
            } else {
                store.segments.push(seg);
            }
        }
        if store.dir_dirty {
            sync_dir(dir)?;
            store.dir_dirty = false;
        }
        Ok((store, rec))
    }

    /// Appends records (which continue the log; `prev_epoch` is the epoch
    /// of the record before the first) to the newest segment, starting a
    /// new one when it is full. Not durable until [`Self::sync`].
    pub fn append(&mut self, records: &[Record], mut prev_epoch: Epoch) -> io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            let full = self.segments.last().is_none_or(|s| s.len_bytes >= self.segment_bytes_max);
            if full || self.active.is_none() {
                self.flush_buf(&mut buf)?;
                self.roll(r.lsn, prev_epoch, full)?;
            }
            prev_epoch = r.epoch;
            let Some(seg) = self.segments.last_mut() else {
                return Err(io::Error::other("no active segment"));
            };
            seg.offsets.push(seg.len_bytes + buf.len() as u64);
            r.encode(&mut buf);
            if seg.len_bytes + buf.len() as u64 >= self.segment_bytes_max {
                self.flush_buf(&mut buf)?;
            }
        }
        self.flush_buf(&mut buf)
    }

    fn flush_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let (Some(f), Some(seg)) = (self.active.as_mut(), self.segments.last_mut()) else {
            return Err(io::Error::other("no active segment"));
        };
        match self.uring.as_mut() {
            Some(u) => u.write_all_at(f, buf, seg.len_bytes)?,
            None => f.write_all(buf)?,
        }
        seg.len_bytes += buf.len() as u64;
        buf.clear();
        Ok(())
    }

    /// Opens the segment to write `lsn` into: a new file when `new` (or none
    /// exists), else the newest one for appending.
    fn roll(&mut self, lsn: Lsn, prev_epoch: Epoch, new: bool) -> io::Result<()> {
        if let Some(f) = self.active.take() {
            f.sync_all()?;
        }
        if new || self.segments.is_empty() {
            let path = segment_path(&self.dir, lsn, prev_epoch);
            let f = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
            self.segments.push(Segment { first_lsn: lsn, path, offsets: Vec::new(), len_bytes: 0 });
            self.active = Some(f);
            self.dir_dirty = true;
        } else if let Some(seg) = self.segments.last() {
            self.active = Some(OpenOptions::new().append(true).open(&seg.path)?);
        }
        Ok(())
    }

    /// Makes everything appended durable (fsync of the file, and of the
    /// directory when files were created or removed).
    pub fn sync(&mut self) -> io::Result<()> {
        match (&self.active, self.uring.as_mut()) {
            (Some(f), Some(u)) => u.sync_data(f)?,
            (Some(f), None) => f.sync_data()?,
            (None, _) => {}
        }
        if self.dir_dirty {
            sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// How segment writes are done: `io-uring` or `plain`.
    pub fn io_kind(&self) -> &'static str {
        if self.uring.is_some() { "io-uring" } else { "plain" }
    }

    /// Drops every record above `lsn` from disk.
    pub fn truncate_after(&mut self, lsn: Lsn) -> io::Result<()> {
        self.active = None;
        while let Some(seg) = self.segments.last_mut() {
            if seg.first_lsn > lsn {
                fs::remove_file(&seg.path)?;
                self.segments.pop();
                self.dir_dirty = true;
                continue;
            }
            let keep = (lsn - seg.first_lsn + 1) as usize;
            if keep < seg.offsets.len() {
                let cut = seg.offsets[keep];
                let f = OpenOptions::new().write(true).open(&seg.path)?;
                f.set_len(cut)?;
                f.sync_all()?;
                seg.offsets.truncate(keep);
                seg.len_bytes = cut;
            }
            break;
        }
        self.sync()
    }

    /// Deletes whole segments whose records are all at or below `lsn`
    /// (never the newest); returns the LSN the files now start after.
    pub fn drop_below(&mut self, lsn: Lsn) -> io::Result<Lsn> {
        while self.segments.len() > 1 && self.segments[0].last_lsn() <= lsn {
            let seg = self.segments.remove(0);
            fs::remove_file(&seg.path)?;
            // Oldest first, each durable before the next: a crash never
            // leaves a gap (which recovery would take for a lost disk).
            sync_dir(&self.dir)?;
        }
        self.sync()?;
        Ok(self.base())
    }

    /// The LSN the segment files start after (0 when there are none).
    pub fn base(&self) -> Lsn {
        self.segments.first().map_or(0, |s| s.first_lsn - 1)
    }

    /// Where the files would start after [`Self::drop_below`]`(lsn)`, if
    /// it would drop any.
    pub fn base_after_drop(&self, lsn: Lsn) -> Option<Lsn> {
        let keep = self.segments.iter().take(self.segments.len().saturating_sub(1)).take_while(|s| s.last_lsn() <= lsn);
        let dropped = keep.count();
        (dropped > 0).then(|| self.segments[dropped].first_lsn - 1)
    }

    /// Records from `from`, at most `max_bytes` (at least one), not above `upto`.
    pub fn read(&self, from: Lsn, upto: Lsn, max_bytes: usize) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        if from <= self.base() {
            // Dropped meanwhile (the caller checked the log's base before).
            return Ok(out);
        }
        let mut bytes = 0;
        let mut lsn = from;
        for seg in self.segments.iter().filter(|s| s.last_lsn() >= from && s.first_lsn <= upto) {
            let map = map_file(&File::open(&seg.path)?)?;
            while lsn <= upto.min(seg.last_lsn()) {
                let at = seg.offsets[(lsn - seg.first_lsn) as usize] as usize;
                let Some((r, n)) = Record::decode(&map[at..]).map_err(io::Error::other)? else {
                    return Err(io::Error::other(format!("record {lsn} is cut short on disk")));
                };
                if !out.is_empty() && bytes + n > max_bytes {
                    return Ok(out);
                }
                bytes += n;
                out.push(r);
                lsn += 1;
            }
        }
        Ok(out)
    }
}

#[allow(unsafe_code)]
fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: segment files are written only by this process, append-only
    // or truncated by the same thread that reads; the map is dropped before
    // any truncation.
    unsafe { Mmap::map(file) }
}

/// Reads one segment: its intact records and the problem that ended it early.
/// Snapshot markers it holds are added to `marks`.
fn scan(path: &Path, first: Lsn, marks: &mut Vec<(Lsn, Lsn)>) -> io::Result<(Segment, Vec<Epoch>, Option<String>)> {
    let data = fs::read(path)?;
    let mut seg = Segment { first_lsn: first, path: path.to_path_buf(), offsets: Vec::new(), len_bytes: 0 };
    let mut epochs = Vec::new();
    let mut at = 0usize;
    let problem = loop {
        if at == data.len() {
            break None;
        }
        match Record::decode(&data[at..]) {
            Ok(Some((r, n))) if r.lsn == first + seg.offsets.len() as Lsn => {
                seg.offsets.push(at as u64);
                epochs.push(r.epoch);
                marks.extend(crate::marks::marker_of(&r));
                at += n;
            }
            Ok(Some((r, _))) => break Some(format!("record {} out of order at byte {at}", r.lsn)),
            Ok(None) => break Some(format!("torn record at byte {at}")),
            Err(e) => break Some(format!("{e} at byte {at}")),
        }
    };
    seg.len_bytes = at as u64;
    Ok((seg, epochs, problem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sixfold_wire::RecordKind;

    fn recs(from: Lsn, to: Lsn) -> Vec<Record> {
        (from..=to)
            .map(|lsn| Record { lsn, epoch: 1, kind: RecordKind::Effects, payload: Bytes::from(vec![lsn as u8; 100]) })
            .collect()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sixfold-seg-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn append_roll_sync_recover_read() {
        let dir = tmp("roll");
        let (mut s, r) = SegmentStore::open(&dir, 1000, true).unwrap();
        assert_eq!(
            r,
            Recovery { base: 0, base_epoch: 0, epochs: vec![], marks: vec![], cut: None, sealed_lost: false }
        );
        s.append(&recs(1, 30), 0).unwrap();
        s.sync().unwrap();
        assert!(fs::read_dir(&dir).unwrap().count() > 1, "segments rolled");
        assert_eq!(s.read(5, 30, usize::MAX).unwrap(), recs(5, 30));
        drop(s);
        let (s, r) = SegmentStore::open(&dir, 1000, true).unwrap();
        assert_eq!((r.base, r.epochs.len(), r.cut), (0, 30, None));
        assert_eq!(s.read(1, 3, 200).unwrap().len(), 1, "max_bytes bounds the answer");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_tail_and_corruption_are_cut() {
        let dir = tmp("torn");
        let (mut s, _) = SegmentStore::open(&dir, 1 << 20, true).unwrap();
        s.append(&recs(1, 10), 0).unwrap();
        s.sync().unwrap();
        drop(s);
        let path = segment_path(&dir, 1, 0);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 7).unwrap();
        let (mut s, r) = SegmentStore::open(&dir, 1 << 20, true).unwrap();
        assert_eq!(r.epochs.len(), 9);
        assert!(r.cut.as_deref().unwrap_or("").contains("torn"), "{:?}", r.cut);
        s.append(&recs(10, 12), 0).unwrap();
        s.sync().unwrap();
        drop(s);
        // Flip a byte inside record 5: it and everything after are cut.
        let mut data = fs::read(&path).unwrap();
        data[4 * 132 + 40] ^= 0xff;
        fs::write(&path, &data).unwrap();
        let (s, r) = SegmentStore::open(&dir, 1 << 20, true).unwrap();
        assert_eq!(r.epochs.len(), 4);
        assert!(r.cut.as_deref().unwrap_or("").contains("CRC"), "{:?}", r.cut);
        assert_eq!(s.read(1, 100, usize::MAX).unwrap(), recs(1, 4));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cut_inside_a_sealed_segment_says_written_records_were_lost() {
        let dir = tmp("sealed");
        let (mut s, _) = SegmentStore::open(&dir, 1000, true).unwrap();
        s.append(&recs(1, 30), 0).unwrap();
        s.sync().unwrap();
        drop(s);
        let first = segment_path(&dir, 1, 0);
        let mut data = fs::read(&first).unwrap();
        data[140] ^= 0x01;
        fs::write(&first, &data).unwrap();
        let (mut s, r) = SegmentStore::open(&dir, 1000, true).unwrap();
        assert!(r.sealed_lost && r.epochs.len() == 1, "{r:?}");
        assert!(fs::read_dir(&dir).unwrap().count() == 1, "later segments removed");
        s.append(&recs(2, 3), 0).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, r) = SegmentStore::open(&dir, 1000, true).unwrap();
        assert!(!r.sealed_lost && r.cut.is_none(), "{r:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncate_after_and_drop_below() {
        let dir = tmp("trunc");
        let (mut s, _) = SegmentStore::open(&dir, 500, false).unwrap();
        s.append(&recs(1, 20), 0).unwrap();
        s.truncate_after(7).unwrap();
        s.append(&recs(8, 9), 0).unwrap();
        s.sync().unwrap();
        assert_eq!(s.read(1, 100, usize::MAX).unwrap(), recs(1, 9));
        let base = s.base_after_drop(6).unwrap();
        assert_eq!(s.drop_below(6).unwrap(), base);
        assert_eq!(s.base_after_drop(base), None, "nothing more below it");
        assert!(s.read(base, 9, usize::MAX).unwrap().is_empty(), "a read below the files finds nothing");
        drop(s);
        let (s, r) = SegmentStore::open(&dir, 500, false).unwrap();
        assert!(r.base > 0 && r.base <= 6, "whole segments below 6 dropped: base {}", r.base);
        assert_eq!((r.base, r.base_epoch), (base, 1), "the epoch at the base is in the first file's name");
        assert_eq!(s.read(r.base + 1, 9, usize::MAX).unwrap(), recs(r.base + 1, 9));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn markers_are_found_and_old_names_read() {
        let dir = tmp("marks");
        fs::create_dir_all(&dir).unwrap();
        let payload = sixfold_wire::SnapshotMarker { lsn: 2, ..Default::default() }.encode();
        let mut recs = recs(1, 4);
        recs[2] = Record { kind: RecordKind::SnapshotMarker, payload, ..recs[2].clone() };
        let mut data = Vec::new();
        recs.iter().for_each(|r| r.encode(&mut data));
        // A file named as before truncation existed.
        fs::write(dir.join(format!("{:020}.seg", 1)), &data).unwrap();
        let mut more = Vec::new();
        super::tests::recs(5, 6).iter().for_each(|r| r.encode(&mut more));
        fs::write(dir.join(format!("{:020}.seg", 5)), &more).unwrap();
        let (_, r) = SegmentStore::open(&dir, 500, false).unwrap();
        assert_eq!((r.base, r.base_epoch, r.epochs.len(), r.marks.clone()), (0, 0, 6, vec![(3, 2)]));
        assert_eq!(parse_segment_name("00000000000000000007-00000000000000000003.seg"), Some((7, Some(3))));
        let mut names: Vec<_> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let want = [format!("{:020}-{:020}.seg", 1, 0), format!("{:020}-{:020}.seg", 5, 1)];
        assert_eq!(names, want, "renamed to the current form, with the epoch before each");
        assert_eq!(parse_segment_name("x.seg"), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
