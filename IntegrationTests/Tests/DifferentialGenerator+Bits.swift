import TestSupport

/// The "bitmaps", "hll" and "geo" families of the differential test: the values of strings and sorted sets
/// that bitops.c, hyperloglog.c and geo.c read and write.
///
/// - bitmaps: SETBIT/GETBIT at random, edge (7, 8, 63, 64) and out-of-range offsets (the 512 MB limit),
///   BITCOUNT/BITPOS with BYTE and BIT ranges (negative, reversed, past the end), BITOP of every operation over
///   one to three sources of different lengths, and BITFIELD / BITFIELD_RO with every type width, `#` offsets,
///   values at the overflow corners and OVERFLOW WRAP/SAT/FAIL. GET compares the bytes.
/// - hll: PFADD of small and large batches so HLLs cross the sparse/dense boundary (sometimes with a lowered
///   `hll-sparse-max-bytes`), PFCOUNT of one key (the cached cardinality) and of unions, PFMERGE, PFDEBUG
///   (ENCODING, DECODE, TODENSE, GETREG), GET of the raw bytes, and strings made to look like HLLs or damaged
///   in their header or first opcodes (magic, encoding byte, runs past 16384 registers) for the error paths.
///   Not generated: a sparse HLL ending in half an XZERO opcode, for which redis-server reads the byte past
///   the end of the string (its answer depends on memory; needletail reads 0, see HyperLogLogTests' fuzzing).
/// - geo: GEOADD with NX/XX/CH of random points, the poles' latitude limits, the antimeridian and invalid
///   coordinates; GEOPOS, GEODIST in every unit, GEOHASH; GEOSEARCH / GEOSEARCHSTORE / GEORADIUS /
///   GEORADIUSBYMEMBER (and _RO) with radius 0, small and huge radii and boxes, ASC/DESC, COUNT [ANY], the
///   WITH* options and STORE/STOREDIST, and their error combinations. Members are few, so commands meet.
/// The mixed key pool (`g.key()`) is drawn now and then, for WRONGTYPE and cross-type paths.
extension DiffFamilies {
    // MARK: Bitmaps

    static let bitmapKeys: [[UInt8]] = [b("bm:a"), b("bm:a"), b("bm:b"), b("bm:c")]

    static func bitmapKey(_ g: inout DiffGenerator) -> [UInt8] { g.rng.oneIn(6) ? g.key() : g.rng.pick(bitmapKeys) }

    static func bitOffset(_ g: inout DiffGenerator) -> [UInt8] {
        switch g.rng.below(12) {
        case 0..<6: return b(String(g.rng.between(0, 200)))
        case 6: return b(g.rng.pick(["7", "8", "63", "64", "0", "1023", "1024"]))
        case 7: return b(String(g.rng.between(0, 100_000)))
        case 8: return b(g.rng.pick(["-1", "4294967296", "4294967295000", "abc", "", "1.5", "9223372036854775807"]))
        default: return b(String(g.rng.between(0, 40)))
        }
    }

    static func rangeIndex(_ g: inout DiffGenerator) -> [UInt8] {
        g.rng.oneIn(8) ? b(g.rng.pick(["x", "9223372036854775807", "-9223372036854775808", ""]))
                       : b(String(g.rng.between(-40, 60)))
    }

    static func bitUnit(_ g: inout DiffGenerator) -> [[UInt8]] {
        switch g.rng.below(6) {
        case 0, 1: return [g.word("BIT")]
        case 2: return [g.word("BYTE")]
        case 3: return [b("bits")]
        default: return []
        }
    }

    static let bitfieldTypes = ["i1", "i5", "i8", "i16", "i31", "i32", "i63", "i64", "u1", "u2", "u7", "u8", "u16",
                                "u32", "u63", "U8", "I16", "u64", "i65", "i0", "x8", "i", ""]

    static func bitfieldValue(_ g: inout DiffGenerator, bits: Int?) -> [UInt8] {
        if let bits, bits >= 1, bits <= 64, !g.rng.oneIn(4) {
            let corner = g.rng.below(6)
            if bits == 64 {
                return b(["9223372036854775807", "-9223372036854775808", "1", "-1", "0", "4611686018427387904"][corner])
            }
            let top = Int64(1) << Int64(bits - 1)
            let values = [top - 1, -top, top, 2 &* top &- 1, 2 &* top, -1]
            return b(String(values[corner]))
        }
        return b(g.rng.pick(["0", "1", "-1", "100", "-100", "9223372036854775807", "-9223372036854775808", "x"]))
    }

