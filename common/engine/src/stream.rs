//! The stream value (Redis streams): entries ordered by ID, the counters
//! Redis 7 keeps beside them (last generated ID, entries added, largest
//! deleted ID), the node layout that approximate trimming (`~`) works on,
//! and consumer groups with their pending entries.
//!
//! Nodes stand for Redis's listpacks: a new one starts once the last holds
//! `stream-node-max-entries` slots (live or deleted entries); a node goes
//! when its last live entry is deleted; `~` trimming removes whole nodes
//! only. (Redis also starts a node at `stream-node-max-bytes`; Sixfold
//! counts entries only.)

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A stream entry ID: milliseconds and a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The smallest ID, `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    /// An ID.
    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, if there is one.
    pub fn next(self) -> Option<StreamId> {
        match (self.seq.checked_add(1), self.ms.checked_add(1)) {
            (Some(seq), _) => Some(StreamId::new(self.ms, seq)),
            (None, Some(ms)) => Some(StreamId::new(ms, 0)),
            (None, None) => None,
        }
    }

    /// The previous ID, if there is one.
    pub fn prev(self) -> Option<StreamId> {
        match (self.seq.checked_sub(1), self.ms.checked_sub(1)) {
            (Some(seq), _) => Some(StreamId::new(self.ms, seq)),
            (None, Some(ms)) => Some(StreamId::new(ms, u64::MAX)),
            (None, None) => None,
        }
    }

    /// Parses `ms-seq` or `ms` (the sequence then `missing_seq`); `None`
    /// for anything else.
    pub fn parse(b: &[u8], missing_seq: u64) -> Option<StreamId> {
        let num = |p: &[u8]| -> Option<u64> {
            (!p.is_empty() && p.len() <= 20 && p.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(p).ok()?.parse().ok())?
        };
        match b.iter().position(|c| *c == b'-') {
            None => Some(StreamId::new(num(b)?, missing_seq)),
            Some(i) => Some(StreamId::new(num(&b[..i])?, num(&b[i + 1..])?)),
        }
    }

    /// The ID as a reply's bulk string.
    pub fn bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An entry a group delivered and no consumer acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The consumer it was delivered to last.
    pub consumer: Bytes,
    /// When it was delivered last (unix ms).
    pub delivered_ms: i64,
    /// How often it was delivered.
    pub deliveries: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// When it last read or claimed (unix ms).
    pub seen_ms: i64,
    /// The IDs pending for it.
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// The last ID delivered to the group.
    pub last_id: StreamId,
    /// Entries the group read, when known (Redis's `entries-read`).
    pub entries_read: Option<u64>,
    /// Pending entries by ID.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers by name.
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// The consumer named `name`, created (seen at `now_ms`) if missing;
    /// true when it was created.
    pub fn consumer(&mut self, name: &Bytes, now_ms: i64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c =
            self.consumers.entry(name.clone()).or_insert_with(|| Consumer { seen_ms: now_ms, ..Default::default() });
        (c, created)
    }

    /// Removes `id` from the pending entries (and its consumer's); true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(p) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&p.consumer) {
            c.pending.remove(&id);
        }
        true
    }

    /// Makes `id` pending for `consumer`, delivered at `at_ms` for the
    /// `deliveries`-th time (moved from another consumer if pending there).
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, at_ms: i64, deliveries: u64) {
        self.ack(id);
        self.consumers.entry(consumer.clone()).or_default().pending.insert(id);
        self.pel.insert(id, Pending { consumer: consumer.clone(), delivered_ms: at_ms, deliveries });
    }
}

/// A stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream {
    /// Entries by ID: field, value, field, value, ...
    pub entries: BTreeMap<StreamId, Vec<Bytes>>,
    /// The last ID generated (or set by XSETID).
    pub last_id: StreamId,
    /// The largest ID deleted by XDEL.
    pub max_deleted: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
    /// Node first IDs → slots used (live and deleted entries).
    nodes: BTreeMap<StreamId, u64>,
}

/// How a trim is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimTo {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries below this ID.
    MinId(StreamId),
}

impl Stream {
    /// Live entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without live entries (an empty stream still exists).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first live entry's ID, `0-0` if none (Redis's `first_id`).
    pub fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    /// Nodes (Redis's radix tree keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends an entry with `id` (greater than the last ID), starting a
    /// node after `node_entries_max` slots (0: no limit).
    pub fn add(&mut self, id: StreamId, fields: Vec<Bytes>, node_entries_max: u64) {
        debug_assert!(id > self.last_id || (self.entries_added == 0 && id > StreamId::MIN));
        let last_full =
            self.nodes.iter().next_back().is_none_or(|(_, n)| node_entries_max > 0 && *n >= node_entries_max);
        if last_full {
            self.nodes.insert(id, 1);
        } else if let Some((_, n)) = self.nodes.iter_mut().next_back() {
            *n += 1;
        }
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// The node holding `id`.
    fn node_of(&self, id: StreamId) -> Option<StreamId> {
        self.nodes.range(..=id).next_back().map(|(k, _)| *k)
    }

    /// Live entries of the node starting at `start`.
    fn live_in(&self, start: StreamId) -> usize {
        let end = self.nodes.range(start..).nth(1).map(|(k, _)| *k);
        match end {
            Some(e) => self.entries.range(start..e).count(),
            None => self.entries.range(start..).count(),
        }
    }

    /// Deletes entry `id` (its node too once empty); true if it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        if let Some(node) = self.node_of(id)
            && self.live_in(node) == 0
        {
            self.nodes.remove(&node);
        }
        true
    }

    /// Trims from the oldest entry; `approx` removes whole nodes only,
    /// at most `limit` entries (0: none). Returns the entries removed.
    pub fn trim(&mut self, to: TrimTo, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        while let Some((&start, _)) = self.nodes.iter().next() {
            if let TrimTo::MaxLen(max) = to
                && self.len() as u64 <= max
            {
                break;
            }
            let live = self.live_in(start) as u64;
            if limit > 0 && removed + live > limit {
                break;
            }
            let end = self.nodes.range(start..).nth(1).map(|(k, _)| *k);
            let whole = match to {
                TrimTo::MaxLen(max) => self.len() as u64 - live >= max,
                TrimTo::MinId(min) => {
                    let last = match end {
                        Some(e) => self.entries.range(start..e).next_back().map(|(k, _)| *k),
                        None => self.entries.range(start..).next_back().map(|(k, _)| *k),
                    };
                    last.is_none_or(|l| l < min)
                }
            };
            if whole {
                let ids: Vec<StreamId> = match end {
                    Some(e) => self.entries.range(start..e).map(|(k, _)| *k).collect(),
                    None => self.entries.range(start..).map(|(k, _)| *k).collect(),
                };
                ids.iter().for_each(|id| {
                    self.entries.remove(id);
                });
                self.nodes.remove(&start);
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            // Entries within the node, oldest first, as far as the bound says.
            while let Some((&id, _)) = self.entries.iter().next() {
                let done = match to {
                    TrimTo::MaxLen(max) => self.len() as u64 <= max,
                    TrimTo::MinId(min) => id >= min,
                };
                if done {
                    break;
                }
                self.entries.remove(&id);
                removed += 1;
            }
            break;
        }
        removed
    }

    /// Entries with IDs in `from..=to`, oldest first (newest first with
    /// `rev`), at most `count` (0: all).
    pub fn range(&self, from: StreamId, to: StreamId, count: usize, rev: bool) -> Vec<(StreamId, &Vec<Bytes>)> {
        if from > to {
            return Vec::new();
        }
        let it = self.entries.range(from..=to).map(|(k, v)| (*k, v));
        let take = if count == 0 { usize::MAX } else { count };
        if rev { it.rev().take(take).collect() } else { it.take(take).collect() }
    }

    /// Whether an entry XDEL deleted lies in `from..=to` (Redis's
    /// `streamRangeHasTombstones`).
    pub fn has_tombstones(&self, from: StreamId, to: StreamId) -> bool {
        if self.is_empty() || self.max_deleted == StreamId::MIN || self.first_id() > self.max_deleted {
            return false;
        }
        from <= self.max_deleted && self.max_deleted <= to
    }

    /// How many entries precede `id` since the stream's first, if that
    /// can be told (Redis's `streamEstimateDistanceFromFirstEverEntry`).
    pub fn entries_before(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted == StreamId::MIN || self.max_deleted < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return Some(self.entries_added - self.len() as u64),
                std::cmp::Ordering::Equal => return Some(self.entries_added - self.len() as u64 + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag, when it can be told (negative, as in Redis, when
    /// XSETID or XGROUP set counters that disagree).
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let lag = |read: u64| (self.entries_added as i64).wrapping_sub(read as i64);
        if let Some(read) = g.entries_read.filter(|_| !self.has_tombstones(g.last_id, StreamId::MAX)) {
            return Some(lag(read));
        }
        self.entries_before(g.last_id).map(lag)
    }

    /// Moves group `name`'s last delivered ID to `id`, keeping its read
    /// counter as Redis does as it delivers.
    pub fn advance_group(&mut self, name: &Bytes, id: StreamId) {
        let tomb = self.has_tombstones(id, StreamId::MAX);
        let estimate = self.entries_before(id);
        let added = self.entries_added;
        if let Some(g) = self.groups.get_mut(name)
            && id > g.last_id
        {
            match g.entries_read {
                Some(n) if !tomb => g.entries_read = Some(n + 1),
                _ if added > 0 => g.entries_read = estimate,
                _ => {}
            }
            g.last_id = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> StreamId {
        StreamId::new(ms, 0)
    }

    #[test]
    fn ids_parse_and_step() {
        assert_eq!(StreamId::parse(b"5-3", 0), Some(StreamId::new(5, 3)));
        assert_eq!(StreamId::parse(b"5", 7), Some(StreamId::new(5, 7)));
        assert_eq!(StreamId::parse(b"5-", 0), None);
        assert_eq!(StreamId::parse(b"-5", 0), None);
        assert_eq!(StreamId::parse(b"18446744073709551616", 0), None);
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
    }

    #[test]
    fn approximate_trimming_removes_whole_nodes_only() {
        let mut s = Stream::default();
        for ms in 1..=250 {
            s.add(id(ms), vec![Bytes::from("f"), Bytes::from("v")], 100);
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.trim(TrimTo::MaxLen(120), true, 0), 100, "one node of 100 goes");
        assert_eq!(s.trim(TrimTo::MaxLen(120), true, 0), 0, "the next would leave fewer than 120");
        assert_eq!(s.trim(TrimTo::MaxLen(120), false, 0), 30, "exact trimming goes inside the node");
        assert_eq!(s.first_id(), id(131));
        assert_eq!(s.trim(TrimTo::MinId(id(200)), false, 0), 69);
        assert_eq!(s.len(), 51);
    }

    #[test]
    fn a_node_goes_with_its_last_entry_and_counters_follow_redis() {
        let mut s = Stream::default();
        for ms in 1..=3 {
            s.add(id(ms), vec![], 2);
        }
        assert!(s.delete(id(3)));
        assert_eq!(s.node_count(), 1);
        assert_eq!(s.entries_before(id(1)), Some(2), "3 added, 2 left: the first is the 2nd ever");
        assert_eq!(s.entries_before(id(0)), Some(1));
        s.max_deleted = id(3);
        assert_eq!(s.entries_before(id(1)), None, "a tombstone after the first entry: no estimate");
        assert!(s.has_tombstones(id(1), StreamId::MAX));
        assert!(!s.has_tombstones(id(4), StreamId::MAX));
    }
}
