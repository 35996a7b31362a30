//! Planned failover, the writer's side (`FAILOVER`, `sixfold failover`):
//! with writes paused by the engine, wait until every write executed is
//! committed and the target replica applied it, then ask the target to
//! take over (`REPLCONF TAKEOVER <lsn>` on a RESP connection). The target
//! campaigns at once, fences this writer, and waits out this writer's
//! lease before it serves; this writer, fenced with nothing uncommitted,
//! becomes the target's replica keeping its data and its clients (see
//! [`Shared::demote`]). Clients see `-TRYAGAIN` for writes
//! during the handover, then `-MOVED` to the new writer. If the handover
//! does not happen within FAILOVER's timeout (or [`HANDOVER_MS_MAX`]),
//! writes resume here.

use bytes::BytesMut;
use sixfold_engine::cmd::failover::FailoverRequest;
use sixfold_node::Progress;
use sixfold_node::Shared;
use sixfold_resp::Frame;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// How long a handover without TIMEOUT may take before writes resume here.
pub const HANDOVER_MS_MAX: u64 = 30_000;

/// Carries out `req` (see the module doc); `progress` is this writer's log's.
pub async fn hand_over(core: Shared, req: FailoverRequest, progress: watch::Receiver<Progress>) {
    let limit = Duration::from_millis(if req.timeout_ms > 0 { req.timeout_ms } else { HANDOVER_MS_MAX });
    let deadline = tokio::time::Instant::now() + limit;
    tracing::warn!(target = %req.target, "FAILOVER: writes paused, handing over");
    let lsn = core.lock().last_lsn();
    let asked = tokio::time::timeout_at(deadline, ready(&core, &req, lsn, progress)).await;
    let asked = match asked {
        Ok(r) => r,
        Err(_) if req.force => Ok(()),
        Err(_) => Err(anyhow::anyhow!("the target did not catch up within {} ms", limit.as_millis())),
    };
    let result = match asked {
        Ok(()) => ask_takeover(&core, &req.target, lsn).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(target = %req.target, error = %e, "FAILOVER abandoned: writes resume");
        core.lock().abort_failover();
        return;
    }
    // The target fences this writer, which then becomes its replica.
    while core.durable().is_some() {
        if tokio::time::Instant::now() >= deadline + Duration::from_millis(HANDOVER_MS_MAX) {
            tracing::warn!(target = %req.target, "FAILOVER: the target did not take over; writes resume");
            core.lock().abort_failover();
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `lsn` is committed and the target replica applied it.
async fn ready(
    core: &Shared,
    req: &FailoverRequest,
    lsn: sixfold_wire::Lsn,
    mut progress: watch::Receiver<Progress>,
) -> anyhow::Result<()> {
    progress.wait_for(|p| p.commit >= lsn).await?;
    let d = core.durable().ok_or_else(|| anyhow::anyhow!("no longer the writer"))?;
    let mut acks = d.replicas.subscribe();
    while d.replicas.applied_of(&req.target).is_none_or(|a| a < lsn) {
        acks.changed().await?;
    }
    Ok(())
}

/// Sends `REPLCONF TAKEOVER <lsn>` to the replica at `target` (after
/// AUTH with this node's `masterauth`, if it has one).
async fn ask_takeover(core: &Shared, target: &str, lsn: sixfold_wire::Lsn) -> anyhow::Result<()> {
    let mut sock = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(target)).await??;
    let mut buf = BytesMut::new();
    sixfold_replica::upstream::authenticate(&mut sock, &mut buf, core).await?;
    sock.write_all(&sixfold_replica::upstream::command(&["REPLCONF", "TAKEOVER", &lsn.to_string()])).await?;
    match tokio::time::timeout(Duration::from_secs(2), sixfold_replica::upstream::reply(&mut sock, &mut buf)).await?? {
        Frame::Simple(s) if s == "OK" => Ok(()),
        other => anyhow::bail!("{target} refused to take over: {other:?}"),
    }
}
