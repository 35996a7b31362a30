//! Checking a `REPLCONF SNAPSHOT-MARKER` before the writer logs it
//! (`docs/protocol.md` R14): a committed marker lets every storage node
//! drop the log below the snapshot it names, so the writer logs one only
//! when that snapshot is in its own store (`--snapshot-store`) with the
//! LSN, epoch and log checksum the marker names. The check reads the
//! store, so it runs in the connection's task, outside the core lock
//! ([`check_batch`]); the core then takes its verdict ([`Verdicts::take`]).

use crate::Shared;
use bytes::Bytes;
use sixfold_engine::cmd::replication::{ReplConf, parse_replconf};
use sixfold_wire::SnapshotMarker;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Checks that the snapshot a marker names is in the store, as named.
pub type MarkerCheck =
    Arc<dyn Fn(SnapshotMarker) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Verdicts kept for markers checked and not yet logged (a client that
/// checked and went away leaves one behind; the oldest go first).
const VERDICTS_MAX: usize = 16;

/// The check, and the verdicts of checks made outside the core lock.
#[derive(Default)]
pub struct Verdicts {
    check: Option<MarkerCheck>,
    done: VecDeque<(Bytes, Result<(), String>)>,
}

impl Verdicts {
    /// Installs the check (the writer's snapshot store).
    pub fn set_check(&mut self, check: MarkerCheck) {
        self.check = Some(check);
    }

    /// The check, if one is installed.
    pub fn check(&self) -> Option<MarkerCheck> {
        self.check.clone()
    }

    fn note(&mut self, payload: Bytes, verdict: Result<(), String>) {
        if self.done.len() == VERDICTS_MAX {
            self.done.pop_front();
        }
        self.done.push_back((payload, verdict));
    }

    /// The verdict on `payload`, as an error reply when it may not be
    /// logged: without a store to check against, no marker is.
    pub fn take(&mut self, payload: &[u8]) -> Result<(), String> {
        if self.check.is_none() {
            return Err("ERR this writer has no --snapshot-store to check snapshot markers against".into());
        }
        let at = self.done.iter().position(|(p, _)| p[..] == *payload);
        match at.and_then(|i| self.done.remove(i)) {
            Some((_, verdict)) => verdict.map_err(|e| format!("ERR {e}")),
            None => Err("ERR the snapshot marker was not checked against the store".into()),
        }
    }
}

/// Checks every `REPLCONF SNAPSHOT-MARKER` of `cmds` against the store,
/// outside the core lock, and leaves the verdicts in the core.
pub async fn check_batch(core: &Shared, cmds: &[Vec<Bytes>]) {
    let payloads: Vec<Bytes> = cmds
        .iter()
        .filter_map(|c| match parse_replconf(c) {
            Some(ReplConf::SnapshotMarker(p)) => Some(p),
            _ => None,
        })
        .collect();
    if payloads.is_empty() {
        return;
    }
    let Some(check) = core.lock().verdicts().check() else { return };
    for p in payloads {
        // One that does not decode is refused for that when it runs.
        let Ok(m) = SnapshotMarker::decode(&p) else { continue };
        let verdict = check(m).await;
        core.lock().verdicts().note(p, verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_checked_marker_passes() {
        let mut v = Verdicts::default();
        assert!(v.take(b"m").unwrap_err().contains("no --snapshot-store"));
        v.set_check(Arc::new(|_| Box::pin(async { Ok(()) })));
        assert!(v.take(b"m").unwrap_err().contains("not checked"));
        v.note(Bytes::from_static(b"m"), Ok(()));
        v.note(Bytes::from_static(b"bad"), Err("not in the store".into()));
        assert_eq!(v.take(b"m"), Ok(()));
        assert!(v.take(b"m").is_err(), "a verdict is used once");
        assert_eq!(v.take(b"bad"), Err("ERR not in the store".into()));
        for i in 0..VERDICTS_MAX + 3 {
            v.note(Bytes::from(format!("x{i}")), Ok(()));
        }
        assert_eq!(v.done.len(), VERDICTS_MAX);
    }
}