    static func bitfieldOperation(_ g: inout DiffGenerator) -> [[UInt8]] {
        let type = g.rng.pick(bitfieldTypes)
        let bits = Int(type.dropFirst())
        let offset: [UInt8] = g.rng.oneIn(4) ? b("#\(g.rng.between(0, 10))") : bitOffset(&g)
        switch g.rng.below(8) {
        case 0, 1, 2: return [g.word("GET"), b(type), offset]
        case 3, 4: return [g.word("SET"), b(type), offset, bitfieldValue(&g, bits: bits)]
        case 5, 6: return [g.word("INCRBY"), b(type), offset, bitfieldValue(&g, bits: bits)]
        default: return [g.word("OVERFLOW"), b(g.rng.pick(["WRAP", "SAT", "FAIL", "fail", "sat", "wrapx"]))]
        }
    }

    static let bitmaps = DiffFamily(name: "bitmaps", commands: [
        spec("setbit", 14) { g in
            [b("SETBIT"), bitmapKey(&g), bitOffset(&g), b(g.rng.oneIn(10) ? g.rng.pick(["2", "-1", "x", ""]) : g.rng.pick(["0", "1", "1"]))]
        },
        spec("getbit", 6) { g in [b("GETBIT"), bitmapKey(&g), bitOffset(&g)] },
        spec("bitcount", 8) { g in
            var cmd = [b("BITCOUNT"), bitmapKey(&g)]
            if !g.rng.oneIn(3) { cmd += [rangeIndex(&g), rangeIndex(&g)] + bitUnit(&g) }
            else if g.rng.oneIn(4) { cmd.append(rangeIndex(&g)) }
            return cmd
        },
        spec("bitpos", 8) { g in
            var cmd = [b("BITPOS"), bitmapKey(&g), b(g.rng.oneIn(10) ? g.rng.pick(["2", "x", "-1"]) : g.rng.pick(["0", "1"]))]
            switch g.rng.below(4) {
            case 0: break
            case 1: cmd.append(rangeIndex(&g))
            case 2: cmd += [rangeIndex(&g), rangeIndex(&g)]
            default: cmd += [rangeIndex(&g), rangeIndex(&g)] + bitUnit(&g)
            }
            return cmd
        },
        spec("bitop", 6) { g in
            let op = g.rng.pick(["AND", "OR", "XOR", "NOT", "and", "not", "NAND"])
            let sources = (0..<(op.lowercased() == "not" && !g.rng.oneIn(5) ? 1 : g.rng.between(1, 3))).map { _ in bitmapKey(&g) }
            return [b("BITOP"), b(op), bitmapKey(&g)] + sources
        },
        spec("bitfield", 8) { g in
            [b("BITFIELD"), bitmapKey(&g)] + (0..<g.rng.between(1, 4)).flatMap { _ in bitfieldOperation(&g) }
        },
        spec("bitfield_ro", 3) { g in
            [b("BITFIELD_RO"), bitmapKey(&g)] + (0..<g.rng.between(1, 3)).flatMap { _ in
                g.rng.oneIn(5) ? bitfieldOperation(&g) : [g.word("GET"), b(g.rng.pick(bitfieldTypes)), bitOffset(&g)]
            }
        },
        spec("get", 4) { g in [b("GET"), bitmapKey(&g)] },
        spec("set", 2) { g in [b("SET"), bitmapKey(&g), g.value()] },
        spec("append", 1) { g in [b("APPEND"), bitmapKey(&g), g.value()] },
        spec("encoding", 1) { g in [b("OBJECT"), b("ENCODING"), bitmapKey(&g)] },
        spec("strlen", 1) { g in [b("STRLEN"), bitmapKey(&g)] },
    ])

    // MARK: HyperLogLog

    static let hllKeys: [[UInt8]] = [b("hll:a"), b("hll:a"), b("hll:b"), b("hll:c")]

    static func hllKey(_ g: inout DiffGenerator) -> [UInt8] { g.rng.oneIn(8) ? g.key() : g.rng.pick(hllKeys) }

    static func hllElements(_ g: inout DiffGenerator) -> [[UInt8]] {
        let count = g.rng.pick([0, 1, 1, 2, 3, 5, 10, 50, 200, 600, 1500])
        let base = g.rng.below(5000)
        return (0..<count).map { i in
            g.rng.oneIn(50) ? g.value() : b("e\(base + i * g.rng.between(1, 3))")
        }
    }

