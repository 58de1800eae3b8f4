#!/usr/bin/env python3
"""Eviction side by side: needletail against redis-server 7.0 at the same maxmemory, reported as ratios.

    bench/eviction.py --needletail .build/release/needletail-server [--maxmemory 100mb]
                      [--policies allkeys-lru,allkeys-lfu,volatile-lru,allkeys-random] [--only keys,hits,set,latency]

For each policy both servers run (`--maxmemory M --maxmemory-policy P`, pinned to core 1; redis-benchmark and
the clients on core 0, so the two servers share one core but never work at the same time):
- keys: SET of 16-byte values with redis-benchmark (-P 16, 50 clients, -r 100,000,000 so nearly every key is
  new) in rounds of 1,000,000 until keys have been evicted for two rounds; then DBSIZE, used_memory, RSS (VmRSS;
  per key: above the empty server's) and the evicted keys. Under volatile-* the SETs carry `EX 100000` (those policies only evict keys with a TTL).
- set: SET -P 16 throughput while every write evicts (1,000,000 more requests on the full server), --rounds
  rounds (default 3) alternating between the servers, medians; and the same on servers without maxmemory
  (what evicting costs).
- latency: a probe client sends PING or GET (alternately) once per millisecond for 5 s while redis-benchmark
  SET -P 16 keeps the server evicting; p50/p99/max of the probe's round trips, medians of --rounds alternating
  rounds, and the keys evicted per second meanwhile.
- hits: bench/zipfbench.c (built here with gcc) reads keys of a keyspace 10x redis-server's capacity (its
  `keys` row for the same policy, else --hit-keys) with Zipf popularity (theta 0.99), SETting each miss, on a
  fresh server filled first with keyspace / 4 SETs of uniformly random keys of the keyspace (2.5x redis-server's
  capacity: the cache is full of cold keys and evicting); after a warm-up of --hit-reads reads, the hit rate
  over --hit-reads more (default 2,000,000). Both servers get the same sequence. Once more for needletail with
  maxmemory scaled to hold as many keys as redis-server did (the policies' choices alone, at equal size).
At the end every server is stopped by its PID (SHUTDOWN NOSAVE, then kill). Standard library only.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Conn, free_port, loadavg  # noqa: E402

VALUE = "v" * 16


def median(values):
    return sorted(values)[len(values) // 2]


def log(*parts):
    print("eviction:", *parts, file=sys.stderr, flush=True)


def parse_size(text):
    m = re.fullmatch(r"(\d+)(b|kb|mb|gb)?", text.lower())
    return int(m.group(1)) * {None: 1, "b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3}[m.group(2)]


class Server:
    def __init__(self, binary, name, maxmemory, policy):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"evict-{name}-")
        self.port = free_port()
        extra = ["--maxmemory", maxmemory, "--maxmemory-policy", policy] if maxmemory else []
        self.argv = ["taskset", "-c", "1", binary, "--port", str(self.port), "--dir", self.dir, "--save", "",
                     "--appendonly", "no", "--logfile", os.path.join(self.dir, "server.log"), *extra]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                c = Conn(self.port)
                if c.call("PING") == "PONG":
                    self.conn = c
                    self.empty_rss = self.rss_bytes()
                    return
            except (OSError, ConnectionError):
                if time.time() > deadline:
                    raise RuntimeError(f"{name} did not start")
                time.sleep(0.05)

    def info(self, section):
        text = self.conn.call("INFO", section)
        text = text.decode() if isinstance(text, bytes) else text
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        """By PID: SHUTDOWN NOSAVE, then SIGKILL if it is still there."""
        if self.proc.poll() is None:
            self.conn.close()
            try:
                Conn(self.port, timeout=10).call_raw("SHUTDOWN", "NOSAVE")
            except (OSError, ConnectionError):
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def set_command(policy):
    cmd = ["SET", "key:__rand_int__", VALUE]
    return cmd + ["EX", "100000"] if policy.startswith("volatile") else cmd


def benchmark(port, policy, n, pipeline=16, clients=50):
    out = subprocess.run(["taskset", "-c", "0", "redis-benchmark", "-p", str(port), "-n", str(n), "-P", str(pipeline),
                          "-c", str(clients), "-r", "100000000", "-q", *set_command(policy)],
                         capture_output=True, text=True).stdout
    found = re.findall(r"([0-9.]+) requests per second", out)
    return float(found[-1]) if found else 0.0


def fill(server, policy):
    """SET rounds until keys have been evicted in two rounds; the state when full."""
    evicting_rounds = 0
    for _ in range(40):
        benchmark(server.port, policy, 1_000_000)
        if int(server.info("stats")["evicted_keys"]) > 0:
            evicting_rounds += 1
            if evicting_rounds == 2:
                break
    return {"keys": server.conn.call("DBSIZE"), "used": int(server.info("memory")["used_memory"]),
            "rss": server.rss_bytes(), "empty_rss": server.empty_rss, "evicted": int(server.info("stats")["evicted_keys"])}


def probe(port, seconds):
    """Round trips (ms) of PING and GET, alternately, one every millisecond."""
    c = Conn(port)
    lat = []
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        t = time.perf_counter()
        if i % 2:
            c.call_raw("GET", f"key:{i:012d}")
        else:
            c.call_raw("PING")
        lat.append((time.perf_counter() - t) * 1000)
        i += 1
        time.sleep(max(0.0, 0.001 - (time.perf_counter() - t)))
    c.close()
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    return {"p50": pick(0.5), "p99": pick(0.99), "max": lat[-1], "samples": len(lat)}


def latency_under_load(server, policy):
    load = subprocess.Popen(["taskset", "-c", "0", "redis-benchmark", "-p", str(server.port), "-n", "1000000000",
                             "-P", "16", "-c", "50", "-r", "100000000", "-q", *set_command(policy)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        before = int(server.info("stats")["evicted_keys"])
        result = probe(server.port, 5)
        result["evicted_per_s"] = (int(server.info("stats")["evicted_keys"]) - before) / 5
    finally:
        load.kill()
        load.wait()
    return result


def hit_rate(zipfbench, server, policy, keyspace, reads):
    """keyspace / 4 SETs of random keys (the cache is full and evicting), a warm-up of `reads` reads, then
    `reads` measured."""
    ex = "100000" if policy.startswith("volatile") else "0"
    out = subprocess.run(["taskset", "-c", "0", zipfbench, str(server.port), str(keyspace), str(keyspace // 4), str(reads),
                          str(reads), "0.99", "64", str(len(VALUE)), ex, "1"],
                         capture_output=True, text=True, check=True).stdout
    r = dict(kv.split("=") for kv in out.split())
    return {"hit_rate": float(r["hit_rate"]), "reads_per_s": float(r["reads_per_s"]), "keyspace": keyspace,
            "set_errors": int(r["set_errors"]), "keys": server.conn.call("DBSIZE")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--needletail", required=True)
    ap.add_argument("--redis", default=shutil.which("redis-server"))
    ap.add_argument("--maxmemory", default="100mb")
    ap.add_argument("--policies", default="allkeys-lru,allkeys-lfu,volatile-lru,allkeys-random")
    ap.add_argument("--only", default="keys,set,latency,hits")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the set and latency runs")
    ap.add_argument("--hit-reads", type=int, default=2_000_000, help="measured reads of the Zipf workload")
    ap.add_argument("--hit-keys", type=int, default=10_000_000, help="its keyspace when `keys` is not measured")
    args = ap.parse_args()
    only = set(args.only.split(","))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that `finally` stops the servers
    os.sched_setaffinity(0, {0})
    work = tempfile.mkdtemp(prefix="evictbench-")
    zipfbench = os.path.join(work, "zipfbench")
    subprocess.run(["gcc", "-O2", "-o", zipfbench, os.path.join(os.path.dirname(os.path.abspath(__file__)), "zipfbench.c"),
                    "-lm"], check=True)
    binaries = {"needletail": args.needletail, "redis": args.redis}
    started, load_start = time.time(), loadavg()
    rows = []
    live = []
    try:
        if "set" in only:
            servers = {name: Server(binary, name, None, None) for name, binary in binaries.items()}
            live += servers.values()
            runs = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, s in servers.items():
                    runs[name].append(benchmark(s.port, "allkeys-lru", 1_000_000))
            base = {name: median(runs[name]) for name in servers}
            log("no maxmemory", runs)
            for s in servers.values():
                s.stop()
                live.remove(s)
            rows.append(("SET -P 16, no maxmemory (req/s)", f"{base['needletail']:,.0f}", f"{base['redis']:,.0f}",
                         f"{base['needletail'] / base['redis']:.2f}"))
        for policy in args.policies.split(","):
            r = {name: {} for name in binaries}
            if {"keys", "set", "latency"} & only:
                # Both servers at once, each filled, then the timed runs alternating between them (medians).
                servers = {name: Server(binary, name, args.maxmemory, policy) for name, binary in binaries.items()}
                live += servers.values()
                for name, s in servers.items():
                    r[name]["full"] = fill(s, policy)
                    log(policy, name, "full", r[name]["full"])
                if "set" in only:
                    runs = {name: [] for name in servers}
                    for _ in range(args.rounds):
                        for name, s in servers.items():
                            runs[name].append(benchmark(s.port, policy, 1_000_000))
                    for name in servers:
                        r[name]["set"] = median(runs[name])
                        log(policy, name, "set", runs[name])
                if "latency" in only:
                    runs = {name: [] for name in servers}
                    for _ in range(args.rounds):
                        for name, s in servers.items():
                            runs[name].append(latency_under_load(s, policy))
                    for name in servers:
                        r[name]["latency"] = {k: median([x[k] for x in runs[name]]) for k in runs[name][0]}
                        log(policy, name, "latency", runs[name])
                for s in servers.values():
                    s.stop()
                    live.remove(s)
            if "hits" in only:
                # The same keyspace for both: 10x what redis-server holds under this policy.
                keyspace = 10 * r["redis"]["full"]["keys"] if "full" in r["redis"] else args.hit_keys
                for name, binary, row in (("needletail", args.needletail, "hits"), ("redis", args.redis, "hits"),
                                          ("needletail", args.needletail, "hits-equal")):
                    maxmemory = args.maxmemory
                    if row == "hits-equal":
                        # needletail held to the keys redis-server held: the policies' choices alone, at equal
                        # size. What the keys take scales with their number; the empty server's own does not.
                        n = r["needletail"]["hits"]
                        keys_bytes = (parse_size(args.maxmemory) - n["empty_used"]) * r["redis"]["hits"]["keys"] // n["keys"]
                        maxmemory = str(n["empty_used"] + keys_bytes)
                    s = Server(binary, name, maxmemory, policy)
                    live.append(s)
                    empty_used = int(s.info("memory")["used_memory"])
                    r[name][row] = hit_rate(zipfbench, s, policy, keyspace, args.hit_reads)
                    r[name][row]["maxmemory"] = maxmemory
                    r[name][row]["empty_used"] = empty_used
                    log(policy, name, row, r[name][row])
                    s.stop()
                    live.remove(s)
            n, d = r["needletail"], r["redis"]
            if "full" in n:
                nf, df = n["full"], d["full"]
                rows.append((f"{policy}: keys held when full (DBSIZE)", f"{nf['keys']:,}", f"{df['keys']:,}",
                             f"**{nf['keys'] / df['keys']:.2f}**"))
                rows.append((f"{policy}: used_memory / RSS when full (MB)", f"{nf['used'] / 2**20:.1f} / {nf['rss'] / 2**20:.1f}",
                             f"{df['used'] / 2**20:.1f} / {df['rss'] / 2**20:.1f}", f"{nf['rss'] / df['rss']:.2f} (RSS)"))
                per_key = lambda f: (f["rss"] - f["empty_rss"]) / f["keys"]
                rows.append((f"{policy}: RSS above the empty server per key held (B)", f"{per_key(nf):.0f}",
                             f"{per_key(df):.0f}", f"{per_key(nf) / per_key(df):.2f}"))
            if "set" in n:
                rows.append((f"{policy}: SET -P 16 while evicting (req/s)", f"{n['set']:,.0f}", f"{d['set']:,.0f}",
                             f"**{n['set'] / d['set']:.2f}**"))
            if "latency" in n:
                nl, dl = n["latency"], d["latency"]
                rows.append((f"{policy}: probe PING/GET p50 / p99 / max under SET -P 16 (ms)",
                             f"{nl['p50']:.2f} / {nl['p99']:.2f} / {nl['max']:.1f}",
                             f"{dl['p50']:.2f} / {dl['p99']:.2f} / {dl['max']:.1f}", f"p99 **{nl['p99'] / dl['p99']:.2f}**"))
                rows.append((f"{policy}: keys evicted per second meanwhile", f"{nl['evicted_per_s']:,.0f}",
                             f"{dl['evicted_per_s']:,.0f}", f"{nl['evicted_per_s'] / max(dl['evicted_per_s'], 1):.2f}"))
            if "hits" in n:
                nh, dh = n["hits"], d["hits"]
                rows.append((f"{policy}: Zipf hit rate, {nh['keyspace']:,} keys (keys cached)",
                             f"{nh['hit_rate']:.4f} ({nh['keys']:,})", f"{dh['hit_rate']:.4f} ({dh['keys']:,})",
                             f"**{nh['hit_rate'] / dh['hit_rate']:.3f}**"))
                if "hits-equal" in n:
                    ne = n["hits-equal"]
                    rows.append((f"{policy}: the same, needletail at redis-server's key count (maxmemory {int(ne['maxmemory']):,})",
                                 f"{ne['hit_rate']:.4f} ({ne['keys']:,})", f"{dh['hit_rate']:.4f} ({dh['keys']:,})",
                                 f"{ne['hit_rate'] / dh['hit_rate']:.3f}"))
                rows.append((f"{policy}: Zipf reads/s (GET, SET on miss; -P 64)", f"{nh['reads_per_s']:,.0f}",
                             f"{dh['reads_per_s']:,.0f}", f"{nh['reads_per_s'] / dh['reads_per_s']:.2f}"))
                if nh["set_errors"] or dh["set_errors"]:
                    rows.append((f"{policy}: refused SETs", f"{nh['set_errors']:,}", f"{dh['set_errors']:,}", ""))
    finally:
        for s in live:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    version = subprocess.run([args.redis, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"maxmemory {args.maxmemory}; {version}; needletail {args.needletail}; load average {load_start} at start, "
          f"{loadavg()} at end; {(time.time() - started) / 60:.1f} minutes")
    print("| Measure | needletail | redis-server 7.0 | ratio |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
