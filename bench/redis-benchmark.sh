#!/usr/bin/env bash
# Runs redis-benchmark against sixfold-server (--durability none) and a real
# redis-server (no persistence) in the same run, and prints a Markdown table
# with the ratios (median of ROUNDS runs each, default 3).
# Usage: bench/redis-benchmark.sh [requests] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
clients=${2:-50}
tests=set,get
sixfold_port=17379
redis_port=17380

command -v redis-server >/dev/null || { echo "redis-server is required (apt-get install redis-server redis-tools)" >&2; exit 1; }
echo "building sixfold-server (release)..." >&2
cargo build --release -q -p sixfold-writer --bin sixfold-server
bin=${CARGO_TARGET_DIR:-target}/release/sixfold-server

"$bin" --listen 127.0.0.1:$sixfold_port --durability none ${SIXFOLD_ARGS:-} >/tmp/sixfold-bench-server.log 2>&1 &
sixfold_pid=$!
redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no >/tmp/sixfold-bench-redis.log 2>&1 &
redis_pid=$!
trap 'kill $sixfold_pid $redis_pid 2>/dev/null || true' EXIT
for port in $sixfold_port $redis_port; do
  for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
done

rounds=${ROUNDS:-3}

# once <port> <pipeline> <test>: requests per second that redis-benchmark reports.
once() {
  redis-benchmark -p "$1" -c "$clients" -n "$requests" -P "$2" -t "$3" --csv 2>/dev/null \
    | awk -F'","' 'NR>1 {gsub(/"/,"",$2); print $2; exit}'
}

# rps <port> <pipeline> <test>: the median of $rounds runs.
rps() {
  for _ in $(seq "$rounds"); do once "$@"; done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "| test | pipeline | sixfold-server (req/s) | redis-server (req/s) | ratio |"
echo "|---|---|---|---|---|"
for p in 1 16; do
  for t in ${tests//,/ }; do
    echo "running $t -P $p ..." >&2
    ours=$(rps $sixfold_port $p $t)
    theirs=$(rps $redis_port $p $t)
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
    echo "| ${t^^} | $p | $ours | $theirs | ${ratio}x |"
  done
done
