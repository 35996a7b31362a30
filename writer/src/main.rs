//! `sixfold-server`: the Sixfold data node binary.

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use sixfold_engine::Config;
use sixfold_node::tls::{ClientAuth, TlsSettings};
use sixfold_replica::ReplicaSettings;
use sixfold_writer::fabric::FabricSettings;
use sixfold_writer::lease::LeaseSettings;
use sixfold_writer::roles::Takeover;
use sixfold_writer::{Durability, Role, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Sixfold data node: a Redis-compatible in-memory database server.
#[derive(Debug, Parser)]
#[command(name = "sixfold-server", version, about)]
struct Args {
    /// TOML file with any of these flags as keys (kebab-case, as on the
    /// command line, which wins over the file) and a `[config]` table of
    /// Redis CONFIG parameters applied at start (`requirepass = "..."`,
    /// `maxmemory = "1gb"`): secrets stay off the command line. CONFIG
    /// REWRITE writes the `[config]` table back.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on for RESP clients.
    #[arg(long, default_value = "127.0.0.1:6379")]
    listen: SocketAddr,
    /// Durability of acknowledged writes: `fabric` (the default) commits every
    /// write on four of six storage nodes (give --storage six times and
    /// --certs); `none` keeps data in memory only and loses it with the
    /// process: a benchmark mode, not for data you want to keep.
    #[arg(long, value_enum, default_value = "fabric")]
    durability: Durability,
    /// Password of the default user (AUTH / HELLO AUTH).
    #[arg(long)]
    requirepass: Option<String>,
    /// Protected mode (as Redis): with no password, only clients on the
    /// loopback interface are served; others get `-DENIED` and are
    /// disconnected. `--protected-mode no` serves everyone (CONFIG SET
    /// protected-mode changes it at run time).
    #[arg(long, default_value = "yes", value_parser = ["yes", "no"])]
    protected_mode: String,
    /// Password this node gives the writer when it replicates (and a
    /// writer gives the replica it hands over to): the other data nodes'
    /// `--requirepass`. CONFIG SET masterauth changes it at run time.
    #[arg(long)]
    masterauth: Option<String>,
    /// User name for --masterauth (AUTH user password).
    #[arg(long)]
    masteruser: Option<String>,
    /// Memory limit in bytes (0: none); past it, writes that grow memory get -OOM.
    #[arg(long, default_value_t = 0)]
    maxmemory: u64,
    /// Most client connections at once.
    #[arg(long, default_value_t = 10_000)]
    maxclients: u64,
    /// Largest bulk string a client may send.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    proto_max_bulk_len: u64,
    /// Seed of the engine's random source (SPOP, RANDOMKEY, ...); random by default.
    #[arg(long)]
    seed: Option<u64>,
    /// A storage node (`--durability fabric`; give all six).
    #[arg(long = "storage")]
    storage: Vec<SocketAddr>,
    /// Directory with the cluster CA and this node's certificate (`--durability fabric`).
    #[arg(long)]
    certs: Option<std::path::PathBuf>,
    /// Name of this node's certificate files (default: `writer` or `replica`, by role).
    #[arg(long)]
    cert_name: Option<String>,
    /// `memory`: commit at four in-memory acknowledgements; `disk`: at four fsyncs.
    #[arg(long, default_value = "memory")]
    commit: String,
    /// How long a reply may wait for its commit before the client gets a
    /// -TIMEOUT error (outcome unknown: the write may still commit).
    #[arg(long, default_value_t = 5_000)]
    commit_timeout_ms: u64,
    /// Address of the Prometheus `/metrics` endpoint (none if unset).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// `auto` (the default): an equal data node that replicates the shard's
    /// writer and takes over when the shard has none, so the data nodes of
    /// a shard elect their writer; `writer`: takes over at once on start
    /// (fencing any other), then as `auto`; `replica`: applies the
    /// committed log and serves reads (writes get -MOVED), never taking
    /// over unless --failover. With `--durability none` the node is a
    /// memory-only writer.
    #[arg(long, value_enum, default_value = "auto")]
    role: Role,
    /// The writer's RESP address `host:port`, as clients reach it, until
    /// the log names the writer (optional: learned from the log).
    #[arg(long)]
    writer: Option<String>,
    /// This node's RESP address `host:port` as clients and other data nodes
    /// reach it (named in the log when it becomes the writer, and in
    /// -MOVED, ROLE and CLUSTER replies). Default: --listen, which must
    /// then not be 0.0.0.0 or [::] with --durability fabric.
    #[arg(long)]
    announce: Option<String>,
    /// This node's zone; a replica reads from storage nodes of its zone
    /// first. The six --storage addresses are zones a, a, b, b, c, c.
    #[arg(long, default_value = "a")]
    zone: String,
    /// Replica: most bytes of records read ahead of their commit (staged,
    /// never visible); past it the replica stops reading ahead and lags.
    #[arg(long, alias = "apply-buffer-bytes-max", default_value_t = 64 * 1024 * 1024)]
    staged_bytes_max: u64,
    /// Replica: most bytes of applied records kept until the writer's
    /// flush confirmation covers them (a storage node that lost its tail
    /// can be refilled from them).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    retained_bytes_max: u64,
    /// Object store of the shard's snapshots (a directory, or
    /// s3://bucket/prefix?endpoint=URL&region=R&path_style=true): on start
    /// this data node restores the newest snapshot that verifies and
    /// replays only the log past it.
    #[arg(long)]
    snapshot_store: Option<String>,
    /// Replica: QUIC address on which storage nodes read its retained
    /// records back to refill a lost tail (storage-node certificates only;
    /// give the same address to the storage nodes' --replica).
    #[arg(long)]
    fabric_listen: Option<SocketAddr>,
    /// Also serve RESP clients over TLS on this port (same address as
    /// --listen); needs --tls-cert-file and --tls-key-file.
    #[arg(long)]
    tls_port: Option<u16>,
    /// The server's TLS certificate chain (PEM); read again when it changes.
    #[arg(long)]
    tls_cert_file: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long)]
    tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM) that sign client certificates.
    #[arg(long)]
    tls_ca_cert_file: Option<PathBuf>,
    /// Whether TLS clients must present a certificate the CA signed.
    #[arg(long, value_enum, default_value = "yes")]
    tls_auth_clients: TlsAuthClients,
    /// Network I/O threads [default: 1: commands run one at a time under
    /// one lock, and a second thread mostly adds wake-ups across threads
    /// (measured: EVALSHA 19 µs of CPU per request on one thread, 35 on
    /// two; a durable SET 19-20 µs on one, 23-25 on two, bench/RESULTS.md)].
    #[arg(long)]
    io_threads: Option<usize>,
    /// The writer's lease: it serves reads and writes only until this long
    /// after it sent its last committed record.
    #[arg(long, default_value_t = LeaseSettings::default().lease_ms)]
    lease_ms: u64,
    /// The writer logs a lease renewal after this long without any record
    /// (at most half of --lease-ms).
    #[arg(long, default_value_t = LeaseSettings::default().renew_ms)]
    lease_renew_ms: u64,
    /// Bound on how far the clocks of two data nodes drift apart over a
    /// lease (below --lease-ms).
    #[arg(long, default_value_t = LeaseSettings::default().drift_ms)]
    clock_drift_ms: u64,
    /// Replicas serve reads of keys to every connection (as a standalone
    /// Redis replica does; a client may read older data than it wrote), not
    /// only to those that sent READONLY (Redis Cluster's rule, the default:
    /// others get -MOVED to the writer).
    #[arg(long)]
    replica_reads_any: bool,
    /// `--role replica`: take over as writer, in place, once nothing was
    /// committed for longer than the writer's lease (as `--role auto` does).
    /// Every data node of a shard needs the same --lease-ms and
    /// --clock-drift-ms.
    #[arg(long)]
    failover: bool,
}

