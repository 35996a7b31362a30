//! The writer's lease (DESIGN §6): it lasts `lease_ms` from the moment the
//! writer *sent* the last record that has since committed — a committed
//! record proves that, when it was sent, no newer writer had fenced four
//! storage nodes. The writer serves reads and writes only while the lease
//! holds; when it has logged nothing for `lease_renew_ms` it logs a
//! `LeaseRenewal` record. A candidate may take over only after it has seen
//! no committed record for longer than `lease_ms` plus the clock-drift
//! bound, so the two never serve at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lease settings, checked against each other at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// How long a committed record keeps the lease, from when it was sent.
    pub lease_ms: u64,
    /// Idle time after which the writer logs a `LeaseRenewal`.
    pub renew_ms: u64,
    /// Bound on how far two nodes' clocks may drift apart over a lease.
    pub drift_ms: u64,
}

impl Default for LeaseSettings {
    fn default() -> LeaseSettings {
        LeaseSettings { lease_ms: 600, renew_ms: 150, drift_ms: 60 }
    }
}

impl LeaseSettings {
    /// Whether the settings make sense together: at least two renewals
    /// per lease (one may be lost), and a drift bound below the lease.
    pub fn check(&self) -> Result<(), String> {
        if self.renew_ms == 0 || self.lease_ms < 2 * self.renew_ms {
            return Err(format!(
                "--lease-ms ({}) must be at least twice --lease-renew-ms ({}), which must be above 0",
                self.lease_ms, self.renew_ms
            ));
        }
        if self.drift_ms >= self.lease_ms {
            return Err(format!("--clock-drift-ms ({}) must be below --lease-ms ({})", self.drift_ms, self.lease_ms));
        }
        Ok(())
    }

    /// The least time a candidate must have seen no committed record
    /// before it may take over.
    pub fn takeover_after_ms(&self) -> u64 {
        self.lease_ms + self.drift_ms
    }
}

/// The lease as the fabric task renews it and the core reads it.
#[derive(Debug)]
pub struct Lease {
    origin: Instant,
    lease_ms: u64,
    /// Milliseconds after `origin` before which the lease never holds: a
    /// writer that fenced the storage nodes at `fenced` serves only once
    /// any lease of the writer it fenced has ended (`fenced` + lease +
    /// drift), whether or not it saw that writer's last records.
    not_before_ms: u64,
    /// Milliseconds after `origin` at which the lease ends (0: never held).
    until_ms: AtomicU64,
}

impl Lease {
    /// A lease not held yet, of a writer whose Prepare quorum formed at
    /// `fenced`; with `wait_out`, it never holds before any lease of a
    /// writer it fenced has ended (see [`Lease::not_before_ms`]).
    pub fn new(s: LeaseSettings, fenced: Instant, wait_out: bool) -> Lease {
        let origin = fenced;
        let not_before_ms = if wait_out { s.takeover_after_ms() } else { 0 };
        Lease { origin, lease_ms: s.lease_ms, not_before_ms, until_ms: AtomicU64::new(0) }
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64
    }

    /// A record sent at `sent` committed: the lease lasts until `sent` plus
    /// the lease time (never shortened).
    pub fn renewed(&self, sent: Instant) {
        self.until_ms.fetch_max(self.ms(sent) + self.lease_ms, Ordering::AcqRel);
    }

    /// The moment before which the lease never holds.
    pub fn not_before(&self) -> Instant {
        self.origin + Duration::from_millis(self.not_before_ms)
    }

    /// Whether the lease holds now.
    pub fn holds(&self) -> bool {
        self.holds_at(Instant::now())
    }

    /// Whether the lease holds at `at`.
    pub fn holds_at(&self, at: Instant) -> bool {
        let now = self.ms(at);
        now >= self.not_before_ms && now < self.until_ms.load(Ordering::Acquire)
    }

    /// Time left at `at` (zero once lapsed).
    pub fn left_at(&self, at: Instant) -> Duration {
        Duration::from_millis(self.until_ms.load(Ordering::Acquire).saturating_sub(self.ms(at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_against_each_other() {
        assert!(LeaseSettings::default().check().is_ok());
        let s = |lease_ms, renew_ms, drift_ms| LeaseSettings { lease_ms, renew_ms, drift_ms };
        assert!(s(1000, 600, 100).check().unwrap_err().contains("at least twice"));
        assert!(s(1000, 0, 100).check().is_err());
        assert!(s(1000, 200, 1000).check().unwrap_err().contains("below --lease-ms"));
        assert_eq!(s(1000, 200, 150).takeover_after_ms(), 1150);
    }

    #[test]
    fn the_lease_runs_from_the_send_time_of_the_last_committed_record() {
        let t0 = Instant::now();
        let l = Lease::new(LeaseSettings { lease_ms: 1000, renew_ms: 200, drift_ms: 0 }, t0, true);
        assert!(!l.holds_at(t0), "not held before a record of this writer committed");
        l.renewed(t0 + Duration::from_millis(100));
        assert!(!l.holds_at(t0 + Duration::from_millis(999)), "a writer it fenced may still hold its lease");
        assert!(l.holds_at(t0 + Duration::from_millis(1000)));
        assert!(l.holds_at(t0 + Duration::from_millis(1099)));
        assert!(!l.holds_at(t0 + Duration::from_millis(1100)), "lapsed 1000 ms after the send");
        l.renewed(t0 + Duration::from_millis(50));
        assert_eq!(l.left_at(t0 + Duration::from_millis(600)), Duration::from_millis(500), "never shortened");
        l.renewed(t0 + Duration::from_millis(900));
        assert!(l.holds_at(t0 + Duration::from_millis(1800)));
        assert_eq!(l.left_at(t0 + Duration::from_millis(5000)), Duration::ZERO);
    }
}