    static let hll = DiffFamily(name: "hll", commands: [
        spec("pfadd", 14) { g in [b("PFADD"), hllKey(&g)] + hllElements(&g) },
        spec("pfcount", 8) { g in [b("PFCOUNT"), hllKey(&g)] },
        spec("pfcountunion", 5) { g in [b("PFCOUNT")] + (0..<g.rng.between(2, 4)).map { _ in hllKey(&g) } },
        spec("pfmerge", 5) { g in [b("PFMERGE"), hllKey(&g)] + (0..<g.rng.between(0, 3)).map { _ in hllKey(&g) } },
        spec("pfdebug", 5) { g in
            [b("PFDEBUG"), b(g.rng.pick(["ENCODING", "DECODE", "TODENSE", "GETREG", "encoding", "todense", "foo"])), hllKey(&g)]
        },
        spec("get", 4) { g in [b("GET"), hllKey(&g)] },
        spec("copy", 2) { g in [b("COPY"), hllKey(&g), hllKey(&g), b("REPLACE")] },
        spec("damage", 2) { g in
            // The header and the first opcodes/registers: magic, encoding byte, cached cardinality, data.
            let offset = g.rng.pick([0, 3, 4, 4, 8, 15, 16, 17, 18, 20, 100])
            let byte = g.rng.pick([[0x00], [0x01], [0x02], [0x7f], [0xff], [0x40], [0x80], b("X")])
            return [b("SETRANGE"), hllKey(&g), b(String(offset)), byte]
        },
        spec("fake", 1) { g in
            let bodies = [b("HYLL"), b("HYLL\u{01}\0\0\0\0\0\0\0\0\0\0\0"), b("HYLL\u{01}\0\0\0\0\0\0\0\0\0\0\0\u{7f}\u{ff}"),
                          b("HYLL\0\0\0\0\0\0\0\0\0\0\0\0\u{7f}\u{ff}"), b("HYLL\u{01}\0\0\0\0\0\0\0\0\0\0\u{80}\u{7f}\u{fe}")]
            return [b("SET"), hllKey(&g), g.rng.pick(bodies)]
        },
        spec("sparsemax", 1) { g in
            [b("CONFIG"), b("SET"), b("hll-sparse-max-bytes"), b(g.rng.pick(["0", "20", "100", "500", "3000"]))]
        },
        spec("encoding", 1) { g in [b("OBJECT"), b("ENCODING"), hllKey(&g)] },
    ])

    // MARK: Geo

