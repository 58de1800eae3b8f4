import TestSupport

// The "streams" family: every X* command, edge-biased, on the shared key pool (so streams meet the other
// families' types, COPY, RENAME and friends) and on one key of its own.
//
// Ids: explicit ids with small milliseconds (so streams grow and XADD's "equal or smaller" error comes up),
// "<ms>-*" sequences, ids at the 64-bit edges (the last possible id, which exhausts the stream, and sequence
// overflow into the next millisecond), and invalid forms redis-server's string2ull accepts or refuses ("+1",
// " 1", "01", "-1", "1-", too long). Trimming mixes MAXLEN/MINID with = and ~ and LIMIT under small
// stream-node-max-entries values (set by a rare CONFIG SET), where ~ depends on where nodes are cut.
//
// Generated ids and times are normalised so replies can be compared byte for byte:
// - a `*` id is only used on the family's own key "xfut", which the prologue creates with a far-future id
//   (10000000000000-0) and only XADD NOMKSTREAM, reads, XDEL and XTRIM touch (none can lower its last id), so
//   both servers generate last id + 1;
// - delivery times and consumers' idle and seen times (XPENDING, XINFO CONSUMERS, XINFO STREAM FULL) are
//   compared within a tolerance by `DiffNormalizer.streamTimesClose`;
// - idle thresholds (XCLAIM/XAUTOCLAIM min-idle-time, XPENDING IDLE, XCLAIM IDLE/TIME) are 0, far below the
//   times involved or far above them, never near a command's own duration.
// Blocking reads use BLOCK 1 or 5 (milliseconds), never 0.

extension DiffFamilies {
    static let futureStreamKey = Array("xfut".utf8)

    static let streamFields: [[UInt8]] = [
        Array("f".utf8), Array("f".utf8), Array("g".utf8), Array("name".utf8), [], Array("1".utf8),
        Array("-9223372036854775808".utf8), [0x66, 0x00], [UInt8](repeating: 0x78, count: 70),
    ]

    static let streamValues: [[UInt8]] = [
        Array("v".utf8), Array("1".utf8), Array("-1".utf8), Array("127".utf8), Array("128".utf8), Array("4095".utf8),
        Array("4096".utf8), Array("123456789012".utf8), Array("9223372036854775807".utf8), Array("01".utf8), [],
        Array("hello world".utf8), [UInt8](repeating: 0x79, count: 100), [UInt8](repeating: 0x7a, count: 5000),
    ]

    /// Ids for ranges, XDEL, XACK, XCLAIM... (valid and not).
    static let streamIDs = [
        "0-0", "0-1", "1-0", "1-1", "1-2", "2-0", "2", "3-1", "5-0", "5-18446744073709551615", "6-0", "10-0", "50",
        "100-3", "18446744073709551615-18446744073709551614", "18446744073709551615-18446744073709551615",
        "18446744073709551615", "10000000000000-0", "10000000000000-3", "abc", "1-", "-1", "+1", " 1", "01-1",
        "1-01", "18446744073709551616", "1-18446744073709551616", "1.5", "1-*", "",
    ]

    static let streamIntervalIDs = ["-", "+", "-", "+", "(1-1", "(0-0", "(18446744073709551615-18446744073709551615",
                                    "(-", "(", "((1", "(5"]

    static let streamGroups = ["g1", "g1", "g2", "g3", ""]
    static let streamConsumers = ["c1", "c1", "c2", "c3", "", "C1"]
    static let streamCounts = ["0", "1", "2", "3", "5", "10", "-1", "100", "x", "9223372036854775807"]
    static let streamIdles = ["0", "0", "-5", "3600000", "9223372036854775807", "x"]

    static let streamConfig: [(name: String, values: [String])] = [
        ("stream-node-max-entries", ["1", "2", "3", "5", "100", "0"]),
        ("stream-node-max-bytes", ["50", "200", "4096", "0"]),
    ]

