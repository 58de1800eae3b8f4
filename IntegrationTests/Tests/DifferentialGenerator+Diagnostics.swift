import TestSupport

/// The "diagnostics" family: SLOWLOG, LATENCY, MODULE and cluster mode's commands (disabled on both servers).
///
/// The slow log only holds what a scene puts there, so both servers log the same commands: the prologue
/// turns logging off (`slowlog-log-slower-than -1`) and empties the log, and a scene turns it on for one
/// command (every command then takes at least 0 µs: that CONFIG SET is logged too, as its threshold is 0 when
/// it finishes), off again (not logged: the threshold is already negative when it finishes), and reads the
/// entries back. The command is drawn to exercise what the log keeps of it: more than
/// 32 arguments, arguments over 128 bytes, secrets redacted (AUTH, HELLO AUTH, CONFIG SET requirepass), a
/// client name. Ids, times, durations and client addresses are masked by the normalizer (DifferentialRunner's
/// `slowlogMasked`). The latency monitor stays off (threshold 0): LATEST, HISTORY and DOCTOR answer alike; a
/// scene turns it on for LATENCY DOCTOR's "no spike" text. LATENCY HISTOGRAM is compared by the commands it
/// names (their timings differ).
extension DiffFamilies {
    static let slowlogCounts = ["0", "1", "2", "10", "-1", "-2", "abc", "", "9223372036854775807", "1.5"]
    static let latencyEvents = ["command", "fast-command", "expire-cycle", "nosuch", "", "COMMAND"]
    static let histogramNames = ["get", "set", "nosuch", "config", "config|get", "client|id", "slowlog", "GET", ""]

    static let diagnostics = DiffFamily(name: "diagnostics", commands: [
        DiffCommandSpec(name: "slowlog scene", weight: 6, make: { _ in [] }, scene: { g in slowlogScene(&g) }),
        spec("slowlog get", 3) { g in
            g.rng.oneIn(3) ? [g.word("SLOWLOG"), g.word("GET")] : [g.word("SLOWLOG"), g.word("GET"), b(g.rng.pick(slowlogCounts))]
        },
        spec("slowlog", 2) { g in
            switch g.rng.below(6) {
            case 0: return [g.word("SLOWLOG"), g.word("LEN")]
            case 1: return [g.word("SLOWLOG"), g.word("RESET")]
            case 2: return [g.word("SLOWLOG"), g.word("HELP")]
            case 3: return [g.word("SLOWLOG"), g.word("GET"), b("1"), b("2")]
            case 4: return [g.word("SLOWLOG"), b("NOSUCH")]
            default: return [g.word("SLOWLOG")]
            }
        },
        spec("latency", 4) { g in
            switch g.rng.below(9) {
            case 0: return [g.word("LATENCY"), g.word("LATEST")]
            case 1: return [g.word("LATENCY"), g.word("HISTORY"), b(g.rng.pick(latencyEvents))]
            case 2: return [g.word("LATENCY"), g.word("RESET")] + (0..<g.rng.between(0, 2)).map { _ in b(g.rng.pick(latencyEvents)) }
            case 3: return [g.word("LATENCY"), g.word("GRAPH"), b(g.rng.pick(latencyEvents))]
            case 4: return [g.word("LATENCY"), g.word("DOCTOR")]
            case 5: return [g.word("LATENCY"), g.word("HELP")]
            case 6: return [g.word("LATENCY"), g.word("HISTOGRAM")] + (0..<g.rng.between(1, 3)).map { _ in b(g.rng.pick(histogramNames)) }
            case 7: return [g.word("LATENCY"), g.word(g.rng.pick(["LATEST", "DOCTOR", "HELP"])), b("extra")]
            default: return [g.word("LATENCY"), b(g.rng.pick(["NOSUCH", "HISTORY"]))]
            }
        },
        spec("module", 2) { g in
            switch g.rng.below(6) {
            case 0: return [g.word("MODULE"), g.word("LIST")]
            case 1: return [g.word("MODULE"), g.word("HELP")]
            // enable-module-command is no on both: refused before anything is parsed.
            case 2: return [g.word("MODULE"), g.word("LOAD"), b("/nonexistent/module.so")]
            case 3: return [g.word("MODULE"), g.word("UNLOAD"), b("nosuch")]
            case 4: return [g.word("MODULE"), g.word("LOADEX"), b("/x.so"), g.word("CONFIG"), b("a"), b("b")]
            default: return [g.word("MODULE"), b(g.rng.pick(["NOSUCH", "LIST"])), b("x")]
            }
        },
        spec("cluster", 2) { g in
            switch g.rng.below(5) {
            case 0: return [g.word("CLUSTER"), g.word(g.rng.pick(["INFO", "NODES", "SLOTS", "SHARDS", "MYID", "HELP", "LINKS"]))]
            case 1: return [g.word("CLUSTER"), g.word("KEYSLOT"), g.key()]
            case 2: return [g.word(g.rng.pick(["READONLY", "READWRITE", "ASKING"]))]
            case 3: return [g.word("CLUSTER"), b(g.rng.pick(["NOSUCH", "INFO"])), b("x")]
            default: return [g.word("CLUSTER")]
            }
        },
    ], prologue: { _ in
        // (RESET: a health-check PING slower than the default 10 ms may be logged before the prologue.)
        [[b("CONFIG"), b("SET"), b("slowlog-log-slower-than"), b("-1"), b("slowlog-max-len"), b("128")], [b("SLOWLOG"), b("RESET")]]
    })

