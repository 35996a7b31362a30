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
label=script-bench
# shellcheck source=bench/beside-redis.sh
source bench/beside-redis.sh
body="return redis.call('INCR', KEYS[1])"
sha=$(redis-cli -p $sport script load "$body")
[ "$sha" = "$(redis-cli -p $rport script load "$body")" ] || { echo "SHA1s differ" >&2; exit 1; }
echo "| round | sixfold EVALSHA/s | sixfold CPU µs/req | redis EVALSHA/s | redis CPU µs/req | ratio |"
echo "|---|---|---|---|---|---|"
for i in $(seq 1 "$rounds"); do
  read -r s_rps s_cpu < <(run $sport $spid -P "$pipeline" evalsha "$sha" 1 "key:__rand_int__")
  read -r r_rps r_cpu < <(run $rport $rpid -P "$pipeline" evalsha "$sha" 1 "key:__rand_int__")
  echo "| $i | $s_rps | $s_cpu | $r_rps | $r_cpu | $(awk -v a="$s_rps" -v b="$r_rps" 'BEGIN { printf "%.2fx", a / b }') |"
done
echo
echo "$(redis-cli -p $sport get key:000000000001 >/dev/null; redis-cli -p $sport dbsize) keys on sixfold, $(redis-cli -p $rport dbsize) on redis"