    static func streamPairs(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]] = []
        if g.rng.oneIn(2) {
            // The same fields as most entries: Redis's same-fields entries.
            out = [Array("f".utf8), g.streamValue(), Array("g".utf8), g.streamValue()]
        } else {
            for _ in 0..<g.rng.pick([1, 1, 2, 3]) { out += [g.rng.pick(streamFields), g.streamValue()] }
        }
        if g.rng.oneIn(20) { out.removeLast() }  // an odd count: an arity error
        return out
    }

    static func streamTrimOptions(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]] = []
        if g.rng.oneIn(2) {
            out.append(g.word("MAXLEN"))
            if !g.rng.oneIn(3) { out.append(b(g.rng.pick(["~", "=", "~"]))) }
            out.append(b(g.rng.pick(["0", "1", "2", "3", "5", "10", "-1", "x"])))
        } else {
            out.append(g.word("MINID"))
            if !g.rng.oneIn(3) { out.append(b(g.rng.pick(["~", "=", "~"]))) }
            out.append(b(g.rng.pick(["0", "1", "2-0", "3", "5-1", "10", "18446744073709551615-18446744073709551615", "-", "x"])))
        }
        if g.rng.oneIn(3) { out += [g.word("LIMIT"), b(g.rng.pick(["0", "1", "2", "5", "100", "-1"]))] }
        return out
    }

    static let streams = DiffFamily(name: "streams", commands: [
        spec("xadd", 16) { g in
            var cmd = [b("XADD"), g.streamKey(future: false)]
            if g.rng.oneIn(8) { cmd.append(g.word("NOMKSTREAM")) }
            if g.rng.oneIn(5) { cmd += streamTrimOptions(&g) }
            return cmd + [g.addID()] + streamPairs(&g)
        },
        spec("xadd *", 3) { g in
            var cmd = [b("XADD"), futureStreamKey, g.word("NOMKSTREAM")]
            if g.rng.oneIn(3) { cmd += streamTrimOptions(&g) }
            return cmd + [b("*")] + streamPairs(&g)
        },
        spec("xlen", 2) { g in [b("XLEN"), g.streamKey()] },
        spec("xrange", 6) { g in
            var cmd = [b(g.rng.oneIn(3) ? "XREVRANGE" : "XRANGE"), g.streamKey(), g.intervalID(), g.intervalID()]
            if g.rng.oneIn(2) { cmd += [g.word("COUNT"), b(g.rng.pick(streamCounts))] }
            return cmd
        },
        spec("xdel", 4) { g in [b("XDEL"), g.streamKey()] + (0..<g.rng.between(1, 3)).map { _ in g.streamID() } },
        spec("xtrim", 4) { g in [b("XTRIM"), g.streamKey()] + streamTrimOptions(&g) },
        spec("xsetid", 2) { g in
            var cmd = [b("XSETID"), g.streamKey(future: false), g.streamID()]
            if g.rng.oneIn(3) { cmd += [g.word("ENTRIESADDED"), b(g.rng.pick(["0", "1", "5", "100", "-1"]))] }
            if g.rng.oneIn(3) { cmd += [g.word("MAXDELETEDID"), g.streamID()] }
            return cmd
        },
        spec("xread", 5) { g in
            var cmd = [b("XREAD")]
            if g.rng.oneIn(2) { cmd += [g.word("COUNT"), b(g.rng.pick(streamCounts))] }
            if g.rng.oneIn(5) { cmd += [g.word("BLOCK"), b(g.rng.pick(["1", "5", "-1", "x"]))] }
            let keys = (0..<g.rng.pick([1, 1, 2])).map { _ in g.streamKey() }
            cmd.append(g.word("STREAMS"))
            cmd += keys
            for _ in keys { cmd.append(b(g.rng.pick(["0", "0-0", "$", "1-1", "5", ">", "18446744073709551615-18446744073709551615"]))) }
            return cmd
        },
        spec("xgroup create", 5) { g in
            var cmd = [b("XGROUP"), g.word("CREATE"), g.streamKey(future: false), b(g.rng.pick(streamGroups)),
                       b(g.rng.pick(["0", "$", "1-1", "5", "0-0", "abc", "+"]))]
            if g.rng.oneIn(2) { cmd.append(g.word("MKSTREAM")) }
            if g.rng.oneIn(4) { cmd += [g.word("ENTRIESREAD"), b(g.rng.pick(["0", "1", "3", "-1", "-2", "x"]))] }
            return cmd
        },
        spec("xgroup setid", 2) { g in
            var cmd = [b("XGROUP"), g.word("SETID"), g.streamKey(), b(g.rng.pick(streamGroups)),
                       b(g.rng.pick(["0", "$", "1-1", "5", "-", "abc"]))]
            if g.rng.oneIn(3) { cmd += [g.word("ENTRIESREAD"), b(g.rng.pick(["0", "2", "-1", "-3"]))] }
            return cmd
        },
        spec("xgroup other", 4) { g in
            switch g.rng.below(5) {
            case 0: return [b("XGROUP"), g.word("DESTROY"), g.streamKey(), b(g.rng.pick(streamGroups))]
            case 1, 2: return [b("XGROUP"), g.word("CREATECONSUMER"), g.streamKey(), b(g.rng.pick(streamGroups)),
                               b(g.rng.pick(streamConsumers))]
            case 3: return [b("XGROUP"), g.word("DELCONSUMER"), g.streamKey(), b(g.rng.pick(streamGroups)),
                            b(g.rng.pick(streamConsumers))]
            default: return [b("XGROUP"), g.word(g.rng.pick(["HELP", "NOSUCH", "CREATE"]))]
            }
        },
        spec("xreadgroup", 10) { g in
            var cmd = [b("XREADGROUP"), g.word("GROUP"), b(g.rng.pick(streamGroups)), b(g.rng.pick(streamConsumers))]
            if g.rng.oneIn(2) { cmd += [g.word("COUNT"), b(g.rng.pick(streamCounts))] }
            if g.rng.oneIn(6) { cmd += [g.word("BLOCK"), b(g.rng.pick(["1", "5"]))] }
            if g.rng.oneIn(5) { cmd.append(g.word("NOACK")) }
            let keys = (0..<g.rng.pick([1, 1, 1, 2])).map { _ in g.streamKey() }
            cmd.append(g.word("STREAMS"))
            cmd += keys
            // History reads start after the id: from an entry's own id (often pending) and from 0.
            for _ in keys { cmd.append(g.rng.oneIn(5) ? g.streamID() : b(g.rng.pick([">", ">", ">", "0", "0-0", "1-1", "$", "(1"]))) }
            return cmd
        },
        spec("xack", 4) { g in
            [b("XACK"), g.streamKey(), b(g.rng.pick(streamGroups))] + (0..<g.rng.between(1, 3)).map { _ in g.streamID() }
        },
        spec("xpending", 5) { g in
            var cmd = [b("XPENDING"), g.streamKey(), b(g.rng.pick(streamGroups))]
            if g.rng.oneIn(3) { return cmd }
            if g.rng.oneIn(3) { cmd += [g.word("IDLE"), b(g.rng.pick(["0", "2000", "3600000", "x"]))] }
            cmd += [g.intervalID(), g.intervalID(), b(g.rng.pick(streamCounts))]
            if g.rng.oneIn(2) { cmd.append(b(g.rng.pick(streamConsumers))) }
            return cmd
        },
        spec("xclaim", 5) { g in
            var cmd = [b("XCLAIM"), g.streamKey(), b(g.rng.pick(streamGroups)), b(g.rng.pick(streamConsumers)),
                       b(g.rng.pick(streamIdles))]
            cmd += (0..<g.rng.between(1, 3)).map { _ in g.streamID() }
            for _ in 0..<g.rng.pick([0, 0, 1, 2, 3]) {
                switch g.rng.below(7) {
                case 0: cmd += [g.word("IDLE"), b(g.rng.pick(["0", "5000", "3600000", "-1", "x"]))]
                case 1: cmd += [g.word("TIME"), b(g.rng.pick(["0", "1", "-5", "99999999999999", "x"]))]
                case 2: cmd += [g.word("RETRYCOUNT"), b(g.rng.pick(["0", "5", "-1", "x"]))]
                case 3: cmd.append(g.word("FORCE"))
                case 4: cmd.append(g.word("JUSTID"))
                case 5: cmd += [g.word("LASTID"), g.streamID()]
                default: cmd.append(g.word("NOSUCH"))
                }
            }
            return cmd
        },
        spec("xautoclaim", 4) { g in
            var cmd = [b("XAUTOCLAIM"), g.streamKey(), b(g.rng.pick(streamGroups)), b(g.rng.pick(streamConsumers)),
                       b(g.rng.pick(streamIdles)), g.intervalID()]
            if g.rng.oneIn(2) { cmd += [g.word("COUNT"), b(g.rng.pick(["1", "2", "3", "0", "-1", "x"]))] }
            if g.rng.oneIn(3) { cmd.append(g.word("JUSTID")) }
            return cmd
        },
        spec("xinfo", 5) { g in
            switch g.rng.below(6) {
            case 0, 1:
                var cmd = [b("XINFO"), g.word("STREAM"), g.streamKey()]
                if g.rng.oneIn(2) {
                    cmd.append(g.word("FULL"))
                    if g.rng.oneIn(2) { cmd += [g.word("COUNT"), b(g.rng.pick(["0", "1", "2", "-1", "x"]))] }
                }
                return cmd
            case 2, 3: return [b("XINFO"), g.word("GROUPS"), g.streamKey()]
            case 4: return [b("XINFO"), g.word("CONSUMERS"), g.streamKey(), b(g.rng.pick(streamGroups))]
            default: return [b("XINFO"), g.word(g.rng.pick(["HELP", "NOSUCH"]))]
            }
        },
        spec("stream introspection", 3) { g in
            switch g.rng.below(4) {
            case 0: return [b("OBJECT"), b("ENCODING"), g.streamKey()]
            case 1: return [b("TYPE"), g.streamKey()]
            case 2: return [b("DEBUG"), b("DIGEST-VALUE"), g.streamKey()]
            default: return [b("SCAN"), b("0"), b("TYPE"), b("stream"), b("COUNT"), b("100")]
            }
        },
        spec("stream wrongtype", 1) { g in
            g.rng.oneIn(2) ? [b("SET"), g.key(), b("string")] : [b("DEL"), g.key()]
        },
        spec("stream config", 1) { g in
            let (name, values) = g.rng.pick(streamConfig)
            return [b("CONFIG"), b("SET"), b(name), b(g.rng.pick(values))]
        },
    ], prologue: { _ in [[b("XADD"), futureStreamKey, b("10000000000000-0"), b("f"), b("v")]] })
}

