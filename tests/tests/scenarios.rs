//! A fault-free run's history passes every check (the seeded runs with
//! faults are the CI tier, `ci_tier.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sixfold_harness::scenario::run;
use std::time::Duration;

#[test]
fn a_fault_free_history_passes_every_check() {
    let r = run("fault-free", 1, Duration::from_secs(8), &[], 1).unwrap();
    let rate = r.ops as f64 / r.secs;
    assert!(rate >= 100.0, "{} ops in {:.1} s", r.ops, r.secs);
    assert!(r.passed(), "{}: {:?} {:?}", r.verdict(), r.violations, r.unknown);
}
