//! Benchmarks for Sixfold.
//!
//! - `sixfold-bench` ([`workload`], [`runner`], [`report`], [`compare`]): a
//!   RESP load generator (connections, pipeline depth, SET:GET ratio, key
//!   space and pattern, value size, request count or duration, rate limit,
//!   HdrHistogram percentiles, progress line, Markdown or JSON), and
//!   `compare`, which runs the same workloads against Redis without
//!   persistence, Redis with `appendfsync always` and a `sixfold up` cluster
//!   in one run.
//! - `sixfold-fabric-bench`: one writer appending to six local storage nodes.
//! - `sixfold-replica-lag`: write-to-replica visibility under a fixed rate.
//! - `bench/*.sh`: `redis-benchmark` side by side with `redis-server`.

pub mod compare;
pub mod report;
pub mod runner;
pub mod workload;
