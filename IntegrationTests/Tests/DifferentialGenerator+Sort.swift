import TestSupport

/// The "sort" family: SORT and SORT_RO with every option, over lists, sets (intset and hashtable) and sorted
/// sets, edge-biased: numeric sorts of elements and weights that are almost numbers (" 4", "5 ", "0x10",
/// "inf", "nan", "", "1\0x") and so fail or not as strtod says, ALPHA (bytes after a NUL do not count, except
/// when stored), BY patterns with `*` (weights in strings `w_<element>` and hash fields `h_<element>->f`,
/// missing for some elements), constant patterns (`nosort`, no sorting at all), GET `#` and patterns (a
/// missing key, a field of a key that is no hash), LIMIT with negative, zero and huge values (LONG_MAX, where
/// start + count overflows), ASC/DESC, STORE (into a list, over the source itself, or nothing when empty),
/// and wrong types. Its own keys keep their types: `sl`, `sl2` lists, `si` an intset, `ss` a set of strings,
/// `sz` a sorted set (with tied scores), `sh` a hash; the shared key pool brings the other families' values,
/// as sources and through the patterns `k*` and `k*->f` (elements "1" to "4" name the keys k1 to k4).
///
/// Determinism: numeric sorts are total (ties are broken by the elements' bytes) and ALPHA sorts of a list
/// keep its order for ties (redis-server's qsort is glibc's stable merge sort; its partial quicksort for
/// BY + LIMIT is reproduced by needletail), so those replies are compared byte for byte. A hashtable set or
/// a sorted set is read in its dict's order, so where ties exist (ALPHA) or nothing is sorted (a set BY
/// nosort) the order, and with a LIMIT the selection, is each server's own: the runner compares those
/// replies as multisets, or by length under a LIMIT (`DiffSpecial.sort`). STORE with ALPHA and a BY pattern
/// would store such an order, so it is only generated over the family's own lists.
///
/// redis-server 7.0 does not clear errno before its strtod: after any command that left ERANGE in errno
/// (a "1e400" score, INCRBYFLOAT 1e309, a sort weight "1e-400"), every later numeric SORT of a non-integer
/// element on that connection fails until something else sets errno. The runner retries such a reply once
/// after making redis-server accept a connection (which leaves EAGAIN in errno); needletail does not copy it.
extension DiffFamilies {
    static let sortElements: [[UInt8]] = [
        b("1"), b("2"), b("3"), b("10"), b("-1"), b("0"), b("1.5"), b("-2.5"), b("1e3"), b("3.0"), b("007"), b("-0"),
        b(" 4"), b("5 "), b("+6"), b("0x10"), b("inf"), b("-inf"), b("nan"), b("1e308"), b("-1e308"),
        b("9223372036854775807"), b("-9223372036854775808"), b("a"), b("b"), b("B"), b("ab"), b("a"), b("b"), [],
        b("x y"), [0x00], [0x00, 0x61], [0x61, 0x00], [0x61, 0x00, 0x62], [0x31, 0x00, 0x78], [0xff], b("é"),
    ]

    /// Weights (string keys and hash fields). No value strtod reports ERANGE for (see the family's note).
    static let sortWeights: [[UInt8]] = [
        b("1"), b("2"), b("3"), b("10"), b("-1"), b("0"), b("0.5"), b("2"), b("2"), b("abc"), b("nan"), b(""),
        b(" 7"), b("7 "), b("1e2"), b("inf"), b("-inf"), b("0x1p3"), b("b"), b("a"), b("A"), [0x32, 0x00, 0x39],
    ]

    static let sortOwnKeys: [[UInt8]] = [b("sl"), b("sl"), b("sl2"), b("si"), b("ss"), b("ss"), b("sz"), b("sz"), b("sh"), b("nokey")]
    static let sortOwnLists: [[UInt8]] = [b("sl"), b("sl2")]

    static let sortLimits = ["0", "0", "1", "2", "3", "4", "-1", "-2", "5", "10", "100", "9223372036854775807",
                             "-9223372036854775808", "9223372036854775806"]
    /// Not integers (or not 64-bit ones): LIMIT's error, before the key is looked up.
    static let sortBadLimits = ["abc", "", "1.5", "9223372036854775808", " 1", "0x1"]

