#!/usr/bin/env python3
"""Replication side by side: needletail against redis-server 7.0, in one run, reported as ratios.

    bench/replication.py --needletail .build/release/needletail-server [--keys 5000000] [--writes 2000000]

What it measures, for each pair master -> replica (redis -> redis, needletail -> needletail, and the two
mixed pairs), one pair at a time on the same machine:
- Full sync: the master holds `--keys` small keys (DEBUG POPULATE); time from REPLICAOF until the replica
  reports master_link_status:up with the whole dataset loaded (both servers default to a diskless sync:
  the master streams the RDB over the socket, the replica writes it to disk and loads it).
- Catch-up: the replica is stopped (SIGSTOP), the master takes `--writes` SETs from redis-benchmark -P 16
  (into a backlog big enough to hold them), the replica is continued (SIGCONT) and timed until its offset
  reaches the master's: writes applied per second.
Then, for each server kind as master: SET -P 16 throughput (redis-benchmark, 50 clients) with 0, 1 and 2
replicas of its own kind attached.
Standard library only; every server gets its own temporary directory, which is removed.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Conn  # noqa: E402
from persistence import Server  # noqa: E402


def log(*parts):
    print("replication:", *parts, file=sys.stderr, flush=True)


def info(conn, section="replication"):
    text = conn.call("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line and not line.startswith("#"))


def wait_for(predicate, timeout=1800, step=0.01):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    raise RuntimeError("timed out")


def set_throughput(port, n, keyspace):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(n), "-P", "16",
                          "-r", str(keyspace), "-q"], capture_output=True, text=True).stdout
    m = re.search(r"SET: ([\d.]+) requests per second", out.replace("\r", "\n"))
    return float(m.group(1)) if m else float("nan")


SERVER_ARGS = ["--repl-diskless-sync-delay", "0", "--repl-backlog-size", "1gb", "--client-output-buffer-limit",
               "replica 0 0 0"]


def sync_pair(binaries, master_kind, replica_kind, keys, writes):
    master = Server(binaries[master_kind], f"{master_kind}-master", SERVER_ARGS)
    replica = Server(binaries[replica_kind], f"{replica_kind}-replica", SERVER_ARGS)
    try:
        m = master.start()
        m.call("DEBUG", "POPULATE", str(keys))
        r = replica.start()
        start = time.time()
        r.call("REPLICAOF", "127.0.0.1", str(master.port))
        wait_for(lambda: info(r).get("master_link_status") == "up")
        full_sync = time.time() - start
        assert r.call("DBSIZE") == keys, "replica holds the whole dataset"
        # Catch-up: the replica sleeps while the master takes the writes.
        os.kill(replica.proc.pid, signal.SIGSTOP)
        set_throughput(master.port, writes, keys)
        target = info(m)["master_repl_offset"]
        os.kill(replica.proc.pid, signal.SIGCONT)
        start = time.time()
        wait_for(lambda: int(info(r).get("slave_repl_offset", "0")) >= int(target))
        catch_up = time.time() - start
        return full_sync, writes / catch_up
    finally:
        for s in (replica, master):
            if s.proc and s.proc.poll() is None:
                os.kill(s.proc.pid, signal.SIGCONT)
            s.cleanup()


def throughput_with_replicas(binaries, kind, n, keyspace):
    master = Server(binaries[kind], f"{kind}-master", SERVER_ARGS)
    replicas = [Server(binaries[kind], f"{kind}-replica{i}", SERVER_ARGS) for i in range(2)]
    results = []
    try:
        m = master.start()
        results.append(set_throughput(master.port, n, keyspace))
        for replica in replicas:
            r = replica.start()
            r.call("REPLICAOF", "127.0.0.1", str(master.port))
            wait_for(lambda: info(r).get("master_link_status") == "up")
            results.append(set_throughput(master.port, n, keyspace))
        return results
    finally:
        for s in replicas + [master]:
            s.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--needletail", required=True)
    ap.add_argument("--redis", default="/usr/bin/redis-server")
    ap.add_argument("--keys", type=int, default=5_000_000)
    ap.add_argument("--writes", type=int, default=2_000_000)
    ap.add_argument("--set-requests", type=int, default=2_000_000)
    args = ap.parse_args()
    binaries = {"redis": args.redis, "needletail": args.needletail}

    print(f"| pair (master -> replica) | full sync of {args.keys:,} keys | catch-up, writes/s |")
    print("|---|---:|---:|")
    rows = {}
    for pair in [("redis", "redis"), ("needletail", "needletail"), ("needletail", "redis"), ("redis", "needletail")]:
        log("pair", pair)
        full, rate = sync_pair(binaries, *pair, args.keys, args.writes)
        rows[pair] = (full, rate)
        print(f"| {pair[0]} -> {pair[1]} | {full:.2f} s | {rate:,.0f} |", flush=True)
    (rf, rr), (nf, nr) = rows[("redis", "redis")], rows[("needletail", "needletail")]
    print(f"\nneedletail -> needletail against redis -> redis: full sync {rf / nf:.2f}x faster, catch-up {nr / rr:.2f}x")

    print("\n| master | SET -P 16, no replica | 1 replica | 2 replicas |")
    print("|---|---:|---:|---:|")
    sets = {}
    for kind in ["redis", "needletail"]:
        log("throughput", kind)
        sets[kind] = throughput_with_replicas(binaries, kind, args.set_requests, args.keys)
        print(f"| {kind} | " + " | ".join(f"{v:,.0f}" for v in sets[kind]) + " |", flush=True)
    print("ratios needletail / redis: " + ", ".join(f"{n / r:.2f}" for n, r in zip(sets["needletail"], sets["redis"])))


if __name__ == "__main__":
    main()
