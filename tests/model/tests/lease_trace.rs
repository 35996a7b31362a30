//! A hand-written trace through the lease model (`docs/protocol.md` R12):
//! a writer commits a `LeaseRenewal` that no storage node has yet heard is
//! committed, and a candidate whose replica applied everything the nodes
//! knew committed before a quiet window takes over at once. Renewing the
//! lease only from records whose commit four nodes acknowledged learning
//! keeps the two from serving at the same instant; renewing it from every
//! committed record does not. Random walks find this trace rarely, so it
//! is checked here step by step.

use sixfold_fabric::{CommitMode, Rules};
use sixfold_model::state::State;
use sixfold_model::{Action, Config, LogModel};
use stateright::Model;

fn config(lease_from_commit: bool) -> Config {
    Config {
        writers_max: 2,
        writes_max: 0,
        faults_max: 0,
        wipes: false,
        duels: false,
        mode: CommitMode::Memory,
        rules: Rules::Safe,
        flush_race: false,
        no_crashes: true,
        no_fills: true,
        canonical: false,
        lease: Some(1),
        ticks_max: 4,
        drift: 0,
        lease_unsafe: false,
        lease_from_commit,
        staging: false,
        marks_max: 0,
        enabled_only: false,
    }
}

/// Takes `a`, which must be enabled.
fn step(m: &LogModel, s: State, a: Action) -> State {
    m.next_raw(&s, a.clone()).unwrap_or_else(|| panic!("{a:?} is not enabled"))
}

/// Writer `w` sends every Append it has for `nodes` until none is left.
fn drain(m: &LogModel, mut s: State, w: usize, nodes: std::ops::Range<usize>) -> State {
    loop {
        let mut enabled = Vec::new();
        m.actions(&s, &mut enabled);
        let Some(a) = enabled.into_iter().find(|a| matches!(a, Action::Append(x, n) if *x == w && nodes.contains(n)))
        else {
            return s;
        };
        s = step(m, s, a);
    }
}

/// Runs the trace; returns whether two writers served at one instant.
fn two_serving(lease_from_commit: bool) -> bool {
    let m = LogModel(config(lease_from_commit));
    let mut s = m.init_states().remove(0);
    // Writer 0 takes the empty shard; all six nodes learn its commit.
    s = step(&m, s, Action::Start(1));
    for n in 0..6 {
        s = step(&m, s, Action::Prepare(0, n));
    }
    s = step(&m, s, Action::Read(0));
    s = drain(&m, s, 0, 0..6);
    // The replica applies it at tick 0; the clock moves to tick 1.
    s = step(&m, s, Action::Pull(0));
    s = step(&m, s, Action::Tick);
    // Writer 0 renews at tick 1: four nodes take the record, the writer
    // counts it committed, but no node has heard of that commit.
    s = step(&m, s, Action::Renew(0));
    for n in 0..4 {
        s = step(&m, s, Action::Append(0, n));
    }
    // The replica saw nothing new for a whole lease: a candidate starts,
    // all six promise (their commit LSN is what the replica applied), and
    // it serves as soon as its LeaderChange is known committed.
    s = step(&m, s, Action::StartQuiet(2));
    for n in 0..6 {
        s = step(&m, s, Action::Prepare(1, n));
    }
    s = step(&m, s, Action::Read(1));
    s = drain(&m, s, 1, 0..6);
    assert!(s.writers[1].serving(s.now, 0), "the candidate serves at tick {}", s.now);
    s.ghost.two_serving
}

#[test]
fn a_lease_runs_only_from_records_whose_commit_four_nodes_learned() {
    assert!(!two_serving(false), "with R12's rule the old writer's lease has ended");
    assert!(two_serving(true), "renewing from every committed record, both serve at tick 1");
}