    static let sortByPatterns: [[UInt8]] = [
        b("w_*"), b("w_*"), b("w_*"), b("h_*->f"), b("h_*->f"), b("h_*->g"), b("h_*->"), b("w_*->f"), b("nokey_*"),
        b("nosort"), b("nosort"), b("NOSORT"), b("x"), b("#"), b("*"), b("w_*_"), [0x77, 0x5f, 0x00, 0x2a],
        b("k*"), b("k*->f"),
    ]

    static let sortGetPatterns: [[UInt8]] = [
        b("#"), b("#"), b("w_*"), b("w_*"), b("h_*->f"), b("h_*->g"), b("nokey_*"), b("nostar"), b("*"), b("h_*->"),
        b("w_*->f"), [0x23, 0x00, 0x78], b("k*"), b("k*->f"),
    ]

    /// A source key: mostly the family's own, sometimes the shared pool (any type, or none).
    static func sortSource(_ g: inout DiffGenerator) -> [UInt8] {
        g.rng.oneIn(4) ? g.key() : g.rng.pick(sortOwnKeys)
    }

    /// SORT's options in a random order; `store` decides whether a STORE is among them (SORT only). Never
    /// ALPHA with a `*` pattern in BY and STORE together unless the source is one of the family's lists.
    static func sortOptions(_ g: inout DiffGenerator, source: [UInt8], store: Bool) -> [[UInt8]] {
        var options: [[[UInt8]]] = []
        var alpha = g.rng.oneIn(3)
        var by: [UInt8]? = g.rng.oneIn(2) ? g.rng.pick(sortByPatterns) : nil
        if store && alpha, let pattern = by, pattern.contains(UInt8(ascii: "*")), !sortOwnLists.contains(source) {
            if g.rng.oneIn(2) { alpha = false } else { by = nil }
        }
        if alpha { options.append([g.word("ALPHA")]) }
        if let by { options.append([g.word("BY"), by]) }
        switch g.rng.below(6) {
        case 0: options.append([g.word("DESC")])
        case 1: options.append([g.word("ASC")])
        case 2 where g.rng.oneIn(3): options.append([g.word("ASC"), g.word("DESC")])
        default: break
        }
        if g.rng.oneIn(2) {
            var limit = [g.word("LIMIT"), b(g.rng.pick(sortLimits)), b(g.rng.pick(sortLimits))]
            if g.rng.oneIn(12) { limit[g.rng.between(1, 2)] = b(g.rng.pick(sortBadLimits)) }
            options.append(limit)
        }
        for _ in 0..<g.rng.pick([0, 0, 0, 1, 1, 2, 3]) { options.append([g.word("GET"), g.rng.pick(sortGetPatterns)]) }
        if store {
            // Into the source itself only when that keeps the family's keys' types (its lists, the shared pool).
            let intoSource = g.rng.oneIn(4) && (sortOwnLists.contains(source) || !sortOwnKeys.contains(source))
            let destination = intoSource ? source : (g.rng.oneIn(3) ? g.key() : b(g.rng.pick(["sdst", "sdst", "sl2"])))
            options.append([g.word("STORE"), destination])
        }
        options.shuffle(using: &g.rng)
        var out = options.flatMap { $0 }
        // Now and then an option cut short or unknown: a syntax error (or LIMIT's integer error) first.
        switch g.rng.below(25) {
        case 0: out.append(g.word(g.rng.pick(["LIMIT", "BY", "GET", "STORE"])))
        case 1: out += [g.word("LIMIT"), b("1")]
        case 2: out.append(b(g.rng.pick(["FOO", "STORE1", "ALPHAS"])))
        default: break
        }
        return out
    }

