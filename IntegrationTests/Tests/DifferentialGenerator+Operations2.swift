import TestSupport

/// The "operations2" family of the differential generator: the deterministic part of LOLWUT, SHUTDOWN and
/// CONFIG REWRITE on a server started without a config file (the runner's servers).
///
/// - LOLWUT: no VERSION or a version other than 5 and 6 (only "Redis ver. ..."), VERSION 5 drawings with at
///   most two rows of squares (rows 0 and 1 are never rotated: no `rand()`), and every argument error. The
///   normalizer reads Redis's "7.0.15" as our "7.2.4" in these replies.
/// - SHUTDOWN: ABORT with no shutdown in progress, and the syntax errors (an unknown word, SAVE with NOSAVE,
///   ABORT with another flag). A well-formed SHUTDOWN would stop the servers, so none is generated.
/// - CONFIG REWRITE and DEBUG CONFIG-REWRITE-FORCE-ALL without a config file.
extension DiffFamilies {
    static let lolwutNumbers = ["0", "1", "2", "3", "-1", "66", "1000", "1001", "abc", "", "1.5",
                                "9223372036854775807", "9223372036854775808", " 2"]
    static let lolwutVersions = ["0", "1", "4", "5", "6", "7", "8", "49", "59", "-1", "4294967301", "4294967302",
                                 "abc", "", "5.0"]

    static let operations2 = DiffFamily(name: "operations2", commands: [
        spec("lolwut", 6, keepsArity: true) { g in
            var words = [g.word("LOLWUT")]
            switch g.rng.below(5) {
            case 0:   // the current version, extra arguments ignored
                for _ in 0..<g.rng.between(0, 2) { words.append(b(g.rng.pick(lolwutNumbers))) }
            case 1:   // VERSION 5 without random rows: columns, squares per row, at most 2 rows
                words += [g.word("VERSION"), b(g.rng.pick(["5", "4294967301"]))]
                // The canvas grows with (columns / squares per row)^2: keep the widest ones to many squares.
                if g.rng.oneIn(6) {
                    words += [b(g.rng.pick(["1000", "5000"])), b(g.rng.pick(["200", "201"]))]
                } else {
                    words.append(b(g.rng.pick(["1", "2", "3", "10", "-5", "66", "200"])))
                    words.append(b(g.rng.pick(["1", "2", "3", "8", "0", "200", "201"])))
                }
                words.append(b(g.rng.pick(["1", "2", "0", "-3"])))
            case 2:   // argument errors of VERSION 5 and 6
                let version = g.rng.pick(["5", "6"])
                words += [g.word("VERSION"), b(version)]
                let count = g.rng.between(1, version == "5" ? 3 : 2)
                for i in 0..<count { words.append(b(i == count - 1 ? g.rng.pick(["abc", "", "1.5", "9223372036854775808"]) : "2")) }
            case 3:   // VERSION as the only argument, or a bad version
                words.append(g.word("VERSION"))
                if g.rng.oneIn(2) { words.append(b(g.rng.pick(["abc", "", "1.5", "9223372036854775808"]))) }
            default:  // other versions: only the version line
                words += [g.word("VERSION"), b(g.rng.pick(lolwutVersions.filter { !["5", "6", "4294967301", "4294967302"].contains($0) }))]
                if g.rng.oneIn(3) { words.append(b(g.rng.pick(lolwutNumbers))) }
            }
            return words
        },
        spec("shutdown", 3, keepsArity: true) { g in
            switch g.rng.below(5) {
            case 0: return [g.word("SHUTDOWN"), g.word("ABORT")]
            case 1: return [g.word("SHUTDOWN"), g.word("ABORT"), g.word(g.rng.pick(["NOW", "FORCE", "SAVE", "NOSAVE"]))]
            case 2: return [g.word("SHUTDOWN"), g.word(g.rng.pick(["SAVE", "NOSAVE"])), g.word(g.rng.pick(["NOW", "FORCE"])),
                            g.word("ABORT")]
            case 3: return [g.word("SHUTDOWN"), g.word("SAVE"), g.word("NOSAVE")]
            default: return [g.word("SHUTDOWN"), g.word(g.rng.pick(["NOW", "ABORT", "FORCE"])), b(g.rng.pick(["nosuch", "", "now1"]))]
            }
        },
        spec("config rewrite", 2, keepsArity: true) { g in
            g.rng.oneIn(3) ? [g.word("CONFIG"), g.word("REWRITE"), b("x")] : [g.word("CONFIG"), g.word("REWRITE")]
        },
        spec("debug config-rewrite-force-all", 1, keepsArity: true) { g in
            [g.word("DEBUG"), g.word("CONFIG-REWRITE-FORCE-ALL")] + (g.rng.oneIn(3) ? [b("x")] : [])
        },
    ])
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
