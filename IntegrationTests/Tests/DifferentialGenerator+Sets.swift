/// The "sets" family of the differential test: every S* command, OBJECT ENCODING to compare the encodings
/// and their conversion points, and plain sets as inputs of the ZUNION family (which the "zsets" family
/// generates over the same keys).
///
/// Members are biased to the intset's edges: integers at the 16/32/64-bit boundaries, strings that are
/// almost integers ("+1", "01", " 1", "-0", 2^63), binary and empty members, and members of 64 and 65
/// bytes. `CONFIG SET set-max-intset-entries` with small values makes size conversions frequent (both
/// servers get it; the runner restarts them after such a sequence).
///
/// Random commands are generated only where the result is determined: SPOP with a count at least the size
/// of any set these sequences build (the whole set goes), SPOP of the key "single", which only ever holds
/// the member "x", and SRANDMEMBER, whose replies are compared by shape (`DiffNormalizer`). Replies whose
/// order is a hashtable's (SMEMBERS, SINTER, SUNION, SDIFF, SPOP) are compared as multisets.
extension DiffFamilies {
    static let setMembers: [[UInt8]] = [
        b("1"), b("2"), b("3"), b("0"), b("-1"), b("10"), b("100"), b("a"), b("b"), b("c"), b("a"),
        b("32767"), b("32768"), b("-32768"), b("-32769"), b("2147483647"), b("2147483648"), b("-2147483649"),
        b("9223372036854775807"), b("-9223372036854775808"), b("9223372036854775808"), b("-9223372036854775809"),
        b("+1"), b("01"), b(" 1"), b("1 "), b("-0"), b("1.0"), b("0x10"), [], [0x00], [0xff, 0x00, 0x0d, 0x0a],
        [UInt8](repeating: 0x6d, count: 64), [UInt8](repeating: 0x6d, count: 65), b("m e"),
    ]

    /// Counts for SPOP that are at least the size of any set these sequences can build, so the whole set is
    /// popped (Redis's CASE 1) and nothing random is left. (The spec keeps its arity: `SPOP key` would pop
    /// at random.)
    static let spopWholeCounts = ["1000000", "9223372036854775807", "4611686018427387904"]

    static let srandCounts = ["1", "2", "3", "-1", "-3", "-10", "0", "5", "100", "9223372036854775807",
                              "-9223372036854775808", "x", "", "1.5", "-0"]

    static func setKeys(_ g: inout DiffGenerator, _ lo: Int, _ hi: Int) -> [[UInt8]] {
        (0..<g.rng.between(lo, hi)).map { _ in g.key() }
    }