    static let geoKeys: [[UInt8]] = [b("geo:a"), b("geo:a"), b("geo:a"), b("geo:b")]
    static let geoMembers: [String] = ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "Palermo", "Catania", ""]

    static func geoKey(_ g: inout DiffGenerator) -> [UInt8] { g.rng.oneIn(8) ? g.key() : g.rng.pick(geoKeys) }
    static func geoMember(_ g: inout DiffGenerator) -> [UInt8] { b(g.rng.pick(geoMembers)) }

    /// Random digits within [lo, hi] with up to 6 decimals (as users send them).
    static func coordinate(_ g: inout DiffGenerator, _ limit: Int) -> String {
        let whole = g.rng.between(-limit, limit - 1)
        return "\(whole).\(g.rng.below(1_000_000))"
    }

    static func longitude(_ g: inout DiffGenerator) -> [UInt8] {
        switch g.rng.below(14) {
        case 0: return b(g.rng.pick(["180", "-180", "179.999999", "-179.999999", "0", "180.0000001", "-181", "x", "inf", "nan"]))
        case 1, 2: return b(coordinate(&g, 1))
        default: return b(coordinate(&g, 180))
        }
    }

    static func latitude(_ g: inout DiffGenerator) -> [UInt8] {
        switch g.rng.below(14) {
        case 0: return b(g.rng.pick(["85.05112878", "-85.05112878", "85.05112877", "-85.0511", "0", "90", "-90", "85.05112879", "y"]))
        case 1: return b(coordinate(&g, 1))
        default: return b(coordinate(&g, 85))
        }
    }

    static func radius(_ g: inout DiffGenerator) -> [[UInt8]] {
        let r = g.rng.pick(["0", "0", "1", "100", "1000", "5000", "50000", "200000", "500000", "1000000", "5000000",
                            "20000000", "40000000", "1.5", "-1", "x", "inf"])
        return [b(r), units(&g)]
    }

    static func units(_ g: inout DiffGenerator) -> [UInt8] {
        b(g.rng.pick(["m", "km", "ft", "mi", "M", "KM", "Mi", "m", "km", "yd"]))
    }

    static func searchOptions(_ g: inout DiffGenerator, store: Bool) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<g.rng.between(0, 4) {
            switch g.rng.below(10) {
            case 0: out.append(g.word("WITHDIST"))
            case 1: out.append(g.word("WITHCOORD"))
            case 2: out.append(g.word("WITHHASH"))
            case 3: out.append(g.word("ASC"))
            case 4: out.append(g.word("DESC"))
            case 5: out += [g.word("COUNT"), b(g.rng.pick(["1", "2", "3", "5", "100", "0", "-1", "x"]))]
            case 6: out += [g.word("COUNT"), b(g.rng.pick(["1", "2", "4"])), g.word("ANY")]
            case 7: out.append(g.word("ANY"))
            case 8 where store: out += [g.word(g.rng.pick(["STORE", "STOREDIST"])), g.rng.pick([b("geo:dst"), b("geo:b"), g.key()])]
            default: out.append(g.word("ASC"))
            }
        }
        return out
    }

    static let geo = DiffFamily(name: "geo", commands: [
        spec("geoadd", 14) { g in
            var cmd = [b("GEOADD"), geoKey(&g)]
            if g.rng.oneIn(3) { cmd += [g.word(g.rng.pick(["NX", "XX", "CH", "CH", "GT"]))] }
            if g.rng.oneIn(8) { cmd += [g.word(g.rng.pick(["NX", "XX", "CH"]))] }
            for _ in 0..<g.rng.pick([1, 1, 2, 3, 5]) { cmd += [longitude(&g), latitude(&g), geoMember(&g)] }
            return cmd
        },
        spec("geopos", 5) { g in [b("GEOPOS"), geoKey(&g)] + (0..<g.rng.between(1, 3)).map { _ in geoMember(&g) } },
        spec("geodist", 5) { g in
            [b("GEODIST"), geoKey(&g), geoMember(&g), geoMember(&g)] + (g.rng.oneIn(3) ? [] : [units(&g)])
        },
        spec("geohash", 3) { g in [b("GEOHASH"), geoKey(&g)] + (0..<g.rng.between(1, 3)).map { _ in geoMember(&g) } },
        spec("geosearch", 12) { g in
            let store = g.rng.oneIn(4)
            var cmd = store ? [b("GEOSEARCHSTORE"), g.rng.pick([b("geo:dst"), b("geo:b")]), geoKey(&g)] : [b("GEOSEARCH"), geoKey(&g)]
            switch g.rng.below(8) {
            case 0, 1, 2: cmd += [g.word("FROMMEMBER"), geoMember(&g)]
            case 7: break
            default: cmd += [g.word("FROMLONLAT"), longitude(&g), latitude(&g)]
            }
            switch g.rng.below(8) {
            case 0, 1, 2, 3: cmd += [g.word("BYRADIUS")] + radius(&g)
            case 7: break
            default: cmd += [g.word("BYBOX")] + [radius(&g)[0]] + radius(&g)
            }
            cmd += searchOptions(&g, store: false)
            if store && g.rng.oneIn(2) { cmd.append(g.word("STOREDIST")) }
            return cmd
        },
        spec("georadius", 6) { g in
            [b(g.rng.pick(["GEORADIUS", "GEORADIUS", "GEORADIUS_RO"])), geoKey(&g), longitude(&g), latitude(&g)] + radius(&g)
                + searchOptions(&g, store: true)
        },
        spec("georadiusbymember", 5) { g in
            [b(g.rng.pick(["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"])), geoKey(&g), geoMember(&g)] + radius(&g)
                + searchOptions(&g, store: true)
        },
        spec("zrange", 3) { g in [b("ZRANGE"), g.rng.pick([b("geo:dst"), b("geo:a"), b("geo:b")]), b("0"), b("-1"), b("WITHSCORES")] },
        spec("zadd", 1) { g in [b("ZADD"), geoKey(&g), b(g.rng.pick(["0", "-1", "1e20", "4503599627370496", "inf", "3.5"])), geoMember(&g)] },
        spec("zrem", 2) { g in [b("ZREM"), geoKey(&g), geoMember(&g)] },
    ])
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
