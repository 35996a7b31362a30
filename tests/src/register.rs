//! Linearizability of register histories (Wing & Gong's search, with the
//! memoization of Lowe / Porcupine), split per key. A history is
//! linearizable if its operations can be ordered so that each takes effect
//! at one instant between its invocation and completion and every read
//! returns the latest write before it. Failed operations are dropped;
//! writes with unknown outcome may take effect at any time after their
//! invocation or never; reads with unknown outcome are dropped.

use crate::history::{Nanos, Outcome, RegisterCall, RegisterOp};
use std::collections::{BTreeMap, HashSet};

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
    /// `Nanos::MAX` for a write of unknown outcome.
    completed: Nanos,
    /// A write of unknown outcome may also never happen.
    optional: bool,
}

/// Checks every key of `history`, with at most `steps_per_key` search steps each.
pub fn check(history: &[RegisterCall], steps_per_key: u64) -> Verdict {
    let mut keys: BTreeMap<&str, Vec<Entry>> = BTreeMap::new();
    for c in history {
        let entry = match (c.outcome, &c.op) {
            (Outcome::Fail, _) | (Outcome::Info, RegisterOp::Read(_)) => continue,
            (Outcome::Info, RegisterOp::Write(_)) => {
                Entry { op: c.op.clone(), invoked: c.invoked, completed: Nanos::MAX, optional: true }
            }
            (Outcome::Ok, _) => Entry { op: c.op.clone(), invoked: c.invoked, completed: c.completed, optional: false },
        };
        keys.entry(c.key.as_str()).or_default().push(entry);
    }
    for (key, mut entries) in keys {
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

/// Depth-first search over linearization points, remembering every
/// (operations placed, register value) configuration already explored.
/// `Some(true)`: an order exists; `Some(false)`: none does; `None`: the
/// budget ran out.
fn search(entries: &[Entry], budget: u64) -> Option<bool> {
    let n = entries.len();
    let mut done = vec![false; n];
    let mut seen: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<u64>)> = Vec::new();
    let (mut state, mut start, mut steps) = (None, 0, 0u64);
    loop {
        if (0..n).all(|i| done[i] || entries[i].optional) {
            return Some(true);
        }
        steps += 1;
        if steps > budget {
            return None;
        }
        // An operation can go next only if it was invoked before every
        // remaining mandatory operation completed.
        let horizon = (0..n)
            .filter(|&i| !done[i] && !entries[i].optional)
            .map(|i| entries[i].completed)
            .min()
            .unwrap_or(Nanos::MAX);
        let mut chosen = None;
        for i in start..n {
            if done[i] || entries[i].invoked > horizon {
                continue;
            }
            let after = match &entries[i].op {
                RegisterOp::Write(v) => Some(*v),
                RegisterOp::Read(v) if *v == state => state,
                RegisterOp::Read(_) => continue,
            };
            done[i] = true;
            if seen.insert((bits(&done), after)) {
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
                state = prev;
                start = i + 1;
            }
        }
    }
}

fn bits(done: &[bool]) -> Vec<u64> {
    let mut v = vec![0u64; done.len().div_ceil(64)];
    for (i, d) in done.iter().enumerate() {
        if *d {
            v[i / 64] |= 1 << (i % 64);
        }
    }
    v
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
    fn a_small_budget_answers_unknown_not_pass() {
        let mut h = Vec::new();
        for i in 0..30u64 {
            h.push(call(i, Write(i + 1), 0, 1000, Ok));
        }
        h.push(call(99, Read(Some(1)), 1001, 1002, Ok));
        assert!(matches!(check(&h, 10), Verdict::Unknown { .. }));
    }
}