    static let sets = DiffFamily(name: "sets", commands: [
        spec("sadd", 14) { g in
            [b("SADD"), g.key()] + (0..<g.rng.pick([1, 1, 2, 3, 5, 8])).map { _ in g.setMember() }
        },
        spec("saddints", 4) { g in
            // Runs of integers: widths, and sizes past a lowered set-max-intset-entries.
            let base = g.rng.pick([0, -40000, 30000, 2_000_000_000, -5_000_000_000])
            return [b("SADD"), g.key()] + (0..<g.rng.between(1, 12)).map { _ in b(String(base + g.rng.between(-20, 20))) }
        },
        spec("inline edges", 3) { g in
            // Sets held in the key's entry (Storage/InlineIntSet.swift) at their limits: a value just below a
            // width boundary and a run above it, so removing the low one leaves a base that needs a wider field.
            let boundary = g.rng.pick([128, 32768, 2_147_483_648, -129, -32769, -2_147_483_649])
            let low = boundary - g.rng.between(1, 3)
            if g.rng.oneIn(3) { return [b("SREM"), g.key(), b(String(low)), b(String(boundary))] }
            let step = g.rng.pick([1, 5, 300, 70_000])
            return [b("SADD"), g.key(), b(String(low))] + (0..<g.rng.between(1, 22)).map { b(String(boundary + $0 * step)) }
        },
        spec("srem", 6) { g in [b("SREM"), g.key()] + (0..<g.rng.between(1, 3)).map { _ in g.setMember() } },
        spec("smove", 3) { g in [b("SMOVE"), g.key(), g.key(), g.setMember()] },
        spec("sismember", 3) { g in [b("SISMEMBER"), g.key(), g.setMember()] },
        spec("smismember", 2) { g in [b("SMISMEMBER"), g.key()] + (0..<g.rng.between(1, 4)).map { _ in g.setMember() } },
        spec("scard", 2) { g in [b("SCARD"), g.key()] },
        spec("smembers", 4) { g in [b("SMEMBERS"), g.key()] },
        spec("encoding", 4) { g in [b("OBJECT"), b("ENCODING"), g.key()] },
        spec("spopall", 2, keepsArity: true) { g in
            [b("SPOP"), g.key(), b(g.rng.pick(spopWholeCounts + ["0", "-1", "x"]))] + (g.rng.oneIn(20) ? [b("1")] : [])
        },
        spec("single", 3, keepsArity: true) { g in
            switch g.rng.below(5) {
            case 0, 1: return [b("SADD"), b("single"), b("x")]
            case 2: return [b("SPOP"), b("single")]
            case 3: return [b("SPOP"), b("single"), b(g.rng.pick(["1", "2", "0"]))]
            default: return [b("SMEMBERS"), b("single")]
            }
        },
        spec("srandmember", 3) { g in
            [b("SRANDMEMBER"), g.key()] + (g.rng.oneIn(4) ? [] : [b(g.rng.pick(srandCounts))])
        },
        spec("sinter", 3) { g in [b("SINTER")] + setKeys(&g, 1, 3) },
        spec("sunion", 3) { g in [b("SUNION")] + setKeys(&g, 1, 3) },
        spec("sdiff", 3) { g in [b("SDIFF")] + setKeys(&g, 1, 3) },
        spec("store", 5) { g in
            [b(g.rng.pick(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])), g.key()] + setKeys(&g, 1, 3)
        },
        spec("sintercard", 2) { g in
            [b("SINTERCARD")] + numkeys(&g) + (g.rng.oneIn(3) ? [g.word("LIMIT"), b(g.rng.pick(["0", "1", "2", "-1", "x"]))] : [])
        },
        spec("sscan", 2) { g in [b("SSCAN"), g.key(), b(g.rng.pick(scanCursors))] + scanOptions(&g, types: false) },
        spec("zsetopsets", 2) { g in
            // Plain sets as inputs of the ZUNION family (score 1 per member, weights applied).
            let op = g.rng.pick(["ZUNION", "ZINTER", "ZDIFF", "ZUNIONSTORE", "ZINTERSTORE", "ZINTERCARD"])
            let keys = numkeys(&g)
            let head = op.hasSuffix("STORE") ? [b(op), g.key()] : [b(op)]
            var tail: [[UInt8]] = []
            if op != "ZDIFF" && op != "ZINTERCARD" && g.rng.oneIn(2) {
                tail = [g.word("WEIGHTS")] + (0..<(keys.count - 1)).map { _ in b(g.rng.pick(["1", "2", "-1", "0.5", "inf"])) }
            }
            if !op.hasSuffix("STORE") && op != "ZINTERCARD" && g.rng.oneIn(2) { tail.append(g.word("WITHSCORES")) }
            return head + keys + tail
        },
        spec("config", 1) { g in
            [b("CONFIG"), b("SET"), b("set-max-intset-entries"), b(g.rng.pick(["0", "1", "2", "3", "5", "512"]))]
        },
    ])
}

extension DiffGenerator {
    mutating func setMember() -> [UInt8] {
        rng.oneIn(4) ? b(String(rng.between(-20, 20))) : rng.pick(DiffFamilies.setMembers)
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
