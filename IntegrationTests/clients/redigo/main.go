// The common client scenario through redigo (Debian's golang-github-gomodule-redigo-dev), built offline in
// GOPATH mode against /usr/share/gocode. usage: go run main.go PORT (see run.sh for the environment).
package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/gomodule/redigo/redis"
)

func show(label string, value interface{}) {
	fmt.Printf("%s: %s\n", label, format(value))
}

// format prints replies with their Go types so that a changed reply type shows in the diff.
func format(v interface{}) string {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("[]byte(%q)", x)
	case []interface{}:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = format(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case redis.Error:
		return fmt.Sprintf("redis.Error(%q)", string(x))
	case error:
		return fmt.Sprintf("%T(%q)", x, x.Error())
	case nil:
		return "nil"
	default:
		return fmt.Sprintf("%T(%v)", x, x)
	}
}

// call returns the reply, or the error (redis.Error for an error reply) in its place.
func call(c redis.Conn, name string, args ...interface{}) interface{} {
	reply, err := c.Do(name, args...)
	if err != nil {
		return err
	}
	return reply
}

func main() {
	port := os.Args[1]
	c, err := redis.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Println("FAILED to connect:", err)
		os.Exit(1)
	}
	defer c.Close()
	show("ping", call(c, "PING"))
	show("flushall", call(c, "FLUSHALL"))

	show("set", call(c, "SET", "foo", "bar"))
	show("get", call(c, "GET", "foo"))
	s, err := redis.String(c.Do("GET", "foo"))
	show("get as string", []interface{}{s, err})
	show("get missing", call(c, "GET", "missing"))
	_, err = redis.String(c.Do("GET", "missing"))
	show("get missing as string", err)
	show("set nx on existing", call(c, "SET", "foo", "x", "NX"))
	show("incr", []interface{}{call(c, "INCR", "counter"), call(c, "INCR", "counter"), call(c, "INCR", "counter")})
	show("incrby", call(c, "INCRBY", "counter", 10))
	show("incrbyfloat", []interface{}{call(c, "INCRBYFLOAT", "fl", 0.1), call(c, "INCRBYFLOAT", "fl", 0.1)})
	show("mset", call(c, "MSET", "a", "1", "b", "2", "c", "3"))
	show("mget", call(c, "MGET", "a", "b", "missing", "c"))
	strs, err := redis.Strings(c.Do("MGET", "a", "b", "missing", "c"))
	show("mget as strings", []interface{}{fmt.Sprintf("%q", strs), err})

	// Pipelining: Send buffers, Flush writes once, Receive reads the replies in order.
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			c.Send("SET", fmt.Sprintf("p:%d", i), i)
		} else {
			c.Send("INCR", "pcounter")
		}
	}
	c.Flush()
	results := make([]interface{}, 100)
	for i := range results {
		reply, err := c.Receive()
		if err != nil {
			results[i] = err
		} else {
			results[i] = reply
		}
	}
	show("pipeline results", results)
	show("pipeline check", []interface{}{call(c, "GET", "p:98"), call(c, "GET", "pcounter")})

	// redigo does not parse INFO: split it as a user would.
	info, err := redis.String(c.Do("INFO"))
	show("info error", err)
	fields := map[string]string{}
	wellFormed := true
	for _, line := range strings.Split(info, "\r\n") {
		if line == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		i := strings.IndexByte(line, ':')
		if i < 0 {
			wellFormed = false
			continue
		}
		fields[line[:i]] = line[i+1:]
	}
	show("info well formed", wellFormed)
	for _, f := range []string{"redis_mode", "role", "loading", "arch_bits", "maxmemory", "maxmemory_policy"} {
		show("info "+f, fields[f])
	}
	show("info tcp_port is our port", fields["tcp_port"] == port)
	show("info db0", regexp.MustCompile(`,avg_ttl=\d+`).ReplaceAllString(fields["db0"], ""))
	show("dbsize", call(c, "DBSIZE"))

	show("zadd", call(c, "ZADD", "z", 1, "a", 2, "b", 3.5, "c", -1, "d"))
	show("zrange withscores", call(c, "ZRANGE", "z", 0, -1, "WITHSCORES"))
	sm, err := redis.StringMap(c.Do("ZRANGE", "z", 0, -1, "WITHSCORES"))
	show("zrange withscores as map", []interface{}{fmt.Sprintf("%v", sm), err})
	f, err := redis.Float64(c.Do("ZSCORE", "z", "c"))
	show("zscore as float64", []interface{}{f, err})
	show("zincrby", call(c, "ZINCRBY", "z", 0.5, "a"))
	show("zcard", call(c, "ZCARD", "z"))

	call(c, "SET", "notanumber", "abc")
	show("incr error", call(c, "INCR", "notanumber"))
	show("wrongtype error", call(c, "GET", "z"))
	show("unknown command", call(c, "NOSUCHCOMMAND", "x"))
	show("arity error", call(c, "GET"))
	show("syntax error", call(c, "SET", "k", "v", "BOGUS"))
	c.Send("SET", "x", 1)
	c.Send("INCR", "notanumber")
	c.Send("GET", "x")
	c.Flush()
	var piped []interface{}
	for i := 0; i < 3; i++ {
		reply, err := c.Receive()
		if err != nil {
			piped = append(piped, err)
		} else {
			piped = append(piped, reply)
		}
	}
	show("error inside pipeline", piped)

	call(c, "SET", "e", "v")
	show("expire", call(c, "EXPIRE", "e", 100))
	show("ttl", call(c, "TTL", "e"))
	show("ttl no expiry", call(c, "TTL", "foo"))
	show("ttl missing", call(c, "TTL", "missing"))
	show("persist", call(c, "PERSIST", "e"))
	show("set ex", call(c, "SET", "e2", "v", "EX", 50))
	show("ttl after set ex", call(c, "TTL", "e2"))

	blob := make([]byte, 0, 264)
	for i := 0; i < 256; i++ {
		blob = append(blob, byte(i))
	}
	blob = append(blob, "\r\n\x00end\r\n"...)
	key := []byte("bin\x00key\r\n")
	show("binary set", call(c, "SET", key, blob))
	back, err := redis.Bytes(c.Do("GET", key))
	show("binary get equal", []interface{}{bytes.Equal(back, blob), err})
	show("binary strlen", call(c, "STRLEN", key))
	show("binary append", call(c, "APPEND", key, []byte{0, 0xff}))
	show("binary getrange", call(c, "GETRANGE", key, -4, -1))

	// Hashes (a small listpack keeps insertion order in both servers; big ones and sets are sorted)
	show("hset", []interface{}{call(c, "HSET", "h", "name", "ann", "age", "31", "city", "Oslo"), call(c, "HSET", "h", "age", "32")})
	show("hgetall", call(c, "HGETALL", "h"))
	hm, err := redis.StringMap(c.Do("HGETALL", "h"))
	show("hgetall as map", []interface{}{fmt.Sprintf("%v", hm), err})
	show("hget/hmget", []interface{}{call(c, "HGET", "h", "name"), call(c, "HMGET", "h", "city", "missing", "name")})
	show("hincrby", []interface{}{call(c, "HINCRBY", "h", "age", 5), call(c, "HINCRBY", "h", "visits", -2)})
	show("hincrbyfloat", call(c, "HINCRBYFLOAT", "h", "age", 0.25))
	show("hlen/hexists/hdel", []interface{}{call(c, "HLEN", "h"), call(c, "HEXISTS", "h", "city"), call(c, "HDEL", "h", "city"), call(c, "HEXISTS", "h", "city")})
	big := redis.Args{}.Add("hbig")
	for i := 0; i < 300; i++ {
		big = big.Add(fmt.Sprintf("field:%d", i), i)
	}
	call(c, "HSET", big...)
	show("hscan big", scanAll(c, "HSCAN", "hbig", "field:1?", 20, 2))
	show("hincrby error", call(c, "HINCRBY", "h", "name", 1))

	// Sets
	show("sadd ints", call(c, "SADD", "si", 5, 3, 10, 1, -7))
	show("smembers intset", call(c, "SMEMBERS", "si"))
	show("sadd strings", []interface{}{call(c, "SADD", "s1", "a", "b", "c", "d"), call(c, "SADD", "s2", "c", "d", "e")})
	show("smembers", sortedStrings(c.Do("SMEMBERS", "s1")))
	show("sinter/sunion/sdiff", []interface{}{sortedStrings(c.Do("SINTER", "s1", "s2")), sortedStrings(c.Do("SUNION", "s1", "s2")), sortedStrings(c.Do("SDIFF", "s1", "s2"))})
	show("sismember/scard", []interface{}{call(c, "SISMEMBER", "s1", "a"), call(c, "SISMEMBER", "s1", "x"), call(c, "SCARD", "s1")})
	show("sinterstore", []interface{}{call(c, "SINTERSTORE", "s3", "s1", "s2"), sortedStrings(c.Do("SMEMBERS", "s3"))})
	show("srem/smove", []interface{}{call(c, "SREM", "s1", "a"), call(c, "SMOVE", "s1", "s2", "b"), sortedStrings(c.Do("SMEMBERS", "s2"))})
	members := redis.Args{}.Add("sbig")
	for i := 0; i < 500; i++ {
		members = members.Add(fmt.Sprintf("m%d", i))
	}
	call(c, "SADD", members...)
	show("sscan big", scanAll(c, "SSCAN", "sbig", "m1?", 50, 1))

	// Lists, LPOP with a count, BLPOP with a timeout
	show("rpush/lpush", []interface{}{call(c, "RPUSH", "l", "a", "b", "c", "d", "e"), call(c, "LPUSH", "l", "z")})
	show("lrange", call(c, "LRANGE", "l", 0, -1))
	show("lpop count", call(c, "LPOP", "l", 2))
	show("rpop/llen/lindex", []interface{}{call(c, "RPOP", "l"), call(c, "LLEN", "l"), call(c, "LINDEX", "l", 1)})
	show("blpop served", call(c, "BLPOP", "nolist", "l", 1))
	show("blpop timeout", call(c, "BLPOP", "nolist", 0.1))
	show("brpop served", call(c, "BRPOP", "l", 1))
	show("lset/linsert/lrem/ltrim", []interface{}{call(c, "LSET", "l", 0, "x"), call(c, "LINSERT", "l", "AFTER", "x", "y"), call(c, "LREM", "l", 0, "y"), call(c, "LTRIM", "l", 0, 0), call(c, "LRANGE", "l", 0, -1)})

	// SORT
	call(c, "RPUSH", "nums", 3, 1, 10, 2, -1, 2.5)
	show("sort", call(c, "SORT", "nums"))
	show("sort desc limit", call(c, "SORT", "nums", "DESC", "LIMIT", 1, 3))
	show("sort alpha", call(c, "SORT", "nums", "ALPHA"))
	call(c, "MSET", "w_3", 30, "w_1", 10, "w_10", 5, "w_2", 20, "w_-1", 100, "w_2.5", 25)
	call(c, "HSET", "o_1", "name", "one")
	show("sort by get", call(c, "SORT", "nums", "BY", "w_*", "GET", "#", "GET", "w_*", "GET", "o_*->name"))
	show("sort by nosort", call(c, "SORT", "nums", "BY", "nosort"))
	show("sort set", call(c, "SORT", "si"))
	call(c, "ZADD", "zs", 1, "b", 2, "a", 3, "c")
	show("sort zset alpha desc", call(c, "SORT", "zs", "ALPHA", "DESC"))
	show("sort store", []interface{}{call(c, "SORT", "nums", "STORE", "sorted"), call(c, "LRANGE", "sorted", 0, -1)})
	show("sort_ro", call(c, "SORT_RO", "nums", "LIMIT", 0, 2))
	show("sort wrongtype", call(c, "SORT", "h"))
	show("sort non-numeric", call(c, "SORT", "s2"))

	show("client setname", call(c, "CLIENT", "SETNAME", "clients-test"))
	show("client getname", call(c, "CLIENT", "GETNAME"))
	show("exists", call(c, "EXISTS", "foo", "a", "missing"))
	show("type", []interface{}{call(c, "TYPE", "foo"), call(c, "TYPE", "z"), call(c, "TYPE", "missing")})
	show("del", call(c, "DEL", "foo", "a", "missing"))
	show("final dbsize", call(c, "DBSIZE"))
	fmt.Println("done")
}

// sortedStrings: a reply whose order is a hash table's, as sorted strings.
func sortedStrings(reply interface{}, err error) interface{} {
	strs, err := redis.Strings(reply, err)
	if err != nil {
		return err
	}
	sort.Strings(strs)
	return fmt.Sprintf("%q", strs)
}

// scanAll runs a SCAN-family command from cursor 0 to the end and returns what it found, deduplicated and
// sorted (groups of `group` strings: a field and its value for HSCAN).
func scanAll(c redis.Conn, command string, key string, match string, count int, group int) interface{} {
	seen := map[string]bool{}
	cursor := "0"
	for {
		values, err := redis.Values(c.Do(command, key, cursor, "MATCH", match, "COUNT", count))
		if err != nil {
			return err
		}
		var page []string
		if _, err := redis.Scan(values, &cursor, &page); err != nil {
			return err
		}
		for i := 0; i+group <= len(page); i += group {
			seen[strings.Join(page[i:i+group], "=")] = true
		}
		if cursor == "0" {
			break
		}
	}
	found := make([]string, 0, len(seen))
	for k := range seen {
		found = append(found, k)
	}
	sort.Strings(found)
	return fmt.Sprintf("%q", found)
}
