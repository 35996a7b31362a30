//! `sixfold-storage`: the Sixfold storage node binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Deserialize;
use sixfold_net::tls::{TlsFiles, client_endpoint, server_endpoint};
use sixfold_storage_node::node::{Node, NodeConfig};
use sixfold_storage_node::service;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Sixfold storage node: keeps a shard's log durable on disk and serves it.
#[derive(Debug, Parser)]
#[command(name = "sixfold-storage", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create a development cluster CA and node certificates.
    GenCerts {
        /// Directory for ca.pem and <name>.pem / <name>.key.
        #[arg(long)]
        dir: PathBuf,
        /// Certificate names, comma separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "storage-1,storage-2,storage-3,storage-4,storage-5,storage-6,writer,replica,data,data-1,data-2,data-3,snapshotter"
        )]
        names: Vec<String>,
    },
}

/// Settings; each flag overrides the same key of the `--config` TOML file.
#[derive(Debug, Default, Parser, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RunArgs {
    /// TOML file with any of the settings below (kebab-case keys).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// This node's id.
    #[arg(long)]
    node_id: Option<u32>,
    /// This node's zone.
    #[arg(long)]
    zone: Option<String>,
    /// QUIC listen address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Directory with ca.pem and this node's certificate and key.
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Name of this node's certificate files (default storage-<node-id>).
    #[arg(long)]
    cert_name: Option<String>,
    /// Another storage node of the shard (repeat for each).
    #[arg(long = "peer")]
    peers: Option<Vec<SocketAddr>>,
    /// A replica's --fabric-listen address, whose retained records refill
    /// this node's lost tail (repeat for each).
    #[arg(long = "replica")]
    replicas: Option<Vec<SocketAddr>>,
    /// Fault injection for tests: each flush to disk waits this long first
    /// (a slow disk; records stay in memory only meanwhile).
    #[arg(long)]
    fault_flush_delay_ms: Option<u64>,
    /// Segment file size before a new one starts.
    #[arg(long)]
    segment_bytes_max: Option<u64>,
    /// In-memory hot tail bound.
    #[arg(long)]
    hot_tail_bytes_max: Option<usize>,
    /// Records kept below the newest committed snapshot marker when the
    /// log is truncated (default 100000). Whole segment files are dropped
    /// only below that point, never on any other request.
    #[arg(long)]
    truncate_margin_records: Option<u64>,
    /// Write and sync segments through io-uring where the kernel allows it.
    /// Off by default: each sync is synchronous on the flusher's thread,
    /// and io-uring hands an fsync to a kernel worker thread, which costs
    /// two more thread switches per flush (measured: plain is 16% less
    /// CPU per record, bench/RESULTS.md).
    #[arg(long, conflicts_with = "no_io_uring")]
    #[serde(default)]
    io_uring: bool,
    /// Plain write/fdatasync (the default; kept for command lines that say so).
    #[arg(long)]
    #[serde(default)]
    no_io_uring: bool,
    /// Group fsync window: a flush starts at most once per this many
    /// microseconds (default 2000), so records that arrive meanwhile share
    /// one fsync; a caller waiting for the disk (WaitFlushed, a full hot
    /// tail, shutdown) starts it at once. Commits at four in-memory
    /// acknowledgements do not wait for it; with the writer's `--commit
    /// disk`, 0 flushes at once.
    #[arg(long)]
    flush_interval_us: Option<u64>,
    /// Address of the Prometheus `/metrics` endpoint (none if unset).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// This node belongs to a new cluster: an empty data directory has
    /// acknowledged nothing. Without it an empty directory is taken for a
    /// wiped node's, which may have lost acknowledged records and does not
    /// count as intact in a recovery until it caught up (docs/protocol.md).
    /// Use it only when creating a cluster.
    #[arg(long)]
    #[serde(default)]
    new_cluster: bool,
    /// Runtime worker threads (default 2; 1 suits several nodes on one machine).
    #[arg(long)]
    threads: Option<usize>,
}

