#!/usr/bin/env bash
# Blocking pops and transactions side by side with redis-server (issue 12), in one run:
#   - BLPOP/LPUSH ping-pong between two clients (round trips/s; bench/txbench.c pingpong)
#   - MULTI / INCR / EXEC, 50 clients, 16 transactions pipelined per client (EXECs/s; txbench multi)
#   - the same unpipelined (-P 1)
#   - SET -P 16 (redis-benchmark) while another client holds a WATCH, and without it, so the cost of WATCH on
#     the write path shows
#
#   bench/transactions.sh [--head] [ROUNDS]   (default 3; each round runs every workload on both servers,
#                                              alternating; --head measures a clean export of the last commit)
#
# Servers are pinned to CPU 0 and the load generators to CPU 1 (taskset), both with --save '' --appendonly no.
# Besides throughput it reports the server's CPU time per operation (/proc/PID/stat), the steadier number on a
# shared machine.
# Builds needletail-server (release) into ${NEEDLETAIL_SCRATCH:-.build-bench}. Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${NEEDLETAIL_SCRATCH:-.build-bench}
package=.
if [[ ${1:-} == --head ]]; then
    package="$scratch/head-src"
    rm -rf "$package" && mkdir -p "$package"
    git archive HEAD | tar -x -C "$package"
    shift
fi
rounds=${1:-3}
swift build -c release --package-path "$package" --scratch-path "$scratch" --product needletail-server >&2
needletail="$scratch/release/needletail-server"
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
gcc -O2 -pthread -o "$work/txbench" bench/txbench.c

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {  # name binary -> port
    local port; port=$(free_port)
    taskset -c 0 "$2" --port "$port" --save '' --appendonly no >"$work/$1.log" 2>&1 &
    echo $! >"$work/$1.pid"
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    echo "$port"
}

nt_port=$(start needletail "$needletail")
rd_port=$(start redis /usr/bin/redis-server)

# Holds WATCH watched:key on its own connection until killed. A key the benchmark never writes: a watched
# key that is written stops being watched (its watcher's EXEC is doomed), so only an unrelated one stays
# watched for the whole run and makes every SET look it up.
hold_watch() {
    python3 - "$1" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*2\r\n$5\r\nWATCH\r\n$11\r\nwatched:key\r\n")
s.recv(100)
time.sleep(3600)
EOF
    echo $! >"$work/watch.pid"
    sleep 0.3
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # the server's user + system time, in clock ticks

run() {  # workload port pid -> "ops/s server-CPU-microseconds-per-op"
    local before out rate ops
    before=$(cpu_ticks "$3")
    case $1 in
    pingpong) out=$(taskset -c 1 "$work/txbench" pingpong "$2" 5) ;;
    multi16) out=$(taskset -c 1 "$work/txbench" multi "$2" 50 16 5) ;;
    multi1) out=$(taskset -c 1 "$work/txbench" multi "$2" 50 1 5) ;;
    set16 | set16watch)
        redis-cli -p "$2" flushall >/dev/null
        [[ $1 == set16watch ]] && hold_watch "$2"
        before=$(cpu_ticks "$3")
        rate=$(taskset -c 1 redis-benchmark -p "$2" -t set -P 16 -n 2000000 -r 100000 -q 2>/dev/null |
            tr '\r' '\n' | grep 'requests per second' | tail -1 | sed 's/.*SET: \([0-9.]*\) requests.*/\1/')
        out="$rate 2000000"
        if [[ $1 == set16watch ]]; then kill "$(cat "$work/watch.pid")"; rm "$work/watch.pid"; fi
        ;;
    esac
    read -r rate ops <<<"$out"
    echo "$rate $(echo "($(cpu_ticks "$3") - $before) * 1000000 / $(getconf CLK_TCK) / $ops" | bc -l)"
}

workloads=(pingpong multi16 multi1 set16 set16watch)
declare -A results
nt_pid=$(cat "$work/needletail.pid")
rd_pid=$(cat "$work/redis.pid")
for r in $(seq "$rounds"); do
    for w in "${workloads[@]}"; do
        read -r rate cpu <<<"$(run "$w" "$nt_port" "$nt_pid")"
        results[$w,nt]+="$rate "
        results[$w,ntcpu]+="$cpu "
        read -r rate cpu <<<"$(run "$w" "$rd_port" "$rd_pid")"
        results[$w,rd]+="$rate "
        results[$w,rdcpu]+="$cpu "
    done
    echo "round $r done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '| workload | needletail ops/s | redis ops/s | ratio | needletail CPU us/op | redis CPU us/op | ratio | ops/s every round (needletail; redis) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---|\n'
for w in "${workloads[@]}"; do
    n=$(echo "${results[$w,nt]}" | median)
    d=$(echo "${results[$w,rd]}" | median)
    nc=$(echo "${results[$w,ntcpu]}" | median)
    dc=$(echo "${results[$w,rdcpu]}" | median)
    printf '| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %s; %s |\n' "$w" "$n" "$d" "$(echo "$n / $d" | bc -l)" \
        "$nc" "$dc" "$(echo "$nc / $dc" | bc -l)" "${results[$w,nt]% }" "${results[$w,rd]% }"
done
