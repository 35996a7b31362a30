#!/usr/bin/env bash
# The writer's SET latency while a snapshot is made, beside Redis's while
# it runs BGSAVE. Loads N keys (default 1,000,000) into a durable shard
# (six local storage nodes and a writer) and into a redis-server without
# persistence, then runs R alternating rounds (default 5) of four
# redis-benchmark runs each:
#   sixfold idle | sixfold while `sixfold snapshot now` runs | redis idle |
#   redis while BGSAVE runs.
# The snapshotter runs CPU-capped in a cgroup (cgroup v1 cpu.cfs_quota_us,
# or v2 cpu.max; default half a CPU), as it would on a machine of its own.
# Prints each round and the medians with the spread of the idle rounds
# (the noise band), as Markdown.
# SNAPSHOT_NICE=n runs the snapshotter at that nice level (as `sixfold
# up` does; 19 lets it take no CPU the data path wants).
# CONTROL=1 runs the same rounds without the snapshot (the "during" run
# then measures what a second run right after the first gives anyway).
# Usage: [CONTROL=1] bench/snapshot-latency.sh [keys] [rounds] [snapshotter CPU share, e.g. 0.5]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-1000000}
rounds=${2:-5}
share=${3:-0.5}
work=$(mktemp -d /tmp/sixfold-snap-lat.XXXX)
sixfold_port=17479
redis_port=17480
requests=100000
for t in redis-cli redis-benchmark redis-server; do
  command -v $t >/dev/null || { echo "$t is required (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
echo "building (release)..." >&2
cargo build --release -q -p sixfold-writer -p sixfold-storage-node -p sixfold-deploy
bin=${CARGO_TARGET_DIR:-target}/release
# The writer checks each snapshot marker against the store before it logs it.
mkdir -p "$work/snapshots"
WRITER_EXTRA="${WRITER_EXTRA:-} --snapshot-store $work/snapshots"
. bench/local-fabric.sh
mkdir -p "$work/redis"
redis-server --port $redis_port --save "" --appendonly no --dir "$work/redis" --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
wait_port $sixfold_port
wait_port $redis_port

# A cgroup that caps the snapshotter at $share of a CPU.
period=100000
quota=$(awk -v s="$share" -v p=$period 'BEGIN { printf "%d", s * p }')
if [ -d /sys/fs/cgroup/cpu ] && [ -w /sys/fs/cgroup/cpu ]; then
  cg=/sys/fs/cgroup/cpu/sixfold-snapshotter-$$
  mkdir -p "$cg"
  echo $period >"$cg/cpu.cfs_period_us"
  echo "$quota" >"$cg/cpu.cfs_quota_us"
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cg=/sys/fs/cgroup/sixfold-snapshotter-$$
  mkdir -p "$cg"
  echo "$quota $period" >"$cg/cpu.max"
else
  echo "no writable cgroup cpu controller: cannot cap the snapshotter" >&2
  exit 1
fi
trap 'cleanup; rmdir "$cg" 2>/dev/null || true' EXIT

load() {
  awk -v n="$keys" 'BEGIN { for (i = 1; i <= n; i++) { k = "key:" i; v = "value-" i;
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v } }' \
    | redis-cli -p "$1" --pipe >"$work/load-$1.out" || { cat "$work/load-$1.out" >&2; exit 1; }
}
echo "loading $keys keys into each..." >&2
load $sixfold_port
load $redis_port

# p99 <port>: the p99 SET latency (ms) of one redis-benchmark run.
p99() {
  redis-benchmark -p "$1" -t set -n $requests -c 50 -r "$keys" -d 16 --csv 2>/dev/null \
    | awk -F'","' '/^"SET/ { gsub(/"/, "", $7); print $7 }'
}
# snapshotting: runs `sixfold snapshot now` in the cgroup, in the background.
snapshotting() {
  (
    echo $BASHPID >"$cg/cgroup.procs" 2>/dev/null || echo $BASHPID >"$cg/tasks"
    exec ${SNAPSHOT_NICE:+nice -n "$SNAPSHOT_NICE"} "$bin/sixfold" snapshot now --dir "$work" --storage-port 17501 --writer 127.0.0.1:$sixfold_port
  ) >>"$work/snapshots.out" 2>>"$work/snapshots.err" &
  snap_pid=$!
}
running() { kill -0 "$1" 2>/dev/null; }

declare -a s_idle s_snap r_idle r_save
echo "| round | sixfold idle p99 ms | sixfold + snapshot p99 ms | redis idle p99 ms | redis + BGSAVE p99 ms |"
echo "|---|---|---|---|---|"
for round in $(seq "$rounds"); do
  echo "round $round of $rounds..." >&2
  s_idle+=("$(p99 $sixfold_port)")
  if [ "${CONTROL:-0}" = 1 ]; then sleep 0 & snap_pid=$!; else snapshotting; fi
  sleep 1
  s_snap+=("$(p99 $sixfold_port)")
  snap_during=$(running $snap_pid && echo yes || echo no)
  wait $snap_pid || { echo "the snapshot failed:" >&2; head -30 "$work/snapshots.err" >&2; exit 1; }
  r_idle+=("$(p99 $redis_port)")
  redis-cli -p $redis_port bgsave >/dev/null
  r_save+=("$(p99 $redis_port)")
  save_during=$(redis-cli -p $redis_port info persistence | grep -q rdb_bgsave_in_progress:1 && echo yes || echo no)
  while redis-cli -p $redis_port info persistence | grep -q rdb_bgsave_in_progress:1; do sleep 0.1; done
  i=$((round - 1))
  echo "| $round | ${s_idle[$i]} | ${s_snap[$i]} (snapshot still running at the end: $snap_during) | ${r_idle[$i]} | ${r_save[$i]} (BGSAVE still running at the end: $save_during) |"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f", hi - lo }'; }
echo
echo "| | median p99 ms, idle | median p99 ms, during | change | noise band (idle max - min) |"
echo "|---|---|---|---|---|"
row() {
  local a b; a=$(median $2); b=$(median $3)
  echo "| $1 | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.1f %%", (b - a) / a * 100 }') | $(spread $2) |"
}
row "sixfold writer, snapshot (snapshotter capped at $share CPU)" "${s_idle[*]}" "${s_snap[*]}"
row "redis-server, BGSAVE" "${r_idle[*]}" "${r_save[*]}"
echo
tail -n 1 "$work/snapshots.out"
