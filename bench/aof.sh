#!/usr/bin/env bash
# SET -P 16 throughput without AOF and with `appendonly yes`, `appendfsync everysec`, needletail against
# redis-server (issue 14's AOF row, on its own: bench/persistence.py runs it after much longer measurements).
#
#   bench/aof.sh NEEDLETAIL_BINARY ROUNDS [REQUESTS]
#
# Each run starts one server alone in a fresh directory, pinned to core 1 (redis-benchmark -t set -P 16 -c 50
# -r 1000000 on core 0), and removes it after; per round: needletail without and with AOF, then redis-server
# likewise. Prints each run, then the medians and the ratios (with AOF / without; needletail / redis-server).
set -euo pipefail
if [[ $# -lt 2 ]]; then sed -n '2,9p' "$0" >&2; exit 2; fi
binary=$1 rounds=$2 requests=${3:-2000000}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pid= dir=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; [[ -n $dir ]] && rm -rf "$dir"' EXIT
for round in $(seq "$rounds"); do
    for name in N R; do
        for aof in no yes; do
            dir=$(mktemp -d) port=$(free_port)
            server=$binary; [[ $name == R ]] && server=redis-server
            taskset -c 1 "$server" --port "$port" --bind 127.0.0.1 --save '' --dir "$dir" --appendonly "$aof" \
                --appendfsync everysec >/dev/null 2>&1 &
            pid=$!
            for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
            rps=$(taskset -c 0 redis-benchmark -p "$port" -t set -P 16 -c 50 -r 1000000 -n "$requests" -q 2>/dev/null |
                tr '\r' '\n' | grep 'requests per second' | tail -1 | awk '{print $2}')
            kill "$pid"; wait "$pid" 2>/dev/null || true
            pid=
            rm -rf "$dir"
            dir=
            echo "$name aof=$aof $rps"
        done
    done
done | tee /dev/stderr | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    name, aof, rps = line.split()
    runs.setdefault((name, aof), []).append(float(rps))
m = {k: statistics.median(v) for k, v in runs.items()}
for name, label in (("N", "needletail"), ("R", "redis-server")):
    off, on = m[(name, "aof=no")], m[(name, "aof=yes")]
    print(f"{label:12} without AOF {off:10,.0f} req/s  everysec {on:10,.0f} req/s  ratio {on / off:.2f}")
nn, ny, rn, ry = m[("N", "aof=no")], m[("N", "aof=yes")], m[("R", "aof=no")], m[("R", "aof=yes")]
print(f"needletail / redis-server: without AOF {nn / rn:.2f}, everysec {ny / ry:.2f}")
'
