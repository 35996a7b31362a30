//! The workload model of `sixfold-bench`, without I/O: which key each
//! request uses (uniform, Gaussian or sequential over a key space), whether
//! it is a SET or a GET (by ratio), and its RESP encoding.

use rand::Rng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Normal};
use std::sync::atomic::{AtomicU64, Ordering};

/// How keys are drawn from the key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyPattern {
    /// Every key equally likely.
    Uniform,
    /// Normal around the middle of the key space (σ = a sixth of it).
    Gaussian,
    /// One after another, shared by all connections, wrapping around.
    Sequential,
}

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// SETs per `sets + gets` requests.
    pub sets: u32,
    /// GETs per `sets + gets` requests.
    pub gets: u32,
    /// Keys `key:0` .. `key:{keyspace-1}`.
    pub keyspace: u64,
    /// Key pattern.
    pub pattern: KeyPattern,
    /// SET value size in bytes.
    pub value_bytes: usize,
}

/// Draws keys and commands for one connection.
pub struct Picker {
    w: Workload,
    rng: SmallRng,
    /// `None` only if the key space makes no valid normal (then uniform).
    normal: Option<Normal<f64>>,
    value: Vec<u8>,
}

impl Picker {
    /// A picker seeded with `seed`.
    pub fn new(w: Workload, seed: u64) -> Picker {
        use rand::SeedableRng;
        let ks = w.keyspace.max(1) as f64;
        let normal = Normal::new(ks / 2.0, (ks / 6.0).max(1.0)).ok();
        Picker { w, rng: SmallRng::seed_from_u64(seed), normal, value: vec![b'x'; w.value_bytes] }
    }

    /// The next key index.
    pub fn key(&mut self, sequence: &AtomicU64) -> u64 {
        let ks = self.w.keyspace.max(1);
        match self.w.pattern {
            KeyPattern::Uniform => self.rng.random_range(0..ks),
            KeyPattern::Gaussian => match &self.normal {
                Some(n) => (n.sample(&mut self.rng).round().max(0.0) as u64).min(ks - 1),
                None => self.rng.random_range(0..ks),
            },
            KeyPattern::Sequential => sequence.fetch_add(1, Ordering::Relaxed) % ks,
        }
    }

    /// Appends the next request to `out`; returns true for a SET.
    pub fn request(&mut self, sequence: &AtomicU64, out: &mut Vec<u8>) -> bool {
        let total = (self.w.sets + self.w.gets).max(1);
        let set = self.rng.random_range(0..total) < self.w.sets;
        let key = format!("key:{}", self.key(sequence));
        let bulk = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        };
        if set {
            out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
            bulk(out, key.as_bytes());
            bulk(out, &self.value);
        } else {
            out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
            bulk(out, key.as_bytes());
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pattern: KeyPattern) -> Workload {
        Workload { sets: 1, gets: 3, keyspace: 1000, pattern, value_bytes: 8 }
    }

    #[test]
    fn ratios_patterns_and_encoding() {
        let seq = AtomicU64::new(0);
        let mut p = Picker::new(w(KeyPattern::Uniform), 1);
        let mut buf = Vec::new();
        let sets = (0..4000).filter(|_| p.request(&seq, &mut buf)).count();
        assert!((800..1200).contains(&sets), "1:3 SET:GET gave {sets} SETs of 4000");
        let mut one = Vec::new();
        let mut p = Picker::new(Workload { sets: 1, gets: 0, ..w(KeyPattern::Sequential) }, 1);
        p.request(&seq, &mut one);
        assert_eq!(one, b"*3\r\n$3\r\nSET\r\n$5\r\nkey:0\r\n$8\r\nxxxxxxxx\r\n");
        let keys: Vec<u64> = (0..3).map(|_| p.key(&seq)).collect();
        assert_eq!(keys, vec![1, 2, 3], "sequential keys follow each other");
        let mut g = Picker::new(w(KeyPattern::Gaussian), 2);
        let mid = (0..10_000).map(|_| g.key(&seq)).filter(|k| (333..667).contains(k)).count();
        assert!(mid > 6000, "about 68% within one σ of the middle, got {mid} of 10000");
    }
}
