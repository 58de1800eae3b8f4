#!/usr/bin/env bash
# GET/SET throughput for an ACL user holding 20 key patterns (the key redis-benchmark uses matches only the
# last), needletail against redis-server side by side.
#
#   bench/acl.sh NEEDLETAIL_BINARY ROUNDS [redis-benchmark options, e.g. -P 16]
#
# Both servers run at once on free ports pinned to core 1 (redis-benchmark to core 0); each round runs GET
# then SET against N (needletail) and R (redis-server) as user `bench`, and the default user too (D: no
# --user, needletail and redis alike) for the cost of the check. Prints each median and the ratios.
set -euo pipefail
if [[ $# -lt 2 ]]; then sed -n '2,9p' "$0" >&2; exit 2; fi
binary=$1 rounds=$2
shift 2
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
declare -A ports
patterns=()
for i in $(seq 19); do patterns+=("~app$i:*"); done
patterns+=("~key:*")
for name in N R; do
    ports[$name]=$(free_port)
    case $name in N) server=$binary ;; R) server=redis-server ;; esac
    taskset -c 1 "$server" --port "${ports[$name]}" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    pids+=($!)
done
for name in N R; do
    for _ in $(seq 200); do redis-cli -p "${ports[$name]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "${ports[$name]}" ACL SETUSER bench on '>pw' resetkeys "${patterns[@]}" +@all >/dev/null
    taskset -c 0 redis-benchmark -p "${ports[$name]}" -t set -r 100000 -n 300000 -P 16 -q >/dev/null
done
for round in $(seq "$rounds"); do
    for test in get set; do
        for name in N R; do
            for who in acl default; do
                auth=()
                [[ $who == acl ]] && auth=(--user bench -a pw)
                rps=$(taskset -c 0 redis-benchmark -p "${ports[$name]}" "${auth[@]}" -t "$test" -r 100000 -n 1000000 -q "$@" 2>/dev/null |
                    tr '\r' '\n' | grep 'requests per second' | tail -1 | awk '{print $2}')
                echo "$test $name $who $rps"
            done
        done
    done
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    test, name, who, rps = line.split()
    runs.setdefault((test, who, name), []).append(float(rps))
for test in ("get", "set"):
    for who in ("acl", "default"):
        n = statistics.median(runs[(test, who, "N")]); r = statistics.median(runs[(test, who, "R")])
        print(f"{test} {who:8s} needletail {n:12.0f}  redis {r:12.0f}  ratio {n / r:.2f}")
'
