//! Runs a workload against one RESP endpoint: `connections` tasks, each
//! sending `pipeline` requests and reading their replies, until a request
//! count or a duration is reached, optionally paced to a total rate. Latency
//! per request (send of its batch to its reply) goes to an HdrHistogram; a
//! progress line is printed every second.

use crate::workload::{Picker, Workload};
use bytes::BytesMut;
use hdrhistogram::Histogram;
use sixfold_resp::{Frame, decode_frame};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// `host:port`.
    pub addr: String,
    /// Connections.
    pub connections: u64,
    /// Requests in flight per connection.
    pub pipeline: u64,
    /// Stop after this many requests (with `duration`: whichever first).
    pub requests: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Total requests per second (none: as fast as possible).
    pub rate: Option<u64>,
    /// What to send.
    pub workload: Workload,
    /// Print a progress line to stderr every second.
    pub progress: bool,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Requests answered.
    pub requests: u64,
    /// Error replies among them.
    pub errors: u64,
    /// Wall time.
    pub secs: f64,
    /// Latency in microseconds.
    pub latency_us: Histogram<u64>,
}

impl RunResult {
    /// Requests per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }

    /// Latency quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

struct Shared {
    issued: AtomicU64,
    done: AtomicU64,
    sequence: AtomicU64,
    stop: AtomicBool,
}

/// Runs to completion.
pub async fn run(s: &RunSettings) -> anyhow::Result<RunResult> {
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        done: AtomicU64::new(0),
        sequence: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..s.connections.max(1) {
        let (s, shared) = (s.clone(), shared.clone());
        tasks.push(tokio::spawn(async move { connection(&s, c, &shared, start).await }));
    }
    let progress = s.progress.then(|| tokio::spawn(progress_line(shared.clone(), start)));
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await??;
        hist.add(&h)?;
        errors += e;
    }
    shared.stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    Ok(RunResult { requests: hist.len(), errors, secs: start.elapsed().as_secs_f64(), latency_us: hist })
}

async fn progress_line(shared: Arc<Shared>, start: Instant) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.tick().await;
    loop {
        every.tick().await;
        let done = shared.done.load(Ordering::Relaxed);
        let secs = start.elapsed().as_secs_f64();
        eprint!("\r{secs:6.1} s  {done:>10} requests  {:>10.0} req/s", done as f64 / secs);
    }
}

/// Claims up to `n` requests from the budget; 0 when the run is over.
fn claim(s: &RunSettings, shared: &Shared, n: u64, start: Instant) -> u64 {
    if shared.stop.load(Ordering::Relaxed) || s.duration.is_some_and(|d| start.elapsed() >= d) {
        return 0;
    }
    match s.requests {
        None => n,
        Some(total) => {
            let before = shared.issued.fetch_add(n, Ordering::Relaxed);
            total.saturating_sub(before).min(n)
        }
    }
}

async fn connection(s: &RunSettings, c: u64, shared: &Shared, start: Instant) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut sock = TcpStream::connect(&s.addr).await?;
    sock.set_nodelay(true)?;
    let mut picker = Picker::new(s.workload, 0x5eed ^ c);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut out, mut buf, mut errors) = (Vec::new(), BytesMut::with_capacity(64 * 1024), 0);
    // Pacing: each connection sends its share of the rate, one batch at a time.
    let period = s.rate.map(|r| Duration::from_secs_f64(s.pipeline as f64 * s.connections as f64 / r.max(1) as f64));
    let mut next = tokio::time::Instant::now();
    loop {
        let n = claim(s, shared, s.pipeline.max(1), start);
        if n == 0 {
            return Ok((hist, errors));
        }
        if let Some(p) = period {
            tokio::time::sleep_until(next).await;
            next += p;
        }
        out.clear();
        for _ in 0..n {
            picker.request(&shared.sequence, &mut out);
        }
        let sent = Instant::now();
        sock.write_all(&out).await?;
        let mut got = 0;
        while got < n {
            while let Some((f, used)) = decode_frame(&buf)? {
                let _ = buf.split_to(used);
                errors += u64::from(matches!(f, Frame::Error(_)));
                got += 1;
                if got == n {
                    break;
                }
            }
            if got < n && sock.read_buf(&mut buf).await? == 0 {
                anyhow::bail!("{} closed the connection", s.addr);
            }
        }
        let us = sent.elapsed().as_micros().max(1) as u64;
        hist.record_n(us, n)?;
        shared.done.fetch_add(n, Ordering::Relaxed);
    }
}
