#!/usr/bin/env python3
"""Runs Lua snippets on our libraries (the harness) and on redis-server 7.0's
EVAL (the oracle), and compares the two outputs line by line.

    compare.py --harness build/harness [--port P] [--random N --seed S]
               [--keep-going] [--show N] CORPUS...

Each snippet becomes the same script text on both sides (see prelude.lua and
harness.c): the prelude joined into one line, then
"return __run(function() <snippet>\nend)". The harness prints one line per
snippet; the oracle's reply (a bulk string, or an error for a snippet that
fails outside __run's pcall) is put in the same form.

Without --port an oracle is started on a free port (redis-server --save ''
--appendonly no --daemonize yes) and shut down at the end. --random N adds
N snippets from gen_random.py with --seed S.
Exit status 0 when every snippet matches.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ next to gen_random.py


# --------------------------------------------------------------------------
# A minimal RESP2 client.

class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode("latin-1")
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("oracle closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        """A reply: bytes, int, None, list, or ('error', bytes)."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ("error", rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError("unexpected reply %r" % line)

    def call(self, *args):
        self.send(*args)
        return self.read()


# --------------------------------------------------------------------------
# Oracle lifetime.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_oracle():
    port = free_port()
    while port == 6379:
        port = free_port()
    pidfile = os.path.join(tempfile.gettempdir(), "cscripting-oracle-%d.pid" % port)
    subprocess.run(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                    "--daemonize", "yes", "--pidfile", pidfile], check=True,
                   stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            Resp(port).call("PING")
            return port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("oracle did not start on port %d" % port)


def stop_oracle(port):
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# Scripts and results.

def read_prelude():
    with open(os.path.join(HERE, "prelude.lua"), encoding="latin-1") as f:
        lines = [l.rstrip("\r\n") for l in f]
    return "".join(l + " " for l in lines if l and not l.startswith("--"))


def read_corpus(path):
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line and not line.startswith("#"):
                yield line


def escape(data):
    return "".join("\\x%02x" % c if c < 32 or c >= 127 or c == 92 else chr(c) for c in data)


ERROR_TAIL = re.compile(rb" script: [0-9a-f]{40}, on @user_script:\d+\.$")


def oracle_line(reply):
    if isinstance(reply, tuple):  # an error outside __run's pcall
        msg = reply[1]
        if msg.startswith(b"ERR "):
            msg = msg[4:]
        msg = ERROR_TAIL.sub(b"", msg)
        msg = msg.replace(b"Error compiling script (new function): ", b"")
        return "ERR " + escape(msg)
    if isinstance(reply, bytes):
        return reply.decode("latin-1")
    return "UNEXPECTED " + repr(reply)


def run_oracle(port, prelude, snippets, batch=64):
    conn = Resp(port)
    out = []
    for start in range(0, len(snippets), batch):
        chunk = snippets[start:start + batch]
        for s in chunk:
            conn.send("EVAL", prelude + "return __run(function() " + s + "\nend)", "0")
        for _ in chunk:
            out.append(oracle_line(conn.read()))
        if (start // batch) % 16 == 15:
            conn.call("SCRIPT", "FLUSH")  # EVAL keeps every script: don't pile them up
    conn.call("SCRIPT", "FLUSH")
    return out


def run_harness(harness, snippets):
    with tempfile.NamedTemporaryFile("w", encoding="latin-1", suffix=".txt", delete=False) as f:
        f.write("".join(s + "\n" for s in snippets))
        path = f.name
    try:
        proc = subprocess.run([harness, os.path.join(HERE, "prelude.lua"), path],
                              stdout=subprocess.PIPE, check=False)
    finally:
        os.unlink(path)
    lines = proc.stdout.decode("latin-1").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if proc.returncode != 0:
        lines.append("HARNESS EXITED WITH %d" % proc.returncode)
    return lines


def clip(s, n=400):
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="*")
    ap.add_argument("--harness", required=True)
    ap.add_argument("--port", type=int)
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=20, help="mismatches to print")
    args = ap.parse_args()

    groups = []  # (name, snippets)
    for path in args.corpus:
        groups.append((os.path.basename(path), list(read_corpus(path))))
    if args.random:
        import gen_random
        groups.append(("random(seed=%d)" % args.seed, gen_random.generate(args.random, args.seed)))
    snippets = [s for _, g in groups for s in g]
    names = [name for name, g in groups for _ in g]

    ours = run_harness(args.harness, snippets)
    port = args.port or start_oracle()
    try:
        theirs = run_oracle(port, read_prelude(), snippets)
    finally:
        if not args.port:
            stop_oracle(port)

    bad = 0
    for i, s in enumerate(snippets):
        a = ours[i] if i < len(ours) else "(no output)"
        b = theirs[i]
        if a != b:
            bad += 1
            if bad <= args.show:
                print("MISMATCH %s #%d: %s" % (names[i], i + 1, clip(s)))
                print("  ours:   %s" % clip(a))
                print("  oracle: %s" % clip(b))
    if len(ours) > len(snippets):
        print("extra harness output: %s" % clip(ours[len(snippets)]))
        bad += 1
    for name, g in groups:
        print("%-22s %6d snippets" % (name, len(g)))
    oks = sum(1 for t in theirs if t.startswith("OK"))
    print("compared %d snippets (%d return values, %d errors on the oracle): %d mismatches"
          % (len(snippets), oks, len(snippets) - oks, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
