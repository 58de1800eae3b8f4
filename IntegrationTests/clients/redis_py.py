#!/usr/bin/env python3
"""The common client scenario through redis-py.

usage: redis_py.py PORT [default|protocol=2|protocol=3] [hiredis|python]

`default` constructs redis.Redis(port=PORT) and nothing else: redis-py 8 then speaks RESP3 (HELLO 3),
offers CLIENT MAINT_NOTIFICATIONS and sends CLIENT SETINFO, exactly as an application would.
`python` hides the hiredis module before redis-py is imported, so redis-py falls back to its own parser
exactly as on a machine without hiredis; `hiredis` requires it to be there.

Everything printed is deterministic for a given server behaviour, so run.sh diffs the output for
redis-server against the output for needletail. Values that legitimately differ between servers
(versions, pids, ports, memory) are printed as their type or as a check, never as their value.
"""
import sys

port = int(sys.argv[1])
variant = sys.argv[2] if len(sys.argv) > 2 else "default"
parser = sys.argv[3] if len(sys.argv) > 3 else "hiredis"
if parser == "python":
    sys.modules["hiredis"] = None  # makes `import hiredis` raise ImportError inside redis-py

import redis  # noqa: E402
from redis.utils import HIREDIS_AVAILABLE  # noqa: E402

if parser == "hiredis" and not HIREDIS_AVAILABLE:
    sys.exit("hiredis parser requested but redis-py cannot use it (pip install hiredis)")

kwargs = {}
if variant.startswith("protocol="):
    kwargs["protocol"] = int(variant.split("=", 1)[1])
r = redis.Redis(port=port, **kwargs)


def show(label, value):
    print(f"{label}: {value!r}")


def error_of(fn):
    try:
        return f"no error: {fn()!r}"
    except redis.RedisError as e:
        return f"{type(e).__name__}: {e}"


show("ping", r.ping())
conn = r.connection_pool.get_connection()
show("parser", type(conn._parser).__name__)
show("protocol", conn.get_protocol())
hello = conn.handshake_metadata
if hello is not None:
    # HELLO's map: fields that are the same for both servers, and the types of the others.
    show("hello", {k: (v if k in (b"server", b"proto", b"mode", b"role", b"modules") else type(v).__name__)
                   for k, v in sorted(hello.items())})
r.connection_pool.release(conn)
show("flushall", r.flushall())

# Strings
show("set", r.set("foo", "bar"))
show("get", r.get("foo"))
show("get missing", r.get("missing"))
show("set nx on existing", r.set("foo", "x", nx=True))
show("incr", [r.incr("counter") for _ in range(3)])
show("incrby", r.incrby("counter", 10))
show("incrbyfloat", [r.incrbyfloat("fl", 0.1), r.incrbyfloat("fl", 0.1)])
show("mset", r.mset({"a": "1", "b": "2", "c": "3"}))
show("mget", r.mget("a", "b", "missing", "c"))

# A pipeline of 100 commands (no MULTI), sent in one write.
pipe = r.pipeline(transaction=False)
for i in range(100):
    if i % 2 == 0:
        pipe.set(f"p:{i}", i)
    else:
        pipe.incr("pcounter")
results = pipe.execute()
show("pipeline count", len(results))
show("pipeline results", results)
show("pipeline check", [r.get("p:98"), r.get("pcounter")])

# INFO, parsed by redis-py into a dict
info = r.info()
show("info type", type(info).__name__)
for field in ("redis_version", "process_id", "uptime_in_seconds", "used_memory", "used_memory_human",
              "total_commands_processed", "keyspace_hits", "keyspace_misses", "connected_clients",
              "total_connections_received", "used_memory_rss", "instantaneous_ops_per_sec", "mem_fragmentation_ratio"):
    show(f"info {field} type", type(info.get(field)).__name__)
for field in ("redis_mode", "arch_bits", "role", "loading", "maxmemory", "maxmemory_policy", "connected_slaves",
              "aof_enabled", "cluster_enabled"):
    show(f"info {field}", info.get(field))
show("info tcp_port is our port", info.get("tcp_port") == port)
show("info db0", {k: v for k, v in info.get("db0", {}).items() if k != "avg_ttl"})
show("info keyspace section", {db: {k: v for k, v in d.items() if k != "avg_ttl"}
                               for db, d in r.info("keyspace").items()})
show("info server section has redis_version", "redis_version" in r.info("server"))
show("dbsize", r.dbsize())

