#!/usr/bin/env bash
# The common scenario through redis-cli (one-shot commands, RESP2 and -3), then --pipe mass insertion of
# 100,000 SETs, --scan and --bigkeys. usage: redis_cli.sh PORT
# Output is deterministic for a given server behaviour; run.sh diffs it between redis-server and needletail.
set -uo pipefail
port=$1
cli() { redis-cli -p "$port" --no-raw "$@" 2>&1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { printf '== %s\n' "$*"; }

say flushall; cli FLUSHALL
say strings
cli SET foo bar; cli GET foo; cli GET missing
cli INCR counter; cli INCR counter; cli INCRBY counter 10; cli INCRBYFLOAT fl 0.1; cli INCRBYFLOAT fl 0.1
cli MSET a 1 b 2 c 3; cli MGET a b missing c

say "pipeline of 100 commands in one write (redis-cli reads them from stdin)"
for i in $(seq 0 99); do
    if (( i % 2 == 0 )); then echo "SET p:$i $i"; else echo "INCR pcounter"; fi
done | redis-cli -p "$port" 2>&1 | tr '\n' ' '; echo
cli GET pcounter

say "info (redis-cli prints it raw: every line 'key:value' or '# Section')"
cli INFO > "$tmp/info"
awk '{ sub(/\r$/, "") } /^$/ || /^# / || /^[A-Za-z0-9_.|-]+:/ { next } { bad++ } END { print "malformed lines:", bad + 0 }' "$tmp/info"
grep -E '^(redis_mode|role|loading|arch_bits|maxmemory|maxmemory_policy|db0):' "$tmp/info" | tr -d '\r' | sed 's/,avg_ttl=.*//'
grep -c '^# ' "$tmp/info" | sed 's/^/section headers >= 1: /;s/: [1-9][0-9]*$/: yes/'

say "sorted sets"
cli ZADD z 1 a 2 b 3.5 c -1 d; cli ZRANGE z 0 -1 WITHSCORES; cli ZSCORE z c; cli ZINCRBY z 0.5 a
cli -3 ZRANGE z 0 -1 WITHSCORES; cli -3 ZSCORE z c

say errors
cli SET notanumber abc; cli INCR notanumber; cli GET z; cli NOSUCHCOMMAND x; cli GET; cli SET k v BOGUS

say expiry
cli SET e v; cli EXPIRE e 100; cli TTL e; cli TTL foo; cli TTL missing; cli PERSIST e; cli SET e2 v EX 50; cli TTL e2

say "binary values (-x reads the value raw from stdin)"
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) + b"\r\n\x00end\r\n")' > "$tmp/blob"
cli -x SET bin < "$tmp/blob"; cli STRLEN bin; cli GET bin
cli --raw GET bin > "$tmp/back"; head -c -1 "$tmp/back" | cmp -s - "$tmp/blob" && echo "raw GET round-trips" || echo "raw GET differs"

say "RESP3 (-3)"
cli -3 HELLO 3 | grep -E '^[0-9]+# "(server|proto|mode|role)"' ; cli -3 GET foo; cli -3 GET missing; cli -3 INCR notanumber
cli -3 DBSIZE

say "bigkeys on a small known dataset"
cli FLUSHALL
cli MSET s1 x s2 xxxxx s3 xxxxxxxxxxxxxxxxxxxx >/dev/null
cli ZADD zbig 1 a 2 b 3 c >/dev/null; cli ZADD zsmall 1 a >/dev/null
# The '[nn.nn%] ... found so far' lines follow SCAN order, which depends on each server's hash table.
redis-cli -p "$port" --bigkeys 2>&1 | grep -v 'found so far'

say "--pipe mass insertion of 100,000 SETs"
cli FLUSHALL
python3 - "$tmp/mass" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(100_000):
        k, v = b"key:%d" % i, b"value:%d" % i
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
EOF
redis-cli -p "$port" --pipe < "$tmp/mass" 2>&1
cli DBSIZE; cli GET key:99999

say "--scan"
redis-cli -p "$port" --scan | wc -l
redis-cli -p "$port" --scan --pattern 'key:1234*' | sort | tr '\n' ' '; echo
redis-cli -p "$port" --scan --pattern 'nomatch*' | wc -l
cli FLUSHALL
