//! `sixfold-bench compare`: starts `redis-server` without persistence,
//! `redis-server --appendonly yes --appendfsync always`, and a Sixfold
//! cluster (`sixfold up`, next to this binary), runs the same workloads
//! against all three in one run, and prints a Markdown table with ratios.
//! Everything it starts is stopped at the end (also on error).

use crate::report::{HEADER, Line};
use crate::runner::{RunSettings, run};
use crate::workload::{KeyPattern, Workload};
use anyhow::Context;
use sixfold_resp::probe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What `compare` runs.
#[derive(Debug, Clone)]
pub struct CompareSettings {
    /// Requests per workload and server.
    pub requests: u64,
    /// Connections.
    pub connections: u64,
    /// First port to use.
    pub port: u16,
}

/// Children that are stopped when dropped (SIGTERM, then wait).
struct Procs(Vec<Child>, PathBuf);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Waits until `port` answers PING or, with `writer`, serves as the
/// shard's writer ([`sixfold_resp::probe::serves_as_writer`]).
fn wait_port(port: u16, what: &str, writer: bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let addr = format!("127.0.0.1:{port}");
    let up = || if writer { probe::serves_as_writer(&addr) } else { probe::answers_ping(&addr) };
    while !up() {
        anyhow::ensure!(Instant::now() < deadline, "{what} did not answer on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn start(procs: &mut Procs, s: &CompareSettings) -> anyhow::Result<[(String, u16); 3]> {
    let dir = procs.1.clone();
    let (none, always, sixfold) = (s.port, s.port + 1, s.port + 10);
    let redis = |port: u16, extra: &[&str]| {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(extra)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server (apt-get install redis-server)")
    };
    procs.0.push(redis(none, &["--appendonly", "no"])?);
    procs.0.push(redis(always, &["--appendonly", "yes", "--appendfsync", "always"])?);
    let up = std::env::current_exe()?.with_file_name("sixfold");
    anyhow::ensure!(up.exists(), "{} not found: build the workspace (cargo build --release)", up.display());
    let log = std::fs::File::create(dir.join("sixfold-up.log"))?;
    procs.0.push(
        Command::new(&up)
            .args(["up", "--data-nodes", "1"])
            .arg("--dir")
            .arg(dir.join("cluster"))
            .args(["--port", &sixfold.to_string(), "--storage-port", &(s.port + 20).to_string()])
            .args(["--metrics-port", &(s.port + 30).to_string()])
            .stdout(log)
            .spawn()
            .context("starting sixfold up")?,
    );
    wait_port(none, "redis-server", false)?;
    wait_port(always, "redis-server (appendfsync always)", false)?;
    wait_port(sixfold, "the Sixfold writer", true)?;
    Ok([
        ("redis (no persistence)".into(), none),
        ("redis (appendfsync always)".into(), always),
        ("sixfold (durable writer)".into(), sixfold),
    ])
}

/// Runs the comparison and prints its table.
pub async fn compare(s: &CompareSettings) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("sixfold-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut procs = Procs(Vec::new(), dir);
    let targets = start(&mut procs, s)?;
    let workloads = [("SET", 1, 0), ("GET", 0, 1), ("SET:GET 1:10", 1, 10)];
    println!("{HEADER}");
    let mut ratios = Vec::new();
    for pipeline in [1, 16] {
        for (name, sets, gets) in workloads {
            let mut ops = Vec::new();
            for (target, port) in &targets {
                eprintln!("{name} -P {pipeline} on {target} ...");
                let rs = RunSettings {
                    addr: format!("127.0.0.1:{port}"),
                    connections: s.connections,
                    pipeline,
                    requests: Some(s.requests),
                    duration: None,
                    rate: None,
                    workload: Workload { sets, gets, keyspace: 100_000, pattern: KeyPattern::Uniform, value_bytes: 32 },
                    progress: true,
                };
                let r = run(&rs).await?;
                println!("{}", Line::new(target, &rs, &r).markdown());
                ops.push(r.ops_per_sec());
            }
            ratios.push((name, pipeline, ops[2] / ops[0], ops[2] / ops[1]));
        }
    }
    println!();
    println!("| workload | pipeline | sixfold ÷ redis (no persistence) | sixfold ÷ redis (appendfsync always) |");
    println!("|---|---|---|---|");
    for (name, p, none, always) in ratios {
        println!("| {name} | {p} | {none:.2}x | {always:.2}x |");
    }
    Ok(())
}
