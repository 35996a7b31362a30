//! The value types a key can hold: strings, lists, hashes, sets, sorted
//! sets, streams (`crate::stream`).

use bytes::Bytes;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// A key's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A binary-safe string.
    Str(Bytes),
    /// A list of strings.
    List(VecDeque<Bytes>),
    /// A field → value map.
    Hash(HashMap<Bytes, Bytes>),
    /// A set of strings.
    Set(HashSet<Bytes>),
    /// A sorted set.
    ZSet(ZSet),
    /// A stream (boxed: it is large and rare).
    Stream(Box<crate::stream::Stream>),
}

impl Value {
    /// The name `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// True for an empty collection (such keys are removed, as in Redis).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // An empty stream stays, as in Redis.
            Value::Stream(_) => false,
        }
    }

    /// The encoding `OBJECT ENCODING` reports, from the value's current shape
    /// with Redis's default thresholds.
    pub fn encoding(&self) -> &'static str {
        const SMALL_ENTRIES: usize = 128;
        const SMALL_BYTES: usize = 64;
        let small = |n: usize, mut lens: Box<dyn Iterator<Item = usize> + '_>| {
            n <= SMALL_ENTRIES && lens.all(|l| l <= SMALL_BYTES)
        };
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && crate::util::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(l) => {
                if small(l.len(), Box::new(l.iter().map(|e| e.len()))) {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
            Value::Hash(h) => {
                let lens = h.iter().map(|(k, v)| k.len().max(v.len()));
                if small(h.len(), Box::new(lens)) { "listpack" } else { "hashtable" }
            }
            Value::Set(s) => {
                if s.len() <= 512 && s.iter().all(|m| crate::util::parse_i64(m).is_some()) {
                    "intset"
                } else if small(s.len(), Box::new(s.iter().map(|m| m.len()))) {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::ZSet(z) => {
                if small(z.len(), Box::new(z.scores.keys().map(|m| m.len()))) {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
            Value::Stream(_) => "stream",
        }
    }
}

/// A score with a total order (sorted sets never hold NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        // -0.0 and 0.0 are the same score, as in Redis.
        if self.0 == other.0 { Ordering::Equal } else { self.0.total_cmp(&other.0) }
    }
}

/// A sorted set: members ordered by (score, member bytes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    scores: HashMap<Bytes, f64>,
    order: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score; returns true if the member is new.
    pub fn insert(&mut self, member: Bytes, score: f64) -> bool {
        match self.scores.insert(member.clone(), score) {
            Some(old) => {
                self.order.remove(&(Score(old), member.clone()));
                self.order.insert((Score(score), member));
                false
            }
            None => {
                self.order.insert((Score(score), member));
                true
            }
        }
    }

    /// Removes `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove_entry(member) {
            Some((m, s)) => {
                self.order.remove(&(Score(s), m));
                true
            }
            None => false,
        }
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = self.score(member)?;
        Some(self.order.range(..(Score(s), Bytes::copy_from_slice(member))).count())
    }

    /// Members in ascending order from the first whose score is at least
    /// `min`.
    pub fn from_score(&self, min: f64) -> impl Iterator<Item = (&Bytes, f64)> {
        self.order.range((Score(min), Bytes::new())..).map(|(s, m)| (m, s.0))
    }

    /// The lowest-ranked member.
    pub fn first(&self) -> Option<(Bytes, f64)> {
        self.order.first().map(|(s, m)| (m.clone(), s.0))
    }

    /// The highest-ranked member.
    pub fn last(&self) -> Option<(Bytes, f64)> {
        self.order.last().map(|(s, m)| (m.clone(), s.0))
    }

    /// Members and scores, unordered (for digests and set algebra).
    pub fn members(&self) -> impl Iterator<Item = (&Bytes, &f64)> {
        self.scores.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zset_orders_by_score_then_member() {
        let mut z = ZSet::default();
        z.insert(Bytes::from("b"), 1.0);
        z.insert(Bytes::from("a"), 1.0);
        z.insert(Bytes::from("c"), 0.5);
        let order: Vec<_> = z.iter().map(|(m, _)| m.clone()).collect();
        assert_eq!(order, vec![Bytes::from("c"), Bytes::from("a"), Bytes::from("b")]);
        assert_eq!(z.rank(b"b"), Some(2));
        assert!(!z.insert(Bytes::from("c"), 3.0));
        assert_eq!(z.rank(b"c"), Some(2));
        assert!(z.remove(b"a"));
        assert_eq!(z.len(), 2);
    }
}
