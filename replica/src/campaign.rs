//! The campaign (DESIGN §6, `docs/protocol.md` R12): a replica that has
//! seen nothing committed for longer than the writer's lease could last
//! (or that the writer asked to take over) stops replicating and runs the
//! writer's recovery; candidates further behind, and those later in the
//! writer's list of replicas, wait longer, so the most caught-up one
//! usually goes first.

use crate::role::{ReplicaSettings, ReplicaStats, replicate};
use sixfold_engine::cmd::cluster::Member;
use sixfold_node::Shared;
use sixfold_wire::Lsn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::task::JoinHandle;

/// Recovery attempts of a candidate before it watches the log again.
const CAMPAIGN_TRIES: u32 = 3;
/// How often a replica looks for a lapsed lease.
const CAMPAIGN_CHECK_MS: u64 = 50;
/// Step between equally caught-up candidates, longer than a takeover
/// usually takes, so one goes first and the others see its records and
/// stand down (equals that campaign together are safe, only slower).
const STAGGER_STEP_MS: u64 = 60;
/// Steps of the stagger.
const STAGGER_STEPS: u64 = 4;

/// A candidate's extra wait when it knows of no order: one of
/// [`STAGGER_STEPS`] steps, by the address it announces (FNV-1a, stable
/// across restarts).
pub fn stagger_ms(announce: &str) -> u64 {
    let h = announce.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    h % STAGGER_STEPS * STAGGER_STEP_MS
}

/// A candidate's extra wait: a step per replica before it in address
/// order among the replicas the writer last listed (the same list on
/// every replica, so no two of them wait alike; the only one waits not at
/// all); [`stagger_ms`] for a replica the writer did not list.
pub fn campaign_stagger_ms(announce: &str, replicas: &[Member]) -> u64 {
    let (host, port) = announce.rsplit_once(':').unwrap_or((announce, ""));
    let me = (host.trim_matches(['[', ']']), port.parse::<u16>().unwrap_or(0));
    let mut known: Vec<(&str, u16)> = replicas.iter().map(|m| (m.ip.as_str(), m.port)).collect();
    known.sort_unstable();
    match known.iter().position(|m| *m == me) {
        Some(rank) => (rank as u64).min(STAGGER_STEPS - 1) * STAGGER_STEP_MS,
        None => stagger_ms(announce),
    }
}

/// Waits until nothing new was applied for longer than the writer's lease
/// could last (plus more while this replica lags, so the most caught-up
/// replica goes first, and a step by rank between equals; at once with
/// `now`), then stops replicating (`tasks`) and takes over: `recover` runs
/// the writer's recovery on top of what this replica applied (the writer
/// role's; it returns the recovery and the highest LSN from which a writer
/// it fenced can have renewed its lease, if the promises tell). A
/// candidate fenced by another before its `LeaderChange` committed, or
/// that finds no recovery quorum, goes back to replicating (from `endpoint`).
/// Returns the recovery and whether the new writer must wait out the
/// leases of the writers it fenced: it need not after a quiet window in
/// which it had applied every record such a lease can run from
/// (`docs/protocol.md`, R12).
pub async fn campaign<W, F>(
    core: &Shared,
    s: &ReplicaSettings,
    stats: &Arc<ReplicaStats>,
    (mut tasks, endpoint): (Vec<JoinHandle<()>>, &quinn::Endpoint),
    mut now: bool,
    mut recover: impl FnMut(Lsn, u32) -> F,
) -> (W, bool)
where
    F: Future<Output = anyhow::Result<(W, Option<Lsn>)>>,
{
    loop {
        // What this replica had applied when its quiet window began (none
        // without a window: a first writer, or a handover).
        let mut quiet_from = None;
        if !now {
            let handover = core.lock().takeover_flag();
            quiet_from = wait_for_lapse(stats, s, &handover).await;
        }
        stop_all(std::mem::take(&mut tasks)).await;
        let applied = stats.applied_lsn.load(Ordering::Relaxed);
        tracing::warn!(applied, "no record committed for longer than the writer's lease: taking over");
        // A first writer (`now`) waits for its quorum as long as it takes;
        // a candidate gives up after a few tries and watches the log again.
        let tries = if now { u32::MAX } else { CAMPAIGN_TRIES };
        match recover(applied, tries).await {
            Ok((won, leased_at_most)) => {
                let seen_all = quiet_from.zip(leased_at_most).is_some_and(|(quiet, most)| most <= quiet);
                return (won, !seen_all);
            }
            Err(e) => {
                // Nothing was applied: it goes on replicating whoever won.
                tracing::warn!(error = %e, "the takeover failed; replicating again");
                let epoch = stats.applied_epoch.load(Ordering::Relaxed);
                tasks = replicate(core, s, stats, endpoint, (applied, epoch));
                now = false;
            }
        }
    }
}