impl RunArgs {
    fn merged(self) -> anyhow::Result<RunArgs> {
        let Some(path) = &self.config else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: RunArgs = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(RunArgs {
            config: self.config,
            node_id: self.node_id.or(file.node_id),
            zone: self.zone.or(file.zone),
            listen: self.listen.or(file.listen),
            data_dir: self.data_dir.or(file.data_dir),
            certs: self.certs.or(file.certs),
            cert_name: self.cert_name.or(file.cert_name),
            peers: self.peers.or(file.peers),
            replicas: self.replicas.or(file.replicas),
            fault_flush_delay_ms: self.fault_flush_delay_ms.or(file.fault_flush_delay_ms),
            segment_bytes_max: self.segment_bytes_max.or(file.segment_bytes_max),
            hot_tail_bytes_max: self.hot_tail_bytes_max.or(file.hot_tail_bytes_max),
            truncate_margin_records: self.truncate_margin_records.or(file.truncate_margin_records),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            threads: self.threads.or(file.threads),
            io_uring: self.io_uring || file.io_uring,
            no_io_uring: self.no_io_uring || file.no_io_uring,
            flush_interval_us: self.flush_interval_us.or(file.flush_interval_us),
            new_cluster: self.new_cluster || file.new_cluster,
        })
    }
}

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    sixfold_telemetry::init_logging();
    let cli = Cli::parse();
    if let Some(Cmd::GenCerts { dir, names }) = cli.cmd {
        sixfold_net::certs::generate(&dir, &names)
            .with_context(|| format!("generating certificates in {}", dir.display()))?;
        println!("wrote ca.pem and certificates for {} names to {}", names.len(), dir.display());
        return Ok(());
    }
    let a = cli.run.merged()?;
    let node_id = a.node_id.context("--node-id is required")?;
    let certs = a.certs.context("--certs is required (create them with `sixfold-storage gen-certs --dir DIR`)")?;
    let cert_name = a.cert_name.unwrap_or_else(|| format!("storage-{node_id}"));
    let cfg = NodeConfig {
        node_id,
        zone: a.zone.unwrap_or_else(|| "a".into()),
        listen: a.listen.unwrap_or_else(|| ([127, 0, 0, 1], 7100).into()),
        data_dir: a.data_dir.context("--data-dir is required")?,
        peers: a.peers.unwrap_or_default(),
        replicas: a.replicas.unwrap_or_default(),
        fault_flush_delay_ms: a.fault_flush_delay_ms.unwrap_or(0),
        segment_bytes_max: a.segment_bytes_max.unwrap_or(64 * 1024 * 1024),
        hot_tail_bytes_max: a.hot_tail_bytes_max.unwrap_or(256 * 1024 * 1024),
        hot_tail_keep_bytes: 16 * 1024 * 1024,
        read_bytes_max: 4 * 1024 * 1024,
        truncate_margin_records: a.truncate_margin_records.unwrap_or(100_000),
        io_uring: a.io_uring && !a.no_io_uring,
        flush_interval_us: a.flush_interval_us.unwrap_or(2_000),
        new_cluster: a.new_cluster,
    };
    let tls = TlsFiles::in_dir(&certs, &cert_name);
    let metrics_listen = a.metrics_listen;
    let threads = a.threads.unwrap_or(2).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        if let Some(addr) = metrics_listen {
            sixfold_storage_node::metrics::install(addr)?;
        }
        let node = Node::open(cfg.clone()).with_context(|| format!("opening {}", cfg.data_dir.display()))?;
        let server = server_endpoint(cfg.listen, &tls).context("starting the QUIC listener")?;
        let client = client_endpoint(&tls).context("starting the QUIC client")?;
        tracing::info!(node = cfg.node_id, zone = %cfg.zone, listen = %cfg.listen, peers = cfg.peers.len(), "sixfold-storage ready");
        tokio::spawn(node.clone().flusher());
        service::spawn_fill(node.clone(), client.clone());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            _ = service::serve(node.clone(), server.clone(), client) => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, shutting down"),
            _ = term.recv() => tracing::info!("terminated, shutting down"),
        }
        server.close(0u32.into(), b"shutting down");
        node.shut_down().await;
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    /// The per-host configurations in `deploy/hosts` are valid settings.
    #[test]
    fn the_deploy_host_configs_parse() {
        for i in 1..=6u32 {
            let path = format!("{}/../deploy/hosts/storage-{i}.toml", env!("CARGO_MANIFEST_DIR"));
            let a: super::RunArgs = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(a.node_id, Some(i), "{path}");
            let peers = a.peers.unwrap();
            assert_eq!(peers.len(), 5, "{path}");
            assert!(!peers.contains(&a.listen.unwrap()), "{path}: a node is not its own peer");
        }
    }
}
