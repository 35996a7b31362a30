//! The listener: binds the RESP port, creates the shared core and its ticker, accepts
//! connections, and stops on SHUTDOWN, SIGTERM or Ctrl-C.

use crate::conn;
use crate::core::Shared;
use crate::fabric::FabricSettings;
use crate::replica::{self, ReplicaSettings, ReplicaStats};
use anyhow::Context;
use sixfold_engine::Config;
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
    /// An equal data node: replicates the shard's writer, and takes over
    /// when the shard has none (the election picks one).
    Auto,
    /// Takes over as the shard's writer at once on start (fencing any
    /// other), then behaves as `auto`.
    Writer,
    /// Applies the committed log and serves reads; writes get `-MOVED`;
    /// takes over only with `--failover`.
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
    /// The roles of a durable data node (`None`: `--durability none`).
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
    let core = match &cfg.replica {
        Some(r) => {
            let mut r = r.clone();
            if r.announce.is_empty() {
                r.announce = local.to_string();
            }
            engine_cfg.announce = Some(r.announce.clone());
            engine_cfg.replica_of = Some(r.writer.clone());
            engine_cfg.active_expire = false;
            engine_cfg.durability = "replica".into();
            let core = Shared::new(engine_cfg, cfg.seed, limits.clone(), stopped.clone());
            let stats = Arc::new(ReplicaStats::default());
            stats.set_writer(&r.writer);
            replica::show_replica_info(&core, &stats);
            core.lock().set_loading(true);
            let (serving_tx, serving) = tokio::sync::oneshot::channel();
            replica::start(core.clone(), &r, stats, local, serving_tx).context("starting the data node")?;
            if r.take_over_first {
                // A writer takes clients once it serves, and once any
                // writer it fenced has lost its lease (it renews meanwhile).
                let serve_from = serving.await.context("the data node stopped before it served")?;
                tokio::time::sleep_until(serve_from.into()).await;
            }
            core
        }
        None => Shared::new(engine_cfg, cfg.seed, limits.clone(), stopped.clone()),
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
