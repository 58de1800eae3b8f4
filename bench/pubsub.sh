#!/usr/bin/env bash
# Pub/sub side by side with redis-server (issue 13), in one run: one publisher (16 PUBLISHes in flight) to
# 1, 100 and 1,000 subscribers of one channel, and to one subscriber of 1,000 patterns that do not match
# plus one that does (bench/pubsubbench.c: publisher and subscribers on one epoll loop in C). Reports
# publishes/s, messages delivered/s and the server's CPU time per delivered message (/proc/PID/stat), the
# steadier number on a shared machine.
#
#   bench/pubsub.sh NEEDLETAIL_BINARY [ROUNDS]   (default 3; medians; the servers alternate within a round)
#
# Servers are pinned to CPU 1, the load to CPU 0, both servers with --save '' --appendonly no and a pubsub
# output-buffer class without limits (a subscriber behind by a burst is not closed). Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
needletail=$1
rounds=${2:-3}
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 8192
cc -O2 -Wall -o "$work/pubsubbench" bench/pubsubbench.c
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A ports
for name in needletail redis; do
    ports[$name]=$(free_port)
    binary=$needletail; [[ $name == redis ]] && binary=redis-server
    taskset -c 1 "$binary" --port "${ports[$name]}" --bind 127.0.0.1 --save '' --appendonly no \
        --client-output-buffer-limit "pubsub 0 0 0" --maxclients 4000 >/dev/null 2>&1 &
    echo $! > "$work/$name.pid"
    for _ in $(seq 200); do redis-cli -p "${ports[$name]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)
# name subscribers patterns messages
workloads=("1-subscriber 1 0 1000000" "100-subscribers 100 0 100000" "1000-subscribers 1000 0 10000" "1000-patterns 0 1000 100000")
for round in $(seq "$rounds"); do
    for workload in "${workloads[@]}"; do
        read -r label subs pats msgs <<< "$workload"
        for name in needletail redis; do
            pid=$(cat "$work/$name.pid")
            before=$(cpu_ticks "$pid")
            out=$(taskset -c 0 "$work/pubsubbench" "${ports[$name]}" "$subs" "$pats" "$msgs")
            after=$(cpu_ticks "$pid")
            echo "$label $name $out cpu_ticks $((after - before))"
        done
    done
done | python3 -c '
import statistics, sys
rows = {}
ticks = float(sys.argv[1])
for line in sys.stdin:
    f = line.split()
    label, name = f[0], f[1]
    pubs, delivered, seconds, cpu = float(f[3]), float(f[5]), float(f[7]), float(f[9])
    rows.setdefault(label, {}).setdefault(name, []).append((pubs, delivered, cpu / ticks / (delivered * seconds) * 1e9))
print("| workload | needletail publishes/s | redis publishes/s | needletail delivered/s | redis delivered/s | ratio | server CPU ns per delivered message (n / r) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for label, by in rows.items():
    med = {n: [statistics.median(v[i] for v in by[n]) for i in range(3)] for n in by}
    n, r = med["needletail"], med["redis"]
    print(f"| {label} | {n[0]:,.0f} | {r[0]:,.0f} | {n[1]:,.0f} | {r[1]:,.0f} | {n[1] / r[1]:.2f} | {n[2]:.0f} / {r[2]:.0f} ({n[2] / r[2]:.2f}) |")
' "$ticks_per_second"
