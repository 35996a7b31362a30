# Sourced by the benchmarks that run `sixfold-server --durability none`
# beside `redis-server` without persistence in the same run (set `sport`,
# `rport` and `label` first). Builds the release server, starts both,
# waits for them, stops them on exit, and defines:
#   ticks <pid>      utime + stime of a process, in clock ticks
#   run <port> <pid> <redis-benchmark arguments...>
#                    prints "requests/s CPU-µs-per-request" for `-n $n -c 50`
for t in redis-cli redis-benchmark redis-server; do
  command -v $t >/dev/null || { echo "$t is required (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
echo "building (release)..." >&2
cargo build --release -q -p sixfold-writer
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d "/tmp/sixfold-$label.XXXX")
"$bin/sixfold-server" --durability none --listen 127.0.0.1:$sport >"$work/sixfold.log" 2>&1 &
spid=$!
redis-server --port $rport --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
rpid=$!
trap 'kill $spid $rpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for p in $sport $rport; do
  until redis-cli -p $p ping >/dev/null 2>&1; do sleep 0.1; done
done
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() {
  local port=$1 pid=$2 before after rps
  shift 2
  before=$(ticks "$pid")
  rps=$(redis-benchmark -p "$port" -n "$n" -c 50 -r 100000 --csv "$@" 2>/dev/null \
    | awk -F'","' 'NR == 2 { gsub(/"/, "", $2); print $2 }')
  after=$(ticks "$pid")
  awk -v r="$rps" -v t=$((after - before)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%s %.2f\n", r, t * 1e6 / hz / n }'
}
