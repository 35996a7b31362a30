//! Benchmarks for Sixfold. Today `bench/redis-benchmark.sh` runs
//! `redis-benchmark` against `sixfold-server` and a real `redis-server` in
//! one run and prints ratios; the `sixfold-bench` load generator is built by
//! the local-cluster issue.
