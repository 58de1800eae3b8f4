#!/usr/bin/env python3
"""Seeded random snippets for compare.py: generate(n, seed) -> list of snippets.

    gen_random.py N SEED     prints them, one per line

Kinds (mixed evenly): cmsgpack.pack of random Lua values (numbers near every
width boundary, odd floats, binary strings of boundary lengths, arrays,
sparse and mixed tables, maps, nesting past the limit); pack/unpack round
trips; unpack, unpack_one and unpack_limit of random msgpack (every type
and width, including ones Lua can't hold, then sometimes cut short, padded
with garbage or with a byte changed); struct.pack/unpack/size with random
formats, values, data and positions.
"""
import math
import random
import struct as pystruct
import sys

# --------------------------------------------------------------------------
# Lua source for values.

INT_EDGES = [0, 1, 15, 16, 31, 32, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
             2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 - 1, 2**53, 2**62, 2**63 - 1024]
INT_EDGES = sorted(set(INT_EDGES + [-x for x in INT_EDGES] + [-33, -129, -32769, -2**31 - 1, -2**63]))
STR_LENGTHS = [0, 1, 2, 15, 16, 31, 32, 33, 255, 256, 257, 1000, 65535, 65536]


def lua_string(data):
    """A Lua expression for bytes: a literal, or for long data X(hex) pieces
    and R(byte, n) for runs, so that scripts stay small."""
    if len(data) > 200:
        return lua_bytes(data)
    out = []
    for b in data:
        c = chr(b)
        if (c.isascii() and c.isalnum()) or c in " _-+.,:;!?()[]{}<>=*/&%$#@~^|":
            out.append(c)
        else:
            out.append("\\%03d" % b)
    return "'" + "".join(out) + "'"


def lua_bytes(data):
    """(X('..') .. R('\\ddd', n) .. ...) for any bytes; runs of 32+ become R."""
    parts, i = [], 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        if j - i >= 32:
            parts.append("R('\\%03d', %d)" % (data[i], j - i))
            i = j
            continue
        k = i
        while k < len(data):  # up to the next long run
            r = k
            while r < len(data) and data[r] == data[k]:
                r += 1
            if r - k >= 32:
                break
            k = r
        parts.append("X('%s')" % data[i:k].hex())
        i = k
    return "(" + " .. ".join(parts or ["''"]) + ")"


def lua_number(x):
    if isinstance(x, int):
        return str(x) if x >= 0 else "(%d)" % x
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INF" if x > 0 else "(-INF)"
    if x == 0 and math.copysign(1, x) < 0:
        return "NEGZERO"
    r = repr(x)
    return r if x >= 0 else "(%s)" % r


def rand_float(rng):
    k = rng.random()
    if k < 0.3:
        bits = rng.getrandbits(64)
        x = pystruct.unpack("<d", bits.to_bytes(8, "little"))[0]
        return 0.5 if math.isnan(x) else x
    if k < 0.5:
        bits = rng.getrandbits(32)
        x = pystruct.unpack("<f", bits.to_bytes(4, "little"))[0]
        return 0.25 if math.isnan(x) else x
    if k < 0.6:
        return rng.choice([math.inf, -math.inf, math.nan, -0.0, 0.0, 1e308, -1e308, 5e-324,
                           3.4028234663852886e38, 3.4028235677973366e38, 2.0**63, -2.0**63, 2.0**64,
                           1.401298464324817e-45, 2.0**-150, 0.1, 1 / 3])
    if k < 0.8:
        return rng.choice(INT_EDGES) + rng.choice([0.5, -0.5, 0.25, 1e-9, 0.1])
    return rng.uniform(-1e6, 1e6)


def rand_int(rng):
    k = rng.random()
    if k < 0.6:
        return rng.choice(INT_EDGES) + rng.choice([-2, -1, 0, 0, 0, 1, 2])
    if k < 0.8:
        return rng.randint(-2**20, 2**20)
    return rng.randint(-2**64, 2**64)


def rand_number(rng):
    return rand_int(rng) if rng.random() < 0.65 else rand_float(rng)


def rand_bytes(rng, n):
    if rng.random() < 0.3 or n > 300:  # long strings: a random head, then one byte
        head = bytes(rng.getrandbits(8) for _ in range(min(n, 16)))
        return head + bytes([rng.choice(b"ab")]) * (n - len(head))
    return bytes(rng.getrandbits(8) for _ in range(n))