extension DiffGenerator {
    /// A key of the shared pool, or (for commands that cannot lower its last id) the family's own.
    mutating func streamKey(future: Bool = true) -> [UInt8] {
        future && rng.oneIn(6) ? DiffFamilies.futureStreamKey : key()
    }

    mutating func streamValue() -> [UInt8] {
        rng.oneIn(4) ? Array(String(rng.between(0, 300)).utf8) : rng.pick(DiffFamilies.streamValues)
    }

    mutating func streamID() -> [UInt8] {
        rng.oneIn(3) ? Array("\(rng.between(0, 60))-\(rng.between(0, 3))".utf8) : Array(rng.pick(DiffFamilies.streamIDs).utf8)
    }

    mutating func intervalID() -> [UInt8] {
        rng.oneIn(2) ? Array(rng.pick(DiffFamilies.streamIntervalIDs).utf8) : streamID()
    }

    /// XADD's id: mostly growing small ids and "<ms>-*", sometimes the edges.
    mutating func addID() -> [UInt8] {
        switch rng.below(10) {
        case 0..<4: return Array("\(rng.between(1, 60))-*".utf8)
        case 4..<7: return Array("\(rng.between(1, 60))-\(rng.between(0, 3))".utf8)
        case 7: return Array(rng.pick(["5-18446744073709551615", "5-*", "6-*", "18446744073709551614-18446744073709551615",
                                       "18446744073709551615-*", "18446744073709551615-18446744073709551615",
                                       "0-0", "0-*", "0-1"]).utf8)
        default: return streamID()
        }
    }
}
fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