/// A TOML value as a command-line or CONFIG SET argument.
fn scalar(key: &str, v: &toml::Value) -> anyhow::Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
        other => anyhow::bail!("{key}: a string, number or boolean, not {other}"),
    })
}

/// The arguments, with those of the `--config` file (before the command
/// line's, which win) and its `[config]` table of CONFIG parameters.
fn parse_args() -> anyhow::Result<(Args, Vec<(String, Bytes)>)> {
    use clap::{CommandFactory, FromArgMatches};
    let cli: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let first = Args::parse_from(&cli);
    let Some(path) = first.config.clone() else { return Ok((first, Vec::new())) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut argv: Vec<std::ffi::OsString> = cli[..1].to_vec();
    let mut params = Vec::new();
    for (key, value) in &file {
        let flag = format!("--{key}");
        match value {
            toml::Value::Table(t) if key == "config" => {
                for (name, v) in t {
                    params.push((name.clone(), Bytes::from(scalar(name, v)?)));
                }
            }
            toml::Value::Boolean(true) => argv.push(flag.into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    argv.extend([flag.clone().into(), scalar(key, item)?.into()]);
                }
            }
            v => argv.extend([flag.into(), scalar(key, v)?.into()]),
        }
    }
    argv.extend_from_slice(&cli[1..]);
    let matches = Args::command()
        .args_override_self(true)
        .try_get_matches_from(argv)
        .with_context(|| format!("the settings of {} and the command line", path.display()))?;
    Ok((Args::from_arg_matches(&matches)?, params))
}

