import TestSupport

/// The list family of the differential generator: every list command on the shared key pool (so lists meet
/// strings and sorted sets under one key: WRONGTYPE both ways), with elements biased to what the packed
/// nodes store differently (integers at every width boundary and non-canonical integer text, empty and
/// binary strings, strings around the 191/192-byte code boundary and long ones), indexes and counts at the
/// edges (negative, 0, huge, LONG_MIN, not a number), and now and then smaller node bounds
/// (`list-max-listpack-size`), so the lists span many nodes and edits in the middle split and merge them.
///
/// Blocking commands get a 10 ms timeout (or a bad one): on keys with no list both servers answer the null
/// array after it; a timeout of 0 would hang the run.
extension DiffFamilies {
    static let listElements: [[UInt8]] = [
        b("a"), b("b"), b("c"), b("a"), b("b"), b("xxx"), b("xxx"), [], b("1"), b("-1"), b("0"), b("127"), b("128"),
        b("-128"), b("-129"), b("32767"), b("32768"), b("8388607"), b("8388608"), b("2147483648"),
        b("9223372036854775807"), b("-9223372036854775808"), b("9223372036854775808"), b("01"), b("+1"), b("-0"),
        b(" 1"), b("1.5"), b("12345678"), [0x00, 0xff], [0xF0], [0xF0, 0x01, 0x00, 0xF0], b("\r\n"),
        [UInt8](repeating: 0x61, count: 191), [UInt8](repeating: 0x62, count: 192), [UInt8](repeating: 0x63, count: 300),
    ]

    static let listIndexes = ["0", "1", "2", "-1", "-2", "3", "5", "-5", "10", "-10", "100", "-100", "9223372036854775807",
                              "-9223372036854775808", "abc", "", "1.0", "+1"]

    static let listCounts = ["0", "1", "2", "3", "-1", "-2", "10", "-10", "1000", "9223372036854775807",
                             "-9223372036854775808", "x", ""]

    static let listEnds = ["LEFT", "RIGHT", "left", "Right", "middle", ""]

    static let listTimeouts = ["0.01", "0.01", "0.01", "-1", "x", "", "1e100", "inf"]

    static let listNodeSizes = ["-2", "-1", "1", "2", "3", "5", "0", "-5", "4", "128"]

    static func listElements(_ g: inout DiffGenerator, _ lo: Int, _ hi: Int) -> [[UInt8]] {
        (0..<g.rng.between(lo, hi)).map { _ in g.listElement() }
    }

    /// 8 to 60 elements that mostly share a prefix (now and then one that does not), so sealed nodes store
    /// it once (ListValue, "Prefixes"): "job:" and digits, one element repeated, and strings that reach or
    /// pass the 191-byte code boundary with their suffix.
    static func prefixedElements(_ g: inout DiffGenerator) -> [[UInt8]] {
        let stem = g.rng.pick([b("job:"), b("v:0000"), b("xxx"), [UInt8](repeating: 0x61, count: 188), b("12")])
        return (0..<g.rng.between(8, 60)).map { _ in
            switch g.rng.below(12) {
            case 0: return g.listElement()
            case 1: return stem
            case 2: return stem + b(g.rng.pick(["", "7", "x", "1234", "-1"]))
            default: return stem + b(String(g.rng.below(g.rng.oneIn(2) ? 10 : 10_000)))
            }
        }
    }

    static func lposOptions(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<g.rng.pick([0, 0, 1, 1, 2, 3]) {
            switch g.rng.below(7) {
            case 0, 1: out += [g.word("RANK"), b(g.rng.pick(["1", "2", "-1", "-2", "0", "5", "-9223372036854775808", "x"]))]
            case 2, 3: out += [g.word("COUNT"), b(g.rng.pick(["0", "1", "2", "-1", "x", "100"]))]
            case 4, 5: out += [g.word("MAXLEN"), b(g.rng.pick(["0", "1", "2", "5", "-1", "x"]))]
            default: out += g.rng.oneIn(2) ? [g.word("RANK")] : [b("FOO")]
            }
        }
        return out
    }

