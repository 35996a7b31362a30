//! Reads from one replica: the values one client sees of a key never go
//! back in the writer's order, and every value seen is one the writer's
//! order contains (no uncommitted or invented values).

/// What is wrong with a replica's reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    /// A read showed a value that is not in the writer's order.
    #[error("read {index} saw {value}, which the writer never committed")]
    Unknown {
        /// Position among the reads.
        index: usize,
        /// The value.
        value: u64,
    },
    /// A read showed an older value than an earlier read.
    #[error("read {index} saw {value} after {previous}: it went back in time")]
    Backwards {
        /// Position among the reads.
        index: usize,
        /// The value read.
        value: u64,
        /// The newer value read before.
        previous: u64,
    },
}

impl ReplicaError {
    /// Position of the offending read.
    pub fn index(&self) -> usize {
        match self {
            ReplicaError::Unknown { index, .. } | ReplicaError::Backwards { index, .. } => *index,
        }
    }
}

/// `order`: the values the key took on the writer, oldest first; `reads`:
/// what one client read from one replica, in time order (`None`: missing).
pub fn check_monotonic(order: &[u64], reads: &[Option<u64>]) -> Result<(), ReplicaError> {
    let rank: std::collections::HashMap<u64, usize> = order.iter().enumerate().map(|(i, v)| (*v, i + 1)).collect();
    let mut last = (0usize, None);
    for (index, r) in reads.iter().enumerate() {
        let now = match r {
            None => 0,
            Some(v) => *rank.get(v).ok_or(ReplicaError::Unknown { index, value: *v })?,
        };
        if now < last.0 {
            let previous = last.1.unwrap_or(0);
            return Err(ReplicaError::Backwards { index, value: r.unwrap_or(0), previous });
        }
        last = (now, *r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_going_back_and_values_from_nowhere() {
        let order = [1, 2, 3];
        assert_eq!(check_monotonic(&order, &[None, Some(1), Some(1), Some(3)]), Ok(()));
        assert!(matches!(check_monotonic(&order, &[Some(2), Some(1)]), Err(ReplicaError::Backwards { .. })));
        assert!(matches!(check_monotonic(&order, &[Some(3), None]), Err(ReplicaError::Backwards { .. })));
        assert!(matches!(check_monotonic(&order, &[Some(9)]), Err(ReplicaError::Unknown { value: 9, .. })));
    }
}
