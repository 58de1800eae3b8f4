#!/usr/bin/env bash
# Start-up load time of servers on one dump, side by side: each round starts every binary in turn on DIR's
# dump.rdb and reads the "DB loaded from disk: N seconds" line, and the process's CPU seconds at that point.
#
#   bench/loadtime.sh DIR ROUNDS BINARY...
#   bench/loadtime.sh /tmp/mixed 9 .build/release/needletail-server /tmp/needletail-before redis-server
#
# Prints each binary's median wall and CPU seconds and its rounds. The servers are not pinned (loading uses
# every core). Make the dump with either server (SAVE); both load each other's files.
set -euo pipefail
dir=$1 rounds=$2
shift 2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for r in $(seq "$rounds"); do
    for b in "$@"; do
        log=$(mktemp)
        "$b" --port "$port" --dir "$dir" --save '' --appendonly no >"$log" 2>&1 &
        pid=$!
        for _ in $(seq 1200); do grep -q "DB loaded" "$log" && break; sleep 0.05; done
        cpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$pid/stat")
        echo "$(basename "$b") $(grep -o 'DB loaded from disk: [0-9.]*' "$log" | awk '{print $5}') $cpu"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -f "$log"
    done
done | python3 -c '
import sys, statistics
runs = {}
for line in sys.stdin:
    name, wall, cpu = line.split()
    runs.setdefault(name, []).append((float(wall), float(cpu)))
for name, v in runs.items():
    print(f"{name:24} wall {statistics.median(w for w, _ in v):.3f} s  cpu {statistics.median(c for _, c in v):.2f} s  rounds", [w for w, _ in v])'
