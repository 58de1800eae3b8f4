#!/usr/bin/env python3
"""Memory of sets: needletail against redis-server, RSS above the empty server (issue 11's memory rows).

    swift build -c release --product needletail-server
    python3 bench/memory_sets.py --needletail .build/release/needletail-server [--n 1000000] [--only small-int,...]

Each data set is loaded into a fresh server of each kind with `redis-cli --pipe` (bench.py's loader); RSS
(VmRSS) is read when the server is idle before and after. Prints a Markdown table: bytes per set for the
million small sets, bytes per member for the one big set, and the ratio needletail / redis.
Standard library only; needs redis-server and redis-cli.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import NT, RD, Server, batched, encode, log, pipe  # noqa: E402


def datasets(n):
    small = n  # sets of 10 members
    return [
        ("small-int", f"{small:,} sets of 10 integers `SADD set:N 10N..10N+9` (intset)", small, "set",
         lambda s: pipe(s, batched(lambda i: encode(b"SADD", b"set:%d" % i, *[b"%d" % (i * 10 + j) for j in range(10)]),
                                   small, batch=2000)), ("DBSIZE",), small),
        # The same sets, their values scattered over 31 bits: too far apart for the key's entry, so each is a
        # SetValue with a block of 4-byte values (Storage/InlineIntSet.swift).
        ("small-int-spread", f"{small:,} sets of 10 integers scattered below 2^31 (intset)", small, "set",
         lambda s: pipe(s, batched(lambda i: encode(b"SADD", b"set:%d" % i,
                                                    *[b"%d" % ((i * 10 + j) * 2654435761 % 2147483647) for j in range(10)]),
                                   small, batch=2000)), ("DBSIZE",), small),
        ("small-str", f"{small:,} sets of 10 strings `SADD set:N member:10N ...` (hashtable)", small, "set",
         lambda s: pipe(s, batched(lambda i: encode(b"SADD", b"set:%d" % i,
                                                    *[b"member:%d" % (i * 10 + j) for j in range(10)]),
                                   small, batch=2000)), ("DBSIZE",), small),
        ("big-int", f"one set of {n:,} integers (hashtable past set-max-intset-entries)", n, "member",
         lambda s: pipe(s, batched(lambda i: encode(b"SADD", b"bigset", *[b"%d" % k for k in range(i * 100, i * 100 + 100)]),
                                   n // 100, batch=200)), ("SCARD", "bigset"), n),
        ("big-str", f"one set of {n:,} strings `member:N` (hashtable)", n, "member",
         lambda s: pipe(s, batched(lambda i: encode(b"SADD", b"bigset",
                                                    *[b"member:%d" % k for k in range(i * 100, i * 100 + 100)]),
                                   n // 100, batch=200)), ("SCARD", "bigset"), n),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--needletail", required=True)
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--only", default="")
    opts = ap.parse_args()
    only = set(filter(None, opts.only.split(",")))
    rows = []
    with tempfile.TemporaryDirectory(prefix="needletail-memsets-") as tmp:
        for key, label, units, unit, load, count_cmd, expected in datasets(opts.n):
            if only and key not in only:
                continue
            row = {"label": label, "unit": unit}
            for which, argv in ((NT, [opts.needletail]), (RD, [opts.redis_server])):
                s = Server(which, argv, tmp)
                try:
                    time.sleep(0.3)
                    empty = s.rss_bytes()
                    seconds, errors = load(s)
                    got = s.conn().call(*count_cmd)
                    encoding = s.conn().call("OBJECT", "ENCODING", "set:0" if unit == "set" else "bigset")
                    if errors or got != expected:
                        raise RuntimeError(f"{which} {key}: {errors} errors, {count_cmd} = {got}, expected {expected}")
                    time.sleep(0.5)
                    loaded = s.rss_bytes()
                    row[which] = {"per": (loaded - empty) / units, "rss": loaded - empty, "seconds": seconds,
                                  "encoding": encoding.decode() if isinstance(encoding, bytes) else str(encoding)}
                finally:
                    s.stop()
            log(f"{key:9} needletail {row[NT]['per']:.1f} B/{unit}  redis {row[RD]['per']:.1f} B/{unit}  "
                f"ratio {row[NT]['per'] / row[RD]['per']:.2f}")
            rows.append(row)
    print("| Data | encoding | needletail | redis-server | ratio | needletail RSS | redis RSS |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['label']} | {r[NT]['encoding']} | {r[NT]['per']:.1f} B/{r['unit']} | {r[RD]['per']:.1f} B/{r['unit']} | "
              f"**{r[NT]['per'] / r[RD]['per']:.2f}** | {r[NT]['rss'] / 1e6:.1f} MB | {r[RD]['rss'] / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