def rand_strlen(rng):
    if rng.random() < 0.7:
        return rng.choice(STR_LENGTHS[:9])
    return rng.choice(STR_LENGTHS)


def rand_key(rng, depth):
    k = rng.random()
    if k < 0.4:
        return lua_string(rand_bytes(rng, rng.randint(0, 6)))
    if k < 0.75:
        return lua_number(rng.choice([rng.randint(-3, 20), rand_number(rng)]))
    return rng.choice(["true", "false"])


def rand_table(rng, depth):
    k = rng.random()
    rng.budget -= 1  # tables left for this snippet: keeps nested constructors small
    if depth >= 22 or k < 0.05 or rng.budget < 0:
        return "{}"
    if k < 0.35:  # a sequence
        n = rng.choice([1, 2, 3, 5, 15, 16, 17])
        return "{" + ", ".join(rand_value(rng, depth + 1) for _ in range(n)) + "}"
    if k < 0.45:  # holes in a constructor
        n = rng.randint(1, 6)
        return "{" + ", ".join(rng.choice(["nil", rand_value(rng, depth + 1)]) for _ in range(n)) + "}"
    if k < 0.55:  # explicit integer keys, sometimes sparse or starting elsewhere
        keys = rng.sample(range(-1, 12), rng.randint(1, 6))
        return "{" + ", ".join("[%d] = %s" % (i, rand_value(rng, depth + 1)) for i in keys) + "}"
    if k < 0.65:  # deep chain
        return "nest(%d, %s)" % (rng.randint(10, 20), rand_value(rng, 30))
    if k < 0.7:  # built at run time
        return rng.choice(["seq(%d)" % rng.choice([15, 16, 65535, 65536, 70000]),
                           "seq(%d, function(i) return {i} end)" % rng.randint(1, 20),
                           "seq(%d, function(i) return 'k' .. i end)" % rng.randint(1, 40)])
    n = rng.choice([1, 2, 3, 4, 15, 16, 17])
    if n == 1 and rng.random() < 0.5:
        # Tables and functions hash by address, so the order of such keys
        # in a map differs between any two processes: only alone in a map.
        key = rand_table(rng, depth + 1) if rng.random() < 0.7 else "tostring"
        return "{[%s] = %s}" % (key, rand_value(rng, depth + 1))
    items = []
    for _ in range(n):
        items.append("[%s] = %s" % (rand_key(rng, depth), rand_value(rng, depth + 1)))
    if rng.random() < 0.3:
        items.append(rand_value(rng, depth + 1))  # positional among named
    return "{" + ", ".join(items) + "}"


def rand_value(rng, depth=0):
    k = rng.random()
    if k < 0.3:
        return lua_number(rand_number(rng))
    if k < 0.5:
        return lua_string(rand_bytes(rng, rand_strlen(rng)))
    if k < 0.55:
        return rng.choice(["true", "false", "nil", "tostring"])
    if depth >= 22 or rng.budget <= 0:
        return lua_number(rand_int(rng))
    return rand_table(rng, depth)


# --------------------------------------------------------------------------
# Random msgpack bytes.

def mp_uint(rng, v):
    """v (>= 0) in its smallest form, or sometimes a wider valid one."""
    forms = []
    if v <= 0x7f:
        forms.append(bytes([v]))
    if v <= 0xff:
        forms.append(b"\xcc" + bytes([v]))
    if v <= 0xffff:
        forms.append(b"\xcd" + v.to_bytes(2, "big"))
    if v <= 0xffffffff:
        forms.append(b"\xce" + v.to_bytes(4, "big"))
    forms.append(b"\xcf" + v.to_bytes(8, "big"))
    if v < 2**63:
        forms.append(b"\xd3" + v.to_bytes(8, "big", signed=True))
    return forms[0] if rng.random() < 0.6 else rng.choice(forms)


