//! One `sixfold-server` process: binds the RESP port, creates the shared
//! core and its ticker, starts the data node's roles ([`crate::roles`]),
//! and serves clients until SHUTDOWN, SIGTERM or Ctrl-C
//! ([`sixfold_node::listener`]).

use crate::fabric::FabricSettings;
use crate::roles::{self, Takeover};
use anyhow::Context;
use sixfold_engine::Config;
use sixfold_node::{Shared, SharedLimits};
use sixfold_replica::role::show_replica_info;
use sixfold_replica::{ReplicaSettings, ReplicaStats};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
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
    /// Also serve TLS clients on this port (of the same address).
    pub tls: Option<(u16, sixfold_node::tls::TlsSettings)>,
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
    /// Whether and how it takes over as writer (`None`: a replica only).
    pub takeover: Option<Takeover>,
    /// How long a reply may wait for its commit before it becomes a
    /// `-TIMEOUT` error (outcome unknown).
    pub commit_timeout: Duration,
    /// The durable writer's lease.
    pub lease: crate::lease::LeaseSettings,
}

/// Runs the server until SHUTDOWN or a termination signal.
pub async fn run(cfg: ServerConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let tls = match &cfg.tls {
        None => None,
        Some((port, settings)) => {
            let addr = SocketAddr::new(cfg.listen.ip(), *port);
            let l = TcpListener::bind(addr).await.with_context(|| format!("binding the TLS port {addr}"))?;
            let acceptor = sixfold_node::tls::Acceptor::new(settings.clone()).context("loading the TLS files")?;
            Some((l, Arc::new(acceptor)))
        }
    };
    tracing::info!(%local, durability = ?cfg.durability, "sixfold-server ready to accept connections");
    let limits = Arc::new(SharedLimits {
        bulk_bytes_max: AtomicU64::new(cfg.engine.proto_max_bulk_len),
        password_set: AtomicBool::new(cfg.engine.requirepass.is_some()),
    });
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
            show_replica_info(&core, &stats);
            core.lock().set_loading(true);
            let (serving_tx, serving) = tokio::sync::oneshot::channel();
            roles::start(core.clone(), (&r, cfg.takeover.clone()), stats, local, serving_tx)
                .context("starting the data node")?;
            if r.take_over_first {
                // A writer takes clients once it serves, and once any
                // writer it fenced has lost its lease (it renews meanwhile).
                match serving.await.context("the data node stopped before it served")? {
                    Some(serve_from) => tokio::time::sleep_until(serve_from.into()).await,
                    None => tracing::warn!("fenced before it served as the writer: serving as a replica"),
                }
            }
            core
        }
        None => Shared::new(engine_cfg, cfg.seed, limits.clone(), stopped.clone()),
    };
    tokio::spawn(core.clone().ticker());
    sixfold_node::listener::serve(listener, tls, core, limits, stopped).await;
    Ok(())
}
