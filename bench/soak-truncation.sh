#!/usr/bin/env bash
# A write soak with snapshots on (docs/protocol.md R14): `sixfold up` with
# its snapshotter (a snapshot each time the log is EVERY records past the
# newest; the storage nodes keep MARGIN records below it), and
# redis-benchmark SETs (-c 50, -r 1,000,000 keys) for SECONDS. Every 30 s
# it prints the six storage nodes' segment bytes (sum), their RSS (sum),
# and the anonymous part of it (RSS also counts the pages of segment files
# mapped for reads), storage-1's heap (allocated and resident, from
# jemalloc), the data nodes' RSS, the commit LSN and the log's
# base. Then it stops the
# cluster, starts it again on the same directory and reports how long until
# it serves, the snapshot each data node restored and the log it replayed.
# Usage: [SOAK_LOGS=dir] bench/soak-truncation.sh [seconds=600] [every-records=100000] [margin-records=100000]
# (SOAK_LOGS keeps the cluster's logs there.)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
every=${2:-100000}
margin=${3:-100000}
work=$(mktemp -d /tmp/sixfold-soak.XXXX)
port=18379
metrics=18501
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is required (apt-get install redis-tools)" >&2; exit 1; }
echo "building (release)..." >&2
cargo build --release -q -p sixfold-writer -p sixfold-storage-node -p sixfold-deploy
bin=${CARGO_TARGET_DIR:-target}/release
up_pid=""
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$up_pid" ] && kill -TERM -- "-$up_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${SOAK_LOGS:-}" ]; then
    mkdir -p "$SOAK_LOGS" && cp "$work"/*.log "$SOAK_LOGS"/ 2>/dev/null || true
    find "$work/c" -name '*.log' -exec cp --parents {} "$SOAK_LOGS"/ \; 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# start <name>: starts `sixfold up`; sets up_pid, writer, and up_secs (time to serve).
start() {
  local t0 log="$work/up-$1.log"
  t0=$(date +%s.%N)
  setsid "$bin/sixfold" up --dir "$work/c" --port $port --storage-port 18401 --metrics-port $metrics \
    --bin-dir "$bin" --snapshot-every-records "$every" --truncate-margin-records "$margin" >"$log" 2>&1 &
  up_pid=$!
  until grep -q "the cluster is up" "$log" 2>/dev/null; do
    kill -0 $up_pid 2>/dev/null || { tail -50 "$log" >&2; exit 1; }
    sleep 0.05
  done
  up_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  writer=$(grep "the cluster is up" "$log" | sed 's/.*-p \([0-9]*\).*/\1/')
}
stop() {
  kill -TERM -- "-$up_pid"
  wait "$up_pid" 2>/dev/null || true
  up_pid=""
}
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { printf "%d", $2 }'; }
rss_kib() { # sum of a /proc/PID/status field ($2, default VmRSS) of the processes matching $1
  local sum=0 p
  for p in $(pgrep -f "$1" || true); do
    sum=$((sum + $(awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $sum
}
info() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2 }'; }

start first
echo "writing for $secs s to 127.0.0.1:$writer (snapshot every $every records, margin $margin)" >&2
redis-benchmark -p "$writer" -t set -n 2000000000 -c 50 -r 1000000 -d 16 -q >"$work/load.out" 2>&1 &
load_pid=$!
echo "| t s | commit LSN | log base LSN | segment MiB (6 nodes) | storage RSS MiB (6) | of it anonymous MiB | storage-1 heap allocated / resident MiB | data nodes RSS MiB (2) |"
echo "|---|---|---|---|---|---|---|---|"
t=0
while [ $t -le "$secs" ]; do
  commit=$(metric $metrics sixfold_storage_commit_lsn)
  base=$(metric $metrics sixfold_storage_base_lsn)
  seg=$(du -sb "$work"/c/storage-*/segments | awk '{ s += $1 } END { printf "%.0f", s / 1048576 }')
  srss=$(( $(rss_kib "sixfold-storage.*$work/c/storage-") / 1024 ))
  sanon=$(( $(rss_kib "sixfold-storage.*$work/c/storage-" RssAnon) / 1024 ))
  drss=$(( $(rss_kib "sixfold-server.*--snapshot-store $work") / 1024 ))
  halloc=$(metric $metrics sixfold_storage_heap_allocated_bytes)
  hres=$(metric $metrics sixfold_storage_heap_resident_bytes)
  halloc=$(( ${halloc:-0} / 1048576 )) hres=$(( ${hres:-0} / 1048576 ))
  echo "| $t | ${commit:-0} | ${base:-0} | $seg | $srss | $sanon | $halloc / $hres | $drss |"
  [ $t -ge "$secs" ] && break
  sleep 30
  t=$((t + 30))
done
kill "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
load_pid=""
commit=$(redis-cli -p "$writer" info replication | tr -d '\r' | awk -F: '$1 == "master_repl_offset" { print $2 }')
keys=$(redis-cli -p "$writer" dbsize)
stop
start second
echo
echo "restart: serving after ${up_secs} s (log commit LSN ${commit}, ${keys} keys before the stop)"
for p in $port $((port + 1)); do
  echo "- data node :$p restored $(info $p persistence snapshot_restored) (LSN $(info $p persistence snapshot_restored_lsn), $(info $p persistence snapshot_restore_ms) ms), then replayed the log past it; DBSIZE $(redis-cli -p $p dbsize)"
done
stop
