#!/usr/bin/env bash
# Restore versus replay: loads N distinct keys (default 1,000,000) into a
# durable shard (six local storage nodes and a writer), takes an off-box
# snapshot with `sixfold snapshot now`, then starts a new replica twice —
# restoring the snapshot (--snapshot-store), and replaying the whole log —
# and times each from its start until it serves reads (INFO replication
# master_link_status:up). Prints Markdown.
# Usage: bench/snapshot-benchmark.sh [keys]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-1000000}
work=$(mktemp -d /tmp/sixfold-snap-bench.XXXX)
sixfold_port=17479
command -v redis-cli >/dev/null || { echo "redis-cli is required (apt-get install redis-tools)" >&2; exit 1; }
echo "building (release)..." >&2
cargo build --release -q -p sixfold-writer -p sixfold-storage-node -p sixfold-deploy
bin=${CARGO_TARGET_DIR:-target}/release
. bench/local-fabric.sh
wait_port $sixfold_port
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

echo "loading $keys keys..." >&2
t=$(now)
awk -v n="$keys" 'BEGIN { for (i = 1; i <= n; i++) { k = "key:" i; v = "value-" i;
  printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v } }' \
  | redis-cli -p $sixfold_port --pipe >/dev/null
load_s=$(since "$t")
dbsize=$(redis-cli -p $sixfold_port dbsize)

echo "taking a snapshot..." >&2
t=$(now)
"$bin/sixfold" snapshot now --dir "$work" --storage-port 17501 --writer 127.0.0.1:$sixfold_port >"$work/snapshot.out"
snap_s=$(since "$t")
snap_bytes=$(du -b "$work"/snapshots/snapshots/*.snap | awk '{ s += $1 } END { print s }')

# serve_time <port> [flags...]: seconds from start until the replica serves.
serve_time() {
  local port=$1; shift
  local t; t=$(now)
  "$bin/sixfold-server" --role replica --zone b --writer 127.0.0.1:$sixfold_port --listen 127.0.0.1:"$port" \
    "${storage_args[@]}" "$@" 2>>"$work/replica-$port.log" &
  local pid=$!
  until redis-cli -p "$port" info replication 2>/dev/null | grep -q master_link_status:up; do sleep 0.05; done
  local s; s=$(since "$t")
  local n; n=$(redis-cli -p "$port" dbsize)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$s $n"
}
echo "starting a replica that restores the snapshot..." >&2
read -r restore_s restore_keys <<<"$(serve_time 17483 --snapshot-store "$work/snapshots")"
echo "starting a replica that replays the log from LSN 1..." >&2
read -r replay_s replay_keys <<<"$(serve_time 17484)"

echo "| keys | load s | snapshot s | snapshot bytes | restore + serve s (keys) | replay from LSN 1 + serve s (keys) |"
echo "|---|---|---|---|---|---|"
echo "| $dbsize | $load_s | $snap_s | $snap_bytes | $restore_s ($restore_keys) | $replay_s ($replay_keys) |"
echo
cat "$work/snapshot.out"
