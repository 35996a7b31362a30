//! The listener: binds the RESP port, creates the shared core and its ticker, accepts
//! connections, and stops on SHUTDOWN, SIGTERM or Ctrl-C.

use crate::conn;
use crate::core::Shared;
use crate::fabric::{self, FabricSettings};
use crate::replica::{self, ReplicaSettings, ReplicaStats};
use anyhow::Context;
use sixfold_engine::Config;
use sixfold_engine::Engine;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// How acknowledged writes are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Benchmark mode: writes live in memory only and are lost with the process.
    None,
    /// Every acknowledged write is committed on four of six storage nodes.
    Fabric,
}

/// What this data node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Executes commands and logs writes (one per shard).
    Writer,
    /// Applies the committed log and serves reads; writes get `-MOVED`.
    Replica,
}

/// Settings of one server process.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Durability mode.
    pub durability: Durability,
    /// Engine settings (requirepass, maxmemory, maxclients, ...).
    pub engine: Config,
    /// Seed of the engine's random source (SPOP, RANDOMKEY, ...).
    pub seed: u64,
    /// The storage fabric, with `Durability::Fabric`.
    pub fabric: Option<FabricSettings>,
    /// The replica role's settings (`None`: writer).
    pub replica: Option<ReplicaSettings>,
    /// How long a reply may wait for its commit before it becomes a
    /// `-TIMEOUT` error (outcome unknown).
    pub commit_timeout: Duration,
    /// The durable writer's lease.
    pub lease: crate::lease::LeaseSettings,
}

/// Limits shared by the connection tasks and updated by CONFIG SET.
#[derive(Debug)]
pub struct SharedLimits {
    /// `proto-max-bulk-len`.
    pub bulk_bytes_max: AtomicU64,
}

/// Runs the server until SHUTDOWN or a termination signal.
pub async fn run(cfg: ServerConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%local, durability = ?cfg.durability, "sixfold-server ready to accept connections");
    let limits = Arc::new(SharedLimits { bulk_bytes_max: AtomicU64::new(cfg.engine.proto_max_bulk_len) });
    let mut engine_cfg = cfg.engine.clone();
    engine_cfg.port = local.port();
    engine_cfg.announce = Some(local.to_string());
    engine_cfg.durability = format!("{:?}", cfg.durability).to_lowercase();
    let stopped = Arc::new(tokio::sync::Notify::new());
    let core = match (&cfg.replica, cfg.durability) {
        (Some(r), _) => {
            engine_cfg.replica_of = Some(r.writer.clone());
            engine_cfg.active_expire = false;
            engine_cfg.durability = "replica".into();
            let core = Shared::new(engine_cfg, cfg.seed, limits.clone(), stopped.clone());
            let stats = Arc::new(ReplicaStats::default());
            if let Ok(mut w) = stats.writer.lock() {
                w.clone_from(&r.writer);
            }
            let info = stats.clone();
            core.lock().set_info_extra(Box::new(move |section| match section {
                "replication" => info.info(),
                _ => Vec::new(),
            }));
            core.lock().set_loading(true);
            replica::start(core.clone(), r, stats, local).context("starting the replica")?;
            core
        }
        (None, Durability::None) => Shared::new(engine_cfg, cfg.seed, limits.clone(), stopped.clone()),
        (None, Durability::Fabric) => {
            let settings = cfg.fabric.as_ref().context("--durability fabric needs --storage and --certs")?;
            let mut engine = Engine::new(engine_cfg, cfg.seed);
            let me = (fabric::WRITER_NODE_ID, local.to_string());
            let (app, fenced, sent) = fabric::recover(settings, (me.0, &me.1), 0, |r| fabric::apply_to(&mut engine, r))
                .await
                .context("recovering from the storage fabric")?;
            let core = Shared::with_engine(engine, None, limits.clone(), stopped.clone());
            let serve_from = fabric::start_writing(&core, app, (fenced, sent), cfg.lease, cfg.commit_timeout);
            // A writer it fenced may hold its lease until then: clients are
            // taken only once it has passed (the lease renews meanwhile).
            tokio::time::sleep_until(serve_from.into()).await;
            core
        }
    };
    tokio::spawn(core.clone().ticker());
    tracing::info!(%local, "serving clients");
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => spawn_conn(sock, peer, local, core.clone(), limits.clone()),
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            _ = stopped.notified() => {
                tracing::info!("SHUTDOWN received, exiting");
                return Ok(());
            }
            _ = shutdown_signal() => {
                tracing::info!("termination signal received, exiting");
                return Ok(());
            }
        }
    }
}

fn spawn_conn(sock: tokio::net::TcpStream, peer: SocketAddr, local: SocketAddr, h: Shared, l: Arc<SharedLimits>) {
    tokio::spawn(async move {
        if let Err(e) = conn::serve(sock, peer, local, h, l).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The current `proto-max-bulk-len`.
pub fn bulk_limit(l: &SharedLimits) -> usize {
    l.bulk_bytes_max.load(Ordering::Relaxed) as usize
}
