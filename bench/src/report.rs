//! Results as Markdown rows and JSON.

use crate::runner::{RunResult, RunSettings};
use serde::Serialize;

/// Markdown header matching [`Line::markdown`].
pub const HEADER: &str = "| target | workload | conns | pipeline | req/s | p50 ms | p99 ms | p99.9 ms | errors |\n|---|---|---|---|---|---|---|---|---|";

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// What was measured.
    pub target: String,
    /// `SET:GET` ratio and key pattern.
    pub workload: String,
    /// Connections.
    pub connections: u64,
    /// Pipeline depth.
    pub pipeline: u64,
    /// Requests answered.
    pub requests: u64,
    /// Requests per second.
    pub ops_per_sec: f64,
    /// Latency percentiles in ms.
    pub p50_ms: f64,
    /// p99.
    pub p99_ms: f64,
    /// p99.9.
    pub p999_ms: f64,
    /// Error replies.
    pub errors: u64,
}

impl Line {
    /// A line for `target`.
    pub fn new(target: &str, s: &RunSettings, r: &RunResult) -> Line {
        let w = &s.workload;
        Line {
            target: target.to_string(),
            workload: format!("{}:{} {:?}", w.sets, w.gets, w.pattern).to_lowercase(),
            connections: s.connections,
            pipeline: s.pipeline,
            requests: r.requests,
            ops_per_sec: r.ops_per_sec(),
            p50_ms: r.ms(0.5),
            p99_ms: r.ms(0.99),
            p999_ms: r.ms(0.999),
            errors: r.errors,
        }
    }

    /// The Markdown row.
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {} |",
            self.target,
            self.workload,
            self.connections,
            self.pipeline,
            self.ops_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.errors
        )
    }
}
