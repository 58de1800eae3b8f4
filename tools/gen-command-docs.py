#!/usr/bin/env python3
"""Generates Sources/Needletail/Commands/CommandDocs.swift from a running redis-server 7.0.

The command table (CommandTable.swift and the family files) holds what we decide ourselves: name, arity,
flags, key range, group, since, summary, complexity. What we take from Redis as data is dumped here:

  doc        COMMAND DOCS fields other than those above: doc_flags, deprecated_since, replaced_by, history,
             arguments (redis-cli builds its hints from the arguments)
  acl        the ACL categories Redis declares explicitly, i.e. minus those implied by the command flags
             (Redis adds @write, @read, @admin/@dangerous, @pubsub, @fast, @slow, @blocking itself)
  tips       COMMAND INFO tips
  key_specs  COMMAND INFO key specifications

Usage:
  tools/gen-command-docs.py --oracle 7700 --ours 7800      # every command (and subcommand) that a running
                                                           # needletail-server lists in COMMAND LIST
  tools/gen-command-docs.py --oracle 7700 --all            # every command redis-server knows
  tools/gen-command-docs.py --oracle 7700 get set client   # these commands (a container brings its subcommands)

Commands Redis added in 7.2 that we implement (CLIENT SETINFO, CLIENT NO-TOUCH, WAITAOF) are written out below
(REDIS_7_2) and used when the oracle does not know them; commands whose arguments 7.2 extended and that we
implement as 7.2 does (ZRANK and ZREVRANK WITHSCORE) take their 7.2 history and arguments from
REDIS_7_2_ARGUMENTS.

One line per command, `name {...}`, in a small notation that keeps RESP3's types so the server can replay
them in RESP2 or RESP3: {key:value,...} map, [...] array, <...> set, "..." bulk string (\\ and \" escaped),
+word simple string, 123 integer.
"""
import argparse
import re
import socket
import sys

OUT = "Sources/Needletail/Commands/CommandDocs.swift"
TABLE_FIELDS = {"summary", "since", "group", "complexity", "subcommands"}
IMPLIED_ACL = {"write": "@write", "readonly": "@read", "admin": "@admin", "pubsub": "@pubsub",
               "fast": "@fast", "blocking": "@blocking"}


class Set(list):
    pass


class Map(list):  # list of (key, value) pairs, in Redis's order
    pass


class Simple(str):
    pass


class Resp3:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.call("HELLO", "3")

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

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

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"$", b"="):
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"+":
            return Simple(rest.decode())
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"_":
            return None
        if kind == b"*":
            return [self._read() for _ in range(int(rest))]
        if kind == b"~":
            return Set(self._read() for _ in range(int(rest)))
        if kind == b"%":
            return Map((self._read(), self._read()) for _ in range(int(rest)))
        raise RuntimeError("unexpected reply type %r" % line)

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._read()


# Commands from Redis 7.2 that Needletail implements (clients send them on connect) but a 7.0 oracle does
# not know: their 7.2 data, written out here. Used only when the oracle lacks the command.
def _token(name, token, kind="pure-token"):
    return Map([("name", name), ("type", kind), ("token", token)])


REDIS_7_2 = {
    "client|setinfo": Map([
        ("doc", Map([("arguments", [Map([("name", "attr"), ("type", "oneof"), ("arguments", [
            _token("libname", "lib-name", "string"), _token("libver", "lib-ver", "string")])])])])),
        ("acl", Set([Simple("@connection")])), ("tips", Set()), ("key_specs", Set())]),
    "waitaof": Map([
        ("doc", Map([("arguments", [Map([("name", "numlocal"), ("type", "integer")]),
                                    Map([("name", "numreplicas"), ("type", "integer")]),
                                    Map([("name", "timeout"), ("type", "integer")])])])),
        ("acl", Set([Simple("@connection")])),
        ("tips", Set(["request_policy:all_shards", "response_policy:agg_min"])), ("key_specs", Set())]),
    "client|no-touch": Map([
        ("doc", Map([("arguments", [Map([("name", "enabled"), ("type", "oneof"), ("arguments", [
            _token("on", "ON"), _token("off", "OFF")])])])])),
        ("acl", Set([Simple("@connection")])), ("tips", Set()), ("key_specs", Set())]),
}


