#!/usr/bin/env bash
# The newer command families (HyperLogLog, bitmaps, geo, streams) on
# `sixfold-server --durability none` beside `redis-server` without
# persistence, in the same run: for each command, R alternating rounds
# (default 3) of `redis-benchmark -n N -c 50 -r 100000 <command>`, requests
# per second and each server's CPU per request (utime + stime from /proc).
# Usage: bench/family-benchmark.sh [requests=200000] [rounds=3]
set -euo pipefail
# Commands are split into words unquoted: no glob expands their `*`.
set -f
cd "$(dirname "$0")/.."
n=${1:-200000}
rounds=${2:-3}
sport=17581
rport=17582
label=family-bench
# shellcheck source=bench/beside-redis.sh
source bench/beside-redis.sh
# One command per line, as redis-benchmark takes it (it stops at an error
# reply, and __rand_int__ is zero-padded, which no integer argument takes:
# bitmap commands use it in the key).
commands=(
  "pfadd hll __rand_int__"
  "pfcount hll"
  "setbit bits:__rand_int__ 7 1"
  "getbit bits:__rand_int__ 7"
  "geoadd geo 13.__rand_int__ 38.__rand_int__ m:__rand_int__"
  "geosearch geo fromlonlat 13.5 38.5 byradius 10 km count 10"
  "xadd s * f v"
  "xadd capped maxlen ~ 1000 * f v"
  "xrange s - + count 10"
  "xlen s"
)
echo "| command | round | sixfold req/s | sixfold CPU µs/req | redis req/s | redis CPU µs/req | ratio |"
echo "|---|---|---|---|---|---|---|"
for c in "${commands[@]}"; do
  for i in $(seq 1 "$rounds"); do
    # shellcheck disable=SC2086
    read -r s_rps s_cpu < <(run $sport $spid $c)
    # shellcheck disable=SC2086
    read -r r_rps r_cpu < <(run $rport $rpid $c)
    ratio=$(awk -v a="$s_rps" -v b="$r_rps" 'BEGIN { printf "%.2fx", a / b }')
    echo "| \`$c\` | $i | $s_rps | $s_cpu | $r_rps | $r_cpu | $ratio |"
  done
done
echo
echo "hll bytes: sixfold $(redis-cli -p $sport strlen hll), redis $(redis-cli -p $rport strlen hll)"
echo "pfcount hll: sixfold $(redis-cli -p $sport pfcount hll), redis $(redis-cli -p $rport pfcount hll)"
echo "zcard geo: sixfold $(redis-cli -p $sport zcard geo), redis $(redis-cli -p $rport zcard geo)"
echo "xlen s: sixfold $(redis-cli -p $sport xlen s), redis $(redis-cli -p $rport xlen s)"
echo "xlen capped: sixfold $(redis-cli -p $sport xlen capped), redis $(redis-cli -p $rport xlen capped)"
echo "dbsize: sixfold $(redis-cli -p $sport dbsize), redis $(redis-cli -p $rport dbsize)"
