#!/usr/bin/env bash
# redis-benchmark -q -t ping,set,get,incr,mset -n 20000, then the same pipelined (-P 16) with random keys, then
# the list, set and hash tests.
# usage: redis_benchmark.sh PORT
# Prints each test's name (the rates differ by nature, so they are reported on stderr only), every line that
# is not a result line (warnings such as "Could not fetch server CONFIG", errors from the server), and what
# the benchmark left in the keyspace.
set -uo pipefail
port=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

redis-cli -p "$port" FLUSHALL >/dev/null
run() {
    echo "== redis-benchmark $*"
    redis-benchmark -p "$port" "$@" > "$tmp/out" 2>&1
    echo "exit status: $?"
    # -q prints one '\r'-overwritten progress line per test and then "NAME: N requests per second, p50=..."
    tr '\r' '\n' < "$tmp/out" | sed 's/[[:space:]]*$//' | grep -v '^$' | grep -v 'rps=' > "$tmp/lines"
    grep -E '^[A-Za-z_ ()0-9]+: [0-9.]+ requests per second' "$tmp/lines" | sed 's/: .*//'
    grep -E '^[A-Za-z_ ()0-9]+: [0-9.]+ requests per second' "$tmp/lines" | sed "s/^/  [$port] /" >&2
    grep -vE '^[A-Za-z_ ()0-9]+: [0-9.]+ requests per second' "$tmp/lines" | sed 's/^/other output: /'
}
run -q -t ping,set,get,incr,mset -n 20000
echo "keys: $(redis-cli -p "$port" DBSIZE)  counter: $(redis-cli -p "$port" GET counter:__rand_int__)"
redis-cli -p "$port" FLUSHALL >/dev/null
run -q -t set,get,incr -n 20000 -P 16 -r 1000
# key:NNN and counter:NNN for 1000 random suffixes each: nearly all of the 2000 are hit
echo "keys between 1800 and 2000: $(redis-cli -p "$port" DBSIZE | awk '{ print ($1 <= 2000 && $1 >= 1800) ? "yes" : "no: " $1 }')"
redis-cli -p "$port" FLUSHALL >/dev/null
# The list, set and hash tests of the default suite (LRANGE_* read the list LPUSH filled).
run -q -t lpush,rpush,lpop,rpop,sadd,hset,spop,lrange_100,lrange_600 -n 5000
echo "mylist: $(redis-cli -p "$port" LLEN mylist)  myset: $(redis-cli -p "$port" SCARD myset)  myhash: $(redis-cli -p "$port" HLEN myhash)"
redis-cli -p "$port" FLUSHALL >/dev/null