def mp_int(rng, v):
    if v >= 0:
        return mp_uint(rng, v)
    forms = []
    if v >= -32:
        forms.append(v.to_bytes(1, "big", signed=True))
    if v >= -128:
        forms.append(b"\xd0" + v.to_bytes(1, "big", signed=True))
    if v >= -32768:
        forms.append(b"\xd1" + v.to_bytes(2, "big", signed=True))
    if v >= -2**31:
        forms.append(b"\xd2" + v.to_bytes(4, "big", signed=True))
    forms.append(b"\xd3" + v.to_bytes(8, "big", signed=True))
    return forms[0] if rng.random() < 0.6 else rng.choice(forms)


def mp_len(rng, n, fix_base, fix_max, tags):
    """A length header: fix form, or 8/16/32-bit with `tags` (None to skip)."""
    forms = []
    if n <= fix_max:
        forms.append(bytes([fix_base | n]))
    for tag, width in tags:
        if tag is not None and n < 256 ** width:
            forms.append(bytes([tag]) + n.to_bytes(width, "big"))
    return forms[0] if rng.random() < 0.6 else rng.choice(forms)


def mp_value(rng, depth=0):
    k = rng.random()
    if k < 0.1:
        return rng.choice([b"\xc0", b"\xc2", b"\xc3"])
    if k < 0.35:
        v = rng.choice([rng.choice(INT_EDGES) + rng.randint(-1, 1), rng.randint(-2**63, 2**64 - 1),
                        rng.randint(-300, 300), 2**64 - 1, 2**63, -2**63])
        v = max(-2**63, min(2**64 - 1, v))
        return mp_int(rng, v)
    if k < 0.45:
        if rng.random() < 0.5:
            return b"\xca" + rng.getrandbits(32).to_bytes(4, "big")
        return b"\xcb" + rng.getrandbits(64).to_bytes(8, "big")
    if k < 0.65:
        n = rand_strlen(rng) if rng.random() < 0.3 else rng.randint(0, 40)
        return mp_len(rng, n, 0xa0, 31, [(0xd9, 1), (0xda, 2), (0xdb, 4)]) + rand_bytes(rng, n)
    if k < 0.7:  # types the library rejects
        return rng.choice([b"\xc1", b"\xc4\x01a", b"\xc5\x00\x01a", b"\xc6\x00\x00\x00\x01a",
                           b"\xc7\x01\x05a", b"\xc8\x00\x01\x05a", b"\xc9\x00\x00\x00\x01\x05a",
                           b"\xd4\x05a", b"\xd5\x05ab", b"\xd6\x05abcd", b"\xd7\x05" + b"a" * 8, b"\xd8\x05" + b"a" * 16])
    rng.budget -= 1
    if depth > 12 or rng.budget < 0:
        return b"\x01"
    if k < 0.85:
        n = rng.choice([0, 1, 2, 3, 15, 16, 17, rng.randint(0, 8)])
        return mp_len(rng, n, 0x90, 15, [(0xdc, 2), (0xdd, 4)]) + b"".join(mp_value(rng, depth + 1) for _ in range(n))
    n = rng.choice([0, 1, 2, 3, 15, 16, rng.randint(0, 6)])
    out = mp_len(rng, n, 0x80, 15, [(0xde, 2), (0xdf, 4)])
    for _ in range(n):
        key = mp_value(rng, depth + 1)
        if key in (b"\xc0",) and rng.random() < 0.8:
            key = b"\xa1k"  # a nil key errors; keep that rare
        out += key + mp_value(rng, depth + 1)
    return out


def mp_stream(rng):
    data = b"".join(mp_value(rng) for _ in range(rng.choice([1, 1, 1, 2, 3])))
    k = rng.random()
    if k < 0.15 and data:  # cut short
        data = data[:rng.randrange(len(data))]
    elif k < 0.25:  # garbage after
        data += rand_bytes(rng, rng.randint(1, 4))
    elif k < 0.35 and data:  # one byte changed
        i = rng.randrange(len(data))
        data = data[:i] + bytes([rng.getrandbits(8)]) + data[i + 1:]
    return data


# --------------------------------------------------------------------------
# struct formats.

INT_OPTS = "bBhHlLTiI"


