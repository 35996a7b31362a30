//! The bounded fault-injection tier `.ci/run` runs (through `cargo test
//! --workspace`): seeded 60 s scenarios with kills, pauses, partitions,
//! one-way drops, packet loss, data-directory loss and fsync errors of
//! storage nodes, the replica and the writer. Each must keep at least 100
//! operations per second and end with "0 acknowledged writes lost, 0
//! linearizability violations". Progress goes straight to stderr (not
//! captured) so a CI log shows each verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sixfold_harness::nemesis::parse;
use sixfold_harness::scenario::run;
use std::io::Write as _;
use std::time::Duration;

/// Seconds per scenario.
const SCENARIO_SECS: u64 = 60;

/// Seeds and faults of the tier.
const TIER: [(u64, &str); 5] = [
    (11, "kill,pause,kill-replica"),
    (12, "partition"),
    (13, "kill,kill-replica,isolate-node,isolate-zone,one-way,loss"),
    (14, "all"),
    (15, "overlap,kill,pause"),
];

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "[ci-tier] {line}");
}

/// Whether this process runs as root (namespaces and nftables expected).
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

#[test]
fn seeded_scenarios_lose_nothing() {
    for (seed, faults) in TIER {
        let nemeses = parse(faults).unwrap();
        say(&format!("seed {seed}: {SCENARIO_SECS} s of {faults} ..."));
        let r = run(&format!("tier-{seed}"), seed, Duration::from_secs(SCENARIO_SECS), &nemeses).unwrap();
        for n in &r.notes {
            say(&format!("seed {seed}: {n}"));
        }
        let rate = r.ops as f64 / r.secs;
        say(&format!("seed {seed}: {} faults, {} operations ({rate:.0}/s): {}", r.timeline.len(), r.ops, r.verdict()));
        assert!(r.timeline.len() >= 15, "seed {seed}: faults were injected: {:?}", r.timeline);
        if root() {
            assert!(
                r.notes.iter().all(|n| !n.contains("skipped")),
                "seed {seed}: as root every fault runs: {:?}",
                r.notes
            );
        }
        assert!(rate >= 100.0, "seed {seed}: {} ops in {:.1} s", r.ops, r.secs);
        assert!(
            r.passed(),
            "seed {seed}: {}: {:?} {:?}\n{}\nhistory: {}",
            r.verdict(),
            r.violations,
            r.unknown,
            r.timeline.join("\n"),
            r.history_path.display()
        );
    }
}
