#!/usr/bin/env bash
# Bitmaps, HyperLogLog and geo side by side with redis-server (issue 16), in one run:
#   - SETBIT / GETBIT at random offsets of a 64 MB bitmap, BITCOUNT of all of it
#   - PFADD into 10 HLLs (dense after the load), PFCOUNT of one key (its cached cardinality) and of the union
#     of the 10 (no cache: every register of every key is read)
#   - GEOADD of 1,000,000 points into an empty key, then GEOSEARCH BYRADIUS 100 km ASC around random centres
#     among those million points
#
#   bench/bits.sh NEEDLETAIL_BINARY [ROUNDS] [PIPELINE]   (default 3 rounds, pipeline 16)
#
# Both servers run at once, pinned to CPU 1, the load generator (bench/bitbench.c, built here) on CPU 0. Each
# round runs every workload on needletail, then on redis-server, with the same random sequence. Prints, per
# workload, the median requests/s of each and their ratio (needletail / redis-server), and the server CPU time
# per request (/proc/PID/stat utime+stime over the run) and its ratio: the steadier number on a shared machine.
# Nothing here runs in CI.
set -euo pipefail
if [[ $# -lt 1 ]]; then sed -n '2,17p' "$0" >&2; exit 2; fi
needletail=$1
rounds=${2:-3}
pipeline=${3:-16}
cd "$(dirname "$0")"
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
cc -O2 -o "$work/bitbench" bitbench.c

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A port pid
for name in needletail redis; do
    port[$name]=$(free_port)
    server=$needletail
    [[ $name == redis ]] && server=redis-server
    taskset -c 1 "$server" --port "${port[$name]}" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    pid[$name]=$!
    pids+=($!)
done
for name in needletail redis; do
    for _ in $(seq 200); do redis-cli -p "${port[$name]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# bench NAME WORKLOAD COUNT SEED: one timed run; prints "name server rps cpu_us_per_op"
bench() {
    local name=$1 workload=$2 count=$3 seed=$4 server
    for server in needletail redis; do
        local before after out
        before=$(cpu_ticks "${pid[$server]}")
        out=$(taskset -c 0 "$work/bitbench" "${port[$server]}" "$workload" "$count" "$pipeline" "$seed")
        after=$(cpu_ticks "${pid[$server]}")
        echo "$name $server ${out%% *} $(python3 -c "print(($after - $before) / $ticks_per_second * 1e6 / $count)")"
    done
}

for server in needletail redis; do
    p=${port[$server]}
    redis-cli -p "$p" setbit bm $(( (1 << 29) - 1 )) 1 >/dev/null        # a 64 MB bitmap
    taskset -c 0 "$work/bitbench" "$p" pfadd 300000 "$pipeline" 7 >/dev/null   # 10 dense HLLs
done

for round in $(seq "$rounds"); do
    for server in needletail redis; do redis-cli -p "${port[$server]}" del geo >/dev/null; done
    bench "GEOADD(1M-points)" geoadd 1000000 "$round"
    bench "GEOSEARCH-BYRADIUS-100km" geosearch 100000 "$round"
    bench "SETBIT(64MB)" setbit 2000000 "$round"
    bench "GETBIT(64MB)" getbit 2000000 "$round"
    bench "BITCOUNT(64MB)" bitcount 100 "$round"
    bench "PFADD" pfadd 1000000 "$((round + 100))"
    bench "PFCOUNT(1-key)" pfcount 2000000 "$round"
    bench "PFCOUNT(10-key-union)" pfcount10 20000 "$round"
done | tee "$work/runs" >&2

python3 - "$work/runs" "$pipeline" <<'PY'
import statistics, sys
runs = {}
order = []
for line in open(sys.argv[1]):
    name, server, rps, cpu = line.split()
    if name not in runs:
        runs[name] = {"needletail": [], "redis": []}
        order.append(name)
    runs[name][server].append((float(rps), float(cpu)))
print(f"\n-P {sys.argv[2]}, medians of {len(runs[order[0]]['redis'])} rounds")
print(f"| {'workload':<26} | needletail req/s | redis req/s | ratio | needletail CPU us/req | redis CPU us/req | CPU ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in order:
    n = runs[name]["needletail"]; r = runs[name]["redis"]
    nr = statistics.median(x[0] for x in n); rr = statistics.median(x[0] for x in r)
    nc = statistics.median(x[1] for x in n); rc = statistics.median(x[1] for x in r)
    print(f"| {name:<26} | {nr:,.0f} | {rr:,.0f} | {nr / rr:.2f} | {nc:.2f} | {rc:.2f} | {nc / rc if rc else float('nan'):.2f} |")
PY
