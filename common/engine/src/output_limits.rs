//! Redis's `client-output-buffer-limit`: for each client class (normal,
//! replica, pubsub) a hard limit, a soft limit, and the seconds a client
//! may stay over the soft one before it is disconnected. Sixfold acts on
//! the pubsub class (its subscribers); the others are stored and reported.
//! Parsing, normalizing and the check are Redis's (`config.c`,
//! `checkClientOutputBufferLimits`).

/// The limits of one class (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimit {
    /// Bytes of pending output at which the client is disconnected.
    pub hard_bytes: u64,
    /// Bytes of pending output it may hold for `soft_secs` at most.
    pub soft_bytes: u64,
    /// Seconds over the soft limit before it is disconnected.
    pub soft_secs: u64,
}

/// The limits of every class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Ordinary clients (Redis's default: none).
    pub normal: ClassLimit,
    /// Replicas (stored; Sixfold's replicas read the storage nodes).
    pub replica: ClassLimit,
    /// Subscribers.
    pub pubsub: ClassLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        let limit = |hard_bytes, soft_bytes, soft_secs| ClassLimit { hard_bytes, soft_bytes, soft_secs };
        OutputLimits {
            normal: limit(0, 0, 0),
            replica: limit(256 << 20, 64 << 20, 60),
            pubsub: limit(32 << 20, 8 << 20, 60),
        }
    }
}

impl OutputLimits {
    /// Applies `class hard soft seconds ...` (CONFIG SET): every group or
    /// none; `Err` is Redis's reason.
    pub fn set(&mut self, value: &[u8]) -> Result<(), &'static str> {
        let text = String::from_utf8_lossy(value);
        let words: Vec<&str> = text.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut next = *self;
        for group in words.chunks(4) {
            let class = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut next.normal,
                "slave" | "replica" => &mut next.replica,
                "pubsub" => &mut next.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            };
            let bytes = |w: &str| crate::cmd::server::memory_value(w.as_bytes());
            let values = (bytes(group[1]), bytes(group[2]), group[3].parse::<u64>().ok());
            let (Some(hard_bytes), Some(soft_bytes), Some(soft_secs)) = values else {
                return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.");
            };
            *class = ClassLimit { hard_bytes, soft_bytes, soft_secs };
        }
        *self = next;
        Ok(())
    }

    /// As CONFIG GET shows it.
    pub fn render(&self) -> String {
        let class = |name: &str, l: &ClassLimit| format!("{name} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_secs);
        [class("normal", &self.normal), class("slave", &self.replica), class("pubsub", &self.pubsub)].join(" ")
    }
}

impl ClassLimit {
    /// Whether a client holding `bytes` of output must be disconnected at
    /// `now_ms`; `over_soft_since` is when it went over the soft limit
    /// (kept up to date here).
    pub fn exceeded(&self, bytes: u64, over_soft_since: &mut Option<i64>, now_ms: i64) -> bool {
        if self.hard_bytes > 0 && bytes >= self.hard_bytes {
            return true;
        }
        if self.soft_bytes == 0 || bytes < self.soft_bytes {
            *over_soft_since = None;
            return false;
        }
        let since = *over_soft_since.get_or_insert(now_ms);
        now_ms - since > (self.soft_secs as i64).saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_normalizes_as_redis_and_is_all_or_nothing() {
        let mut l = OutputLimits::default();
        assert_eq!(l.render(), "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
        l.set(b"PUBSUB 64mb 16mb 30 replica 1gb 0 0").unwrap();
        assert_eq!(l.render(), "normal 0 0 0 slave 1073741824 0 0 pubsub 67108864 16777216 30");
        let before = l;
        assert!(l.set(b"pubsub 1 2").unwrap_err().starts_with("Wrong number"));
        assert!(l.set(b"normal 1 1 1 master 1 1 1").unwrap_err().starts_with("Invalid client class"));
        assert!(l.set(b"normal 1 1 1 pubsub 1x 1 1").unwrap_err().starts_with("Error in hard"));
        assert_eq!(l, before, "nothing of a refused value applies");
    }

    #[test]
    fn the_hard_limit_at_once_the_soft_one_after_its_seconds() {
        let l = ClassLimit { hard_bytes: 100, soft_bytes: 10, soft_secs: 2 };
        let mut since = None;
        assert!(!l.exceeded(5, &mut since, 0));
        assert!(!l.exceeded(50, &mut since, 1_000), "over the soft limit: the clock starts");
        assert!(!l.exceeded(50, &mut since, 3_000), "for two seconds");
        assert!(l.exceeded(50, &mut since, 3_001), "then it is disconnected");
        let mut since = Some(0);
        assert!(!l.exceeded(5, &mut since, 10_000), "back under it: the clock stops");
        assert_eq!(since, None);
        assert!(l.exceeded(100, &mut None, 0), "the hard limit at once");
        let none = ClassLimit { hard_bytes: 0, soft_bytes: 0, soft_secs: 0 };
        assert!(!none.exceeded(u64::MAX, &mut None, 0));
    }
}
