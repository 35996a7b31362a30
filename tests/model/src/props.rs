//! The properties checked in every reachable state (`docs/protocol.md`).

use crate::model::LogModel;
use crate::state::{Phase, State};
use sixfold_fabric::STORAGE_NODES;
use stateright::Property;

/// Two writers in the same epoch both past recovery.
fn two_writers_in_one_epoch(s: &State) -> bool {
    let writing: Vec<_> = s.writers.iter().filter(|w| matches!(w.phase, Phase::Writing(_))).map(|w| w.epoch).collect();
    writing.iter().enumerate().any(|(i, e)| writing[i + 1..].contains(e))
}

/// Below both commit LSNs, two nodes hold the same records.
fn logs_agree_below_commit(s: &State) -> bool {
    (0..STORAGE_NODES).all(|a| {
        (0..STORAGE_NODES).all(|b| {
            let upto = s.nodes[a].log.commit().min(s.nodes[b].log.commit());
            let from = s.nodes[a].log.base().max(s.nodes[b].log.base()) + 1;
            (from..=upto).all(|l| s.nodes[a].log.epoch_at(l) == s.nodes[b].log.epoch_at(l))
        })
    })
}

/// Every property, and "sometimes" ones that show the model reaches the
/// interesting states at all (with `leases`, also: a candidate served at
/// once after a quiet window, and a writer served after another had).
pub fn properties(leases: bool, staging: bool, snapshots: bool) -> Vec<Property<LogModel>> {
    let mut v = vec![
        Property::always("every acknowledged record is in every later writer's log", |_, s: &State| !s.ghost.lost_ack),
        Property::always("a record a reader may see is never replaced", |_, s: &State| !s.ghost.lost_visible),
        Property::always("commit never moves back", |_, s: &State| !s.ghost.commit_back),
        Property::always("at most one writer per epoch", |_, s: &State| !two_writers_in_one_epoch(s)),
        Property::always("node logs agree below their commit LSNs", |_, s: &State| logs_agree_below_commit(s)),
        Property::sometimes("a record is acknowledged", |_, s: &State| !s.ghost.acked.is_empty()),
        Property::sometimes("a later writer recovers after a record was acknowledged", |_, s: &State| {
            !s.ghost.acked.is_empty() && s.writers.iter().skip(1).any(|w| matches!(w.phase, Phase::Writing(_)))
        }),
    ];
    if snapshots {
        v.push(Property::always("a node truncates only below a verified snapshot", |_, s: &State| {
            !s.ghost.truncated_unsafe
        }));
        v.push(Property::sometimes("a node truncated its log below a snapshot", |_, s: &State| s.ghost.truncated));
        v.push(Property::sometimes("a node started its log at a peer's base", |_, s: &State| s.ghost.adopted_base));
    }
    if staging {
        v.push(Property::sometimes("the staging replica applied a later writer's record", |_, s: &State| {
            s.staging.as_ref().is_some_and(|st| st.applied().1 >= 2)
        }));
    }
    if leases {
        v.push(Property::always("at most one writer serves at any instant (leases)", |_, s: &State| {
            !s.ghost.two_serving
        }));
        v.push(Property::always("a serving writer has every acknowledged write (leases)", |_, s: &State| {
            !s.ghost.stale_read
        }));
        v.push(Property::sometimes(
            "a candidate serves at once after a quiet window (leases)",
            |m: &LogModel, s: &State| {
                s.writers
                    .iter()
                    .any(|w| w.lease.quiet.is_some() && w.lease.not_before == 0 && w.serving(s.now, m.0.drift))
            },
        ));
        v.push(Property::sometimes("a writer serves after an earlier one did (leases)", |m: &LogModel, s: &State| {
            s.writers.iter().skip(1).any(|w| w.serving(s.now, m.0.drift)) && s.writers.iter().any(|w| w.lease.until > 0)
        }));
    }
    v
}
