//! Scenarios against real processes: a fault-free run's history passes
//! every check, and so does a seeded run with storage-node kills and pauses
//! and replica kills.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sixfold_harness::scenario::{Nemesis, run};
use std::time::Duration;

#[test]
fn a_fault_free_history_passes_every_check() {
    let r = run("fault-free", 1, Duration::from_secs(8), &[]).unwrap();
    let rate = r.ops as f64 / r.secs;
    assert!(rate >= 100.0, "{} ops in {:.1} s", r.ops, r.secs);
    assert!(r.passed(), "{}: {:?} {:?}", r.verdict(), r.violations, r.unknown);
}

#[test]
fn seeded_kills_and_pauses_lose_nothing() {
    let nemeses = [Nemesis::KillStorage, Nemesis::PauseStorage, Nemesis::KillReplica, Nemesis::KillWriter];
    let r = run("kills", 7, Duration::from_secs(20), &nemeses).unwrap();
    eprintln!("{}", r.timeline.join("\n"));
    assert!(r.timeline.len() >= 5, "faults were injected: {:?}", r.timeline);
    assert!(r.ops as f64 / r.secs >= 100.0, "{} ops in {:.1} s", r.ops, r.secs);
    assert!(r.passed(), "{}: {:?} {:?}", r.verdict(), r.violations, r.unknown);
}
