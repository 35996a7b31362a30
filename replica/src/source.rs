//! Choosing the storage node to read from: nodes of the replica's own zone
//! first, then the others in order; after a failure the next node is tried.
//! No I/O: the puller reports outcomes.

/// The order in which storage nodes are tried, and the current one.
#[derive(Debug, Clone)]
pub struct Source {
    order: Vec<usize>,
    at: usize,
}

impl Source {
    /// Nodes `0..zones.len()` where `zones[i]` is node i's zone; those in
    /// `own_zone` come first.
    pub fn new(zones: &[String], own_zone: &str) -> Source {
        let (mut order, others): (Vec<usize>, Vec<usize>) = (0..zones.len()).partition(|&i| zones[i] == own_zone);
        order.extend(others);
        Source { order, at: 0 }
    }

    /// The node to read from now.
    pub fn current(&self) -> usize {
        self.order[self.at % self.order.len()]
    }

    /// The current node failed or timed out: move to the next one.
    pub fn failed(&mut self) -> usize {
        self.at = (self.at + 1) % self.order.len();
        self.current()
    }

    /// Back to the most preferred node (after a round of failures was
    /// survived, the own zone is tried again first).
    pub fn prefer_own_zone(&mut self) {
        self.at = 0;
    }
}

/// Whether the node read from stopped learning commits (hole 8 of the
/// log-protocol issue): its commit LSN stays below the writer's, as the
/// replica last heard it, for longer than a limit — for example a one-way
/// partition keeps the writer's Appends from it while it still answers.
#[derive(Debug, Clone, Default)]
pub struct Staleness {
    behind_since_ms: Option<u64>,
}

impl Staleness {
    /// The node answered with `node_commit` while the writer's commit LSN
    /// is known to be `writer_commit`; true once it has been behind for
    /// more than `limit_ms` (the caller moves to the next node).
    pub fn observe(&mut self, node_commit: u64, writer_commit: u64, now_ms: u64, limit_ms: u64) -> bool {
        if node_commit >= writer_commit {
            self.behind_since_ms = None;
            return false;
        }
        let since = *self.behind_since_ms.get_or_insert(now_ms);
        now_ms.saturating_sub(since) > limit_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_behind_the_writer_for_too_long_is_left() {
        let mut s = Staleness::default();
        assert!(!s.observe(10, 12, 0, 3000), "behind for a moment is normal");
        assert!(!s.observe(11, 14, 2000, 3000));
        assert!(s.observe(11, 14, 3001, 3000), "still behind after the limit");
        let mut s = Staleness::default();
        assert!(!s.observe(10, 12, 0, 3000));
        assert!(!s.observe(12, 12, 2000, 3000), "caught up: the clock starts again");
        assert!(!s.observe(12, 20, 4000, 3000));
        assert!(!s.observe(20, 0, 9000, 3000), "a writer not heard from yet says nothing");
    }

    #[test]
    fn own_zone_first_then_the_others_in_turn() {
        let zones: Vec<String> = ["a", "a", "b", "b", "c", "c"].iter().map(|z| z.to_string()).collect();
        let mut s = Source::new(&zones, "b");
        assert_eq!(s.current(), 2);
        let tried: Vec<usize> = (0..6).map(|_| s.failed()).collect();
        assert_eq!(tried, vec![3, 0, 1, 4, 5, 2], "every node is tried, own zone first");
        s.failed();
        s.prefer_own_zone();
        assert_eq!(s.current(), 2);
    }
}
