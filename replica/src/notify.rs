//! Commit notifications (DESIGN §5): a replica's second RESP connection to
//! the writer, on which it sends `REPLCONF NOTIFY 1` and then only hears
//! `[commit, <commit LSN>, <epoch of the record there>, <fabric flushed
//! LSN>]` each time the writer's commit or flushed LSN moves (coalesced on
//! the writer). The newest goes into a `watch` the replicator waits on.
//! Reconnects after any failure, and to the new writer after a failover.

use crate::role::ReplicaStats;
use crate::upstream::{authenticate, command, reply};
use bytes::BytesMut;
use sixfold_node::Shared;
use sixfold_resp::Frame;
use sixfold_wire::{Epoch, Lsn};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Pause before reconnecting.
const RECONNECT_MS: u64 = 200;
/// How often the link checks that the shard's writer is still the one it
/// listens to.
const WRITER_CHECK_MS: u64 = 500;

/// One commit notification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notice {
    /// The writer's commit LSN.
    pub commit: Lsn,
    /// The epoch of the record at `commit`.
    pub epoch: Epoch,
    /// On disk on four storage nodes (the flush confirmation: retained
    /// records at or below it may go).
    pub flushed: Lsn,
}

impl Notice {
    /// Parses a `[commit, lsn, epoch, flushed]` push.
    pub fn parse(f: &Frame) -> Option<Notice> {
        let Frame::Array(parts) = f else { return None };
        let [Frame::Bulk(kind), Frame::Integer(c), Frame::Integer(e), Frame::Integer(fl)] = parts.as_slice() else {
            return None;
        };
        if kind.as_ref() != b"commit" {
            return None;
        }
        let n = |v: &i64| u64::try_from(*v).ok();
        Some(Notice { commit: n(c)?, epoch: n(e)?, flushed: n(fl)? })
    }
}

/// Keeps the notification link to the current writer up, forever.
pub async fn run(stats: Arc<ReplicaStats>, core: Shared, tx: watch::Sender<Notice>) {
    loop {
        let writer = stats.writer();
        if !writer.is_empty()
            && let Err(e) = session(&writer, &stats, &core, &tx).await
        {
            tracing::debug!(%writer, error = %e, "commit notifications ended");
        }
        tokio::time::sleep(Duration::from_millis(RECONNECT_MS)).await;
    }
}

async fn session(writer: &str, stats: &ReplicaStats, core: &Shared, tx: &watch::Sender<Notice>) -> anyhow::Result<()> {
    let mut sock = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(writer)).await??;
    sock.set_nodelay(true)?;
    let mut buf = BytesMut::new();
    authenticate(&mut sock, &mut buf, core).await?;
    sock.write_all(&command(&["REPLCONF", "NOTIFY", "1"])).await?;
    if let Frame::Error(e) = reply(&mut sock, &mut buf).await? {
        anyhow::bail!("the writer refused REPLCONF NOTIFY: {e}");
    }
    let mut check = tokio::time::interval(Duration::from_millis(WRITER_CHECK_MS));
    loop {
        tokio::select! {
            frame = reply(&mut sock, &mut buf) => {
                let frame = frame?;
                let n = Notice::parse(&frame).ok_or_else(|| anyhow::anyhow!("not a notification: {frame:?}"))?;
                heard(stats, tx, n);
            }
            _ = check.tick() => anyhow::ensure!(stats.writer() == writer, "the shard's writer changed"),
        }
    }
}

/// Passes a notification on (a newer commit or flushed LSN only).
fn heard(stats: &ReplicaStats, tx: &watch::Sender<Notice>, n: Notice) {
    stats.writer_commit.fetch_max(n.commit, Ordering::Relaxed);
    let _ = stats.catch_up_to.compare_exchange(0, n.commit.max(1), Ordering::Relaxed, Ordering::Relaxed);
    tx.send_if_modified(|old| {
        let newer = n.commit > old.commit || n.flushed > old.flushed;
        if newer {
            *old = Notice { commit: n.commit.max(old.commit), epoch: n.epoch, flushed: n.flushed.max(old.flushed) };
        }
        newer
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_writers_pushes() {
        let push = |kind: &str, c: i64| {
            Frame::Array(vec![Frame::bulk(kind.to_string()), Frame::Integer(c), Frame::Integer(3), Frame::Integer(5)])
        };
        assert_eq!(Notice::parse(&push("commit", 9)), Some(Notice { commit: 9, epoch: 3, flushed: 5 }));
        assert_eq!(Notice::parse(&push("other", 9)), None);
        assert_eq!(Notice::parse(&push("commit", -1)), None);
        assert_eq!(Notice::parse(&Frame::ok()), None);
    }

    #[test]
    fn only_newer_notifications_are_passed_on() {
        let stats = ReplicaStats::default();
        let (tx, mut rx) = watch::channel(Notice::default());
        heard(&stats, &tx, Notice { commit: 10, epoch: 1, flushed: 4 });
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), Notice { commit: 10, epoch: 1, flushed: 4 });
        heard(&stats, &tx, Notice { commit: 9, epoch: 1, flushed: 3 });
        assert!(!rx.has_changed().unwrap(), "an older notification changes nothing");
        heard(&stats, &tx, Notice { commit: 10, epoch: 1, flushed: 8 });
        assert_eq!(*rx.borrow_and_update(), Notice { commit: 10, epoch: 1, flushed: 8 }, "a flush confirmation");
        assert_eq!(stats.writer_commit.load(Ordering::Relaxed), 10);
        assert_eq!(stats.catch_up_to.load(Ordering::Relaxed), 10);
    }
}
