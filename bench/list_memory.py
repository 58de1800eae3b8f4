#!/usr/bin/env python3
"""Memory of lists, needletail against redis-server: RSS above an empty server (issue 11's list rows).

    bench/list_memory.py NEEDLETAIL_BINARY [--shapes xxx,int,str10,mixed,hex10] [--rows big,many]

Rows: `big` is one list of 10,000,000 elements (RPUSH, 1,000 per command), `many` 100,000 lists of 50
elements (one RPUSH each). Element shapes: `xxx` (redis-benchmark's 3-byte value), `int` (the integers of
the element's index), `str10` ("v:%08d", 10 bytes), `mixed` (("e%d" % i) repeated 1 to 3 times, 2 to 24
bytes), `hex10` (10 hex digits of a hash of the index: elements that share no prefix, where a node's
stored prefix cannot help). Each server starts empty (`--save '' --appendonly no`), its RSS is read from
/proc, the data is loaded with `redis-cli --pipe`, and the RSS read again a second later. Standard library
only.
"""
import argparse
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import rss_above_empty  # noqa: E402


def element(shape, i):
    if shape == "xxx":
        return b"xxx"
    if shape == "int":
        return b"%d" % i
    if shape == "str10":
        return b"v:%08d" % (i % 100_000_000)
    if shape == "mixed":
        return (b"e%d" % i) * (1 + i % 3)
    if shape == "hex10":
        return hashlib.blake2b(b"%d" % i, digest_size=5).hexdigest().encode()
    raise SystemExit("unknown shape " + shape)


def command(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def load(row, shape):
    if row == "big":
        for start in range(0, 10_000_000, 1000):
            yield command([b"RPUSH", b"biglist"] + [element(shape, i) for i in range(start, start + 1000)])
    else:
        for k in range(100_000):
            yield command([b"RPUSH", b"list:%d" % k] + [element(shape, k * 50 + i) for i in range(50)])


def measure(binary, row, shape):
    return rss_above_empty(binary, load(row, shape))[0] // 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("needletail")
    parser.add_argument("--redis", default="redis-server")
    parser.add_argument("--shapes", default="xxx,int,str10,mixed,hex10")
    parser.add_argument("--rows", default="big,many")
    args = parser.parse_args()
    print("| Row | Elements | needletail | redis-server | ratio |")
    print("|---|---|---:|---:|---:|")
    for row in args.rows.split(","):
        for shape in args.shapes.split(","):
            ours = measure(args.needletail, row, shape)
            theirs = measure(args.redis, row, shape)
            name = "1 list of 10,000,000" if row == "big" else "100,000 lists of 50"
            print("| %s | %s | %.1f MB | %.1f MB | **%.2f** |" % (name, shape, ours / 1024, theirs / 1024,
                                                                  ours / max(1, theirs)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
