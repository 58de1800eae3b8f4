#!/usr/bin/env bash
# Memory of hashes, needletail against redis-server: RSS above an empty server after loading, with
# `redis-cli --pipe`, (1) 1,000,000 hashes of 10 fields (HSET hash:N field0 v.. .. field9 v..; values "v<n>",
# 2-8 bytes), (2) one hash of 1,000,000 fields (field:N -> v<N>, 10 fields per HSET) and (3) the hashes of (1)
# with field names of the same length but each hash's its own (6 base-36 digits of 10N+i), which needletail's
# shared field names (Storage/FieldNames.swift) cannot help.
# Usage: bench/hash_memory.sh [path/to/needletail-server]   (default: the release build in .build)
set -euo pipefail
cd "$(dirname "$0")/.."
ours=${1:-.build/release/needletail-server}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import sys
def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
with open(sys.argv[1] + "/small.resp", "wb") as f:
    for n in range(1000000):
        f.write(cmd("HSET", "hash:%d" % n, *sum((["field%d" % i, "v%d" % (n * 10 + i)] for i in range(10)), [])))
def b36(x):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(digits[x // 36 ** k % 36] for k in range(5, -1, -1))
with open(sys.argv[1] + "/unique.resp", "wb") as f:
    for n in range(1000000):
        f.write(cmd("HSET", "hash:%d" % n, *sum(([b36(n * 10 + i), "v%d" % (n * 10 + i)] for i in range(10)), [])))
with open(sys.argv[1] + "/big.resp", "wb") as f:
    for n in range(0, 1000000, 10):
        f.write(cmd("HSET", "bighash", *sum((["field:%d" % i, "v%d" % i] for i in range(n, n + 10)), [])))
PY
port=7399
measure() {  # measure <file> <key> <server command...>
    local file=$1 key=$2; shift 2
    "$@" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 0.5
    local empty; empty=$(ps -o rss= -p $pid)
    redis-cli -p $port --pipe < "$file" >/dev/null
    sleep 1
    local loaded; loaded=$(ps -o rss= -p $pid)
    echo "$((loaded - empty)) KB above empty ($(redis-cli -p $port object encoding "$key"))"
    kill $pid; wait $pid 2>/dev/null || true
}
for row in "small.resp hash:1" "big.resp bighash" "unique.resp hash:1"; do
    set -- $row
    echo "== $1"
    printf 'redis-server  '; measure "$work/$1" "$2" redis-server --port $port --save '' --appendonly no --dir "$work"
    printf 'needletail    '; measure "$work/$1" "$2" "$ours" --port $port --save '' --appendonly no --dir "$work"
done
