#!/usr/bin/env bash
# A/B of two needletail binaries against redis-server, side by side, for one redis-benchmark workload.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY TEST ROUNDS [redis-benchmark options]
#   bench/ab.sh /tmp/needletail-before .build/release/needletail-server get 6 -P 16
#
# The three servers run at once on free ports, pinned to core 1 (redis-benchmark to core 0); 100,000 keys
# are loaded first, then each round runs TEST against A (old), B (new) and R (redis), in that order. Prints
# each server's requests/s per round and the median. For a quick check of one change; bench/run.sh is the
# full benchmark.
set -euo pipefail
if [[ $# -lt 4 ]]; then sed -n '2,9p' "$0" >&2; exit 2; fi
old=$1 new=$2 test=$3 rounds=$4
shift 4
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
declare -A ports
for name in A B R; do
    ports[$name]=$(free_port)
    case $name in A) server=$old ;; B) server=$new ;; R) server=redis-server ;; esac
    taskset -c 1 "$server" --port "${ports[$name]}" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    pids+=($!)
done
for name in A B R; do
    for _ in $(seq 200); do redis-cli -p "${ports[$name]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "${ports[$name]}" ping >/dev/null || { echo "ab: server $name did not start" >&2; exit 1; }
    taskset -c 0 redis-benchmark -p "${ports[$name]}" -t set -r 100000 -n 300000 -P 16 -q >/dev/null
done
for round in $(seq "$rounds"); do
    for name in A B R; do
        rps=$(taskset -c 0 redis-benchmark -p "${ports[$name]}" -t "$test" -r 100000 -n 1000000 -q "$@" 2>/dev/null |
            tr '\r' '\n' | grep 'requests per second' | tail -1 | awk '{print $2}')
        echo "$name $rps"
    done
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    name, rps = line.split()
    runs.setdefault(name, []).append(float(rps))
for name, values in sorted(runs.items()):
    print(f"{name}  median {statistics.median(values):>12,.0f}   rounds:", " ".join(f"{v:,.0f}" for v in values))
'
