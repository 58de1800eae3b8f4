#!/usr/bin/env python3
"""PING latency seen by one client while another deletes a huge sorted set (issue 4's lazyfree check).

Usage: bench/lazyfree_latency.py PORT [MEMBERS] [COMMAND]   (COMMAND: DEL or UNLINK, default DEL)

Loads MEMBERS (default 5,000,000) into one sorted set, then a pinger thread sends PING back to back on its own
connection while the main thread sends COMMAND on another; prints how long the delete took and the pinger's
latency percentiles in the window around it. Run it against needletail and redis-server on the same machine.
"""
import socket
import sys
import threading
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_line(sock, buf):
    while b"\r\n" not in buf:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    line, _, rest = buf.partition(b"\r\n")
    return line, rest


def load(port, members):
    s = connect(port)
    s.sendall(command("DEL", "big"))
    buf = b""
    _, buf = read_line(s, buf)
    batch = 1000
    sent = 0
    pending = 0
    for start in range(0, members, batch):
        args = ["ZADD", "big"]
        for i in range(start, min(members, start + batch)):
            args += [str(i), "member:%09d" % i]
        s.sendall(command(*args))
        sent += 1
        pending += 1
        while pending > 16:
            _, buf = read_line(s, buf)
            pending -= 1
    while pending:
        _, buf = read_line(s, buf)
        pending -= 1
    s.sendall(command("ZCARD", "big"))
    line, buf = read_line(s, buf)
    s.close()
    return int(line[1:])


def main():
    port = int(sys.argv[1])
    members = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
    verb = sys.argv[3] if len(sys.argv) > 3 else "DEL"
    loaded = load(port, members)
    samples = []  # (send time, latency)
    stop = threading.Event()

    def pinger():
        s = connect(port)
        buf = b""
        ping = command("PING")
        while not stop.is_set():
            t0 = time.perf_counter()
            s.sendall(ping)
            _, buf = read_line(s, buf)
            samples.append((t0, time.perf_counter() - t0))
        s.close()

    thread = threading.Thread(target=pinger)
    thread.start()
    time.sleep(0.5)
    deleter = connect(port)
    t0 = time.perf_counter()
    deleter.sendall(command(verb, "big"))
    reply, _ = read_line(deleter, b"")
    delete_time = time.perf_counter() - t0
    time.sleep(1.5)
    stop.set()
    thread.join()
    window = sorted(lat for (t, lat) in samples if t0 - 0.1 <= t <= t0 + 1.5)
    pct = lambda p: window[min(len(window) - 1, int(p * len(window)))] * 1000
    print(f"members={loaded} {verb} reply={reply.decode()} took={delete_time * 1000:.1f} ms; "
          f"PING during: n={len(window)} p50={pct(0.5):.3f} ms p99={pct(0.99):.3f} ms max={window[-1] * 1000:.3f} ms")


if __name__ == "__main__":
    main()