# Commands whose arguments Redis 7.2 extended, implemented as 7.2 does: their 7.2 history and arguments.
def _rank_arguments():
    return Map([
        ("history", Set([["7.2.0", "Added the optional `WITHSCORE` argument."]])),
        ("arguments", [Map([("name", "key"), ("type", "key"), ("key_spec_index", 0)]),
                       Map([("name", "member"), ("type", "string")]),
                       Map([("name", "withscore"), ("type", "pure-token"), ("token", "WITHSCORE"),
                            ("flags", Set([Simple("optional")]))])]),
    ])


REDIS_7_2_ARGUMENTS = {"zrank": _rank_arguments(), "zrevrank": _rank_arguments()}


def encode(value):
    if isinstance(value, Map):
        return "{" + ",".join(key_text(k) + ":" + encode(v) for k, v in value) + "}"
    if isinstance(value, Set):
        return "<" + ",".join(encode(v) for v in value) + ">"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    if isinstance(value, Simple):
        assert re.fullmatch(r"[^,\]}>\s]+", value), value
        return "+" + value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        assert '"""#' not in value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(repr(value))


def key_text(key):
    return key if re.fullmatch(r"[a-z_]+", key) else encode(key)


def plain_list(command_list):
    return [name.decode() if isinstance(name, bytes) else name for name in command_list]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oracle", type=int, required=True, help="port of a redis-server 7.0")
    parser.add_argument("--ours", type=int, help="port of a needletail-server whose COMMAND LIST to cover")
    parser.add_argument("--all", action="store_true", help="every command the oracle knows")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()

    oracle = Resp3(args.oracle)
    version = dict(oracle.call("HELLO", "3"))["version"]
    docs = dict(oracle.call("COMMAND", "DOCS"))
    infos = {info[0]: info for info in oracle.call("COMMAND", "INFO")}

    # Flatten containers: "client|kill" gets its own entry, as COMMAND DOCS/INFO accept that name.
    for name in list(docs):
        for sub, sub_doc in dict(docs[name]).get("subcommands", []):
            docs[sub] = sub_doc
    for info in list(infos.values()):
        for sub in info[9]:
            infos[sub[0]] = sub

    if args.all:
        wanted = sorted(docs)
    elif args.ours:
        wanted = sorted(plain_list(Resp3(args.ours).call("COMMAND", "LIST")))
    else:
        wanted = []
        for name in args.names:
            name = name.lower()
            wanted.append(name)
            wanted += [sub for sub, _ in dict(docs.get(name, [])).get("subcommands", [])]
    if not wanted:
        parser.error("name the commands: --ours PORT, --all or names")

    lines = []
    missing = []
    for name in wanted:
        if name not in docs or name not in infos:
            if name in REDIS_7_2:
                lines.append(name + " " + encode(REDIS_7_2[name]))
            else:
                missing.append(name)
            continue
        info = infos[name]
        flags = {str(f) for f in info[2]}
        implied = {IMPLIED_ACL[f] for f in flags if f in IMPLIED_ACL} | {"@slow"}
        if "admin" in flags:
            implied.add("@dangerous")
        doc = Map((k, v) for k, v in docs[name] if k not in TABLE_FIELDS)
        if name in REDIS_7_2_ARGUMENTS:
            doc = Map([(k, v) for k, v in doc if k not in ("history", "arguments")] + REDIS_7_2_ARGUMENTS[name])
        entry = Map([
            ("doc", doc),
            ("acl", Set(c for c in info[6] if c not in implied)),
            ("tips", Set(info[7])),
            ("key_specs", Set(info[8])),
        ])
        lines.append(name + " " + encode(entry))

    with open(args.out, "w") as f:
        f.write("// GENERATED by tools/gen-command-docs.py from redis-server %s: do not edit by hand.\n" % version)
        f.write("// Data only (see the script for the notation); CommandCommands.swift reads it.\n\n")
        f.write('let commandDocsData = #"""\n')
        for line in lines:
            f.write(line + "\n")
        f.write('"""#\n')
    print("wrote %d commands to %s" % (len(lines), args.out))
    if missing:
        print("not known to the oracle (no generated docs): " + " ".join(missing), file=sys.stderr)


if __name__ == "__main__":
    main()
