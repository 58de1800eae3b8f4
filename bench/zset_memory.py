#!/usr/bin/env python3
"""Memory of small sorted sets, needletail against redis-server: RSS above an empty server.

    bench/zset_memory.py NEEDLETAIL_BINARY [--shapes int,float,long] [--sets 100000] [--members 10]

Each row is SETS sorted sets of MEMBERS members, one ZADD each (`ZADD z:K score member:N ...`), all small
enough for the compact encoding ("listpack" in both servers). Score shapes: `int` (N, an integer: Redis
stores it as a listpack integer, needletail in 1-4 bytes), `float` (N + 0.5: a double in needletail, text
in Redis), `long` (integer scores and 40-byte members `member:N` padded with `x`). Each server starts empty
(`--save '' --appendonly no`), its RSS is read from /proc, the data is loaded with `redis-cli --pipe`, and the
RSS read again a second later. Standard library only.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import encode, rss_above_empty  # noqa: E402


def pair(shape, n):
    member = b"member:%d" % n
    if shape == "long":
        member = member.ljust(40, b"x")
    score = b"%d.5" % n if shape == "float" else b"%d" % n
    return [score, member]


def load(shape, sets, members):
    for k in range(sets):
        args = [b"ZADD", b"z:%d" % k]
        for i in range(members):
            args += pair(shape, k * members + i)
        yield encode(*args)


def encoding(cli):
    return subprocess.run(cli + ["object", "encoding", "z:0"], capture_output=True).stdout.strip().decode()


def measure(binary, shape, sets, members):
    return rss_above_empty(binary, load(shape, sets, members), encoding)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("needletail")
    parser.add_argument("--redis", default="redis-server")
    parser.add_argument("--shapes", default="int,float,long")
    parser.add_argument("--sets", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=10)
    args = parser.parse_args()
    print("| Row | encoding | needletail | redis-server | ratio |")
    print("|---|---|---:|---:|---:|")
    for shape in args.shapes.split(","):
        ours, encoding = measure(args.needletail, shape, args.sets, args.members)
        theirs, theirs_encoding = measure(args.redis, shape, args.sets, args.members)
        if encoding != theirs_encoding:
            encoding += " (redis-server: %s)" % theirs_encoding
        print("| %d sorted sets of %d, %s | %s | %.0f B/set | %.0f B/set | **%.2f** |"
              % (args.sets, args.members, shape, encoding, ours / args.sets, theirs / args.sets,
                 ours / max(1, theirs)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
