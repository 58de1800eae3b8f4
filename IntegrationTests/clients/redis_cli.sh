#!/usr/bin/env bash
# The common scenario through redis-cli (one-shot commands, RESP2 and -3), then --pipe mass insertion of
# 100,000 SETs, --scan, --bigkeys and --memkeys. usage: redis_cli.sh PORT
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

say "hashes, sets, lists (RESP2 and -3: a map, a set, a null array)"
cli HSET h name ann age 31 city Oslo; cli HSET h age 32; cli HGETALL h; cli -3 HGETALL h
cli HINCRBY h age 5; cli HINCRBYFLOAT h age 0.25; cli HMGET h city missing name; cli HINCRBY h name 1
cli HSCAN h 0; cli -3 HSCAN h 0 MATCH 'a*'
cli SADD si 5 3 10 1 -7; cli SMEMBERS si; cli -3 SMEMBERS si; cli SADD s1 a b c d; cli SADD s2 c d e
redis-cli -p "$port" --raw SINTER s1 s2 | sort; redis-cli -p "$port" -3 --raw SINTER s1 s2 | sort; cli SSCAN si 0; cli -3 SSCAN si 0 COUNT 100
cli RPUSH l a b c d e; cli LRANGE l 0 -1; cli LPOP l 2; cli -3 LPOP l 2; cli LPOP nolist 2; cli -3 LPOP nolist 2
cli BLPOP nolist l 1; cli BLPOP nolist 0.1; cli -3 BLPOP nolist 0.1; cli -3 BRPOP l 1

say "SORT"
cli RPUSH nums 3 1 10 2 -1 2.5; cli SORT nums; cli SORT nums DESC LIMIT 1 3; cli SORT nums ALPHA
cli MSET w_3 30 w_1 10 w_10 5 w_2 20 w_-1 100 w_2.5 25; cli HSET o_1 name one
cli SORT nums BY 'w_*' GET '#' GET 'w_*' GET 'o_*->name'; cli -3 SORT nums BY 'w_*' GET '#' GET 'o_*->name'
cli SORT nums BY nosort; cli SORT si; cli SORT nums STORE sorted; cli LRANGE sorted 0 -1; cli SORT_RO nums LIMIT 0 2
cli SORT h; cli SORT s1

say "bigkeys and memkeys on a small known dataset"
cli FLUSHALL
cli MSET s1 x s2 xxxxx s3 xxxxxxxxxxxxxxxxxxxx >/dev/null
cli ZADD zbig 1 a 2 b 3 c >/dev/null; cli ZADD zsmall 1 a >/dev/null
cli RPUSH list a b c >/dev/null; cli SADD set 1 2 >/dev/null; cli HSET hash f v >/dev/null
# The '[nn.nn%] ... found so far' lines follow SCAN order, which depends on each server's hash table.
redis-cli -p "$port" --bigkeys 2>&1 | grep -v 'found so far'
# --memkeys: sizes are each server's own MEMORY USAGE (and so is the biggest of keys of equal size: short
# strings all cost the same in needletail); the counts of keys per type and the absence of any warning (a
# MEMORY USAGE that fails) are compared.
redis-cli -p "$port" --memkeys 2>&1 | grep -v 'found so far' \
    | sed -E 's/found .* has [0-9]+ bytes/found K has N bytes/; s/ with [0-9]+ bytes \(([0-9.]+% of keys), avg size [0-9.]+\)/ with N bytes (\1, avg size N)/'

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

say "--csv psubscribe (a subscriber in another process, then publishes)"
timeout 3 stdbuf -oL redis-cli -p "$port" --csv psubscribe 'news.*' > "$tmp/sub" 2>&1 &
for _ in $(seq 100); do [[ $(cli PUBSUB NUMPAT) == "(integer) 1" ]] && break; sleep 0.02; done
cli PUBLISH news.today "hello world" >/dev/null; cli PUBLISH other x >/dev/null; cli PUBLISH news.x "a,b" >/dev/null
sleep 0.3
kill %1 2>/dev/null; wait 2>/dev/null
cat "$tmp/sub"
