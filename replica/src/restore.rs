//! Restoring a data node from the newest snapshot that verifies
//! (`sixfold_snapshot`, DESIGN §7): at start-up, before the log is
//! replayed past it, and when the storage nodes truncated their logs past
//! what this replica applied (`docs/protocol.md` R14), so it cannot catch
//! up from the log alone.

use crate::role::ReplicaStats;
use sixfold_node::Shared;
use sixfold_wire::{Epoch, Lsn};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// Restores the newest snapshot that verifies from the store at `url` into
/// `core`, if it is past `applied`; returns its (LSN, epoch), or `None`
/// when there is none past it (or the store cannot be read — at start-up
/// the log from LSN 1 is the fallback while it is not truncated).
pub async fn restore_newest(core: &Shared, url: &str, stats: &ReplicaStats, applied: Lsn) -> Option<(Lsn, Epoch)> {
    let started = Instant::now();
    let store = match sixfold_objstore::open(url).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no snapshot restored: the store does not open");
            return None;
        }
    };
    let config = core.lock().engine_config();
    let (restored, skipped) = match sixfold_snapshot::restore_newest_with(store.as_ref(), config).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "no snapshot restored");
            return None;
        }
    };
    for e in skipped {
        tracing::warn!(error = %e, "skipped a snapshot that does not verify");
    }
    let Some(r) = restored else {
        tracing::info!(store = %store.describe(), "no snapshot yet");
        return None;
    };
    let (lsn, epoch) = (r.header.lsn, r.header.epoch);
    if lsn <= applied {
        tracing::info!(snapshot = %r.name, lsn, applied, "the newest snapshot is not past what this node applied");
        return None;
    }
    let keys: usize = r.engine.keyspace().dbs.iter().map(|d| d.len()).sum();
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(snapshot = %r.name, lsn, keys, ms, "restored a snapshot; replaying the log past it");
    let facts = sixfold_engine::SnapshotFacts { name: r.name, lsn, keys: keys as u64, ms, ..Default::default() };
    core.lock().adopt_snapshot(r.engine, facts);
    stats.applied_lsn.store(lsn, Relaxed);
    stats.applied_epoch.store(epoch, Relaxed);
    Some((lsn, epoch))
}
