# Sourced by the benchmark scripts: starts six local storage nodes (ports
# 17501-17506, zones a a b b c c, metrics on 17601-17606) and a durable writer on $sixfold_port,
# with certificates under $work; fills $storage_args and $pids; registers
# a cleanup trap. Needs $work, $sixfold_port and $bin. Extra arguments for
# every storage node and for the writer may come in $STORAGE_EXTRA and
# $WRITER_EXTRA (for experiments: STORAGE_EXTRA="--no-io-uring").
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin/sixfold-storage" gen-certs --dir "$work/certs" >/dev/null
for i in 1 2 3 4 5 6; do
  peers=()
  for j in 1 2 3 4 5 6; do [ "$j" != "$i" ] && peers+=(--peer "127.0.0.1:$((17500 + j))"); done
  "$bin/sixfold-storage" --threads 1 --node-id "$i" --listen "127.0.0.1:$((17500 + i))" --data-dir "$work/node-$i" \
    --metrics-listen "127.0.0.1:$((17600 + i))" ${STORAGE_EXTRA:-} \
    --certs "$work/certs" "${peers[@]}" 2>>"$work/storage.log" &
  pids+=($!)
done
storage_args=(--certs "$work/certs")
for i in 1 2 3 4 5 6; do storage_args+=(--storage "127.0.0.1:$((17500 + i))"); done
"$bin/sixfold-server" --role writer --listen 127.0.0.1:$sixfold_port "${storage_args[@]}" ${WRITER_EXTRA:-} \
  2>"$work/server.log" &
pids+=($!)

# wait_port <port>: until it answers PING (30 s at most).
wait_port() {
  for _ in $(seq 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "nothing answers on port $1" >&2
  return 1
}