# Sorted sets
show("zadd", r.zadd("z", {"a": 1, "b": 2, "c": 3.5, "d": -1}))
show("zrange withscores", r.zrange("z", 0, -1, withscores=True))
show("zrevrange withscores", r.zrevrange("z", 0, 1, withscores=True))
show("zscore", r.zscore("z", "c"))
show("zrangebyscore", r.zrangebyscore("z", 1, "+inf", withscores=True))
show("zincrby", r.zincrby("z", 0.5, "a"))
show("zcard", r.zcard("z"))

# Errors
r.set("notanumber", "abc")
show("incr error", error_of(lambda: r.incr("notanumber")))
show("wrongtype error", error_of(lambda: r.get("z")))
show("unknown command", error_of(lambda: r.execute_command("NOSUCHCOMMAND", "x")))
show("arity error", error_of(lambda: r.execute_command("GET")))
show("syntax error", error_of(lambda: r.execute_command("SET", "k", "v", "BOGUS")))
show("error inside pipeline", error_of(lambda: r.pipeline(transaction=False).set("x", 1).incr("notanumber").execute()))
show("pipeline raise_on_error=False", [f"{type(v).__name__}: {v}" if isinstance(v, Exception) else v
                                       for v in r.pipeline(transaction=False).set("x", 1).incr("notanumber")
                                       .get("x").execute(raise_on_error=False)])

# Expiry
r.set("e", "v")
show("expire", r.expire("e", 100))
show("ttl", r.ttl("e"))
show("ttl no expiry", r.ttl("foo"))
show("ttl missing", r.ttl("missing"))
show("persist", r.persist("e"))
show("set ex", r.set("e2", "v", ex=50))
show("ttl after set ex", r.ttl("e2"))
show("pexpire missing, set px", [r.pexpire("e3", 10), r.set("e3", "v", px=100_000)])
show("pttl in range", 99_000 < r.pttl("e3") <= 100_000)

# Binary values and keys: every byte value, CR LF and NUL
blob = bytes(range(256)) + b"\r\n\x00end\r\n"
key = b"bin\x00key\r\n"
show("binary set", r.set(key, blob))
show("binary get equal", r.get(key) == blob)
show("binary strlen", r.strlen(key))
show("binary mget", r.mget(key, "foo") == [blob, b"bar"])
show("binary append", r.append(key, b"\x00\xff"))
show("binary getrange", r.getrange(key, -4, -1))
show("large value", r.set("large", b"x" * 1_000_000) and len(r.get("large")))

# Other helpers applications use, each with its redis-py reply callback
show("config_get (order is the server's hash order)", sorted(r.config_get("maxmemory*").items()))
show("scan_iter", sorted(r.scan_iter(match="p:1*", count=7)))
show("keys", sorted(r.keys("p:9*")))
show("time", [type(x).__name__ for x in r.time()])
show("client_id type", type(r.client_id()).__name__)
show("object encoding", [r.object("encoding", k) for k in ("counter", "foo", "z")])
show("getdel/getex", [r.getdel("b"), r.getex("c", ex=30), r.ttl("c")])
show("set get=True", r.set("foo", "baz", get=True))
show("copy/rename", [r.copy("foo", "foo2"), r.rename("foo2", "foo3"), r.get("foo3")])
show("select db1 and back", [r.execute_command("SELECT", 1), r.dbsize(), r.execute_command("SELECT", 0)])

# Hashes: a small one (listpack: insertion order, the same in both servers), a big one (hashtable: sorted)
show("hset mapping", r.hset("h", mapping={"name": "ann", "age": "31", "city": "Oslo"}))
show("hset one", r.hset("h", "age", "32"))
show("hgetall", r.hgetall("h"))
show("hget/hmget", [r.hget("h", "name"), r.hmget("h", "city", "missing", "name")])
show("hincrby", [r.hincrby("h", "age", 5), r.hincrby("h", "visits", -2)])
show("hincrbyfloat", r.hincrbyfloat("h", "age", 0.25))
show("hlen/hexists/hdel", [r.hlen("h"), r.hexists("h", "city"), r.hdel("h", "city", "missing"), r.hexists("h", "city")])
show("hkeys/hvals", [r.hkeys("h"), r.hvals("h")])
r.hset("hbig", mapping={f"field:{i}": i for i in range(300)})
show("hgetall big (sorted)", sorted(r.hgetall("hbig").items())[:5])
show("hscan_iter big", sorted(r.hscan_iter("hbig", match="field:1?", count=20)))
show("hscan small", r.hscan("h"))
show("hincrby error", error_of(lambda: r.hincrby("h", "name", 1)))

