#!/usr/bin/env python3
"""Side by side where the server, not redis-benchmark, sets the pace (issue 11's -P 16 ratios).

    sudo python3 bench/serverbound.py NEEDLETAIL_BINARY [--rounds 3] [--tests lpush,sadd,...] [--quota 40]

On a 2-core host one redis-benchmark thread serves about as fast as either server, so plain runs compare the
load generator with itself. Here each server runs in a cgroup-v1 `cpu` group limited to --quota percent of a
core (10 ms periods), pinned to core 1, with redis-benchmark (-P 16, 50 clients, 1 M requests) on core 0.
Prints, per test, the medians of req/s and of server CPU per request (/proc utime+stime) and their ratios,
needletail / redis-server. Needs root (the cgroup) and /sys/fs/cgroup/cpu; busy polling is off under a quota.
"""
import argparse, os, re, socket, statistics, subprocess, time

GROUP = "/sys/fs/cgroup/cpu/needletail-serverbound"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def run(binary, test, requests):
    port = free_port()
    server = subprocess.Popen(
        ["sh", "-c", f'echo $$ > {GROUP}/cgroup.procs; exec taskset -c 1 "$0" --port {port} --bind 127.0.0.1 '
                     f"--save '' --appendonly no", binary],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout == b"PONG\n":
                break
            time.sleep(0.05)
        before = cpu_ticks(server.pid)
        out = subprocess.run(["taskset", "-c", "0", "redis-benchmark", "-p", str(port), "-t", test, "-P", "16",
                              "-n", str(requests), "-q"], capture_output=True, text=True).stdout
        used = (cpu_ticks(server.pid) - before) / os.sysconf("SC_CLK_TCK")
        rates = re.findall(r"([\d.]+) requests per second", out.replace("\r", "\n"))
        return float(rates[-1]), used / requests * 1e6
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("needletail")
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quota", type=int, default=40, help="percent of one core")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--tests", default="lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,get,set")
    opts = ap.parse_args()
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
                    results.setdefault((test, binary), []).append(run(binary, test, opts.requests))
    finally:
        os.rmdir(GROUP)
    for test in opts.tests.split(","):
        (nr, nc), (rr, rc) = [tuple(statistics.median(x[i] for x in results[(test, b)]) for i in (0, 1)) for b in servers]
        print(f"{test:8} req/s {nr:>10,.0f} / {rr:>10,.0f} = {nr / rr:.2f}x   "
              f"CPU per request {nc:.3f} / {rc:.3f} us = {nc / rc:.2f}x")


if __name__ == "__main__":
    main()
