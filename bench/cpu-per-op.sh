#!/usr/bin/env bash
# CPU per operation, per process class, beside redis-server in one run
# (issue #16's measuring tool). Starts six local storage nodes, a durable
# writer and one replica (bench/local-fabric.sh), redis-server with
# `appendfsync always` and redis-server without persistence; then, for
# SET at pipeline 1 and 16 (redis-benchmark -c 50 -r 100000), reads every
# process's utime + stime from /proc/<pid>/stat before and after each run
# and prints CPU microseconds per request for: the writer, the six storage
# nodes (sum and busiest), the replica, each redis-server. With PERF=1 it
# also records a `perf` profile of the writer and of storage node 1 during
# a further -P 1 run and writes their top symbols under $PROFILE_DIR
# (default bench/profiles). Prints Markdown.
# PIPELINES="1" limits the runs to those pipeline depths.
# Usage: [BIN=dir] [PERF=1] [PIPELINES="1 16"] bench/cpu-per-op.sh [requests at -P 1] [requests at -P 16]
set -euo pipefail
cd "$(dirname "$0")/.."
requests1=${1:-200000}
requests16=${2:-1000000}
clients=50
profile_dir=${PROFILE_DIR:-bench/profiles}
work=$(mktemp -d /tmp/sixfold-cpu-bench.XXXX)
sixfold_port=17479; aof_port=17480; mem_port=17481; replica_port=17482

for t in redis-server redis-benchmark redis-cli curl; do
  command -v $t >/dev/null || { echo "$t is required (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
# BIN=dir measures the binaries there (for example an older build) instead.
if [ -z "${BIN:-}" ]; then
  echo "building (release)..." >&2
  cargo build --release -q -p sixfold-writer -p sixfold-storage-node
fi
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release}
. bench/local-fabric.sh
storage_pids=("${pids[@]:0:6}")
writer_pid=${pids[6]}
wait_port $sixfold_port
"$bin/sixfold-server" --role replica --replica-reads-any --zone b --writer 127.0.0.1:$sixfold_port \
  --listen 127.0.0.1:$replica_port "${storage_args[@]}" 2>"$work/replica.log" &
replica_pid=$!
pids+=("$replica_pid")
redis-server --port $aof_port --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always --dir "$work" >/dev/null &
aof_pid=$!
pids+=("$aof_pid")
redis-server --port $mem_port --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
mem_pid=$!
pids+=("$mem_pid")
for port in $replica_port $aof_port $mem_port; do wait_port $port; done

hz=$(getconf CLK_TCK)
# ticks <pid...>: utime + stime of each, summed.
ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s }'; }
# busiest_ticks <before...> -- compares per node; prints the largest delta.
node_ticks() { for p in "${storage_pids[@]}"; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done; }
# counter <name>: a counter of storage node 1 (its Prometheus endpoint).
counter() {
  curl -s http://127.0.0.1:17601/metrics | awk -v n="$1" '$1 == n { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}
# node1 : "records appends fsyncs" of storage node 1 so far.
node1() {
  echo "$(counter sixfold_storage_appended_records_total) $(counter sixfold_storage_append_requests_total)" \
    "$(counter sixfold_storage_fsync_seconds_count)"
}
# per <a> <b>: a / b, one decimal.
per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
# us <ticks> <requests>: CPU microseconds per request.
us() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'; }
# bench <port> <pipeline> <requests>: "req/s p50" of SET.
bench() {
  redis-benchmark -p "$1" -c $clients -n "$3" -r 100000 -P "$2" -t set --csv 2>/dev/null \
    | awk -F, 'NR>1 {gsub(/"/,""); print $2, $5; exit}'
}

echo "| run | req/s | p50 ms | writer µs/op | storage nodes µs/op (sum of 6) | busiest storage node µs/op | replica µs/op | redis µs/op | records per Append (node 1) | records per fsync (node 1) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for p in ${PIPELINES:-1 16}; do
  n=$requests1
  [ "$p" = 16 ] && n=$requests16
  echo "running SET -P $p on sixfold ..." >&2
  w0=$(ticks "$writer_pid"); s0=$(ticks "${storage_pids[@]}"); r0=$(ticks "$replica_pid")
  mapfile -t each0 < <(node_ticks)
  read -r rec0 app0 fs0 <<<"$(node1)"
  read -r rps p50 <<<"$(bench $sixfold_port "$p" "$n")"
  redis-cli -p $sixfold_port wait 1 10000 >/dev/null
  w1=$(ticks "$writer_pid"); s1=$(ticks "${storage_pids[@]}"); r1=$(ticks "$replica_pid")
  mapfile -t each1 < <(node_ticks)
  read -r rec1 app1 fs1 <<<"$(node1)"
  busiest=0
  for i in 0 1 2 3 4 5; do
    d=$((each1[i] - each0[i]))
    [ "$d" -gt "$busiest" ] && busiest=$d
  done
  echo "| sixfold durable SET -P $p | $rps | $p50 | $(us $((w1 - w0)) "$n") | $(us $((s1 - s0)) "$n") | $(us "$busiest" "$n") | $(us $((r1 - r0)) "$n") | | $(per $((rec1 - rec0)) $((app1 - app0))) | $(per $((rec1 - rec0)) $((fs1 - fs0))) |"
  for target in "appendfsync always:$aof_port:$aof_pid" "no persistence:$mem_port:$mem_pid"; do
    IFS=: read -r name port pid <<<"$target"
    echo "running SET -P $p on redis ($name) ..." >&2
    t0=$(ticks "$pid")
    read -r rps p50 <<<"$(bench "$port" "$p" "$n")"
    t1=$(ticks "$pid")
    echo "| redis $name SET -P $p | $rps | $p50 | | | | | $(us $((t1 - t0)) "$n") | | |"
  done
done

if [ "${PERF:-0}" = 1 ]; then
  command -v perf >/dev/null || { echo "perf is required for PERF=1 (apt-get install linux-perf)" >&2; exit 1; }
  mkdir -p "$profile_dir"
  echo "profiling the writer and storage node 1 during SET -P 1 ..." >&2
  perf record -q -F 999 -g -p "$writer_pid" -o "$work/writer.perf" -- sleep 8 2>/dev/null &
  perf_w=$!
  perf record -q -F 999 -g -p "${storage_pids[0]}" -o "$work/storage.perf" -- sleep 8 2>/dev/null &
  perf_s=$!
  bench $sixfold_port 1 "$requests1" >/dev/null
  wait $perf_w $perf_s || true
  for who in writer storage; do
    perf report -q --stdio --no-children --percent-limit 1 -g none -i "$work/$who.perf" 2>/dev/null \
      | sed '/^$/d' | head -60 >"$profile_dir/$who-set-p1.txt"
  done
  echo
  echo "profiles: $profile_dir/writer-set-p1.txt, $profile_dir/storage-set-p1.txt"
fi