# Sets: an intset (sorted in both servers) and sets of strings (order-free: sorted)
show("sadd ints", r.sadd("si", 5, 3, 10, 1, -7))
show("smembers intset", sorted(r.smembers("si"), key=int))
show("sadd strings", [r.sadd("s1", "a", "b", "c", "d"), r.sadd("s2", "c", "d", "e")])
show("smembers type", type(r.smembers("s1")).__name__)
show("smembers", sorted(r.smembers("s1")))
show("sinter/sunion/sdiff", [sorted(r.sinter("s1", "s2")), sorted(r.sunion("s1", "s2")), sorted(r.sdiff("s1", "s2"))])
show("sismember/smismember/scard", [r.sismember("s1", "a"), r.smismember("s1", ["a", "x"]), r.scard("s1")])
show("sinterstore", [r.sinterstore("s3", ["s1", "s2"]), sorted(r.smembers("s3"))])
show("srem/smove", [r.srem("s1", "a", "zz"), r.smove("s1", "s2", "b"), sorted(r.smembers("s2"))])
r.sadd("sbig", *[f"m{i}" for i in range(500)])
show("sscan_iter big", sorted(r.sscan_iter("sbig", match="m1?", count=50)))
show("sintercard", r.execute_command("SINTERCARD", 2, "s1", "s2"))
show("spop all", sorted(r.spop("s3", 10)))

# Lists, including LPOP with a count and BLPOP with a timeout (served at once, and timing out)
show("rpush/lpush", [r.rpush("l", "a", "b", "c", "d", "e"), r.lpush("l", "z")])
show("lrange", r.lrange("l", 0, -1))
show("lpop count", r.lpop("l", 2))
show("rpop/llen/lindex", [r.rpop("l"), r.llen("l"), r.lindex("l", 1)])
show("lpop count on missing", r.lpop("nolist", 2))
show("blpop served", r.blpop(["nolist", "l"], timeout=1))
show("blpop timeout", r.blpop(["nolist"], timeout=0.1))
show("brpop served", r.brpop("l", timeout=1))
show("lpos/lset/linsert", [r.lpos("l", "d"), r.lset("l", 0, "x"), r.linsert("l", "after", "x", "y"), r.lrange("l", 0, -1)])
show("lmove/lrem/ltrim", [r.lmove("l", "l2", "LEFT", "RIGHT"), r.lrem("l", 0, "y"), r.ltrim("l2", 0, 0), r.lrange("l2", 0, -1)])
show("lmpop", r.lmpop(2, "nolist", "l2", direction="LEFT", count=5))

# SORT over a list, a set and a sorted set: numeric, ALPHA, BY weights, GET, LIMIT, STORE
r.rpush("nums", 3, 1, 10, 2, -1, 2.5)
show("sort", r.sort("nums"))
show("sort desc limit", r.sort("nums", desc=True, start=1, num=3))
show("sort alpha", r.sort("nums", alpha=True))
r.mset({"w_3": 30, "w_1": 10, "w_10": 5, "w_2": 20, "w_-1": 100, "w_2.5": 25})
r.hset("o_1", "name", "one"); r.hset("o_10", "name", "ten")
show("sort by get", r.sort("nums", by="w_*", get=["#", "w_*", "o_*->name"]))
show("sort by nosort", r.sort("nums", by="nosort"))
show("sort set", r.sort("si"))
r.zadd("zs", {"b": 1, "a": 2, "c": 3})
show("sort zset alpha desc", r.sort("zs", alpha=True, desc=True))
show("sort store", [r.sort("nums", store="sorted"), r.lrange("sorted", 0, -1)])
show("sort_ro", r.sort_ro("nums", start=0, num=2))
show("sort missing", r.sort("nosuchlist"))
show("sort wrongtype", error_of(lambda: r.sort("h")))
show("sort non-numeric", error_of(lambda: r.sort("s2")))
show("memory usage types", [type(r.memory_usage(k)).__name__ for k in ("h", "si", "nums", "zs", "counter", "missing")])

show("client setname", r.client_setname("clients-test"))
show("client getname", r.client_getname())
# CLIENT INFO parsed into a dict. needletail also lists lib-name/lib-ver (filled by redis-py's CLIENT SETINFO),
# as redis-server 7.2 does; 7.0 has neither the fields nor the command.
client = r.client_info()
show("client_info fields", [k for k in client if k not in ("lib-name", "lib-ver")])
show("client_info values", {k: client[k] for k in ("name", "db", "flags", "cmd", "resp", "multi", "sub", "user")})
show("echo", r.echo(b"hello\x00world"))
show("exists", r.exists("foo", "a", "missing"))
show("type", [r.type("foo"), r.type("z"), r.type("missing")])
show("delete", r.delete("foo", "a", "missing"))
show("final dbsize", r.dbsize())
r.close()
print("done")
