//! Linearizability of register histories (Wing & Gong's search, with the
//! memoization of Lowe / Porcupine), split per key. A history is
//! linearizable if its operations can be ordered so that each takes effect
//! at one instant between its invocation and completion and every read
//! returns the latest write before it. Failed operations are dropped;
//! writes with unknown outcome may take effect at any time after their
//! invocation or never; reads with unknown outcome are dropped.

use crate::history::{Nanos, Outcome, RegisterCall, RegisterOp};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The verdict for a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some order explains every operation.
    Linearizable,
    /// No order does; the key and a description.
    Violation {
        /// The key whose history has no linearization.
        key: String,
        /// What could not be explained.
        detail: String,
    },
    /// The search ran out of its step budget on this key: not proven
    /// either way (never counted as a pass).
    Unknown {
        /// The key.
        key: String,
    },
}

/// One operation as the search sees it.
#[derive(Debug, Clone)]
struct Entry {
    op: RegisterOp,
    invoked: Nanos,
    completed: Nanos,
}

/// The operations of each key the search must place. Failed operations and
/// reads of unknown outcome are dropped. A write of unknown outcome whose
/// value no read returned is dropped too (placing it can never explain a
/// read); one whose value was read must have taken effect before the first
/// such read completed (values are unique), so it gets that completion.
fn prepare(history: &[RegisterCall]) -> BTreeMap<&str, Vec<Entry>> {
    let mut first_read: HashMap<(&str, u64), Nanos> = HashMap::new();
    for c in history {
        if let (Outcome::Ok, RegisterOp::Read(Some(v))) = (c.outcome, &c.op) {
            let t = first_read.entry((c.key.as_str(), *v)).or_insert(c.completed);
            *t = (*t).min(c.completed);
        }
    }
    let mut keys: BTreeMap<&str, Vec<Entry>> = BTreeMap::new();
    for c in history {
        let completed = match (c.outcome, &c.op) {
            (Outcome::Fail, _) | (Outcome::Info, RegisterOp::Read(_)) => continue,
            (Outcome::Info, RegisterOp::Write(v)) => match first_read.get(&(c.key.as_str(), *v)) {
                Some(&t) => t,
                None => continue,
            },
            (Outcome::Ok, _) => c.completed,
        };
        keys.entry(c.key.as_str()).or_default().push(Entry { op: c.op.clone(), invoked: c.invoked, completed });
    }
    keys
}

/// Checks every key of `history`, with at most `steps_per_key` search steps each.
pub fn check(history: &[RegisterCall], steps_per_key: u64) -> Verdict {
    for (key, mut entries) in prepare(history) {
        entries.sort_by_key(|e| e.invoked);
        match search(&entries, steps_per_key) {
            Some(true) => {}
            Some(false) => {
                let detail = format!("no order of its {} operations explains every read", entries.len());
                return Verdict::Violation { key: key.to_string(), detail };
            }
            None => return Verdict::Unknown { key: key.to_string() },
        }
    }
    Verdict::Linearizable
}

/// The operations that may go next: those from `lo` (the first not yet
/// placed) invoked before every unplaced operation completed; returns the
/// end of that window and the horizon (the earliest such completion).
fn window(entries: &[Entry], done: &[bool], lo: usize) -> (usize, Nanos) {
    let (mut hi, mut horizon) = (lo, Nanos::MAX);
    while hi < entries.len() && entries[hi].invoked <= horizon {
        if !done[hi] {
            horizon = horizon.min(entries[hi].completed);
        }
        hi += 1;
    }
    (hi, horizon)
}

/// The placed operations in `lo..hi`, as bits without trailing zero words
/// (everything before `lo` is placed, nothing from `hi` on: an operation is
/// placed only inside the window, and the window never shrinks while
/// operations are placed).
fn bits(done: &[bool], lo: usize, hi: usize) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    for (i, _) in done[lo..hi.max(lo)].iter().enumerate().filter(|(_, d)| **d) {
        if v.len() <= i / 64 {
            v.resize(i / 64 + 1, 0);
        }
        v[i / 64] |= 1 << (i % 64);
    }
    v
}

