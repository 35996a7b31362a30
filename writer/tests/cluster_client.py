"""redis-py's RedisCluster against one Sixfold shard, reads from replicas.

Usage: python3 cluster_client.py WRITER_PORT REPLICA_PORT...
Writes 200 keys through the cluster client (routed to the writer), waits
until every replica applied them (WAIT on the writer), reads them back with
read_from_replicas and checks every value. Prints a summary; exits non-zero
on any mismatch.
"""

import sys

import redis
from redis.cluster import RedisCluster


def main() -> int:
    writer = int(sys.argv[1])
    replicas = [int(p) for p in sys.argv[2:]]
    rc = RedisCluster(host="127.0.0.1", port=writer, read_from_replicas=True)
    nodes = rc.get_nodes()
    ports = sorted(n.port for n in nodes)
    assert ports == sorted([writer] + replicas), f"cluster nodes {ports}"
    primary = rc.get_primaries()
    assert [n.port for n in primary] == [writer], f"primaries {primary}"
    for i in range(200):
        rc.set(f"py:{i}", f"value-{i}")
    acked = redis.Redis(port=writer).wait(len(replicas), 5000)
    assert acked == len(replicas), f"WAIT saw {acked} replicas"
    before = {p: redis.Redis(port=p).info("stats")["total_commands_processed"] for p in replicas}
    for i in range(200):
        got = rc.get(f"py:{i}")
        assert got == f"value-{i}".encode(), f"py:{i} read {got!r}"
    served = sum(redis.Redis(port=p).info("stats")["total_commands_processed"] - before[p] for p in replicas)
    assert served >= 100, f"replicas served only {served} commands of 200 reads"
    print(f"redis-py RedisCluster: 200 writes, 200 reads, {served} served by replicas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