def rand_format(rng, for_unpack=False):
    items = []
    if rng.random() < 0.5:
        items.append(rng.choice(["<", ">", "=", "!", "!1", "!2", "!4", "!8", "!16", " "]).replace("=", ""))
    for _ in range(rng.randint(1, 6)):
        k = rng.random()
        if k < 0.5:
            o = rng.choice(INT_OPTS)
            if o in "iI" and rng.random() < 0.7:
                o += str(rng.choice([1, 2, 3, 4, 5, 7, 8, 0, 9, 16, 32, 33]))
            items.append(o)
        elif k < 0.65:
            items.append(rng.choice("fd"))
        elif k < 0.8:
            items.append(rng.choice(["s", "c", "c0", "c1", "c3", "c8", "c0"]))
        elif k < 0.9:
            items.append(rng.choice(["<", ">", "!", "!2", "!4", "!8", " ", "x"]))
        elif k < 0.98:
            items.append(rng.choice(["x", "xx", "x", "xx", "x", "!3", "!0"]))
        else:
            items.append(rng.choice(["q", "z", "%", "5", "\\255", "j"]))
    return "".join(items)


def format_items(fmt):
    """The options of fmt that take a value (roughly, for choosing arguments)."""
    out, i = [], 0
    while i < len(fmt):
        c = fmt[i]
        i += 1
        num = ""
        while i < len(fmt) and fmt[i].isdigit():
            num += fmt[i]
            i += 1
        if c in INT_OPTS or c in "fd":
            out.append("n")
        elif c in "cs":
            out.append("s")
    return out


def struct_arg(rng, kind):
    if rng.random() < 0.05:
        return rng.choice(["nil", "{}", "'x'", "'12'", "true"])
    if kind == "n":
        return lua_number(rand_number(rng))
    return lua_string(rand_bytes(rng, rng.choice([0, 1, 2, 3, 8, 9, rng.randint(0, 20)])))


# --------------------------------------------------------------------------

def snippet(rng):
    rng.budget = rng.choice([3, 8, 20, 40])
    k = rng.randrange(9)
    if k == 0:
        vals = ", ".join(rand_value(rng) for _ in range(rng.choice([1, 1, 1, 2, 3])))
        return "return P(%s)" % vals
    if k == 1:
        vals = ", ".join(rand_value(rng) for _ in range(rng.choice([1, 1, 2])))
        return "return U(P(%s))" % vals
    if k == 2:
        return "return H(P(U(P(%s))))" % rand_value(rng)
    if k == 3:
        return "return U(%s)" % lua_bytes(mp_stream(rng))
    if k == 4:
        data = mp_stream(rng) + (mp_stream(rng) if rng.random() < 0.5 else b"")
        off = rng.choice([0, 0, 1, 2, rng.randint(0, len(data) + 1), len(data), -1])
        if rng.random() < 0.5:
            return "return cmsgpack.unpack_one(%s, %d)" % (lua_bytes(data), off)
        lim = rng.choice([0, 1, 2, 3, rng.randint(0, 6), -1])
        return "return cmsgpack.unpack_limit(%s, %d, %d)" % (lua_bytes(data), lim, off)
    if k == 5:
        fmt = rand_format(rng)
        args = [struct_arg(rng, t) for t in format_items(fmt)]
        if rng.random() < 0.1 and args:
            args.pop()
        return "return struct.pack('%s'%s)" % (fmt, "".join(", " + a for a in args))
    if k == 6:
        fmt = rand_format(rng, True)
        data = rand_bytes(rng, rng.choice([0, 2, 4, 8, 16, 24, 40, 40, 64, 64, 100, rng.randint(0, 64)]))
        if rng.random() < 0.3:
            data = data.replace(b"\x00", b"")
        pos = rng.choice(["", "", "", ", 1", ", 2", ", %d" % rng.randint(1, len(data) + 2), ", -1", ", 0"])
        return "return struct.unpack('%s', %s%s)" % (fmt, lua_bytes(data), pos)
    if k == 7:
        fmt = rand_format(rng)
        args = [struct_arg(rng, t) for t in format_items(fmt)]
        return "local s = struct.pack('%s'%s) return s, struct.unpack('%s', s)" % (
            fmt, "".join(", " + a for a in args), fmt)
    return "return struct.size('%s')" % rand_format(rng)


def generate(n, seed):
    rng = random.Random(seed)
    return [snippet(rng) for _ in range(n)]


if __name__ == "__main__":
    for s in generate(int(sys.argv[1]), int(sys.argv[2])):
        print(s)