/// Depth-first search over linearization points, remembering every
/// (operations placed, register value) configuration already explored.
/// Each step looks only at the window of operations that may go next.
/// `Some(true)`: an order exists; `Some(false)`: none does; `None`: the
/// budget ran out.
fn search(entries: &[Entry], budget: u64) -> Option<bool> {
    let n = entries.len();
    let mut done = vec![false; n];
    let mut seen: HashSet<(usize, Vec<u64>, Option<u64>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<u64>)> = Vec::new();
    let (mut state, mut start, mut lo, mut steps) = (None, 0, 0, 0u64);
    loop {
        while lo < n && done[lo] {
            lo += 1;
        }
        if lo == n {
            return Some(true);
        }
        steps += 1;
        if steps > budget {
            return None;
        }
        let (hi, horizon) = window(entries, &done, lo);
        let mut chosen = None;
        for i in start.max(lo)..hi {
            if done[i] || entries[i].invoked > horizon {
                continue;
            }
            let after = match &entries[i].op {
                RegisterOp::Write(v) => Some(*v),
                RegisterOp::Read(v) if *v == state => state,
                RegisterOp::Read(_) => continue,
            };
            done[i] = true;
            let next_lo = if i == lo { (lo..n).find(|&j| !done[j]).unwrap_or(n) } else { lo };
            if seen.insert((next_lo, bits(&done, next_lo, hi), after)) {
                chosen = Some((i, after));
                break;
            }
            done[i] = false;
        }
        match chosen {
            Some((i, after)) => {
                stack.push((i, state));
                state = after;
                start = 0;
            }
            None => {
                let Some((i, prev)) = stack.pop() else { return Some(false) };
                done[i] = false;
                lo = lo.min(i);
                state = prev;
                start = i + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(p: u64, op: RegisterOp, invoked: Nanos, completed: Nanos, outcome: Outcome) -> RegisterCall {
        RegisterCall { process: p, key: "k".into(), op, invoked, completed, outcome }
    }
    use Outcome::{Fail, Info, Ok};
    use RegisterOp::{Read, Write};

    #[test]
    fn accepts_concurrent_and_sequential_histories() {
        let h = vec![
            call(1, Write(1), 0, 10, Ok),
            call(2, Read(Some(1)), 11, 20, Ok),
            call(1, Write(2), 21, 40, Ok),
            call(2, Read(Some(1)), 22, 30, Ok), // concurrent with the write: may see the old value
            call(3, Read(Some(2)), 25, 35, Ok), // or the new one
            call(2, Read(Some(2)), 41, 50, Ok),
        ];
        assert_eq!(check(&h, 100_000), Verdict::Linearizable);
    }

    #[test]
    fn rejects_a_stale_read() {
        let h = vec![call(1, Write(1), 0, 10, Ok), call(1, Write(2), 11, 20, Ok), call(2, Read(Some(1)), 21, 30, Ok)];
        assert!(matches!(check(&h, 100_000), Verdict::Violation { .. }));
    }

    #[test]
    fn rejects_a_read_from_the_future() {
        let h = vec![call(2, Read(Some(7)), 0, 10, Ok), call(1, Write(7), 11, 20, Ok)];
        assert!(matches!(check(&h, 100_000), Verdict::Violation { .. }));
    }

    #[test]
    fn rejects_a_lost_acknowledged_write() {
        let h = vec![call(1, Write(1), 0, 10, Ok), call(2, Read(None), 11, 20, Ok)];
        assert!(matches!(check(&h, 100_000), Verdict::Violation { .. }));
    }

    #[test]
    fn unknown_writes_may_or_may_not_happen_failed_ones_never() {
        let maybe =
            vec![call(1, Write(1), 0, 10, Info), call(2, Read(None), 11, 20, Ok), call(2, Read(Some(1)), 21, 30, Ok)];
        assert_eq!(check(&maybe, 100_000), Verdict::Linearizable, "an unknown write may land late");
        let never = vec![call(1, Write(1), 0, 10, Info), call(2, Read(None), 11, 20, Ok)];
        assert_eq!(check(&never, 100_000), Verdict::Linearizable, "or never");
        let failed = vec![call(1, Write(1), 0, 10, Fail), call(2, Read(Some(1)), 11, 20, Ok)];
        assert!(matches!(check(&failed, 100_000), Verdict::Violation { .. }), "a failed write must not be seen");
    }

    #[test]
    fn an_unknown_write_that_was_read_lands_before_the_read() {
        // Write 1 is unknown; a read saw 1 and completed at 30, so it took
        // effect by then: a later read of nil (with no other write) is stale.
        let h =
            vec![call(1, Write(1), 0, 10, Info), call(2, Read(Some(1)), 21, 30, Ok), call(2, Read(None), 31, 40, Ok)];
        assert!(matches!(check(&h, 100_000), Verdict::Violation { .. }));
        let seen_before_invoked = vec![call(2, Read(Some(1)), 0, 5, Ok), call(1, Write(1), 10, 20, Info)];
        assert!(matches!(check(&seen_before_invoked, 100_000), Verdict::Violation { .. }));
    }

    #[test]
    fn long_histories_are_checked_in_steps_proportional_to_their_length() {
        // 200,000 operations of 4 overlapping clients: a stale read at the end is found.
        let mut h = Vec::new();
        for i in 0..50_000u64 {
            let t = i * 100;
            h.push(call(1, Write(i + 1), t, t + 150, Ok));
            h.push(call(2, Read(Some(i + 1)), t + 160, t + 170, Ok));
            h.push(call(3, Read(Some(i + 1)), t + 155, t + 199, Ok));
            h.push(call(4, Read((i > 0).then_some(i)), t + 1, t + 140, Ok));
        }
        assert_eq!(check(&h, 1_000_000), Verdict::Linearizable);
        h.push(call(5, Read(Some(3)), 50_000 * 100, 50_000 * 100 + 10, Ok));
        assert!(matches!(check(&h, 10_000_000), Verdict::Violation { .. }));
    }

    #[test]
    fn a_small_budget_answers_unknown_not_pass() {
        let mut h = Vec::new();
        for i in 0..30u64 {
            h.push(call(i, Write(i + 1), 0, 1000, Ok));
        }
        h.push(call(99, Read(Some(1)), 1001, 1002, Ok));
        assert!(matches!(check(&h, 10), Verdict::Unknown { .. }));
    }
}
