#!/usr/bin/env bash
# GET throughput on a replica and on the durable writer against
# redis-server (no persistence), all in one run, then replica lag at 10,000
# writes per second (one INCR per round trip) and 50,000 (8 connections,
# 16 deep), then the CPU an idle replica uses over 60 s. Prints Markdown.
# Usage: bench/replica-benchmark.sh [requests] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
clients=${2:-50}
work=$(mktemp -d /tmp/sixfold-replica-bench.XXXX)
sixfold_port=17479; replica_port=17482; mem_port=17481

command -v redis-server >/dev/null || { echo "redis-server is required (apt-get install redis-server redis-tools)" >&2; exit 1; }
echo "building (release)..." >&2
cargo build --release -q -p sixfold-writer -p sixfold-storage-node -p sixfold-bench
bin=${CARGO_TARGET_DIR:-target}/release
. bench/local-fabric.sh
wait_port $sixfold_port
"$bin/sixfold-server" --role replica --replica-reads-any --zone b --writer 127.0.0.1:$sixfold_port --listen 127.0.0.1:$replica_port \
  "${storage_args[@]}" 2>"$work/replica.log" &
pids+=($!)
redis-server --port $mem_port --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
for port in $replica_port $mem_port; do wait_port $port; done
# The same keys everywhere, so GETs find values.
redis-benchmark -p $sixfold_port -c 50 -n 100000 -r 100000 -P 16 -t set -q >/dev/null
redis-benchmark -p $mem_port -c 50 -n 100000 -r 100000 -P 16 -t set -q >/dev/null
redis-cli -p $sixfold_port wait 1 10000 >/dev/null

# stats <port> <pipeline>: "rps p50 p99" of GET.
stats() {
  redis-benchmark -p "$1" -c "$clients" -n "$requests" -r 100000 -P "$2" -t get --csv 2>/dev/null \
    | awk -F, 'NR>1 {gsub(/"/,""); print $2, $5, $7; exit}'
}
echo "| pipeline | replica GET req/s (p50/p99 ms) | writer GET req/s (p50/p99 ms) | redis GET req/s (p50/p99 ms) | replica vs redis | writer vs redis |"
echo "|---|---|---|---|---|---|"
for p in 1 16; do
  echo "running GET -P $p ..." >&2
  read -r rep rep50 rep99 <<<"$(stats $replica_port $p)"
  read -r wr wr50 wr99 <<<"$(stats $sixfold_port $p)"
  read -r mem mem50 mem99 <<<"$(stats $mem_port $p)"
  r1=$(awk -v a="$rep" -v b="$mem" 'BEGIN { printf "%.2f", a / b }')
  r2=$(awk -v a="$wr" -v b="$mem" 'BEGIN { printf "%.2f", a / b }')
  echo "| $p | $rep ($rep50/$rep99) | $wr ($wr50/$wr99) | $mem ($mem50/$mem99) | ${r1}x | ${r2}x |"
done
echo
# lag <rate> <connections> <pipeline>
lag() {
  echo "measuring replica lag at $1 writes/s ($2 connections, pipeline $3) ..." >&2
  "$bin/sixfold-replica-lag" --writer 127.0.0.1:$sixfold_port --replica 127.0.0.1:$replica_port --rate "$1" \
    --seconds 10 --connections "$2" --pipeline "$3"
}
lag 10000 54 1
lag 50000 8 16
echo
# The idle replica's CPU: utime + stime from /proc over 60 s, nothing written.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
replica_pid=${pids[-2]}
sleep 5
echo "measuring the idle replica's CPU over 60 s ..." >&2
before=$(ticks "$replica_pid"); sleep 60; after=$(ticks "$replica_pid")
hz=$(getconf CLK_TCK)
awk -v a="$before" -v b="$after" -v hz="$hz" \
  'BEGIN { printf "idle replica CPU over 60 s: %.2f s of CPU, %.2f%% of one core\n", (b - a) / hz, 100 * (b - a) / hz / 60 }'