/// Aborts `tasks` and waits until each has ended: an aborted task runs on
/// until its next await, and the apply task may apply a batch or more
/// meanwhile, so the applied LSN is final only after this.
pub async fn stop_all(tasks: Vec<JoinHandle<()>>) {
    tasks.iter().for_each(JoinHandle::abort);
    for t in tasks {
        let _ = t.await;
    }
}

/// Returns once nothing new was applied or received, and the writer (asked
/// with ROLE) reported no newer commit, for longer than the writer's lease could last
/// (see [`campaign`]): the LSN applied through that quiet window; or once the writer asked this replica to take over (`handover`:
/// FAILOVER) and it applied what the writer logged: `None`.
async fn wait_for_lapse(stats: &ReplicaStats, s: &ReplicaSettings, handover: &AtomicU64) -> Option<Lsn> {
    let (quiet, announce) = (std::time::Duration::from_millis(s.quiet_ms), s.announce.as_str());
    let mut last = (stats.applied_lsn.load(Ordering::Relaxed), Instant::now());
    let mut writer_commit = stats.writer_commit.load(Ordering::Relaxed);
    let mut staged_seen = stats.staged_to.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(CAMPAIGN_CHECK_MS)).await;
        let applied = stats.applied_lsn.load(Ordering::Relaxed);
        // The writer, asked directly, still commits: it is alive and holds
        // its lease, even if the storage node this replica reads from
        // stopped hearing from it. The window starts again (later, with
        // the same applied LSN: R12 stays sound).
        let heard = stats.writer_commit.load(Ordering::Relaxed);
        if heard > writer_commit {
            writer_commit = heard;
            last.1 = Instant::now();
            continue;
        }
        let asked = handover.load(Ordering::Relaxed);
        if asked > 0 && applied >= asked {
            handover.store(0, Ordering::Relaxed);
            tracing::warn!(applied, "the writer hands over (FAILOVER)");
            return None;
        }
        if applied != last.0 {
            last = (applied, Instant::now());
            continue;
        }
        // Records arriving that no commit covers yet: a writer is at work
        // (a candidate that just took over has logged its `LeaderChange`,
        // which this replica can apply only once a later record or a
        // notification shows it committed). The window starts again, with
        // the same applied LSN (R12 stays sound); a writer that cannot
        // commit stops logging new records within its bounds.
        let staged = stats.staged_to.load(Ordering::Relaxed);
        if staged > staged_seen {
            staged_seen = staged;
            last.1 = Instant::now();
            continue;
        }
        let lag = stats.commit_lsn.load(Ordering::Relaxed).saturating_sub(applied);
        let behind = if stats.caught_up_once.load(Ordering::Relaxed) == 1 { 0 } else { 1 };
        let replicas = stats.shard.lock().map(|g| g.1.clone()).unwrap_or_default();
        let stagger = campaign_stagger_ms(announce, &replicas);
        let wait = quiet * (1 + behind) + std::time::Duration::from_millis(lag.min(1_000) + stagger);
        if last.1.elapsed() > wait {
            return Some(last.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_the_writer_listed_wait_by_their_rank_in_address_order() {
        let m = |ip: &str, port| Member { ip: ip.into(), port, offset: 0 };
        let listed = [m("10.0.0.9", 6379), m("10.0.0.10", 6379), m("::1", 7000)];
        assert_eq!(campaign_stagger_ms("10.0.0.10:6379", &listed), 0);
        assert_eq!(campaign_stagger_ms("10.0.0.9:6379", &listed), STAGGER_STEP_MS);
        assert_eq!(campaign_stagger_ms("[::1]:7000", &listed), 2 * STAGGER_STEP_MS);
        assert_eq!(campaign_stagger_ms("10.0.0.9:6379", &listed[..1]), 0, "the only replica waits no extra");
        assert_eq!(campaign_stagger_ms("10.0.0.7:6379", &listed), stagger_ms("10.0.0.7:6379"), "not listed");
    }
}