    static let sort = DiffFamily(name: "sort", commands: [
        spec("sort rpush", 8) { g in
            [b(g.rng.oneIn(3) ? "LPUSH" : "RPUSH"), g.rng.pick(sortOwnLists)] + (0..<g.rng.pick([1, 2, 3, 5, 8, 12])).map { _ in g.sortElement() }
        },
        spec("sort sadd", 6) { g in
            if g.rng.oneIn(2) {
                return [b("SADD"), b("si")] + (0..<g.rng.pick([1, 2, 4, 8, 12])).map { _ in b(String(g.rng.between(-20, 20))) }
            }
            return [b("SADD"), b("ss")] + (0..<g.rng.pick([1, 2, 4, 8, 12])).map { _ in g.sortElement() }
        },
        spec("sort zadd", 5) { g in
            // Scores from a few values: tied scores, ordered by member within a tie.
            [b("ZADD"), b("sz")] + (0..<g.rng.pick([1, 2, 3, 6, 10])).flatMap { _ in
                [b(g.rng.pick(["1", "2", "2", "-1", "0", "inf"])), g.sortElement()]
            }
        },
        spec("sort remove", 2) { g in
            switch g.rng.below(4) {
            case 0: return [b("LREM"), g.rng.pick(sortOwnLists), b("0"), g.sortElement()]
            case 1: return [b("SREM"), b(g.rng.pick(["si", "ss"])), g.sortElement()]
            case 2: return [b("ZREM"), b("sz"), g.sortElement()]
            default: return [b("DEL"), g.rng.pick(sortOwnKeys + [b("sdst")])]
            }
        },
        spec("sort hash source", 1) { g in [b("HSET"), b("sh"), g.sortElement(), b("1")] },
        spec("sort weights", 7) { g in
            switch g.rng.below(5) {
            case 0, 1: return [b("MSET")] + (0..<g.rng.pick([2, 4, 8, 12])).flatMap { _ in [b("w_") + g.sortElement(), g.rng.pick(sortWeights)] }
            case 2: return [b("DEL")] + (0..<g.rng.pick([1, 2])).map { _ in b("w_") + g.sortElement() }
            // A weight key of another type: BY reads nothing (0, or first with ALPHA), GET a null.
            case 3 where g.rng.oneIn(3): return [b("RPUSH"), b("w_") + g.sortElement(), b("1")]
            default: return [b("SET"), b("w_") + g.sortElement(), g.rng.pick(sortWeights)]
            }
        },
        spec("sort hash weights", 4) { g in
            var c = [b("HSET"), b("h_") + g.sortElement()]
            for _ in 0..<g.rng.pick([1, 1, 2]) { c += [b(g.rng.pick(["f", "f", "g", "x"])), g.rng.pick(sortWeights)] }
            return c
        },
        spec("sort", 14) { g in
            let source = sortSource(&g)
            return [b("SORT"), source] + sortOptions(&g, source: source, store: false)
        },
        spec("sort_ro", 4) { g in
            let source = sortSource(&g)
            // SORT_RO has no STORE: it is a syntax error there.
            return [b("SORT_RO"), source] + sortOptions(&g, source: source, store: g.rng.oneIn(12))
        },
        spec("sort store", 5) { g in
            let source = sortSource(&g)
            return [b("SORT"), source] + sortOptions(&g, source: source, store: true)
        },
        // From a script a set's BY nosort comes out sorted ALPHA (Redis's CLIENT_SCRIPT rule), so the script
        // sees one order on every server. Sources whose order is the same on both servers for every option
        // (the reply is EVAL's, compared byte for byte): the intset (read ascending) and the lists.
        spec("sort in a script", 3) { g in
            let source = b(g.rng.pick(["si", "si", "sl", "nokey"]))
            let command = g.rng.oneIn(3) ? "SORT_RO" : "SORT"
            return [b("EVAL"), b("return redis.call('\(command)', KEYS[1], unpack(ARGV))"), b("1"), source]
                + sortOptions(&g, source: source, store: g.rng.oneIn(6))
        },
        spec("sort read", 3) { g in
            switch g.rng.below(4) {
            case 0: return [b("LRANGE"), b(g.rng.pick(["sdst", "sl", "sl2"])), b("0"), b("-1")]
            case 1: return [b("TYPE"), b(g.rng.pick(["sdst", "sl", "si", "ss", "sz"]))]
            case 2: return [b("OBJECT"), b("ENCODING"), b(g.rng.pick(["sz", "si", "ss", "sdst"]))]
            default: return [b("LLEN"), b("sdst")]
            }
        },
        spec("sort arity", 1) { g in
            g.rng.oneIn(2) ? [b(g.rng.pick(["SORT", "SORT_RO"]))] : [b("SORT"), sortSource(&g), g.word("LIMIT"), b("0")]
        },
    ])
}

extension DiffGenerator {
    mutating func sortElement() -> [UInt8] {
        switch rng.below(10) {
        case 0: return Array(String(rng.between(-10, 10)).utf8)
        case 1: return Array("\(rng.between(-5, 5)).\(rng.below(10))".utf8)
        default: return rng.pick(DiffFamilies.sortElements)
        }
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
