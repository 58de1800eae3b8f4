#!/usr/bin/env python3
"""Side-by-side benchmark: needletail against redis-server, in one run, reported as ratios.

Started by bench/run.sh (which builds the release binary first). Standard library only.

How it measures, and why:
- Both servers run at the same time on free ports, pinned to core 1; redis-benchmark is pinned to core 0
  (when taskset works). Each workload runs against both in alternation, needletail then redis, `rounds`
  times, and the tables show medians: throughput on this shared 2-core machine swings by +-10%.
- At -P 1 the load generator saturates its core before either server does, so the throughput ratio hides
  server cost. The server's CPU time over each run (sum of /proc/PID/task/*/schedstat, all threads) divided
  by the requests sent gives CPU per operation; user-space instructions per operation under callgrind are
  deterministic on a busy machine.
- redis-benchmark never looks at replies, so a set of requests is first sent to both servers and their
  replies compared byte for byte.
"""

import argparse
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_TASKSET = shutil.which("taskset") is not None and subprocess.run(
    ["taskset", "-c", "1", "true"], stderr=subprocess.DEVNULL).returncode == 0
SERVER_CPU, CLIENT_CPU = "1", "0"
NT, RD = "needletail", "redis"


def log(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


def pinned(cpu, argv):
    return (["taskset", "-c", cpu] if HAS_TASKSET else []) + argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_above_empty(binary, chunks, after=None):
    """RSS growth (bytes) of a fresh `binary` (`--save '' --appendonly no`, a free port) while `chunks` of RESP
    are loaded with `redis-cli --pipe`, read a second after the load; `after(cli)` (the redis-cli argv for
    the server) runs before it stops, and its result is returned too. The memory scripts' one measure."""
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = ["redis-cli", "-p", str(port)]

    def rss():
        with open("/proc/%d/status" % server.pid) as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) * 1024
    try:
        for _ in range(100):
            if subprocess.run(cli + ["ping"], capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.1)
        empty = rss()
        pipe = subprocess.Popen(cli + ["--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        for chunk in chunks:
            pipe.stdin.write(chunk)
        pipe.stdin.close()
        pipe.wait()
        time.sleep(1)
        grown = rss() - empty
        return grown, (after(cli) if after else None)
    finally:
        server.terminate()
        server.wait()


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# MARK: - RESP

def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A blocking RESP2 connection returning each reply's raw bytes (for byte-for-byte comparison)."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_raw(self):
        line = self._line()
        kind = line[:1]
        if kind == b"$":
            n = int(line[1:-2])
            return line if n < 0 else line + self._exact(n + 2)
        if kind == b"*":
            n = int(line[1:-2])
            return line + b"".join(self.read_raw() for _ in range(max(n, 0)))
        return line

    def call_raw(self, *args):
        self.sock.sendall(encode(*args))
        return self.read_raw()

    def call(self, *args):
        """The reply as a Python value (bulk -> bytes, integer -> int, array -> list)."""
        return parse(self.call_raw(*args))


def parse(raw):
    def one(i):
        j = raw.index(b"\r\n", i)
        kind, body = raw[i:i + 1], raw[i + 1:j]
        if kind == b"$":
            n = int(body)
            return (None, j + 2) if n < 0 else (raw[j + 2:j + 2 + n], j + 4 + n)
        if kind == b"*":
            items, k = [], j + 2
            for _ in range(max(int(body), 0)):
                v, k = one(k)
                items.append(v)
            return items, k
        if kind == b":":
            return int(body), j + 2
        if kind == b"-":
            return RuntimeError(body.decode()), j + 2
        return body.decode(), j + 2
    return one(0)[0]


# MARK: - Servers

class Server:
    def __init__(self, name, argv, tmp, under=(), ready_timeout=30):
        self.name = name
        self.port = free_port()
        self.logpath = os.path.join(tmp, f"{name}-{self.port}.log")
        args = list(argv) + ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--enable-debug-command", "yes"]
        self.logfile = open(self.logpath, "w")
        started = time.perf_counter()
        # taskset and valgrind exec the server (or are the measured process themselves), so pid is the server's.
        self.proc = subprocess.Popen(pinned(SERVER_CPU, list(under) + args), stdout=self.logfile,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.startup_seconds = self._wait_ready(ready_timeout) - started

    def _wait_ready(self, timeout):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; log: {self.logpath}")
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                try:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return time.perf_counter()
                finally:
                    s.close()
            except OSError:
                pass
            time.sleep(0.001)
        raise RuntimeError(f"{self.name} did not answer PING within {timeout}s; log: {self.logpath}")

    def rss_bytes(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def cpu(self):
        """(total ns on CPU over all threads, user ticks, system ticks)."""
        total = 0
        for path in glob.glob(f"/proc/{self.pid}/task/*/schedstat"):
            try:
                with open(path) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass  # a thread that just ended
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return total, int(fields[11]), int(fields[12])

    def conn(self, timeout=60):
        return Conn(self.port, timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logfile.close()


def start(which, opts, tmp, **kw):
    argv = [opts.needletail] if which == NT else [opts.redis_server]
    if which == NT and kw.get("under") and "valgrind" in kw["under"][0]:
        argv = [stripped_copy(opts.needletail, tmp)]
    return Server(which, argv, tmp, **kw)


def stripped_copy(binary, tmp):
    """The binary without its debug info, for valgrind: 3.19 gives up on the Swift toolchain's DWARF
    ("Possibly corrupted debuginfo file"). Symbols stay, so profiles still name functions."""
    path = os.path.join(tmp, "needletail-server.stripped")
    subprocess.run(["objcopy", "--strip-debug", binary, path], check=True)
    return path


# MARK: - Loading data

def pipe(server, chunks):
    """Sends an iterable of RESP byte chunks through `redis-cli --pipe`; returns (seconds, errors)."""
    started = time.perf_counter()
    p = subprocess.Popen(pinned(CLIENT_CPU, ["redis-cli", "-p", str(server.port), "--pipe"]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for chunk in chunks:
        p.stdin.write(chunk)
    p.stdin.close()
    out = p.stdout.read().decode(errors="replace")
    p.wait()
    seconds = time.perf_counter() - started
    m = re.search(r"errors: (\d+), replies: (\d+)", out)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"redis-cli --pipe into {server.name} failed: {out.strip()}")
    return seconds, int(m.group(1))


def batched(make, n, batch=10000):
    for start in range(0, n, batch):
        yield b"".join(make(i) for i in range(start, min(n, start + batch)))


def bench_key(i):
    """The key redis-benchmark's __rand_int__ produces for i (12 zero-padded digits)."""
    return b"key:%012d" % i


def preload_strings(server, n, size):
    value = b"x" * size
    return pipe(server, batched(lambda i: encode(b"SET", bench_key(i), value), n))


def preload_zset(server, key, n, member_format):
    return pipe(server, batched(lambda i: encode(b"ZADD", key, i % 997 + i / 1000.0, member_format % i), n))


def preload_list(server, key, n):
    """`n` elements "xxx" (redis-benchmark's own) in the list `key`, 100 per RPUSH."""
    return pipe(server, batched(lambda i: encode(b"RPUSH", key, *([b"xxx"] * min(100, n - i * 100))),
                                (n + 99) // 100))


# MARK: - Reply check

def check_replies(servers):
    requests = [
        ["PING"], ["SET", "key:000000000001", "xxx"], ["GET", "key:000000000001"], ["GET", "key:missing"],
        ["SET", "key:000000000002", "x" * 4096], ["GET", "key:000000000002"],
        ["INCR", "counter:000000000001"], ["INCR", "counter:000000000001"],
        ["MSET"] + sum([[f"key:{i:012d}", "xxx"] for i in range(10)], []),
        ["MGET"] + [f"key:{i:012d}" for i in range(12)],
        ["ZADD", "myzset", "0", "element:000000000001"], ["ZADD", "myzset", "0", "element:000000000001"],
        ["ZADD", "zs", "1.5", "member:000000000001", "2", "member:000000000002", "-3", "member:000000000003"],
        ["ZSCORE", "zs", "member:000000000001"], ["ZSCORE", "zs", "member:000000000003"],
        ["ZSCORE", "zs", "member:nope"], ["ZRANGE", "zs", "0", "9", "WITHSCORES"],
        ["ZRANGE", "zs", "0", "9"], ["SET", "k", "v", "EX", "3600"], ["TTL", "k"],
        ["DBSIZE"], ["GET", "zs"], ["INCR", "key:000000000002"], ["DEL", "k", "zs"], ["DBSIZE"],
        ["LPUSH", "mylist", "xxx"], ["RPUSH", "mylist", "xxx", "12345", ""], ["LRANGE", "mylist", "0", "99"],
        ["LPOP", "mylist"], ["RPOP", "mylist"], ["LPOP", "nolist"], ["DEL", "mylist"],
    ]
    mismatches, inline = [], {}
    conns = {s.name: s.conn() for s in servers}
    for s in servers:
        conns[s.name].call("FLUSHALL")
    for req in requests:
        replies = {name: c.call_raw(*req) for name, c in conns.items()}
        if len(set(replies.values())) != 1:
            mismatches.append((" ".join(a if len(a) < 40 else a[:20] + "..." for a in req), replies))
    for s in servers:  # PING_INLINE is sent inline by redis-benchmark
        c = conns[s.name]
        c.sock.sendall(b"PING\r\n")
        inline[s.name] = c.read_raw()
        c.call("FLUSHALL")
        c.close()
    if len(set(inline.values())) != 1:
        mismatches.append(("PING (inline)", inline))
    return len(requests) + 1, mismatches


# MARK: - redis-benchmark

class Workload:
    def __init__(self, name, args, pipeline, requests, clients=50, keyspace=100000, preload=None):
        self.name, self.args, self.pipeline = name, args, pipeline
        self.requests, self.clients, self.keyspace, self.preload = requests, clients, keyspace, preload


def workloads(opts):
    n1, n16 = opts.requests_p1, opts.requests_p16
    zscore = ("ZSCORE zset of 100,000", lambda s: preload_zset(s, b"zs", 100000, b"member:%012d"))
    zrange = ("ZRANGE zset of 1,000", lambda s: preload_zset(s, b"zr", 1000, b"member:%d"))
    gets = lambda size: (f"100,000 keys of {size} B", lambda s: preload_strings(s, 100000, size))
    # The pops drain what every round pops; LRANGE reads the first 100 / 600 of 1,000 elements.
    lists = lambda n: (f"a list of {n:,} elements", lambda s: preload_list(s, b"mylist", n))
    out = []
    for p, n in ((1, n1), (16, n16)):
        out += [
            Workload("PING_INLINE", ["-t", "ping_inline"], p, n),
            Workload("SET", ["-t", "set"], p, n),
            Workload("GET", ["-t", "get"], p, n, preload=gets(3)),
            Workload("INCR", ["-t", "incr"], p, n),
            Workload("MSET (10 keys)", ["-t", "mset"], p, n // 4),
            Workload("ZADD", ["-t", "zadd"], p, n // 2),
            Workload("ZSCORE", ["ZSCORE", "zs", "member:__rand_int__"], p, n, preload=zscore),
            Workload("ZRANGE 0 9 WITHSCORES", ["ZRANGE", "zr", "0", "9", "WITHSCORES"], p, n // 2, preload=zrange),
            Workload("LPUSH", ["-t", "lpush"], p, n),
            Workload("RPUSH", ["-t", "rpush"], p, n),
            Workload("LPOP", ["-t", "lpop"], p, n, preload=lists(n * opts.rounds)),
            Workload("RPOP", ["-t", "rpop"], p, n, preload=lists(n * opts.rounds)),
            Workload("LRANGE_100", ["LRANGE", "mylist", "0", "99"], p, n // 4, preload=lists(1000)),
            Workload("LRANGE_600", ["LRANGE", "mylist", "0", "599"], p, n // 10, preload=lists(1000)),
        ]
    out += [
        Workload("SET 4 KB", ["-t", "set", "-d", "4096"], 1, n1 // 2),
        Workload("GET 4 KB", ["-t", "get", "-d", "4096"], 1, n1 // 2, preload=gets(4096)),
        Workload("SET, 1000 clients", ["-t", "set"], 1, n1, clients=1000),
        Workload("GET, 1000 clients", ["-t", "get"], 1, n1, clients=1000, preload=gets(3)),
    ]
    return out


def redis_benchmark(server, w):
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-c", str(w.clients),
            "-n", str(w.requests), "-r", str(w.keyspace), "-P", str(w.pipeline), "--csv"] + w.args
    before = server.cpu()
    started = time.perf_counter()
    out = subprocess.run(pinned(CLIENT_CPU, argv), capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = server.cpu()
    rows = [line for line in out.stdout.splitlines() if line.startswith('"') and not line.startswith('"test"')]
    if out.returncode != 0 or not rows:
        raise RuntimeError(f"redis-benchmark against {server.name} failed: {out.stdout}{out.stderr}")
    cols = [c.strip('"') for c in rows[0].split('","')]
    hz = os.sysconf("SC_CLK_TCK")
    return {
        "rps": float(cols[1]), "p50": float(cols[4]), "p99": float(cols[6]), "wall": wall,
        "cpu_ns": (after[0] - before[0]) / w.requests,
        "user_share": (after[1] - before[1]) / max(1, (after[1] - before[1]) + (after[2] - before[2])),
        "ticks": (after[1] - before[1]) + (after[2] - before[2]), "hz": hz,
    }


def run_throughput(servers, opts, results):
    by_name = {s.name: s for s in servers}
    table = []
    for w in workloads(opts):
        for s in servers:
            s.conn().call("FLUSHALL")
        note = ""
        if w.preload:
            note = w.preload[0]
            for s in servers:
                seconds, errors = w.preload[1](s)
                if errors:
                    raise RuntimeError(f"preload of {w.name} into {s.name}: {errors} errors")
        runs = {NT: [], RD: []}
        for r in range(opts.rounds):
            for name in (NT, RD):
                runs[name].append(redis_benchmark(by_name[name], w))
        med = lambda name, k: statistics.median(x[k] for x in runs[name])
        row = {"name": w.name, "pipeline": w.pipeline, "clients": w.clients, "requests": w.requests,
               "preload": note, "runs": runs}
        for k in ("rps", "p50", "p99", "cpu_ns", "user_share"):
            row[k] = {NT: med(NT, k), RD: med(RD, k)}
        table.append(row)
        log(f"{w.name:24} -P {w.pipeline:<2} -c {w.clients:<4} needletail {row['rps'][NT]:>10.0f}  "
            f"redis {row['rps'][RD]:>10.0f}  ratio {row['rps'][NT] / row['rps'][RD]:.2f}  "
            f"cpu/op {row['cpu_ns'][NT]:.0f} / {row['cpu_ns'][RD]:.0f} ns   (load {loadavg()})")
    results["throughput"] = table
    for s in servers:
        s.conn().call("FLUSHALL")


# MARK: - Instructions per operation (callgrind)

def run_callgrind(opts, tmp, results):
    """Each server runs under callgrind; counters are zeroed (callgrind_control -z) after start-up and the
    preload, and dumped (-d) after each measured redis-benchmark run, so start-up is excluded."""
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        results["callgrind"] = {"skipped": "valgrind not installed"}
        return
    n = opts.callgrind_requests
    phases = [("SET", ["-t", "set"], n), ("GET", ["-t", "get"], n), ("SET+GET", ["-t", "set,get"], 2 * n),
              ("ZSCORE", ["ZSCORE", "zs", "member:__rand_int__"], n),
              ("ZRANGE 0 9 WITHSCORES", ["ZRANGE", "zr", "0", "9", "WITHSCORES"], n),
              # In this order: LPUSH fills mylist, LRANGE reads its head, RPOP empties it.
              ("LPUSH", ["-t", "lpush"], n), ("LRANGE 0 99", ["LRANGE", "mylist", "0", "99"], n),
              ("RPOP", ["-t", "rpop"], n)]
    out = {"requests": n, "phases": {}, "profiles": {}}
    for which in (NT, RD):
        base = os.path.join(tmp, f"callgrind.{which}")
        s = start(which, opts, tmp, ready_timeout=180,
                  under=["valgrind", "--tool=callgrind", f"--callgrind-out-file={base}.%p"])
        try:
            preload_strings(s, 100000, 3)
            preload_zset(s, b"zs", 100000, b"member:%012d")
            preload_zset(s, b"zr", 1000, b"member:%d")
            for phase, args, requests in phases:
                ctl(["-z", str(s.pid)])
                argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(s.port), "-c", "10", "-n", str(n),
                        "-r", "100000", "-P", "16", "-q"] + args
                subprocess.run(pinned(CLIENT_CPU, argv), capture_output=True, check=True, timeout=900)
                before = set(glob.glob(base + ".*"))
                ctl(["-d", phase, str(s.pid)])
                dump = wait_for_new_file(base + ".*", before)
                ir = total_ir(dump)
                out["phases"].setdefault(phase, {})[which] = ir / requests
                if phase in ("SET+GET", "ZRANGE 0 9 WITHSCORES"):
                    out["profiles"].setdefault(phase, {})[which] = self_profile(dump, opts.profile_lines)
                log(f"callgrind {which:10} {phase:8} {ir / requests:10.0f} Ir/op")
        finally:
            s.stop()
    results["callgrind"] = out


def ctl(args):
    subprocess.run(["callgrind_control"] + args, capture_output=True, check=True, timeout=120)


def wait_for_new_file(pattern, before, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = sorted(set(glob.glob(pattern)) - before, key=os.path.getmtime)
        if new:
            time.sleep(0.5)  # the dump is written in one go; let it finish
            return new[-1]
        time.sleep(0.1)
    raise RuntimeError(f"no callgrind dump appeared for {pattern}")


def total_ir(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def self_profile(path, lines):
    """The top functions by self (exclusive) Ir, demangled. callgrind_annotate lists a function once per source
    file its inlined code came from; those entries are summed here."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    totals, objects = {}, {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)", line)
        # Frames still on the stack when the counters were zeroed (main, the loop's caller) show the whole
        # total as their own cost: skip them.
        if not m or m.group(3).startswith("PROGRAM TOTALS") or float(m.group(2)) >= 99.5:
            continue
        where = re.match(r"(.*?):(.*?)( \[(.*)\])?$", m.group(3))
        name = where.group(2) if where else m.group(3)
        totals[name] = totals.get(name, 0) + int(m.group(1).replace(",", ""))
        if where and where.group(4):
            objects.setdefault(name, os.path.basename(where.group(4)))
    total = total_ir(path)
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:lines]
    names = [n for n, _ in top]
    if shutil.which("swift") and names:
        dem = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names) + "\n",
                             capture_output=True, text=True)
        if dem.returncode == 0 and len(dem.stdout.splitlines()) == len(names):
            names = dem.stdout.splitlines()
    return [[ir, 100.0 * ir / total, f"{name} ({objects.get(raw, '?')})"]
            for (raw, ir), name in zip(top, names)]


# MARK: - Memory

def run_memory(opts, tmp, results):
    n = opts.memory_keys
    datasets = [
        ("strings", f"{n:,} keys `SET key:N value:N` (redis-cli --pipe)",
         lambda s: pipe(s, batched(lambda i: encode(b"SET", b"key:%d" % i, b"value:%d" % i), n)), "DBSIZE", n),
        ("ttl", f"{n:,} keys `SET key:N value:N EX 3600`",
         lambda s: pipe(s, batched(lambda i: encode(b"SET", b"key:%d" % i, b"value:%d" % i, b"EX", b"3600"), n)),
         "DBSIZE", n),
        ("zset", f"one sorted set of {n:,} members `ZADD zs <score> member:N`",
         lambda s: preload_zset(s, b"zs", n, b"member:%d"), "ZCARD zs", n),
        ("populate", f"`DEBUG POPULATE {n}` (keys key:N, values value:N)",
         lambda s: populate(s, n), "DBSIZE", n),
    ]
    table = []
    for key, label, load, count_cmd, expected in datasets:
        row = {"key": key, "label": label}
        for which in (NT, RD):
            s = start(which, opts, tmp)
            try:
                time.sleep(0.3)
                empty = s.rss_bytes()
                seconds, errors = load(s)
                got = s.conn().call(*count_cmd.split())
                if errors or got != expected:
                    raise RuntimeError(f"{which} {key}: {errors} errors, {count_cmd} = {got}, expected {expected}")
                time.sleep(0.5)
                loaded = s.rss_bytes()
                row[which] = {"empty": empty, "loaded": loaded, "per_key": (loaded - empty) / n, "seconds": seconds}
            finally:
                s.stop()
        log(f"memory {key:9} needletail {row[NT]['per_key']:.1f} B/key  redis {row[RD]['per_key']:.1f} B/key  "
            f"ratio {row[NT]['per_key'] / row[RD]['per_key']:.2f}")
        table.append(row)
    results["memory"] = {"keys": n, "table": table}


def populate(server, n):
    started = time.perf_counter()
    reply = server.conn(timeout=600).call("DEBUG", "POPULATE", str(n))
    return time.perf_counter() - started, 0 if reply == "OK" else 1


# MARK: - Start-up

def run_startup(opts, tmp, results):
    samples = {NT: [], RD: []}
    for _ in range(opts.startup_rounds):
        for which in (NT, RD):
            s = start(which, opts, tmp)
            try:
                time.sleep(0.5)
                samples[which].append((s.startup_seconds, s.rss_bytes()))
            finally:
                s.stop()
    results["startup"] = {w: {"ms": statistics.median(x[0] for x in v) * 1000,
                              "rss": statistics.median(x[1] for x in v)} for w, v in samples.items()}
    log("startup", json.dumps(results["startup"]))


# MARK: - Report

def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {"nproc": os.cpu_count(), "cpu": model, "mem_mb": mem, "kernel": platform.release()}


def versions(opts):
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    return {
        "redis": first_line([opts.redis_server, "--version"]),
        "benchmark": first_line(["redis-benchmark", "--version"]),
        "needletail": opts.source or "unknown source",
        "swift": first_line(["swift", "--version"]),
        "valgrind": first_line(["valgrind", "--version"]),
    }


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


def fmt_bytes(b):
    return f"{b / 1048576:.1f} MB"


def write_report(path, opts, results):
    r = results
    m, v = r["machine"], r["versions"]
    out = ["# Needletail vs redis-server: side-by-side benchmark", ""]
    out.append(f"Written by `bench/run.sh{' --quick' if opts.quick else ''}` on {r['date']}; "
               f"{opts.rounds} round(s) per workload in alternation (needletail, redis, needletail, ...), medians. "
               "Ratios are needletail / redis-server: above 1 is better for throughput, below 1 is better for "
               "CPU, instructions, latency and memory.")
    out += ["", "## Machine", "",
            f"- {m['nproc']} cores ({m['cpu']}), {m['mem_mb']:,} MB RAM, Linux {m['kernel']}",
            f"- pinning: {'servers on core 1, redis-benchmark and redis-cli on core 0 (taskset)' if HAS_TASKSET else 'none (taskset unavailable)'}",
            f"- load average (1/5/15 min) at start: {r['load_start']}; at end: {r['load_end']}. "
            "The machine is shared with other engineers' builds and tests, so absolute numbers are noisy; "
            "ratios come from runs interleaved in time.",
            f"- needletail: {v['needletail']} ({v['swift']}, `-c release`)",
            f"- {v['redis']}; {v['benchmark']}; {v['valgrind']}",
            f"- duration: {r['duration_s'] / 60:.1f} minutes", ""]

    if "check" in r:
        c = r["check"]
        out += ["## Reply check", ""]
        if c["mismatches"]:
            out.append(f"**{len(c['mismatches'])} of {c['requests']} replies differ:**")
            out.append("")
            for req, replies in c["mismatches"]:
                out.append(f"- `{req}`: " + "; ".join(f"{k} `{val[:80]!r}`" for k, val in replies.items()))
        else:
            out.append(f"All {c['requests']} requests (the workloads' commands: SET/GET/INCR/MSET/MGET/ZADD/ZSCORE/"
                       "ZRANGE/LPUSH/RPUSH/LRANGE/LPOP/RPOP, inline PING, errors) got byte-identical replies from both servers before timing.")
        out.append("")

    if "throughput" in r:
        rows = r["throughput"]
        out += ["## Throughput (requests/s, redis-benchmark, `-r 100000`)", "",
                "| Workload | -P | clients | requests | needletail | redis | ratio |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for row in rows:
            out.append(f"| {row['name']} | {row['pipeline']} | {row['clients']} | {row['requests']:,} | "
                       f"{row['rps'][NT]:,.0f} | {row['rps'][RD]:,.0f} | **{ratio(row['rps'][NT], row['rps'][RD])}** |")
        out += ["", "Preloaded before the runs: GET workloads read 100,000 existing keys (`key:<12 digits>`, values "
                "of the workload's size); ZSCORE reads a sorted set of 100,000 members, ZRANGE one of 1,000; their scores "
                "are `N % 997 + N / 1000`, mostly not integers, so replies print them as `%.17g` does. redis-benchmark's "
                "own ZADD adds members with score 0. LPOP and RPOP pop from a list of \"xxx\" holding what all the rounds "
                "pop; LRANGE_100 and LRANGE_600 (`LRANGE mylist 0 99` / `0 599`, as redis-benchmark's own) read a list of "
                "1,000.", ""]
        out += ["## Server CPU time per operation", "",
                "Time on CPU of the server process (sum of /proc/PID/task/*/schedstat, all threads, user and "
                "kernel) over each run, divided by the requests. At -P 1 most of it is the kernel's: a read, a write "
                "and epoll work per request.", "",
                "| Workload | -P | needletail ns/op | redis ns/op | ratio |",
                "|---|---:|---:|---:|---:|"]
        for row in rows:
            out.append(f"| {row['name']} | {row['pipeline']} | {row['cpu_ns'][NT]:,.0f} | {row['cpu_ns'][RD]:,.0f} | "
                       f"**{ratio(row['cpu_ns'][NT], row['cpu_ns'][RD])}** |")
        out += ["", "## Latency at -P 1 (ms, redis-benchmark's percentiles)", "",
                "| Workload | clients | needletail p50 | redis p50 | ratio | needletail p99 | redis p99 | ratio |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in rows:
            if row["pipeline"] != 1:
                continue
            out.append(f"| {row['name']} | {row['clients']} | {row['p50'][NT]:.3f} | {row['p50'][RD]:.3f} | "
                       f"{ratio(row['p50'][NT], row['p50'][RD])} | {row['p99'][NT]:.3f} | {row['p99'][RD]:.3f} | "
                       f"**{ratio(row['p99'][NT], row['p99'][RD])}** |")
        out.append("")

    if "callgrind" in r:
        cg = r["callgrind"]
        out += ["## Instructions per operation (valgrind callgrind)", ""]
        if "skipped" in cg:
            out += [f"Skipped: {cg['skipped']}.", ""]
        else:
            out += [f"Each server runs under `valgrind --tool=callgrind`; after it answers PING and 100,000 keys are "
                    f"loaded, `callgrind_control -z` zeroes the counters, one redis-benchmark run "
                    f"(`-c 10 -P 16 -r 100000 -n {cg['requests']:,}`) follows, and `callgrind_control -d` dumps them: "
                    "start-up and loading are excluded. Total user-space instructions (Ir) of the server process, all "
                    "threads, divided by the requests. Kernel work (syscalls) is not counted.", "",
                    "| Operation | needletail Ir/op | redis Ir/op | ratio |", "|---|---:|---:|---:|"]
            for phase, vals in cg["phases"].items():
                out.append(f"| {phase} | {vals[NT]:,.0f} | {vals[RD]:,.0f} | **{ratio(vals[NT], vals[RD])}** |")
            out.append("")
            for phase, profiles in cg["profiles"].items():
                for which in (NT, RD):
                    out += [f"### Top functions by self cost: {which}, {phase} -P 16", "",
                            "| Ir | % | function (object) |", "|---:|---:|---|"]
                    for ir, pct, fn in profiles.get(which, []):
                        # Debian's redis-server is a link to redis-check-rdb (one binary, two names).
                        fn = fn.replace("|", "\\|").replace("(redis-check-rdb)", "(redis-server)")
                        out.append(f"| {ir:,} | {pct:.1f} | `{fn[:160]}` |")
                    out.append("")

    if "memory" in r:
        mem = r["memory"]
        out += [f"## Memory (RSS above the empty server, {mem['keys']:,} entries)", "",
                "Each server is started fresh, its RSS read (VmRSS) when idle, the data loaded, RSS read again.", "",
                "| Data | needletail B/entry | redis B/entry | ratio | needletail RSS | redis RSS | load s (nt / redis) |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for row in mem["table"]:
            out.append(f"| {row['label']} | {row[NT]['per_key']:.1f} | {row[RD]['per_key']:.1f} | "
                       f"**{ratio(row[NT]['per_key'], row[RD]['per_key'])}** | {fmt_bytes(row[NT]['loaded'])} | "
                       f"{fmt_bytes(row[RD]['loaded'])} | {row[NT]['seconds']:.2f} / {row[RD]['seconds']:.2f} |")
        out.append("")

    if "startup" in r:
        st = r["startup"]
        out += ["## Start-up", "",
                f"From spawning the process until it answers PING (median of {opts.startup_rounds}); idle RSS 0.5 s "
                "later.", "", "| | needletail | redis | ratio |", "|---|---:|---:|---:|",
                f"| start-up (ms) | {st[NT]['ms']:.1f} | {st[RD]['ms']:.1f} | {ratio(st[NT]['ms'], st[RD]['ms'])} |",
                f"| idle RSS | {fmt_bytes(st[NT]['rss'])} | {fmt_bytes(st[RD]['rss'])} | "
                f"{ratio(st[NT]['rss'], st[RD]['rss'])} |", ""]

    if "throughput" in r:
        out += ["## Every run (requests/s per round)", "", "| Workload | -P | clients | needletail | redis |",
                "|---|---:|---:|---|---|"]
        for row in r["throughput"]:
            runs = lambda name: ", ".join(f"{x['rps']:,.0f}" for x in row["runs"][name])
            out.append(f"| {row['name']} | {row['pipeline']} | {row['clients']} | {runs(NT)} | {runs(RD)} |")
        out.append("")

    with open(path, "w") as f:
        f.write("\n".join(out))


# MARK: - Main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--needletail", required=True, help="the needletail-server binary")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--quick", action="store_true", help="a 2-minute smoke run (1 round, fewer requests and keys)")
    ap.add_argument("--rounds", type=int, help="alternating rounds per workload (default 3, quick 1)")
    ap.add_argument("--only", default="check,throughput,callgrind,memory,startup",
                    help="comma-separated sections to run")
    ap.add_argument("--out", help="report path (default bench/RESULTS.md; quick: /tmp/needletail-bench-quick.md)")
    ap.add_argument("--report-from", metavar="JSON",
                    help="rewrite the report from a kept run's results.json instead of measuring")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, callgrind dumps)")
    ap.add_argument("--no-build", action="store_true", help="(run.sh) use the binary already built")
    ap.add_argument("--source", default="", help="(run.sh) what was built: commit, worktree state")
    opts = ap.parse_args()
    q = opts.quick
    opts.rounds = opts.rounds or (1 if q else 3)
    opts.requests_p1 = 20000 if q else 200000
    opts.requests_p16 = 100000 if q else 1000000
    opts.callgrind_requests = 2000 if q else 20000
    opts.memory_keys = 100000 if q else 1000000
    opts.startup_rounds = 2 if q else 5
    opts.profile_lines = 15
    opts.out = opts.out or (os.path.join(tempfile.gettempdir(), "needletail-bench-quick.md") if q
                          else os.path.join(ROOT, "bench", "RESULTS.md"))
    opts.needletail = os.path.abspath(opts.needletail)
    sections = set(opts.only.split(","))
    if opts.report_from:
        with open(opts.report_from) as f:
            results = json.load(f)
        opts.rounds = results.get("settings", {}).get("rounds", opts.rounds)
        opts.startup_rounds = results.get("settings", {}).get("startup_rounds", opts.startup_rounds)
        write_report(opts.out, opts, results)
        log(f"wrote {opts.out} from {opts.report_from}")
        return

    tmp = tempfile.mkdtemp(prefix="needletail-bench-")
    results = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(), "versions": versions(opts),
               "load_start": loadavg(), "settings": {"rounds": opts.rounds, "startup_rounds": opts.startup_rounds}}
    started = time.time()
    log(f"temporary directory {tmp}; load average {results['load_start']}; taskset: {HAS_TASKSET}")
    try:
        if sections & {"check", "throughput"}:
            servers = [start(NT, opts, tmp), start(RD, opts, tmp)]
            try:
                if "check" in sections:
                    count, mismatches = check_replies(servers)
                    results["check"] = {"requests": count, "mismatches": mismatches}
                    if mismatches:
                        for req, replies in mismatches:
                            log(f"REPLY MISMATCH {req}: {replies}")
                    else:
                        log(f"reply check: {count} requests, identical replies")
                if "throughput" in sections:
                    run_throughput(servers, opts, results)
            finally:
                for s in servers:
                    s.stop()
        if "callgrind" in sections:
            run_callgrind(opts, tmp, results)
        if "memory" in sections:
            run_memory(opts, tmp, results)
        if "startup" in sections:
            run_startup(opts, tmp, results)
    finally:
        results["load_end"] = loadavg()
        results["duration_s"] = time.time() - started
        with open(os.path.join(tmp, "results.json"), "w") as f:
            json.dump(results, f, indent=1, default=repr)
        write_report(opts.out, opts, results)
        log(f"wrote {opts.out} in {results['duration_s'] / 60:.1f} minutes")
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")


if __name__ == "__main__":
    main()
