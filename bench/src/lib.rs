//! Benchmarks for Sixfold: `bench/redis-benchmark.sh` runs `redis-benchmark`
//! against `sixfold-server` and a real `redis-server` in one run and prints
//! ratios; `sixfold-fabric-bench` measures one writer appending to six local
//! storage nodes. The `sixfold-bench` load generator is built by the
//! local-cluster issue.
