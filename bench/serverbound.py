#!/usr/bin/env python3
"""Side by side where the server, not redis-benchmark, sets the pace (issue 11's -P 16 ratios).

    sudo python3 bench/serverbound.py NEEDLETAIL_BINARY [--rounds 3] [--tests lpush,sadd,...] [--quota 40]
                                      [--client-threads 1] [--requests 1000000]

On a 2-core host one redis-benchmark thread serves about as fast as either server, so plain runs compare the
load generator with itself. Here each server runs in a cgroup-v1 `cpu` group limited to --quota percent of a
core (10 ms periods), pinned to core 1, with redis-benchmark (-P 16, 50 clients, 1 M requests) on core 0.
LRANGE_N runs alone (`LRANGE mylist 0 N-1`, a tenth of the requests) on a list filled first, as the suite's
LPUSH fills it. Prints, per test, the medians of req/s and of server CPU per request (the threads' schedstat,
to the nanosecond) and their ratios, needletail / redis-server, and the user-space part of each CPU figure
(/proc ticks, coarse). Needs root (the cgroup) and /sys/fs/cgroup/cpu; busy polling is off under a quota.

Within each quota period the server still waits for the client once it has drained the backlog (a faster
server more often: bench/FINDINGS.md, "Fifth look"). --client-threads 2 lets redis-benchmark use both cores,
and then the client outruns the server within its bursts too: the run is server-bound (redis-server's req/s is
its quota over its CPU per request), which is the measurement of a server's own rate this 2-core host allows
(FINDINGS, "Sixth look"). redis-benchmark with threads reports req/s in steps of 250 ms of run length, so use
--requests 8000000 there. --quota 0 runs the servers without a cgroup (busy polling on, client-bound).
"""
import argparse, os, re, socket, statistics, subprocess, time

GROUP = "/sys/fs/cgroup/cpu/needletail-serverbound"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_times(pid):
    """(CPU time, user time) in seconds: the first to the nanosecond (the threads' schedstat), the second in
    clock ticks (/proc/PID/stat's utime, for the user-space share)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return total / 1e9, int(fields[11]) / os.sysconf("SC_CLK_TCK")


def run(binary, test, requests, client_threads, quota):
    port = free_port()
    join = f"echo $$ > {GROUP}/cgroup.procs; " if quota > 0 else ""
    server = subprocess.Popen(
        ["sh", "-c", f'{join}exec taskset -c 1 "$0" --port {port} --bind 127.0.0.1 '
                     f"--save '' --appendonly no", binary],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout == b"PONG\n":
                break
            time.sleep(0.05)
        bench = (["taskset", "-c", "0"] if client_threads == 1 else []) + [
            "redis-benchmark", "-p", str(port), "-P", "16", "-q", "--threads", str(client_threads)]
        if test.startswith("lrange_"):
            # The suite's LRANGE_N reads the first N of `mylist`, which its LPUSH test filled: filled first
            # here, so only the LRANGE requests are measured.
            subprocess.run(bench + ["-t", "lpush", "-n", "1000"], capture_output=True)
            # (A tenth of the requests: each costs 10-60 times a GET.)
            requests //= 10
            command = ["-n", str(requests), "lrange", "mylist", "0", str(int(test[7:]) - 1)]
        else:
            command = ["-t", test, "-n", str(requests)]
        before = cpu_times(server.pid)
        out = subprocess.run(bench + command, capture_output=True, text=True).stdout
        after = cpu_times(server.pid)
        cpu, user = ((a - b) / requests * 1e6 for a, b in zip(after, before))
        rates = re.findall(r"([\d.]+) requests per second", out.replace("\r", "\n"))
        return float(rates[-1]), cpu, user
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("needletail")
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quota", type=int, default=40,
                    help="percent of one core; 0: no cgroup (the server alone on core 1, busy polling on)")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--client-threads", type=int, default=1,
                    help="redis-benchmark threads; above 1 it may run on both cores")
    ap.add_argument("--tests", default="lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,get,set,"
                                       "lrange_100,lrange_300,lrange_500,lrange_600")
    opts = ap.parse_args()
    if opts.quota > 0:
        os.makedirs(GROUP, exist_ok=True)
        with open(f"{GROUP}/cpu.cfs_period_us", "w") as f:
            f.write("10000")
        with open(f"{GROUP}/cpu.cfs_quota_us", "w") as f:
            f.write(str(opts.quota * 100))
    servers = [opts.needletail, opts.redis_server]
    results = {}
    try:
        for r in range(opts.rounds):
            for test in opts.tests.split(","):
                for binary in (servers if r % 2 == 0 else servers[::-1]):
                    results.setdefault((test, binary), []).append(
                        run(binary, test, opts.requests, opts.client_threads, opts.quota))
    finally:
        if opts.quota > 0:
            os.rmdir(GROUP)
    for test in opts.tests.split(","):
        (nr, nc, nu), (rr, rc, ru) = [tuple(statistics.median(x[i] for x in results[(test, b)]) for i in (0, 1, 2))
                                      for b in servers]
        print(f"{test:11} req/s {nr:>10,.0f} / {rr:>10,.0f} = {nr / rr:.2f}x   "
              f"CPU per request {nc:.3f} / {rc:.3f} us = {nc / rc:.2f}x   (user {nu:.3f} / {ru:.3f})")


if __name__ == "__main__":
    main()
