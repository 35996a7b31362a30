#!/usr/bin/env bash
# EVALSHA of a small script (`return redis.call('INCR', KEYS[1])`) on
# `sixfold-server --durability none` beside `redis-server` without
# persistence, in the same run: R alternating rounds (default 3) of
# `redis-benchmark -n N -c 50 [-P P] evalsha <sha> 1 key`, requests per
# second and the servers' CPU per request (utime + stime from /proc).
# Usage: bench/scripting-benchmark.sh [requests=200000] [rounds=3] [pipeline=1]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
rounds=${2:-3}
pipeline=${3:-1}
sport=17579
rport=17580
for t in redis-cli redis-benchmark redis-server; do
  command -v $t >/dev/null || { echo "$t is required (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
echo "building (release)..." >&2
cargo build --release -q -p sixfold-writer
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d /tmp/sixfold-script-bench.XXXX)
"$bin/sixfold-server" --durability none --listen 127.0.0.1:$sport >"$work/sixfold.log" 2>&1 &
spid=$!
redis-server --port $rport --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
rpid=$!
trap 'kill $spid $rpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for p in $sport $rport; do
  until redis-cli -p $p ping >/dev/null 2>&1; do sleep 0.1; done
done
body="return redis.call('INCR', KEYS[1])"
sha=$(redis-cli -p $sport script load "$body")
[ "$sha" = "$(redis-cli -p $rport script load "$body")" ] || { echo "SHA1s differ" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# run <port> <pid>: prints "rps cpu_us_per_request"
run() {
  local before after rps
  before=$(ticks "$2")
  rps=$(redis-benchmark -p "$1" -n "$n" -c 50 -P "$pipeline" -r 100000 --csv evalsha "$sha" 1 "key:__rand_int__" 2>/dev/null \
    | awk -F'","' 'NR == 2 { gsub(/"/, "", $2); print $2 }')
  after=$(ticks "$2")
  awk -v r="$rps" -v t=$((after - before)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%s %.2f\n", r, t * 1e6 / hz / n }'
}
echo "| round | sixfold EVALSHA/s | sixfold CPU µs/req | redis EVALSHA/s | redis CPU µs/req | ratio |"
echo "|---|---|---|---|---|---|"
for i in $(seq 1 "$rounds"); do
  read -r s_rps s_cpu < <(run $sport $spid)
  read -r r_rps r_cpu < <(run $rport $rpid)
  echo "| $i | $s_rps | $s_cpu | $r_rps | $r_cpu | $(awk -v a="$s_rps" -v b="$r_rps" 'BEGIN { printf "%.2fx", a / b }') |"
done
echo
echo "$(redis-cli -p $sport get key:000000000001 >/dev/null; redis-cli -p $sport dbsize) keys on sixfold, $(redis-cli -p $rport dbsize) on redis"
