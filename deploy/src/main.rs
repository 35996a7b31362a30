//! `sixfold`: starts a complete local Sixfold cluster (`sixfold up`),
//! reports on it (`sixfold status`), hands the writer's role over
//! (`sixfold failover`) and snapshots it (`sixfold snapshot`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use sixfold_deploy::layout::Layout;
use std::path::PathBuf;

/// Sixfold, a durable Redis-compatible database: local cluster launcher.
#[derive(Debug, Parser)]
#[command(name = "sixfold", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start six storage nodes (zones a, a, b, b, c, c) and equal data
    /// nodes, which elect their writer, as child processes; stop them all
    /// with Ctrl-C or SIGTERM.
    Up {
        /// Data directory (certificates and storage node data; reused on the next `up`).
        #[arg(long, default_value = "./sixfold-data")]
        dir: PathBuf,
        /// Data nodes to start (one is elected writer; the others are
        /// replicas that take over when it fails).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
        data_nodes: u16,
        /// The first data node's port; the others use the next ones.
        #[arg(long, default_value_t = 6379)]
        port: u16,
        /// First storage node port (UDP, QUIC); six in a row.
        #[arg(long, default_value_t = 7101)]
        storage_port: u16,
        /// First Prometheus metrics port; one per process.
        #[arg(long, default_value_t = 9101)]
        metrics_port: u16,
        /// Directory with sixfold-server and sixfold-storage (default: next to this binary).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// The snapshotter makes a snapshot (into DIR/snapshots) each time
        /// the log is this many records past the newest one; 0: none runs.
        #[arg(long, default_value_t = 100_000)]
        snapshot_every_records: u64,
        /// Where snapshots go and come from: a directory, or
        /// s3://bucket/prefix?endpoint=URL&region=R&path_style=true
        /// (credentials from the AWS environment); default DIR/snapshots.
        #[arg(long)]
        snapshot_store: Option<String>,
        /// Records the storage nodes keep below the newest committed
        /// snapshot marker when they truncate their logs (default 100000).
        #[arg(long)]
        truncate_margin_records: Option<u64>,
        /// Size of the storage nodes' segment files (whole files are
        /// dropped when the log is truncated; default 64 MiB).
        #[arg(long)]
        segment_bytes_max: Option<u64>,
    },
    /// Hand the writer's role to another data node with nothing lost:
    /// writes pause (clients see -TRYAGAIN, then -MOVED to the new writer).
    Failover {
        /// Data directory of the cluster.
        #[arg(long, default_value = "./sixfold-data")]
        dir: PathBuf,
        /// The data node to hand over to (`data-2`, ...); default: the most caught-up replica.
        #[arg(long)]
        to: Option<String>,
        /// Give up, and resume writes on the writer, after this long.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Print roles, LSNs and lag of the cluster running from a directory.
    Status {
        /// Data directory of the cluster.
        #[arg(long, default_value = "./sixfold-data")]
        dir: PathBuf,
        /// The data nodes' password (`requirepass`), as redis-cli takes it.
        #[arg(long, env = "REDISCLI_AUTH", hide_env_values = true)]
        password: Option<String>,
    },
    /// Off-box snapshots: restore the newest verified one, read the log
    /// past it, write, upload and verify a new one (the writer never
    /// notices); list and verify them.
    Snapshot {
        #[command(subcommand)]
        op: SnapshotOp,
        /// Data directory of the cluster.
        #[arg(long, default_value = "./sixfold-data", global = true)]
        dir: PathBuf,
        /// First storage node port, as given to `sixfold up`.
        #[arg(long, default_value_t = 7101, global = true)]
        storage_port: u16,
        /// The object store: a directory, or s3://bucket/prefix?endpoint=URL&region=R&path_style=true
        /// (credentials from the AWS environment); default DIR/snapshots.
        #[arg(long, global = true)]
        store: Option<String>,
        /// The writer's RESP address, which logs each snapshot's marker
        /// (default: the data node `sixfold up` recorded in DIR that serves
        /// as writer now).
        #[arg(long, global = true)]
        writer: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SnapshotOp {
    /// Make a snapshot now, and have the writer mark it in the log.
    Now,
    /// The snapshotter: make and mark a snapshot each time the log is
    /// far enough past the newest one (as `sixfold up` runs it).
    Run {
        /// Records past the newest marked snapshot that start a new one.
        #[arg(long, default_value_t = 100_000)]
        every_records: u64,
        /// How often to look at the writer's log, in milliseconds.
        #[arg(long, default_value_t = 1_000)]
        check_ms: u64,
    },
    /// List the snapshots (name, size, LSN, epoch).
    List,
    /// Restore each snapshot (or one) in memory and check every checksum
    /// and its digest.
    Verify {
        /// One snapshot's name (as `list` shows it).
        name: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Up {
            dir,
            data_nodes,
            port,
            storage_port,
            metrics_port,
            bin_dir,
            snapshot_every_records,
            snapshot_store,
            truncate_margin_records,
            segment_bytes_max,
        } => {
            let bin_dir = match bin_dir {
                Some(d) => d,
                None => std::env::current_exe()?.parent().context("the binary has no directory")?.to_path_buf(),
            };
            let data_nodes = data_nodes.into();
            let mut storage_options = Vec::new();
            if let Some(n) = truncate_margin_records {
                storage_options.extend(["--truncate-margin-records".to_string(), n.to_string()]);
            }
            if let Some(n) = segment_bytes_max {
                storage_options.extend(["--segment-bytes-max".to_string(), n.to_string()]);
            }
            let metrics_port = metrics_port - 1;
            let layout = Layout { dir, port, data_nodes, storage_port, metrics_port, snapshot_store, storage_options };
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(sixfold_deploy::up::up(&layout, &bin_dir, snapshot_every_records))
        }
        Cmd::Failover { dir, to, timeout_ms } => {
            println!("{}", sixfold_deploy::failover::failover(&dir, to.as_deref(), timeout_ms)?);
            Ok(())
        }
        Cmd::Status { dir, password } => {
            for line in sixfold_deploy::status::lines(&dir, password.as_deref())? {
                println!("{line}");
            }
            Ok(())
        }
        Cmd::Snapshot { op, dir, storage_port, store, writer } => {
            use sixfold_deploy::snapshot as snap;
            let (port, data_nodes, metrics_port, snapshot_store, storage_options) = (0, 0, 0, None, Vec::new());
            let layout = Layout { dir, port, data_nodes, storage_port, metrics_port, snapshot_store, storage_options };
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let (store, writer) = (store.as_deref(), writer.as_deref());
            let lines = rt.block_on(async {
                match op {
                    SnapshotOp::Now => snap::now(&layout, store, writer).await.map(|l| vec![l]),
                    SnapshotOp::Run { every_records, check_ms } => {
                        snap::run(&layout, (store, writer), every_records, check_ms).await.map(|()| vec![])
                    }
                    SnapshotOp::List => snap::list(&layout, store).await,
                    SnapshotOp::Verify { name } => snap::verify(&layout, store, name.as_deref()).await,
                }
            })?;
            lines.iter().for_each(|l| println!("{l}"));
            Ok(())
        }
    }
}
