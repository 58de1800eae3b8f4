"""redis-py's transactions, locks and blocking workers, unchanged, against one server (issue 12).

    python3 redis_py_transactions.py PORT [protocol=2|protocol=3] [lock]

Prints a deterministic transcript; run.sh runs it against redis-server and needletail and diffs the two.
Covers: pipeline() (MULTI/EXEC by default) with results and errors, EXECABORT, WATCH retry loops in 4
processes incrementing one counter (must end at exactly 4 x 250), Redis.transaction(), and a BLPOP worker fed
by another thread, with its timeout. With `lock`, only redis.lock.Lock (acquire, contention, release): its
release runs a Lua script (EVALSHA), so that row waits for scripting (issue 18).
"""
import multiprocessing
import sys
import threading
import time

import redis
from redis.exceptions import WatchError


def connect(port, protocol):
    return redis.Redis(port=port, protocol=protocol, decode_responses=True)


def watch_increments(port, protocol, n):
    r = connect(port, protocol)
    for _ in range(n):
        with r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch("counter")
                    value = int(pipe.get("counter") or 0)
                    pipe.multi()
                    pipe.set("counter", value + 1)
                    pipe.execute()
                    break
                except WatchError:
                    continue


def main():
    port = int(sys.argv[1])
    protocol = 3 if len(sys.argv) > 2 and sys.argv[2] == "protocol=3" else 2
    r = connect(port, protocol)
    r.flushall()
    out = []
    other = connect(port, protocol)
    if len(sys.argv) > 3 and sys.argv[3] == "lock":
        lock_scenario(r, other, out)
    else:
        transaction_scenario(port, protocol, r, other, out)
    for line in out:
        print(line)


def transaction_scenario(port, protocol, r, other, out):

    # pipeline(): MULTI ... EXEC, results in order, a runtime error inside the array.
    with r.pipeline() as pipe:
        pipe.set("a", "1").incr("a").get("a").lpush("a", "x").hset("h", mapping={"f": "v"}).hgetall("h")
        out.append(("pipeline", pipe.execute(raise_on_error=False)))
    # An error while queuing: EXECABORT.
    with r.pipeline() as pipe:
        pipe.set("b", "1")
        pipe.execute_command("NOSUCHCOMMAND", "x")
        try:
            pipe.execute()
            out.append(("execabort", "no error"))
        except Exception as e:  # redis-py raises ResponseError/ExecAbortError with Redis's text
            out.append(("execabort", type(e).__name__, str(e)))
    out.append(("b after abort", r.get("b")))

    # WATCH retry loops: 4 processes, 250 increments each, on one counter.
    procs = [multiprocessing.Process(target=watch_increments, args=(port, protocol, 250)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    out.append(("watch counter", r.get("counter")))

    # Redis.transaction(): WATCH, the function, MULTI/EXEC, retried on WatchError.
    r.set("balance", 100)

    def withdraw(pipe):
        balance = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", balance - 30)

    r.transaction(withdraw, "balance")
    out.append(("transaction", r.get("balance")))

    # A watched key changed by another client: WatchError.
    with r.pipeline() as pipe:
        pipe.watch("balance")
        other.incr("balance")
        pipe.multi()
        pipe.set("balance", 0)
        try:
            pipe.execute()
            out.append(("watch error", "none"))
        except WatchError as e:
            out.append(("watch error", type(e).__name__))
    out.append(("balance", r.get("balance")))

    # A BLPOP worker over two queues, fed by another thread; then its timeout.
    def feed():
        feeder = connect(port, protocol)
        for i in range(5):
            time.sleep(0.02)
            feeder.rpush("q2" if i % 2 else "q1", f"job{i}")
        feeder.rpush("q1", "stop")

    threading.Thread(target=feed).start()
    jobs = []
    while True:
        item = r.blpop(["q1", "q2"], timeout=2)
        if item is None or item[1] == "stop":
            break
        jobs.append(item)
    out.append(("jobs", jobs))
    out.append(("blpop timeout", r.blpop(["q1", "q2"], timeout=0.1)))
    out.append(("brpoplpush", r.rpush("src", "x"), r.brpoplpush("src", "dst", timeout=1), r.lrange("dst", 0, -1)))
    out.append(("bzpopmin", r.zadd("z", {"m": 1}), r.bzpopmin("z", timeout=1)))


def lock_scenario(r, other, out):
    # redis.lock.Lock: SET NX PX to acquire; release and extend run Lua scripts (EVALSHA).
    lock = r.lock("resource", timeout=5)
    out.append(("lock acquire", lock.acquire(blocking=False)))
    contender = other.lock("resource", timeout=5)
    out.append(("contender", contender.acquire(blocking=True, blocking_timeout=0.2)))
    out.append(("locked", lock.locked(), r.ttl("resource") > 0))
    try:
        lock.release()
        out.append(("release", "ok"))
    except Exception as e:
        out.append(("release", type(e).__name__))
    out.append(("after release", r.exists("resource")))


if __name__ == "__main__":
    main()
