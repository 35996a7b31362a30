//! `sixfold-replica-lag`: measures how long a write acknowledged by the
//! writer takes to become visible on a replica.
//!
//! A writer client INCRs a counter at a fixed rate and notes when each value
//! was acknowledged (with `--pipeline N`, each connection sends N INCRs at
//! once and all are acknowledged when the replies arrive); a reader polls
//! the counter on the replica as fast as it can. When the reader first sees
//! value `v`, every value up to `v` not yet seen gets the lag `now -
//! acknowledged(value)` (0 if the replica showed it before the writer's
//! reply arrived). Prints p50/p90/p99/max in ms.

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Replica lag under a steady write rate.
#[derive(Debug, Parser)]
#[command(name = "sixfold-replica-lag", version, about)]
struct Args {
    /// The writer, `host:port`.
    #[arg(long, default_value = "127.0.0.1:6379")]
    writer: String,
    /// The replica, `host:port`.
    #[arg(long, default_value = "127.0.0.1:6380")]
    replica: String,
    /// Writes per second.
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent writer connections (to reach high rates).
    #[arg(long, default_value_t = 8)]
    connections: u64,
    /// INCRs each connection sends at once (a pipeline).
    #[arg(long, default_value_t = 1)]
    pipeline: u64,
}

/// Acknowledgement time of each counter value.
type Acked = Arc<Mutex<BTreeMap<i64, Instant>>>;

fn connect(addr: &str) -> anyhow::Result<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/"))?;
    c.get_connection().with_context(|| format!("connecting to {addr}"))
}

/// One writer connection: INCRs at `per_conn` per second, `depth` at a time.
fn write(addr: String, (per_conn, depth): (f64, u64), until: Instant, acked: Acked) -> anyhow::Result<()> {
    let mut c = connect(&addr)?;
    let period = Duration::from_secs_f64(depth as f64 / per_conn);
    let mut pipe = redis::pipe();
    for _ in 0..depth {
        pipe.cmd("INCR").arg("sixfold:lag");
    }
    let mut next = Instant::now();
    while Instant::now() < until {
        let values: Vec<i64> = pipe.query(&mut c)?;
        let now = Instant::now();
        let mut map = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        values.into_iter().for_each(|v| {
            map.insert(v, now);
        });
        drop(map);
        next += period;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut setup = connect(&a.writer)?;
    let start: i64 = redis::cmd("INCRBY").arg("sixfold:lag").arg(0).query(&mut setup)?;
    let acked: Acked = Arc::new(Mutex::new(BTreeMap::new()));
    let until = Instant::now() + Duration::from_secs(a.seconds);
    let per_conn = a.rate as f64 / a.connections as f64;
    let writers: Vec<_> = (0..a.connections)
        .map(|_| {
            let (addr, acked) = (a.writer.clone(), acked.clone());
            std::thread::spawn(move || write(addr, (per_conn, a.pipeline.max(1)), until, acked))
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let mut r = connect(&a.replica)?;
    // A replica serves reads of keys to READONLY connections only.
    redis::cmd("READONLY").query::<()>(&mut r).context("READONLY on the replica")?;
    let mut lag = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut seen, mut reads) = (start, 0u64);
    eprintln!("writing {} INCR/s for {} s, reading the replica...", a.rate, a.seconds);
    let drain_until = until + Duration::from_secs(2);
    while Instant::now() < drain_until && !done.load(Ordering::Relaxed) {
        let v: i64 = redis::cmd("GET").arg("sixfold:lag").query::<Option<i64>>(&mut r)?.unwrap_or(0);
        reads += 1;
        if v > seen {
            let now = Instant::now();
            let map = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            for value in seen + 1..=v {
                // Not acknowledged yet: the replica showed it first (lag 0).
                let t = map.get(&value).map_or(0, |t| now.saturating_duration_since(*t).as_micros());
                lag.record(t.max(1) as u64)?;
            }
            seen = v;
        }
        if Instant::now() > until && writers.iter().all(|w| w.is_finished()) {
            let last = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.keys().next_back().copied();
            if last.is_some_and(|l| seen >= l) {
                done.store(true, Ordering::Relaxed);
            }
        }
    }
    for w in writers {
        w.join().map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
    }
    let written = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len();
    let ms = |q: f64| lag.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "rate {}/s (pipeline {}): {written} writes, {} seen on the replica ({reads} reads); lag ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        a.rate,
        a.pipeline,
        lag.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        lag.max() as f64 / 1000.0
    );
    Ok(())
}