    /// numkeys, keys, LEFT|RIGHT and an optional COUNT, sometimes wrong.
    static func lmpopTail(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out = numkeys(&g) + [g.word(g.rng.pick(listEnds))]
        if g.rng.oneIn(2) { out += [g.word("COUNT"), b(g.rng.pick(["1", "2", "3", "0", "-1", "x", "100"]))] }
        if g.rng.oneIn(15) { out += [g.word("COUNT"), b("1")] }
        return out
    }

    static let lists = DiffFamily(name: "lists", commands: [
        spec("lpush", 8) { g in [b(g.rng.oneIn(2) ? "LPUSH" : "RPUSH"), g.key()] + listElements(&g, 1, 6) },
        spec("rpush many", 2) { g in [b(g.rng.oneIn(2) ? "LPUSH" : "RPUSH"), g.key()] + listElements(&g, 10, 60) },
        spec("push prefixed", 2) { g in [b(g.rng.oneIn(2) ? "LPUSH" : "RPUSH"), g.key()] + prefixedElements(&g) },
        spec("pushx", 2) { g in [b(g.rng.oneIn(2) ? "LPUSHX" : "RPUSHX"), g.key()] + listElements(&g, 1, 3) },
        spec("pop", 5) { g in
            [b(g.rng.oneIn(2) ? "LPOP" : "RPOP"), g.key()] + (g.rng.oneIn(2) ? [b(g.rng.pick(listCounts))] : [])
        },
        spec("llen", 2) { g in [b("LLEN"), g.key()] },
        spec("lindex", 3) { g in [b("LINDEX"), g.key(), b(g.rng.pick(listIndexes))] },
        spec("lset", 2) { g in [b("LSET"), g.key(), b(g.rng.pick(listIndexes)), g.listElement()] },
        spec("lrange", 5) { g in [b("LRANGE"), g.key(), b(g.rng.pick(listIndexes)), b(g.rng.pick(listIndexes))] },
        spec("linsert", 3) { g in
            [b("LINSERT"), g.key(), g.word(g.rng.pick(["BEFORE", "AFTER", "BEFORE", "AFTER", "MIDDLE"])),
             g.listElement(), g.listElement()]
        },
        spec("lrem", 3) { g in [b("LREM"), g.key(), b(g.rng.pick(listCounts)), g.listElement()] },
        spec("ltrim", 2) { g in [b("LTRIM"), g.key(), b(g.rng.pick(listIndexes)), b(g.rng.pick(listIndexes))] },
        spec("lpos", 3) { g in [b("LPOS"), g.key(), g.listElement()] + lposOptions(&g) },
        spec("lmove", 3) { g in
            g.rng.oneIn(3) ? [b("RPOPLPUSH"), g.key(), g.key()]
                           : [b("LMOVE"), g.key(), g.key(), g.word(g.rng.pick(listEnds)), g.word(g.rng.pick(listEnds))]
        },
        spec("lmpop", 2) { g in [b("LMPOP")] + lmpopTail(&g) },
        spec("blocking", 1) { g in
            let timeout = b(g.rng.pick(listTimeouts))
            switch g.rng.below(5) {
            case 0: return [b("BLPOP")] + g.keys(1, 3) + [timeout]
            case 1: return [b("BRPOP")] + g.keys(1, 3) + [timeout]
            case 2: return [b("BLMOVE"), g.key(), g.key(), g.word(g.rng.pick(listEnds)), g.word(g.rng.pick(listEnds)), timeout]
            case 3: return [b("BRPOPLPUSH"), g.key(), g.key(), timeout]
            default: return [b("BLMPOP"), timeout] + lmpopTail(&g)
            }
        },
        // Smaller nodes now and then (a CONFIG SET restarts both servers before the next sequence: rare).
        spec("list config", 1) { g in
            if !g.rng.oneIn(40) { return [b("LLEN"), g.key()] }
            return [b("CONFIG"), b("SET"), b(g.rng.oneIn(4) ? "list-compress-depth" : "list-max-listpack-size"),
                    b(g.rng.pick(listNodeSizes))]
        },
    ])
}

extension DiffGenerator {
    mutating func listElement() -> [UInt8] {
        rng.oneIn(8) ? value() : rng.pick(DiffFamilies.listElements)
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
