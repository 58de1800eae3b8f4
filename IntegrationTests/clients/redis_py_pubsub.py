"""redis-py's pub/sub and client-side cache, unchanged, against one server (issue 13).

    python3 redis_py_pubsub.py PORT [protocol=2|protocol=3]

Prints a deterministic transcript; run.sh runs it against redis-server and needletail and diffs the two.
Covers: PubSub.subscribe/psubscribe with get_message (confirmations, messages, pattern messages, a timeout
that returns None), a handler run by run_in_thread, unsubscribe/punsubscribe, PUBSUB NUMSUB/NUMPAT/CHANNELS,
keyspace notifications through psubscribe, and with protocol=3 the client-side cache (cache_config), which
redis-py 8 refuses to enable below Redis 7.4: both servers must be refused alike.
"""
import sys
import threading
import time

import redis


def wait_message(p, timeout=2.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = p.get_message(timeout=0.1)
        if m is not None:
            return m
    return None


def show(m):
    if m is None:
        return "None"
    return f"{m['type']} {m.get('pattern')} {m['channel']} {m['data']}"


def main():
    port = int(sys.argv[1])
    protocol = 3 if len(sys.argv) > 2 and sys.argv[2] == "protocol=3" else 2
    r = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    r.flushall()
    r.config_set("notify-keyspace-events", "")
    p = r.pubsub()
    p.subscribe("news", "sport")
    p.psubscribe("weather.*")
    for _ in range(3):
        print("confirm", show(wait_message(p)))
    print("numsub", sorted(r.pubsub_numsub("news", "sport", "none")))
    print("numpat", r.pubsub_numpat())
    print("channels", sorted(r.pubsub_channels()))
    print("publish", r.publish("news", "hello"), r.publish("weather.rome", "sunny"), r.publish("none", "x"))
    print("message", show(wait_message(p)))
    print("pmessage", show(wait_message(p)))
    print("timeout", show(p.get_message(timeout=0.2)))
    p.unsubscribe("sport")
    print("unsubscribe", show(wait_message(p)))
    p.punsubscribe()
    print("punsubscribe", show(wait_message(p)))
    p.close()

    # A handler run in a thread.
    received = []
    done = threading.Event()

    def handler(message):
        received.append(message["data"])
        if len(received) == 3:
            done.set()

    q = r.pubsub()
    q.subscribe(**{"jobs": handler})
    thread = q.run_in_thread(sleep_time=0.05)
    deadline = time.time() + 5
    while r.pubsub_numsub("jobs")[0][1] != 1 and time.time() < deadline:
        time.sleep(0.01)
    for i in range(3):
        r.publish("jobs", f"job-{i}")
    print("run_in_thread", done.wait(5), received)
    thread.stop()
    thread.join(5)
    q.close()

    # Keyspace notifications.
    r.config_set("notify-keyspace-events", "KEA")
    k = r.pubsub()
    k.psubscribe("__keyspace@0__:*")
    print("keyspace confirm", show(wait_message(k)))
    r.set("watched", "1")
    r.expire("watched", 100)
    r.delete("watched")
    for _ in range(3):
        print("keyspace", show(wait_message(k)))
    k.close()
    r.config_set("notify-keyspace-events", "")

    if protocol == 3:
        # redis-py 8 enables its client-side cache only against servers that say 7.4 or later in HELLO; both
        # servers here say 7.x (needletail 7.2.4, as its INFO), so both must get the same refusal.
        from redis.cache import CacheConfig
        try:
            cached = redis.Redis(port=port, protocol=3, decode_responses=True, cache_config=CacheConfig())
            print("cache get", cached.get("c"))
        except redis.exceptions.ConnectionError as e:
            print("cache", type(e).__name__, e)
    print("done")


if __name__ == "__main__":
    main()
