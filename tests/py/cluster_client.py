#!/usr/bin/env python3
"""A cluster-aware client (redis-py's RedisCluster) for the failover
harness: SETs py:<i> = <i> for i = 1, 2, ... through the cluster until the
stop file exists, and logs each outcome, one line per SET, to the log file:
`ok <i>` (acknowledged), `err <i> <error>` (raised: outcome unknown).

usage: cluster_client.py HOST:PORT[,HOST:PORT...] LOG STOPFILE
"""

import os
import sys
import time

from redis.cluster import ClusterNode, RedisCluster


def connect(nodes):
    while True:
        try:
            return RedisCluster(startup_nodes=nodes, socket_timeout=3, socket_connect_timeout=1)
        except Exception as e:  # the cluster may be electing its writer
            print(f"connect: {type(e).__name__}: {e}", file=sys.stderr)
            time.sleep(0.2)


def main():
    addrs, log, stop = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
    nodes = [ClusterNode(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in addrs]
    rc = connect(nodes)
    i = 0
    with open(log, "a", buffering=1) as out:
        while not os.path.exists(stop):
            i += 1
            try:
                rc.set(f"py:{i}", i)
                out.write(f"ok {i}\n")
            except Exception as e:
                out.write(f"err {i} {type(e).__name__}\n")
                time.sleep(0.05)


if __name__ == "__main__":
    main()
