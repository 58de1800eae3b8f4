import TestSupport

// The "hashes" family: every H* command, edge-biased. Fields are few (so commands collide on them), and
// include the empty field, binary bytes, integer-like text and lengths around hash-max-listpack-value (64);
// values include INCRBY/INCRBYFLOAT targets. A rare CONFIG SET lowers the conversion thresholds (both
// servers get it, and the runner restarts them after such a sequence) so that listpack -> hashtable
// conversions happen inside sequences, where OBJECT ENCODING checks them.
//
// Reply order: HGETALL/HKEYS/HVALS of a listpack must match exactly (insertion order); of a hashtable they
// are compared as multisets (DiffSpecial.orderFree asks redis-server for the encoding). HRANDFIELD is
// compared by shape; HSCAN by the union of a full scan. HRANDFIELD never gets a huge negative count (that
// asks both servers for billions of replies); Int64.min (an error) and huge positive counts are fine.

extension DiffFamilies {
    static let hashFields: [[UInt8]] = [
        Array("f".utf8), Array("f".utf8), Array("g".utf8), Array("h".utf8), Array("a".utf8), Array("b".utf8), [],
        Array("F".utf8), Array("ff".utf8), Array("1".utf8), Array("-1".utf8), Array("01".utf8),
        Array("9223372036854775807".utf8), [0x66, 0x00], [0xff], Array("f g".utf8),
        [UInt8](repeating: 0x78, count: 63), [UInt8](repeating: 0x78, count: 64), [UInt8](repeating: 0x78, count: 65),
    ]

    static let hrandfieldCounts = ["1", "2", "3", "5", "10", "100", "0", "-1", "-2", "-5", "-30", "x", "",
                                   "9223372036854775807", "-9223372036854775808", "4611686018427387903",
                                   "4611686018427387904", "1.5"]

    static let hashThresholds: [(name: String, values: [String])] = [
        ("hash-max-listpack-entries", ["0", "1", "2", "3", "4", "8", "512"]),
        ("hash-max-ziplist-entries", ["1", "3", "128"]),
        ("hash-max-listpack-value", ["0", "1", "3", "8", "64"]),
        ("hash-max-ziplist-value", ["2", "16"]),
    ]

    static func hashPairs(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<g.rng.pick([1, 1, 1, 2, 3, 5]) { out += [g.hashField(), g.hashValue()] }
        if g.rng.oneIn(15) { out.append(g.hashField()) }  // an odd count: an arity error
        return out
    }

    static let hashes = DiffFamily(name: "hashes", commands: [
        spec("hset", 12) { g in [Array("HSET".utf8), g.key()] + hashPairs(&g) },
        spec("hmset", 2) { g in [Array("HMSET".utf8), g.key()] + hashPairs(&g) },
        spec("hsetnx", 3) { g in [Array("HSETNX".utf8), g.key(), g.hashField(), g.hashValue()] },
        spec("hget", 6) { g in [Array("HGET".utf8), g.key(), g.hashField()] },
        spec("hmget", 3) { g in [Array("HMGET".utf8), g.key()] + (0..<g.rng.between(1, 4)).map { _ in g.hashField() } },
        spec("hgetall", 4) { g in [Array(g.rng.pick(["HGETALL", "HKEYS", "HVALS"]).utf8), g.key()] },
        spec("hlen", 2) { g in [Array("HLEN".utf8), g.key()] },
        spec("hstrlen", 2) { g in [Array("HSTRLEN".utf8), g.key(), g.hashField()] },
        spec("hexists", 2) { g in [Array("HEXISTS".utf8), g.key(), g.hashField()] },
        spec("hdel", 5) { g in [Array("HDEL".utf8), g.key()] + (0..<g.rng.between(1, 4)).map { _ in g.hashField() } },
        spec("hincrby", 4) { g in [Array("HINCRBY".utf8), g.key(), g.hashField(), g.integer()] },
        spec("hincrbyfloat", 4) { g in [Array("HINCRBYFLOAT".utf8), g.key(), g.hashField(), g.float()] },
        spec("hrandfield", 3) { g in
            var cmd = [Array("HRANDFIELD".utf8), g.key()]
            if !g.rng.oneIn(4) {
                cmd.append(Array(g.rng.pick(hrandfieldCounts).utf8))
                if g.rng.oneIn(2) { cmd.append(g.rng.oneIn(8) ? Array("WITHVALUE".utf8) : g.word("WITHVALUES")) }
            }
            return cmd
        },
        spec("hscan", 2) { g in
            [Array("HSCAN".utf8), g.key(), Array(g.rng.pick(scanCursors).utf8)] + scanOptions(&g, types: false)
        },
        spec("hash encoding", 3) { g in [Array("OBJECT".utf8), Array("ENCODING".utf8), g.key()] },
        spec("hash wrongtype", 1) { g in
            g.rng.oneIn(2) ? [Array("SET".utf8), g.key(), Array("string".utf8)] : [Array("DEL".utf8), g.key()]
        },
        spec("hash config", 1) { g in
            let (name, values) = g.rng.pick(hashThresholds)
            return [Array("CONFIG".utf8), Array("SET".utf8), Array(name.utf8), Array(g.rng.pick(values).utf8)]
        },
    ])
}

extension DiffGenerator {
    mutating func hashField() -> [UInt8] {
        rng.oneIn(10) ? Array(String(rng.between(0, 20)).utf8) : rng.pick(DiffFamilies.hashFields)
    }

    /// A value: mostly the shared pool, sometimes lengths around hash-max-listpack-value or small integers
    /// and decimals for HINCRBY/HINCRBYFLOAT to work on.
    mutating func hashValue() -> [UInt8] {
        switch rng.below(10) {
        case 0: return [UInt8](repeating: 0x76, count: rng.pick([7, 8, 9, 63, 64, 65]))
        case 1, 2: return Array(String(rng.between(-100, 100)).utf8)
        case 3: return Array("\(rng.between(-100, 100)).\(rng.below(100))".utf8)
        default: return value()
        }
    }
}
