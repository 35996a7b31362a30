//! A durable data node's life (DESIGN §6), the one place where its two
//! roles meet: replicate (`sixfold-replica`); campaign when the writer is
//! gone; take over with the writer's recovery ([`crate::fabric::recover`]);
//! serve as writer until fenced; then become a replica in place
//! ([`Shared::demote`]) and go round again.

use sixfold_net::tls::{TlsFiles, client_endpoint, server_endpoint};
use sixfold_node::Shared;
use sixfold_replica::campaign::campaign;
use sixfold_replica::role::{replicate, show_replica_info};
use sixfold_replica::{ReplicaSettings, ReplicaStats};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What a replica needs to take over as writer.
#[derive(Debug, Clone)]
pub struct Takeover {
    /// The storage fabric, as a writer reaches it.
    pub fabric: crate::fabric::FabricSettings,
    /// The lease settings (the writer's must be the same).
    pub lease: crate::lease::LeaseSettings,
    /// How long replies may wait for their commit, once writer.
    pub commit_timeout: std::time::Duration,
}

/// Hears once how a data node first serves: as writer, from when its
/// lease may hold (`Some`), or as a replica (`None`: a node started as the
/// writer was fenced before its `LeaderChange` committed).
pub type FirstServe = tokio::sync::oneshot::Sender<Option<Instant>>;

/// Sends `how` on the first-serve channel, if no one has yet.
fn tell(first: &std::sync::Mutex<Option<FirstServe>>, how: Option<Instant>) {
    if let Some(tx) = first.lock().ok().and_then(|mut f| f.take()) {
        let _ = tx.send(how);
    }
}

/// Starts the data node's roles (this node serves clients at `local`):
/// replicating, and with `takeover`, taking over as writer when the
/// shard's writer is gone and back to replicating when a newer writer
/// fenced it (`roles`). `serving` hears when this node first serves as
/// writer, and from when its lease may hold. Returns at once.
pub fn start(
    core: Shared,
    (s, takeover): (&ReplicaSettings, Option<Takeover>),
    stats: Arc<ReplicaStats>,
    local: SocketAddr,
    serving: FirstServe,
) -> anyhow::Result<()> {
    let files = TlsFiles::in_dir(&s.certs, &s.cert_name);
    let endpoint = client_endpoint(&files)?;
    let mut s = s.clone();
    if let Some(addr) = s.retention_listen {
        let desk = sixfold_replica::retention::Desk::default();
        tokio::spawn(sixfold_replica::retention::serve(server_endpoint(addr, &files)?, desk.clone()));
        s.retention = Some(desk);
        tracing::info!(%addr, "serving retained records to storage nodes");
    }
    tokio::spawn(roles(core, (s, takeover), stats, (endpoint, local), serving));
    Ok(())
}

/// Has this node, once writer, log a snapshot marker only for a snapshot
/// in the store at `url` with the marker's LSN, epoch and log checksum
/// (`sixfold_node::markers`).
async fn install_marker_check(core: &Shared, url: &str) {
    let store = match sixfold_objstore::open(url).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "the snapshot store does not open: snapshot markers will be refused");
            return;
        }
    };
    let check: sixfold_node::markers::MarkerCheck = Arc::new(move |m: sixfold_wire::SnapshotMarker| {
        let store = store.clone();
        Box::pin(async move {
            let h = sixfold_snapshot::header(store.as_ref(), &m.name)
                .await
                .map_err(|e| format!("the snapshot {} the marker names cannot be read from the store: {e}", m.name))?;
            if (h.lsn, h.epoch, h.log_checksum) != (m.lsn, m.epoch, m.log_checksum) {
                return Err(format!("the snapshot {} in the store is not the one the marker names", m.name));
            }
            Ok(())
        })
    });
    core.lock().verdicts().set_check(check);
}

/// The loop: replicate; campaign; serve as writer until fenced; demote.
async fn roles(
    core: Shared,
    (s, takeover): (ReplicaSettings, Option<Takeover>),
    stats: Arc<ReplicaStats>,
    (endpoint, local): (quinn::Endpoint, SocketAddr),
    serving: FirstServe,
) {
    let first = Arc::new(std::sync::Mutex::new(Some(serving)));
    let mut applied = match &s.snapshot_store {
        Some(url) => {
            install_marker_check(&core, url).await;
            sixfold_replica::restore::restore_newest(&core, url, &stats, 0).await.unwrap_or((0, 0))
        }
        None => (0, 0),
    };
    let mut now = s.take_over_first;
    loop {
        let tasks = if now { Vec::new() } else { replicate(&core, &s, &stats, &endpoint, applied) };
        let Some(t) = takeover.clone() else { return };
        let recover = |applied, tries| {
            let (core, fabric, announce) = (core.clone(), t.fabric.clone(), s.announce.clone());
            let first = first.clone();
            let attempt = async move {
                // Each campaign writes under an id of its own: a storage
                // node that lost its data directory takes Appends only from
                // the writer whose Prepare it answered (`docs/protocol.md`, R4).
                let me = rand::random::<u32>() | 1;
                // Called only once the LeaderChange committed these records:
                // one that does not apply stops the process, as a replica does.
                let won = crate::fabric::recover(&fabric, (me, &announce), (applied, tries), |r| {
                    if let Err(e) = core.lock().apply_records(std::slice::from_ref(r)) {
                        tracing::error!(error = %e, "stopping: a committed record does not apply");
                        std::process::exit(4);
                    }
                    Ok(())
                })
                .await?;
                let leased_at_most = won.leased_at_most;
                Ok((won, leased_at_most))
            };
            async move {
                let r = attempt.await;
                if r.is_err() {
                    // A node started as the writer that lost its first
                    // campaign serves clients as the replica it now is.
                    tell(&first, None);
                }
                r
            }
        };
        let (won, wait_out) = campaign(&core, &s, &stats, (tasks, &endpoint), now, recover).await;
        let (serve_from, shipping) = crate::fabric::start_writing(&core, won, (t.lease, wait_out), t.commit_timeout);
        tracing::warn!(%local, "serving as the writer");
        tell(&first, Some(serve_from));
        let why = match shipping.await {
            Ok(e) => e,
            Err(e) => anyhow::anyhow!("the fabric task ended: {e}"),
        };
        tracing::warn!(reason = %why, "no longer the writer: replicating the new one");
        let target;
        (applied, target) = core.demote();
        stats.restart_at(applied);
        if let Some(t) = target {
            stats.set_writer(&t);
        }
        show_replica_info(&core, &stats);
        sixfold_replica::metrics::publish(applied.0, applied.0, &stats);
        now = false;
    }
}
