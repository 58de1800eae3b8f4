#!/usr/bin/env bash
# GET and SET over TLS, needletail against redis-server (both with TLS), side by side.
#
#   bench/tls.sh NEEDLETAIL_BINARY ROUNDS [REQUESTS [BASELINE_BINARY]]
#   bench/tls.sh .build/release/needletail-server 3
#   bench/tls.sh new/needletail-server 5 200000 old/needletail-server    (a change, old and new in one run)
#
# Makes a CA and server/client certificates in a temporary directory, starts both servers with tls-port
# (tls-auth-clients yes), pinned to core 1 with redis-benchmark on core 0, loads 100,000 keys, then per round
# runs SET and GET at -P 1 and -P 16 (50 clients) against needletail, then redis-server. Prints requests/s
# per round, the medians and the ratios needletail / redis-server, and each server's CPU time per request
# (utime + stime from /proc, over all rounds): on a shared machine the steadier of the two measures.
# With BASELINE_BINARY, a third server (B, started the same way) runs in every round too, between the two,
# and each line also gives needletail / baseline.
set -euo pipefail
if [[ $# -lt 2 ]]; then sed -n '2,14p' "$0" >&2; exit 2; fi
binary=$1 rounds=$2 requests=${3:-200000} baseline=${4:-}
names=(N R)
if [[ -n $baseline ]]; then names=(N B R); fi
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$(dirname "$0")/../scripts/gen-test-certs.sh" "$dir"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tls=(--tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" --tls-ca-cert-file "$dir/ca.crt")
client=(--tls --cacert "$dir/ca.crt" --cert "$dir/client.crt" --key "$dir/client.key")
declare -A ports pid
for name in "${names[@]}"; do
    ports[$name]=$(free_port)
    case $name in N) server=$binary ;; B) server=$baseline ;; R) server=redis-server ;; esac
    taskset -c 1 "$server" --port 0 --tls-port "${ports[$name]}" --bind 127.0.0.1 --save '' --appendonly no "${tls[@]}" >/dev/null 2>&1 &
    pid[$name]=$!
    pids+=($!)
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for name in "${names[@]}"; do
    for _ in $(seq 200); do redis-cli -p "${ports[$name]}" "${client[@]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "${ports[$name]}" "${client[@]}" ping >/dev/null || { echo "tls.sh: server $name did not start" >&2; exit 1; }
    taskset -c 0 redis-benchmark -p "${ports[$name]}" "${client[@]}" -t set -r 100000 -n 200000 -P 16 -q >/dev/null 2>&1
done
for round in $(seq "$rounds"); do
    for test in set get; do
        for p in 1 16; do
            for name in "${names[@]}"; do
                before=$(cpu "${pid[$name]}")
                rps=$(taskset -c 0 redis-benchmark -p "${ports[$name]}" "${client[@]}" -t "$test" -r 100000 -n "$requests" -P "$p" -q 2>/dev/null |
                    tr '\r' '\n' | grep 'requests per second' | tail -1 | awk '{print $2}')
                ticks=$(( $(cpu "${pid[$name]}") - before ))
                echo "$test-P$p $name $rps $ticks"
            done
        done
    done
done | tee /dev/stderr | python3 -c '
import statistics, sys
runs, ticks = {}, {}
for line in sys.stdin:
    workload, name, rps, t = line.split()
    runs.setdefault(workload, {}).setdefault(name, []).append(float(rps))
    ticks.setdefault(workload, {}).setdefault(name, []).append(int(t))
hz, n_requests = int(sys.argv[1]), int(sys.argv[2])
for workload, r in runs.items():
    n, o = statistics.median(r["N"]), statistics.median(r["R"])
    cn, co = (sum(ticks[workload][k]) / hz * 1e6 / (n_requests * len(ticks[workload][k])) for k in ("N", "R"))
    print(f"{workload:8} needletail {n:10,.0f} req/s  redis-server {o:10,.0f} req/s  ratio {n / o:.2f}"
          f"   server CPU per request {cn:.2f} / {co:.2f} us ({cn / co:.2f})")
    if "B" in r:
        b = statistics.median(r["B"])
        cb = sum(ticks[workload]["B"]) / hz * 1e6 / (n_requests * len(ticks[workload]["B"]))
        print(" " * 8 + f" baseline   {b:10,.0f} req/s  ratio to redis-server {b / o:.2f}, needletail / baseline"
              f" {n / b:.2f}   server CPU per request {cb:.2f} us (needletail / baseline {cn / cb:.2f})")
' "$(getconf CLK_TCK)" "$requests"
