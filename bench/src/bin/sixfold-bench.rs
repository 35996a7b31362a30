//! `sixfold-bench`: a RESP load generator in the spirit of memtier_benchmark
//! (`run`), and `compare`, which starts `redis-server` without persistence,
//! `redis-server --appendfsync always` and a Sixfold cluster (`sixfold up`),
//! runs the same workloads on all three in one run and prints the ratios.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sixfold_bench::compare::{self, CompareSettings};
use sixfold_bench::runner::{RunSettings, run};
use sixfold_bench::workload::{KeyPattern, Workload};
use std::time::Duration;

/// Sixfold load generator.
#[derive(Debug, Parser)]
#[command(name = "sixfold-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run one workload against one endpoint.
    Run(RunArgs),
    /// Redis (no persistence), Redis (appendfsync always) and Sixfold, same workloads, one run.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
struct Load {
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 50)]
    connections: u64,
    /// Requests in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1)]
    pipeline: u64,
    /// SET:GET ratio, e.g. `1:10`.
    #[arg(long, default_value = "1:10")]
    ratio: String,
    /// Keys in the key space.
    #[arg(long, default_value_t = 100_000)]
    keyspace: u64,
    /// Key pattern.
    #[arg(long, value_enum, default_value = "uniform")]
    pattern: KeyPattern,
    /// SET value size in bytes.
    #[arg(long, default_value_t = 32)]
    value_bytes: usize,
    /// Requests to send (default 100000 unless --seconds is given).
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Seconds to run.
    #[arg(long)]
    seconds: Option<u64>,
    /// Total requests per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<u64>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Endpoint `host:port`.
    #[arg(long, default_value = "127.0.0.1:6379")]
    addr: String,
    #[command(flatten)]
    load: Load,
    /// Print the result as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// Requests per workload and server.
    #[arg(short = 'n', long, default_value_t = 200_000)]
    requests: u64,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 50)]
    connections: u64,
    /// First of the ports to use (Sixfold takes 40 from here).
    #[arg(long, default_value_t = 18_000)]
    port: u16,
}

fn parse_ratio(r: &str) -> anyhow::Result<(u32, u32)> {
    let (s, g) = r.split_once(':').context("--ratio is SETS:GETS, e.g. 1:10")?;
    Ok((s.trim().parse().context("SETS in --ratio")?, g.trim().parse().context("GETS in --ratio")?))
}

fn settings(addr: String, l: &Load) -> anyhow::Result<RunSettings> {
    let (sets, gets) = parse_ratio(&l.ratio)?;
    anyhow::ensure!(sets + gets > 0, "--ratio needs at least one SET or GET");
    let requests = match (l.requests, l.seconds) {
        (None, None) => Some(100_000),
        (r, _) => r,
    };
    Ok(RunSettings {
        addr,
        connections: l.connections,
        pipeline: l.pipeline,
        requests,
        duration: l.seconds.map(Duration::from_secs),
        rate: l.rate,
        workload: Workload { sets, gets, keyspace: l.keyspace, pattern: l.pattern, value_bytes: l.value_bytes },
        progress: true,
    })
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match Cli::parse().cmd {
        Cmd::Run(a) => {
            let s = settings(a.addr, &a.load)?;
            let r = rt.block_on(run(&s))?;
            let line = sixfold_bench::report::Line::new("run", &s, &r);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&line)?);
            } else {
                println!("{}", sixfold_bench::report::HEADER);
                println!("{}", line.markdown());
            }
            Ok(())
        }
        Cmd::Compare(a) => {
            let c = CompareSettings { requests: a.requests, connections: a.connections, port: a.port };
            rt.block_on(compare::compare(&c))
        }
    }
}
