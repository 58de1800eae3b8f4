#!/usr/bin/env bash
# Scripting side by side with redis-server: Needletail (N) and redis-server (R) run at once on free ports,
# pinned to core 1 (clients on core 0).
#
#   bench/scripting.sh NEEDLETAIL_BINARY [ROUNDS]
#
# Rows:
#   evalsha P1 / P16   redis-benchmark EVALSHA of a 3-command script (SET KEYS[1], INCR, GET) at -P 1 and
#                      -P 16, requests/s, median of ROUNDS (default 5), alternating servers each round.
#   cpu loop           one EVALSHA of a 1,000,000-step arithmetic loop, best of ROUNDS, milliseconds.
#   script load        memory growth after SCRIPT LOAD of 10,000 distinct small scripts, bytes per script:
#                      used_memory, plus used_memory_vm_eval for redis-server (its Lua heap is outside
#                      its allocator's count; ours is inside used_memory).
set -euo pipefail
if [[ $# -lt 1 ]]; then sed -n '2,13p' "$0" >&2; exit 2; fi
binary=$1 rounds=${2:-5}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
declare -A ports
for name in N R; do
    ports[$name]=$(free_port)
    server=$binary
    [[ $name == R ]] && server=redis-server
    taskset -c 1 "$server" --port "${ports[$name]}" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    pids+=($!)
done
for name in N R; do
    for _ in $(seq 200); do redis-cli -p "${ports[$name]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
done

three="redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', 'bench:counter') return redis.call('get', KEYS[1])"
loop="local x = 0 for i = 1, 1000000 do x = x + i * 2 % 7 end return x"
declare -A sha3 shaloop
for name in N R; do
    sha3[$name]=$(redis-cli -p "${ports[$name]}" script load "$three")
    shaloop[$name]=$(redis-cli -p "${ports[$name]}" script load "$loop")
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for pipeline in 1 16; do
    declare -A runs=([N]="" [R]="")
    for _ in $(seq "$rounds"); do
        for name in N R; do
            rps=$(taskset -c 0 redis-benchmark -p "${ports[$name]}" -n 200000 -P "$pipeline" -r 100000 -q \
                evalsha "${sha3[$name]}" 1 'key:__rand_int__' value | awk '{ for (i = 1; i <= NF; i++) if ($i == "requests") print $(i-1) }' | tail -1)
            runs[$name]+="$rps"$'\n'
        done
    done
    n=$(printf '%s' "${runs[N]}" | median) r=$(printf '%s' "${runs[R]}" | median)
    printf 'evalsha P%-3s needletail %10s  redis %10s  ratio %.2f\n' "$pipeline" "$n" "$r" "$(echo "$n / $r" | bc -l)"
done

for name in N R; do
    best=999999
    for _ in $(seq "$rounds"); do
        start=$(date +%s%N)
        taskset -c 0 redis-cli -p "${ports[$name]}" evalsha "${shaloop[$name]}" 0 >/dev/null
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        (( ms < best )) && best=$ms
    done
    declare "loop_$name=$best"
done
printf 'cpu loop    needletail %8s ms  redis %8s ms  ratio %.2f\n' "$loop_N" "$loop_R" "$(echo "$loop_R / $loop_N" | bc -l)"

for name in N R; do
    port=${ports[$name]}
    memory() {
        redis-cli -p "$port" info memory | awk -F: -v lua="$1" '/^used_memory:/ { m += $2 } /^used_memory_vm_eval:/ { if (lua) m += $2 } END { print m }'
    }
    withlua=0; [[ $name == R ]] && withlua=1
    before=$(memory $withlua)
    python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
out = bytearray()
for i in range(10000):
    body = f"return redis.call('get', KEYS[1]) .. '{i}'".encode()
    out += b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$%d\r\n%s\r\n" % (len(body), body)
s.sendall(out)
got = 0
buf = b""
while got < 10000:
    buf += s.recv(1 << 20)
    got = buf.count(b"\r\n") // 2
PY
    after=$(memory $withlua)
    declare "load_$name=$(( (after - before) / 10000 ))"
done
printf 'script load needletail %8s B/script  redis %8s B/script\n' "$load_N" "$load_R"
