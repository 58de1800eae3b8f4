#!/usr/bin/env python3
"""Persistence side by side: needletail against redis-server 7.0, in one run, reported as ratios.

    bench/persistence.py --needletail .build/release/needletail-server [--keys 10000000] [--mixed-mb 1024]

What it measures (each for both servers, one after the other, on the same machine):
- SAVE of N small keys (DEBUG POPULATE: "key:N" -> "value:N"): wall time of SAVE, file size; then the load
  time at start-up (the server's own "DB loaded from disk" line), and the keys after loading.
- The same for a mixed dataset of hashes, lists, sets, sorted sets and strings of about `--mixed-mb` MB of
  RSS, written with pipelined commands.
- BGSAVE under `redis-benchmark -t set -P 16 -r N` load on a dataset of about 0.86 N keys written by the
  same redis-benchmark (so the load overwrites existing keys rather than growing the dataset): the peak extra memory while the
  save runs (proportional set size of every process of the server: redis-server's fork child shares its
  pages with the parent until they are written, PSS counts each shared page once), the save's duration,
  and the p50/p99/max latency of a probe client sending PING one at a time meanwhile.
- SET -P 16 throughput without AOF and with `appendonly yes`, `appendfsync everysec`.
Standard library only; each server gets its own temporary directory, which is removed.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Conn, encode, free_port  # noqa: E402


def log(*parts):
    print("persistence:", *parts, file=sys.stderr, flush=True)


class Server:
    def __init__(self, binary, name, extra=()):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"persist-{name}-")
        self.port = free_port()
        self.logfile = os.path.join(self.dir, "server.log")
        self.argv = [binary, "--port", str(self.port), "--dir", self.dir, "--save", "", "--appendonly", "no",
                     "--logfile", self.logfile, "--enable-debug-command", "yes", *extra]
        self.proc = None

    def start(self, extra=()):
        self.proc = subprocess.Popen(self.argv + list(extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                c = Conn(self.port, timeout=600)
                if c.call("PING") == "PONG":
                    return c
                c.close()
            except (OSError, ConnectionError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                Conn(self.port).call_raw("SHUTDOWN", "NOSAVE")
            except (OSError, ConnectionError):
                pass
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self):
        """The server and its children (redis-server's fork child during BGSAVE)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid] + [int(p) for p in out]

    def pss_kb(self):
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def load_seconds(self):
        with open(self.logfile, errors="replace") as f:
            found = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", f.read())
        return float(found[-1]) if found else None

    def file_size(self):
        return os.path.getsize(os.path.join(self.dir, "dump.rdb"))


def save_and_load(server, fill):
    c = server.start()
    fill(c)
    keys = c.call("DBSIZE")
    t = time.time()
    assert c.call("SAVE") == "OK"
    save = time.time() - t
    size = server.file_size()
    server.stop()
    t = time.time()
    c = server.start()
    wall = time.time() - t
    loaded = c.call("DBSIZE")
    server.stop()
    return {"keys": keys, "save": save, "size": size, "load": server.load_seconds() or wall, "loaded": loaded}


def populate(n):
    def fill(c):
        c.call("DEBUG", "POPULATE", n)
    return fill


def mixed(mb):
    """Hashes of 20 fields, lists of 50, sets of 20 integers, sorted sets of 30, strings of 100 bytes, in
    equal shares of roughly `mb` MB of dataset, written in pipelined batches."""
    def fill(c):
        groups = max(1, mb * 1024 * 1024 // 9000)
        batch = []
        def flush():
            if batch:
                c.sock.sendall(b"".join(batch))
                for _ in batch:
                    c.read_raw()
                batch.clear()
        for g in range(groups):
            batch.append(encode("HSET", f"h:{g}", *[x for f in range(20) for x in (f"field{f}", f"value{g}-{f}")]))
            batch.append(encode("RPUSH", f"l:{g}", *[f"item-{g}-{i}" for i in range(50)]))
            batch.append(encode("SADD", f"s:{g}", *[str(g * 20 + i) for i in range(20)]))
            batch.append(encode("ZADD", f"z:{g}", *[x for i in range(30) for x in (str(i * 1.5), f"member{i}")]))
            batch.append(encode("SET", f"str:{g}", "x" * 100))
            if len(batch) >= 500:
                flush()
        flush()
    return fill


def probe_latencies(port, stop):
    lat = []
    c = Conn(port)
    while not stop.is_set():
        t = time.perf_counter()
        c.call_raw("PING")
        lat.append((time.perf_counter() - t) * 1000)
        time.sleep(0.001)
    c.close()
    return lat


def bgsave_under_load(server, n):
    c = server.start()
    # The keys the load will overwrite (redis-benchmark's own "key:%012d" names): so the extra memory is
    # the save's, not the dataset growing under new keys.
    subprocess.run(["redis-benchmark", "-p", str(server.port), "-t", "set", "-P", "16", "-n", str(2 * n),
                    "-r", str(n), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    base = server.pss_kb()
    load = subprocess.Popen(["redis-benchmark", "-p", str(server.port), "-t", "set", "-P", "16", "-n", "100000000",
                             "-r", str(n), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    stop = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.update(lat=probe_latencies(server.port, stop)))
    t.start()
    time.sleep(1)
    peak = server.pss_kb()
    started = time.time()
    assert c.call("BGSAVE") in ("Background saving started",), "BGSAVE refused"
    while True:
        peak = max(peak, server.pss_kb())
        info = c.call("INFO", "persistence").decode()
        if "rdb_bgsave_in_progress:0" in info:
            break
        time.sleep(0.05)
    duration = time.time() - started
    stop.set()
    t.join()
    load.kill()
    load.wait()
    status = re.search(r"rdb_last_bgsave_status:(\w+)", info).group(1)
    server.stop()
    lat = sorted(result["lat"])
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    return {"extra_mb": (peak - base) / 1024, "base_mb": base / 1024, "seconds": duration, "status": status,
            "p50": pick(0.5), "p99": pick(0.99), "max": lat[-1], "samples": len(lat)}


def set_throughput(server, aof):
    extra = ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else []
    if os.path.exists(os.path.join(server.dir, "dump.rdb")):
        os.remove(os.path.join(server.dir, "dump.rdb"))
    server.start(extra)
    out = subprocess.run(["redis-benchmark", "-p", str(server.port), "-t", "set", "-P", "16", "-n", "2000000",
                          "-r", "1000000", "-c", "50", "-q"], capture_output=True, text=True).stdout
    server.stop()
    shutil.rmtree(os.path.join(server.dir, "appendonlydir"), ignore_errors=True)
    return float(re.findall(r"([0-9.]+) requests per second", out)[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--needletail", required=True)
    ap.add_argument("--redis", default=shutil.which("redis-server"))
    ap.add_argument("--keys", type=int, default=10_000_000)
    ap.add_argument("--mixed-mb", type=int, default=1024)
    ap.add_argument("--only", default="save,mixed,bgsave,aof")
    args = ap.parse_args()
    only = set(args.only.split(","))
    servers = {"needletail": Server(args.needletail, "needletail"), "redis": Server(args.redis, "redis")}
    rows = []
    try:
        for label, fill, enabled in ((f"{args.keys:,} small keys", populate(args.keys), "save" in only),
                                     (f"mixed types (~{args.mixed_mb} MB)", mixed(args.mixed_mb), "mixed" in only)):
            if not enabled:
                continue
            r = {}
            for name, s in servers.items():
                log(f"{label}: {name}")
                r[name] = save_and_load(s, fill)
                log(name, r[name])
                os.remove(os.path.join(s.dir, "dump.rdb"))
            n, d = r["needletail"], r["redis"]
            rows.append(f"| SAVE, {label} | {n['save']:.2f} s | {d['save']:.2f} s | **{d['save'] / n['save']:.2f}x faster** |")
            rows.append(f"| load at start-up, {label} | {n['load']:.2f} s | {d['load']:.2f} s | **{d['load'] / n['load']:.2f}x faster** |")
            rows.append(f"| dump.rdb size, {label} | {n['size']:,} | {d['size']:,} | **{n['size'] / d['size']:.3f}** |")
            assert n["loaded"] == n["keys"] and d["loaded"] == d["keys"], (n, d)
        if "bgsave" in only:
            r = {}
            for name, s in servers.items():
                log(f"BGSAVE under load: {name}")
                r[name] = bgsave_under_load(s, args.keys)
                log(name, r[name])
            n, d = r["needletail"], r["redis"]
            rows.append(f"| BGSAVE under SET -P 16: extra memory (PSS) | {n['extra_mb']:.0f} MB | {d['extra_mb']:.0f} MB | **{n['extra_mb'] / max(d['extra_mb'], 1):.2f}** |")
            rows.append(f"| BGSAVE under SET -P 16: duration | {n['seconds']:.1f} s | {d['seconds']:.1f} s | {d['seconds'] / n['seconds']:.2f} |")
            rows.append(f"| probe PING latency during BGSAVE p50 / p99 / max (ms) | {n['p50']:.2f} / {n['p99']:.2f} / {n['max']:.1f} | {d['p50']:.2f} / {d['p99']:.2f} / {d['max']:.1f} | |")
            rows.append(f"| dataset before BGSAVE (PSS) | {n['base_mb']:.0f} MB | {d['base_mb']:.0f} MB | |")
        if "aof" in only:
            r = {}
            for name, s in servers.items():
                r[name] = (set_throughput(s, False), set_throughput(s, True))
                log(name, r[name])
            n, d = r["needletail"], r["redis"]
            rows.append(f"| SET -P 16, no AOF (req/s) | {n[0]:,.0f} | {d[0]:,.0f} | {n[0] / d[0]:.2f} |")
            rows.append(f"| SET -P 16, appendfsync everysec (req/s) | {n[1]:,.0f} | {d[1]:,.0f} | **{n[1] / d[1]:.2f}** |")
            rows.append(f"| needletail everysec vs needletail without AOF | {n[1] / n[0]:.2f} | | |")
    finally:
        for s in servers.values():
            s.cleanup()
    print("| Measure | needletail | redis-server 7.0 | ratio |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
