//! The bounded fault-injection tier `.ci/run` runs (through `cargo test
//! --workspace`): seeded 60 s scenarios with kills, pauses, partitions,
//! one-way drops, packet loss, data-directory loss and fsync errors of
//! storage nodes, the replica and the writer. Each must keep at least 100
//! operations per second and end with "0 acknowledged writes lost, 0
//! linearizability violations". Progress goes straight to stderr (not
//! captured) so a CI log shows each verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sixfold_harness::nemesis::{parse, root};
use sixfold_harness::scenario::run;
use std::io::Write as _;
use std::time::Duration;

/// Seconds per scenario.
const SCENARIO_SECS: u64 = 60;

/// Seeds, faults and how many may be held at once.
const TIER: [(u64, &str, usize); 5] = [
    (11, "kill,pause,kill-replica", 1),
    (12, "partition", 1),
    (13, "kill,kill-replica,isolate-node,isolate-zone,one-way,loss", 1),
    (14, "all", 1),
    (15, "all", 3),
];

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "[ci-tier] {line}");
}

#[test]
fn seeded_scenarios_lose_nothing() {
    for (seed, faults, overlap) in TIER {
        let nemeses = parse(faults).unwrap();
        say(&format!("seed {seed}: {SCENARIO_SECS} s of {faults}, up to {overlap} at once ..."));
        let r = run(&format!("tier-{seed}"), seed, Duration::from_secs(SCENARIO_SECS), &nemeses, overlap).unwrap();
        for n in &r.notes {
            say(&format!("seed {seed}: {n}"));
        }
        let rate = r.ops as f64 / r.secs;
        let (faults_n, largest) = (r.timeline.lines.len(), r.timeline.largest.len());
        say(&format!(
            "seed {seed}: {faults_n} faults, {largest} at once at most, {} operations ({rate:.0}/s): {}",
            r.ops,
            r.verdict()
        ));
        assert!(faults_n >= 15, "seed {seed}: faults were injected: {:?}", r.timeline.lines);
        if overlap > 1 {
            assert!(largest >= 3, "seed {seed}: faults overlapped: {:?}", r.timeline.largest);
        }
        if root() {
            assert!(
                r.notes.iter().all(|n| !n.contains("skipped")),
                "seed {seed}: as root every fault runs: {:?}",
                r.notes
            );
        }
        assert!(rate >= 100.0, "seed {seed}: {} ops in {:.1} s", r.ops, r.secs);
        assert!(r.passed(), "seed {seed}: {}: {:?} {:?}\n{}", r.verdict(), r.violations, r.unknown, r.describe());
    }
}
