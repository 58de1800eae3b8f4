#!/usr/bin/env bash
# Streams side by side with redis-server (issue 17), in one run:
#   - XADD s * f1 v1 f2 v2 f3 v3, 50 clients, pipeline 16 (redis-benchmark)
#   - XRANGE of 100 entries (XRANGE r - + COUNT 100 over a stream of 100,000 entries), 50 clients, unpipelined
#   - consumer-group round trips: XREADGROUP COUNT 1 then XACK of the entry read, 4 clients
#     (bench/streambench.c groupack), over a stream of 1,000,000 entries
#   - memory per entry: used_memory (INFO) grown by 10,000,000 XADD * f1 v1 f2 v2 f3 v3 into one stream,
#     divided by the entries (ENTRIES=n changes the count)
#
#   bench/streams.sh [ROUNDS]   (default 3; each round runs every throughput workload on both servers,
#                               alternating; the memory workload runs once per server; ENTRIES=0 skips it)
#
# Servers are pinned to CPU 0 and the load generators to CPU 1 (taskset), both with --save '' --appendonly no.
# Builds needletail-server (release) into ${NEEDLETAIL_SCRATCH:-.build-bench}. Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${NEEDLETAIL_SCRATCH:-.build-bench}
rounds=${1:-3}
entries=${ENTRIES:-10000000}
swift build -c release --scratch-path "$scratch" --product needletail-server >&2
needletail="$scratch/release/needletail-server"
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
gcc -O2 -pthread -o "$work/streambench" bench/streambench.c

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {  # name binary -> port
    local port; port=$(free_port)
    taskset -c 0 "$2" --port "$port" --save '' --appendonly no >"$work/$1.log" 2>&1 &
    echo $! >"$work/$1.pid"
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    echo "$port"
}

bench() {  # port args... -> requests/s
    local port=$1; shift
    taskset -c 1 redis-benchmark -p "$port" -q "$@" 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | awk '{print $1}'
}

used_memory() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}'; }

nt_port=$(start needletail "$needletail")
rd_port=$(start redis /usr/bin/redis-server)

for port in $nt_port $rd_port; do
    taskset -c 1 redis-benchmark -p "$port" -n 100000 -P 64 -q XADD r '*' f1 v1 f2 v2 f3 v3 >/dev/null 2>&1
    taskset -c 1 redis-benchmark -p "$port" -n 1000000 -P 64 -q XADD s '*' f1 v1 f2 v2 f3 v3 >/dev/null 2>&1
    redis-cli -p "$port" XGROUP CREATE s g 0 >/dev/null
done

results=$(for round in $(seq "$rounds"); do
    for name in needletail redis; do
        port=$([[ $name == needletail ]] && echo "$nt_port" || echo "$rd_port")
        redis-cli -p "$port" DEL x >/dev/null
        echo "xadd-P16 $name $(bench "$port" -n 1000000 -P 16 XADD x '*' f1 v1 f2 v2 f3 v3)"
        echo "xrange100 $name $(bench "$port" -n 200000 XRANGE r - + COUNT 100)"
        echo "xreadgroup+xack $name $(taskset -c 1 "$work/streambench" groupack "$port" 4 5 | awk '{print $1}')"
    done
done)

# Memory: fresh servers, one stream of $entries entries.
if [[ $entries == 0 ]]; then
    echo "$results" >&2
    python3 -c '
import statistics, sys
runs = {}
for line in sys.argv[1].splitlines():
    test, name, value = line.split()
    runs.setdefault(test, {}).setdefault(name, []).append(float(value))
for test, by in runs.items():
    ours, theirs = by["needletail"], by["redis"]
    n, r = statistics.median(ours), statistics.median(theirs)
    print(f"{test:<18}{n:>14,.0f}{r:>14,.0f}{n / r:>8.2f}   needletail {ours}  redis {theirs}")
' "$results"
    exit 0
fi
for name in needletail redis; do kill "$(cat "$work/$name.pid")"; done
sleep 0.5
nt_port=$(start needletail "$needletail")
rd_port=$(start redis /usr/bin/redis-server)
memory=$(for name in needletail redis; do
    port=$([[ $name == needletail ]] && echo "$nt_port" || echo "$rd_port")
    before=$(used_memory "$port")
    taskset -c 1 redis-benchmark -p "$port" -n "$entries" -c 50 -P 64 -q XADD m '*' f1 v1 f2 v2 f3 v3 >/dev/null 2>&1
    after=$(used_memory "$port")
    echo "memory $name $(redis-cli -p "$port" XLEN m) $before $after"
done)

echo "$results" "$memory" >&2
python3 - "$results" "$memory" <<'PY'
import statistics, sys
runs = {}
for line in sys.argv[1].splitlines():
    test, name, value = line.split()
    runs.setdefault(test, {}).setdefault(name, []).append(float(value))
print(f"{'workload':<18}{'needletail':>14}{'redis-server':>14}{'ratio':>8}   (medians; per-round values follow)")
for test, by in runs.items():
    n, r = statistics.median(by["needletail"]), statistics.median(by["redis"])
    print(f"{test:<18}{n:>14,.0f}{r:>14,.0f}{n / r:>8.2f}   needletail {by['needletail']}  redis {by['redis']}")
per = {}
for line in sys.argv[2].splitlines():
    _, name, count, before, after = line.split()
    per[name] = (int(after) - int(before)) / int(count)
    print(f"memory {name}: {int(count):,} entries, used_memory {int(before):,} -> {int(after):,}: {per[name]:.1f} bytes/entry")
print(f"memory per entry ratio (needletail / redis-server): {per['needletail'] / per['redis']:.2f}")
PY
