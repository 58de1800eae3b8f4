import TestSupport

/// The "transactions" family of the differential generator: MULTI, EXEC, DISCARD, WATCH, UNWATCH and now and
/// then RESET, among the other enabled families' commands, which thus get queued (+QUEUED) and run by EXEC,
/// whose array the runner compares element by element with each queued command's own rule
/// (`DifferentialRunner.compareExec`).
///
/// Weights: with the other enabled families weighing about 420, a 40-command sequence holds one or two
/// MULTIs, and EXEC, DISCARD and RESET together end a transaction after about a dozen commands (some
/// sequences end inside MULTI: nothing to compare there but the +QUEUED). EXEC and DISCARD are thus often
/// sent outside MULTI (their errors), MULTI inside MULTI (nested), and WATCH inside MULTI. Names come in
/// any case, and now and then with an argument too many (`EXEC x` aborts a transaction, and answers
/// EXECABORT even outside one; `MULTI x`, `DISCARD x` and `UNWATCH x` are arity errors, which abort a
/// transaction they are sent in); `command()` adds unknown names (`MULTIx`: also an abort while queuing).
///
/// WATCH comes from the same connection here (two connections are TransactionTests' business): a watched
/// key that the connection itself then writes makes EXEC answer the null array, and so do FLUSHDB, FLUSHALL,
/// SWAPDB, MOVE, RENAME and the like from the other families when they touch a watched key.
extension DiffFamilies {
    static let transactions = DiffFamily(name: "transactions", commands: [
        spec("multi", 24) { g in transactionCommand(&g, "MULTI") },
        spec("exec", 28) { g in transactionCommand(&g, "EXEC") },
        spec("discard", 6) { g in transactionCommand(&g, "DISCARD") },
        spec("watch", 8) { g in
            // Sometimes no key (an arity error) or the same key twice.
            if g.rng.oneIn(15) { return [g.word("WATCH")] }
            var keys = g.keys(1, 3)
            if g.rng.oneIn(6) { keys.append(keys[0]) }
            return [g.word("WATCH")] + keys
        },
        spec("unwatch", 3) { g in transactionCommand(&g, "UNWATCH") },
        // RESET leaves MULTI, forgets the watched keys, and puts the connection back to RESP2 and db 0.
        spec("reset", 1) { g in transactionCommand(&g, "RESET") },
    ])

    /// A transaction command, in odd case now and then, and now and then with an argument it does not take
    /// (beyond `command()`'s own rarer mangling): `EXEC x` aborts the transaction it is sent in.
    static func transactionCommand(_ g: inout DiffGenerator, _ name: String) -> DiffCommand {
        [g.word(name)] + (g.rng.oneIn(12) ? [b(g.rng.pick(["x", "0", ""]))] : [])
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
