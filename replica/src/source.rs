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

#[cfg(test)]
mod tests {
    use super::*;

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
