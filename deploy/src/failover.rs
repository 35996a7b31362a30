//! `sixfold failover`: a planned failover of a running local cluster. Finds
//! the data node serving as writer, sends it `FAILOVER [TO host port]
//! TIMEOUT ms`, and waits until another data node serves as writer,
//! printing how long clients' writes were paused at most (the handover's
//! duration).

use crate::layout::{read_endpoints, serving_writer};
use anyhow::Context;
use sixfold_resp::probe::serves_as_writer as serves;
use std::path::Path;
use std::time::{Duration, Instant};

/// Hands the writer's role to data node `to` (a name from `sixfold up`'s
/// table, e.g. `data-2`), or to the most caught-up replica; gives up after
/// `timeout_ms`. Returns the line to print.
pub fn failover(dir: &Path, to: Option<&str>, timeout_ms: u64) -> anyhow::Result<String> {
    let nodes = read_endpoints(dir)?;
    let (writer_name, writer) = serving_writer(&nodes)?;
    let mut cmd = redis::cmd("FAILOVER");
    let target = match to {
        Some(name) => {
            let (_, addr) = nodes.iter().find(|(n, _)| n == name).with_context(|| format!("no data node {name}"))?;
            anyhow::ensure!(addr != writer, "{name} is the writer already");
            let (host, port) = addr.rsplit_once(':').context("an endpoint without a port")?;
            cmd.arg("TO").arg(host).arg(port);
            Some(addr.clone())
        }
        None => None,
    };
    cmd.arg("TIMEOUT").arg(timeout_ms);
    let client = redis::Client::open(format!("redis://{writer}/"))?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let started = Instant::now();
    let _: () = cmd.query(&mut c).with_context(|| format!("FAILOVER on {writer_name} ({writer})"))?;
    println!("{writer_name} ({writer}) pauses writes and hands over ...");
    let deadline = started + Duration::from_millis(timeout_ms) + Duration::from_secs(10);
    loop {
        let new = nodes
            .iter()
            .filter(|(_, a)| a != writer && target.as_ref().is_none_or(|t| t == a))
            .find(|(_, a)| serves(a));
        if let Some((name, addr)) = new {
            return Ok(format!("{name} ({addr}) is the writer; writes paused {} ms", started.elapsed().as_millis()));
        }
        anyhow::ensure!(Instant::now() < deadline, "no other data node took over; writes resumed on {writer_name}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
