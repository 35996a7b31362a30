//! No acknowledged write is lost: every acknowledged list append appears in
//! the final read of its list, exactly once, and in an order consistent
//! with the acknowledgements (an append acknowledged before another was
//! invoked comes first); every acknowledged increment of the counter took
//! effect, no failed one did, and the counter counts exactly those.

use crate::history::{Nanos, Outcome};

/// One RPUSH of a unique value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    /// The value.
    pub value: u64,
    /// Invocation time.
    pub invoked: Nanos,
    /// Completion time.
    pub completed: Nanos,
    /// How it ended.
    pub outcome: Outcome,
}

/// What is wrong with a list's history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// An acknowledged append is not in the final list.
    #[error("acknowledged append {0} is missing")]
    Lost(u64),
    /// A value appears twice.
    #[error("value {0} appears twice")]
    Duplicated(u64),
    /// A value that was never appended (or whose append failed) appears.
    #[error("value {0} was never successfully appended")]
    Phantom(u64),
    /// Two acknowledged appends are in the wrong order.
    #[error("{later} was invoked after {earlier} was acknowledged but comes first")]
    Reordered {
        /// Acknowledged first.
        earlier: u64,
        /// Invoked after that.
        later: u64,
    },
}

/// Checks a list's appends against its final contents.
pub fn check_list(appends: &[Append], final_list: &[u64]) -> Result<(), AppendError> {
    let mut position = std::collections::HashMap::new();
    for (i, v) in final_list.iter().enumerate() {
        if position.insert(*v, i).is_some() {
            return Err(AppendError::Duplicated(*v));
        }
    }
    for v in final_list {
        let known = appends.iter().any(|a| a.value == *v && a.outcome != Outcome::Fail);
        if !known {
            return Err(AppendError::Phantom(*v));
        }
    }
    let acked: Vec<&Append> = appends.iter().filter(|a| a.outcome == Outcome::Ok).collect();
    for a in &acked {
        if !position.contains_key(&a.value) {
            return Err(AppendError::Lost(a.value));
        }
    }
    for a in &acked {
        for b in &acked {
            if a.completed < b.invoked && position[&a.value] > position[&b.value] {
                return Err(AppendError::Reordered { earlier: a.value, later: b.value });
            }
        }
    }
    Ok(())
}

/// Checks increments exactly: `increments` are the ids and outcomes of
/// every INCR (each added its id to a set in the same transaction),
/// `members` the final set, `value` the final counter. Every acknowledged
/// id must be in the set, every id in the set must be one whose increment
/// did not fail, and the counter must count the set. Returns the ids lost.
pub fn check_increments(increments: &[(u64, Outcome)], members: &[u64], value: u64) -> Result<(), (Vec<u64>, String)> {
    let set: std::collections::HashSet<u64> = members.iter().copied().collect();
    let lost: Vec<u64> =
        increments.iter().filter(|(id, o)| *o == Outcome::Ok && !set.contains(id)).map(|p| p.0).collect();
    if !lost.is_empty() {
        let msg = format!("{} acknowledged increments lost (first {})", lost.len(), lost[0]);
        return Err((lost, msg));
    }
    let outcome: std::collections::HashMap<u64, Outcome> = increments.iter().copied().collect();
    if let Some(id) = members.iter().find(|id| outcome.get(id).is_none_or(|o| *o == Outcome::Fail)) {
        return Err((Vec::new(), format!("increment {id} is in the set but never succeeded")));
    }
    if value != set.len() as u64 {
        return Err((Vec::new(), format!("counter is {value} but {} increments took effect", set.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn a(value: u64, invoked: Nanos, completed: Nanos, outcome: Outcome) -> Append {
        Append { value, invoked, completed, outcome }
    }

    #[test]
    fn finds_lost_duplicated_phantom_and_reordered_appends() {
        let h = vec![
            a(1, 0, 10, Outcome::Ok),
            a(2, 11, 20, Outcome::Ok),
            a(3, 5, 30, Outcome::Info),
            a(4, 0, 5, Outcome::Fail),
        ];
        assert_eq!(check_list(&h, &[1, 2]), Ok(()), "the unknown one may be missing");
        assert_eq!(check_list(&h, &[1, 3, 2]), Ok(()), "or present");
        assert_eq!(check_list(&h, &[1]), Err(AppendError::Lost(2)));
        assert_eq!(check_list(&h, &[1, 2, 2]), Err(AppendError::Duplicated(2)));
        assert_eq!(check_list(&h, &[1, 2, 4]), Err(AppendError::Phantom(4)));
        assert_eq!(check_list(&h, &[2, 1]), Err(AppendError::Reordered { earlier: 1, later: 2 }));
    }

    #[test]
    fn increments_are_checked_exactly() {
        let incs = [(1, Outcome::Ok), (2, Outcome::Info), (3, Outcome::Fail), (4, Outcome::Ok)];
        assert!(check_increments(&incs, &[1, 4], 2).is_ok(), "the unknown one may be missing");
        assert!(check_increments(&incs, &[1, 2, 4], 3).is_ok(), "or present");
        assert_eq!(check_increments(&incs, &[1], 1).unwrap_err().0, vec![4], "a lost increment");
        assert!(check_increments(&incs, &[1, 3, 4], 3).is_err(), "a failed one took effect");
        assert!(check_increments(&incs, &[1, 4, 9], 3).is_err(), "one from nowhere");
        assert!(check_increments(&incs, &[1, 4], 3).is_err(), "the counter counts one more than the set");
    }
}
