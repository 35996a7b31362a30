//! No acknowledged write is lost: every acknowledged list append appears in
//! the final read of its list, exactly once, and in an order consistent
//! with the acknowledgements (an append acknowledged before another was
//! invoked comes first); a counter's final value lies between the number of
//! acknowledged increments and that plus the unknown ones.

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

/// Checks a counter: `acked` acknowledged INCRs, `unknown` with unknown
/// outcome, final value `value`.
pub fn check_counter(acked: u64, unknown: u64, value: u64) -> Result<(), String> {
    if value < acked {
        return Err(format!("{} acknowledged increments lost (value {value}, {acked} acknowledged)", acked - value));
    }
    if value > acked + unknown {
        return Err(format!("value {value} exceeds the {acked} acknowledged and {unknown} unknown increments"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
    fn counters_keep_every_acknowledged_increment() {
        assert!(check_counter(10, 2, 11).is_ok());
        assert!(check_counter(10, 2, 9).is_err(), "a lost increment");
        assert!(check_counter(10, 2, 13).is_err(), "an increment from nowhere");
    }
}
