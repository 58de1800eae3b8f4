import TestSupport

/// The "replication" family of the differential generator: what a client may send to a standalone master
/// that has no replica, where both servers must answer alike. ROLE (offset 0, no replicas), WAIT (0 or a
/// count with a timeout of a millisecond or two, its errors; inside MULTI it answers at once), REPLCONF's
/// options and errors (never ACK or GETACK: they answer nothing), REPLICAOF NO ONE and its port errors
/// (never a real master: the server would become a replica), FAILOVER's errors (no replicas, ABORT with no
/// failover, syntax, timeouts). SYNC and PSYNC only with a wrong argument count: well-formed, they start a
/// sync (ReplicationTests' business).
extension DiffFamilies {
    static let replicationNumbers = ["0", "0", "1", "2", "-1", "abc", "", "9223372036854775807", "1.5", " 1"]
    static let replicationTimeouts = ["0", "1", "2", "-1", "abc", "", "9223372036854775808"]

    static let replication = DiffFamily(name: "replication", commands: [
        spec("role", 4) { g in g.rng.oneIn(8) ? [g.word("ROLE"), b("x")] : [g.word("ROLE")] },
        spec("wait", 4, keepsArity: true) { g in
            // A positive count blocks for its timeout (no replica ever acknowledges): keep those to 1-2 ms.
            let count = g.rng.pick(replicationNumbers)
            var timeout = g.rng.pick(replicationTimeouts)
            if timeout == "0" && (Int(count) ?? 0) > 0 { timeout = "1" }
            if g.rng.oneIn(10) { return [g.word("WAIT"), b(count)] }
            return [g.word("WAIT"), b(count), b(timeout)]
        },
        spec("replconf", 4) { g in
            var words = [g.word("REPLCONF")]
            for _ in 0..<g.rng.between(0, 2) {
                switch g.rng.below(7) {
                case 0: words += [g.word("listening-port"), b(g.rng.pick(replicationNumbers))]
                case 1: words += [g.word("capa"), b(g.rng.pick(["eof", "psync2", "EOF", "nosuch"]))]
                case 2: words += [g.word("ip-address"), b(g.rng.pick(["10.0.0.1", "", String(repeating: "a", count: 255), String(repeating: "a", count: 256)]))]
                case 3: words += [g.word("rdb-only"), b(g.rng.pick(["0", "1", "2", "-1", "x"]))]
                case 4: words += [b(g.rng.pick(["nosuch", "listening", "ackx"])), b("1")]
                case 5: words += [g.word("capa")]  // an option without its value: an even argument count
                default: words += [g.word("listening-port"), b("6380")]
                }
            }
            return words
        },
        spec("replicaof", 2, keepsArity: true) { g in
            switch g.rng.below(4) {
            case 0: return [g.word(g.rng.pick(["REPLICAOF", "SLAVEOF"])), g.word("NO"), g.word("ONE")]
            case 1: return [g.word("REPLICAOF"), b("127.0.0.1"), b(g.rng.pick(["-1", "65536", "abc", "", "99999999999999999999"]))]
            case 2: return [g.word("REPLICAOF"), g.word("NO")]
            default: return [g.word("SLAVEOF"), b("no"), b("two")]
            }
        },
        spec("failover", 2, keepsArity: true) { g in
            switch g.rng.below(6) {
            case 0: return [g.word("FAILOVER")]
            case 1: return [g.word("FAILOVER"), g.word("ABORT")]
            case 2: return [g.word("FAILOVER"), g.word("TIMEOUT"), b(g.rng.pick(["0", "-5", "abc", "100"]))]
            case 3: return [g.word("FAILOVER"), g.word("TO"), b("127.0.0.1"), b(g.rng.pick(["1", "x"]))]
            case 4: return [g.word("FAILOVER"), g.word("FORCE")]
            default: return [g.word("FAILOVER"), g.word(g.rng.pick(["TO", "TIMEOUT", "NOSUCH", "ABORT"]))]
            }
        },
        // Arity errors only (a well-formed SYNC or PSYNC would start streaming a snapshot).
        spec("sync", 1, keepsArity: true) { g in g.rng.oneIn(2) ? [g.word("SYNC"), b("x")] : [g.word("PSYNC")] + (g.rng.oneIn(2) ? [b("?")] : []) },
    ])
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
