#!/usr/bin/env bash
# redis-benchmark against the durable writer (sixfold-server in its default
# durable mode with six local storage nodes), redis-server with appendfsync always,
# and redis-server without persistence, in one run. Prints a Markdown table.
# Usage: bench/durable-benchmark.sh [requests] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
clients=${2:-50}
tests=${TESTS:-set,incr,lpush}
work=$(mktemp -d /tmp/sixfold-durable-bench.XXXX)
sixfold_port=17479; aof_port=17480; mem_port=17481

command -v redis-server >/dev/null || { echo "redis-server is required (apt-get install redis-server redis-tools)" >&2; exit 1; }
echo "building (release)..." >&2
cargo build --release -q -p sixfold-writer -p sixfold-storage-node
bin=${CARGO_TARGET_DIR:-target}/release
. bench/local-fabric.sh
redis-server --port $aof_port --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always --dir "$work" >/dev/null &
pids+=($!)
redis-server --port $mem_port --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
for port in $sixfold_port $aof_port $mem_port; do wait_port $port; done

# stats <port> <pipeline> <test>: "rps p50 p99" as redis-benchmark reports them.
stats() {
  redis-benchmark -p "$1" -c "$clients" -n "$requests" -P "$2" -t "$3" --csv 2>/dev/null \
    | awk -F, 'NR>1 {gsub(/"/,""); print $2, $5, $7; exit}'
}

echo "| test | pipeline | sixfold durable req/s (p50/p99 ms) | redis appendfsync always req/s (p50/p99 ms) | redis no persistence req/s (p50/p99 ms) | vs always | vs none |"
echo "|---|---|---|---|---|---|---|"
for p in 1 16; do
  for t in ${tests//,/ }; do
    echo "running $t -P $p ..." >&2
    read -r ours ours50 ours99 <<<"$(stats $sixfold_port $p $t)"
    read -r aof aof50 aof99 <<<"$(stats $aof_port $p $t)"
    read -r mem mem50 mem99 <<<"$(stats $mem_port $p $t)"
    r1=$(awk -v a="$ours" -v b="$aof" 'BEGIN { printf "%.2f", a / b }')
    r2=$(awk -v a="$ours" -v b="$mem" 'BEGIN { printf "%.2f", a / b }')
    echo "| ${t^^} | $p | $ours ($ours50/$ours99) | $aof ($aof50/$aof99) | $mem ($mem50/$mem99) | ${r1}x | ${r2}x |"
  done
done