fn main() -> anyhow::Result<()> {
    sixfold_telemetry::init_logging();
    let (a, startup) = parse_args()?;
    let tls = tls_settings(&a)?;
    let mut engine = Config {
        requirepass: a.requirepass.map(Bytes::from),
        protected_mode: a.protected_mode == "yes",
        maxmemory_bytes: a.maxmemory,
        maxclients: a.maxclients,
        proto_max_bulk_len: a.proto_max_bulk_len,
        replica_reads_any: a.replica_reads_any,
        config_file: a.config.clone(),
        startup,
        ..Config::default()
    };
    let tls_params = [
        ("tls-port", a.tls_port.map(|p| p.to_string())),
        ("tls-cert-file", a.tls_cert_file.as_ref().map(|f| f.display().to_string())),
        ("tls-key-file", a.tls_key_file.as_ref().map(|f| f.display().to_string())),
        ("tls-ca-cert-file", a.tls_ca_cert_file.as_ref().map(|f| f.display().to_string())),
        ("tls-auth-clients", Some(format!("{:?}", a.tls_auth_clients).to_lowercase())),
    ];
    for (name, value) in [("masterauth", a.masterauth), ("masteruser", a.masteruser)].into_iter().chain(tls_params) {
        if let Some(v) = value {
            engine.stored.insert(name, v);
        }
    }
    sixfold_engine::Engine::check_startup(&engine).map_err(|e| anyhow::anyhow!("{e}"))?;
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    let mode = match a.commit.as_str() {
        "memory" => sixfold_fabric::CommitMode::Memory,
        "disk" => sixfold_fabric::CommitMode::Disk,
        other => anyhow::bail!("--commit must be memory or disk, not {other}"),
    };
    let fabric = match (&a.durability, a.certs) {
        (Durability::Fabric, Some(certs)) => {
            anyhow::ensure!(
                a.storage.len() == 6,
                "durable mode needs six --storage addresses (got {}); `--durability none` runs without storage, in memory only",
                a.storage.len()
            );
            let cert_name =
                a.cert_name.unwrap_or_else(|| if a.role == Role::Writer { "writer" } else { "replica" }.to_string());
            Some(FabricSettings { storage: a.storage, certs, cert_name, mode })
        }
        (Durability::Fabric, None) => anyhow::bail!(
            "durable mode needs --certs DIR and six --storage addresses; `--durability none` runs without storage, in memory only"
        ),
        _ => None,
    };
    let commit_timeout = std::time::Duration::from_millis(a.commit_timeout_ms);
    let lease = LeaseSettings { lease_ms: a.lease_ms, renew_ms: a.lease_renew_ms, drift_ms: a.clock_drift_ms };
    lease.check().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !a.failover || a.role == Role::Replica,
        "--failover is for --role replica (other roles take over anyway)"
    );
    anyhow::ensure!(
        a.role != Role::Replica || fabric.is_some(),
        "--role replica reads the storage nodes: give --certs and six --storage"
    );
    let announce = match a.announce {
        Some(addr) => addr,
        None if fabric.is_some() && a.listen.ip().is_unspecified() => {
            anyhow::bail!("--listen {} names no address other nodes can reach: give --announce HOST:PORT", a.listen)
        }
        None => String::new(),
    };
    let takes_over = a.role != Role::Replica || a.failover;
    let takeover = fabric.clone().filter(|_| takes_over).map(|fabric| Takeover { fabric, lease, commit_timeout });
    let replica = fabric.clone().map(|fabric| ReplicaSettings {
        writer: a.writer.unwrap_or_default(),
        storage: fabric.storage.clone(),
        zone: a.zone,
        certs: fabric.certs.clone(),
        cert_name: fabric.cert_name.clone(),
        staged_bytes_max: a.staged_bytes_max,
        retained_bytes_max: a.retained_bytes_max,
        quiet_ms: lease.takeover_after_ms(),
        take_over_first: a.role == Role::Writer,
        announce: announce.clone(),
        retention_listen: a.fabric_listen,
        retention: None,
        snapshot_store: a.snapshot_store.clone(),
    });
    let cfg = ServerConfig {
        tls,
        listen: a.listen,
        durability: a.durability,
        engine,
        seed,
        fabric,
        replica,
        takeover,
        commit_timeout,
        lease,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.io_threads.unwrap_or(1).max(1))
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let metrics_listen = a.metrics_listen;
    rt.block_on(async move {
        if let Some(addr) = metrics_listen {
            sixfold_writer::metrics::install(addr)?;
        }
        sixfold_writer::run(cfg).await
    })
}

/// `--tls-auth-clients`, as Redis's `tls-auth-clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TlsAuthClients {
    Yes,
    No,
    Optional,
}

/// The TLS port and files, checked against each other.
fn tls_settings(a: &Args) -> anyhow::Result<Option<(u16, TlsSettings)>> {
    let Some(port) = a.tls_port else {
        anyhow::ensure!(
            a.tls_cert_file.is_none() && a.tls_key_file.is_none(),
            "--tls-cert-file and --tls-key-file need --tls-port"
        );
        return Ok(None);
    };
    let (Some(cert_file), Some(key_file)) = (a.tls_cert_file.clone(), a.tls_key_file.clone()) else {
        anyhow::bail!("--tls-port needs --tls-cert-file and --tls-key-file");
    };
    let auth_clients = match a.tls_auth_clients {
        TlsAuthClients::Yes => ClientAuth::Yes,
        TlsAuthClients::No => ClientAuth::No,
        TlsAuthClients::Optional => ClientAuth::Optional,
    };
    anyhow::ensure!(
        auth_clients == ClientAuth::No || a.tls_ca_cert_file.is_some(),
        "--tls-auth-clients yes or optional needs --tls-ca-cert-file (or give --tls-auth-clients no)"
    );
    Ok(Some((port, TlsSettings { cert_file, key_file, ca_file: a.tls_ca_cert_file.clone(), auth_clients })))
}