    /// One command logged and read back (see the family's header).
    static func slowlogScene(_ g: inout DiffGenerator) -> [DiffCommand] {
        let logged: DiffCommand
        switch g.rng.below(8) {
        case 0: logged = [b("SET"), g.key(), g.value()]
        case 1: logged = [b("RPUSH"), g.key()] + (0..<g.rng.between(30, 40)).map { _ in g.value() }
        case 2: logged = [b("ECHO"), [UInt8](repeating: UInt8(ascii: "x"), count: g.rng.pick([127, 128, 129, 1000]))]
        case 3: logged = [b("AUTH"), b("nosuchpassword")]
        case 4: logged = [b("HELLO"), b(g.rng.pick(["2", "3"])), b("AUTH"), b("default"), b("wrong")]
        case 5: logged = [b("CONFIG"), b("SET"), b(g.rng.pick(["requirepass", "masterauth"])), b("s3cret"), b("maxmemory-samples"), b("5")]
        case 6: logged = [b("CLIENT"), b("SETNAME"), b(g.rng.pick(["logged", "x"]))]
        default: logged = [b("GET"), g.key()]
        }
        var scene: [DiffCommand] = [
            [b("CONFIG"), b("SET"), b("slowlog-log-slower-than"), b("0")],
            logged,
            [b("CONFIG"), b("SET"), b("slowlog-log-slower-than"), b("-1")],
            [b("SLOWLOG"), b("GET"), b(g.rng.pick(["1", "2", "3"]))],
        ]
        // Undo what would change later commands: the password (AUTH/HELLO then fail alike), the client's name.
        if logged[0] == b("CONFIG") { scene.append([b("CONFIG"), b("SET"), logged[2], b("")]) }
        if logged[0] == b("CLIENT") { scene.append([b("CLIENT"), b("SETNAME"), b("")]) }
        if g.rng.oneIn(4) { scene.append([b("SLOWLOG"), b("RESET")]) }
        if g.rng.oneIn(6) {
            scene += [[b("CONFIG"), b("SET"), b("latency-monitor-threshold"), b("1000")], [b("LATENCY"), b("DOCTOR")],
                      [b("CONFIG"), b("SET"), b("latency-monitor-threshold"), b("0")]]
        }
        return scene
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
