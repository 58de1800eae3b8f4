/// HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST over string
/// values in Redis's exact format (Storage/HyperLogLog.swift).
///
/// As in Redis:
/// - a string that is not an HLL (wrong magic, unknown encoding, a dense one of the wrong length) answers
///   `-WRONGTYPE Key is not a valid HyperLogLog string value.`, and one whose registers do not add up answers
///   `-INVALIDOBJ Corrupted HLL object detected`;
/// - PFCOUNT of one key caches the cardinality in the header, and storing it is a write: the key is
///   signalled (WATCH), the dirty counter moves, and the PFCOUNT is propagated, with no keyspace
///   notification. Any edit of the registers marks the cache stale;
/// - PFMERGE notifies "pfadd", and its result is dense when any input was;
/// - PFDEBUG GETREG and TODENSE convert a sparse HLL to dense in place, counted as a change.
/// Every edit happens in place on the stored string (`Database.modify` + `ByteString.withMutableBytes`).

let hyperLogLogCommands: [Command] = [
    Command("pfadd", arity: -2, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "hyperloglog",
            since: "2.8.9", summary: "Adds the specified elements to the specified HyperLogLog.",
            complexity: "O(1) to add every element.", handler: pfadd),
    Command("pfcount", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "hyperloglog", since: "2.8.9",
            summary: "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
            complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N "
                + "being the number of keys, and much bigger constant times, when called with multiple keys.",
            handler: pfcount),
    Command("pfmerge", arity: -2, flags: [.write, .denyoom], keys: (1, -1, 1), group: "hyperloglog", since: "2.8.9",
            summary: "Merge N different HyperLogLogs into a single one.",
            complexity: "O(N) to merge N HyperLogLogs, but with high constant times.", handler: pfmerge),
    Command("pfdebug", arity: 3, flags: [.write, .denyoom, .admin], keys: (2, 2, 1), group: "hyperloglog",
            since: "2.8.9", summary: "Internal commands for debugging HyperLogLog values", complexity: "N/A",
            handler: pfdebug),
    Command("pfselftest", arity: 1, flags: [.admin], group: "hyperloglog", since: "2.8.9",
            summary: "An internal command for testing HyperLogLog values", complexity: "N/A", handler: pfselftest),
]

extension KeyspaceEvent {
    static let pfadd = KeyspaceEvent("pfadd", .string)
}

private func replyNotHLL(_ c: Client) { c.reply.error("WRONGTYPE Key is not a valid HyperLogLog string value.") }
private func replyCorrupted(_ c: Client) { c.reply.error("INVALIDOBJ Corrupted HLL object detected") }

/// `hll-sparse-max-bytes`, read only when a sparse edit grows.
private func sparseMaxBytes(_ c: Client) -> Int {
    c.server.config.value(of: "hll-sparse-max-bytes").flatMap { Int($0) } ?? 3000
}

/// What an edit of a stored HLL found.
private enum HLLEdit<R> { case wrongType, notHLL, corrupted, done(R) }

/// Runs `body` on the HLL stored at argument `i`, in place (Redis's lookupKeyWrite + isHLLObjectOrReply +
/// dbUnshareStringValue: the value is "raw" afterwards). nil when the key does not exist; otherwise replies
/// the type errors itself and returns nil for them too, with `handled` telling the two apart.
private func editHLL<R>(_ c: Client, _ i: Int, _ body: (inout ByteString) -> R?) -> (missing: Bool, result: R?) {
    let outcome = c.db.modify(c.arg(i), now: c.now) { value, hint -> HLLEdit<R> in
        guard case .string(var s) = value else { return .wrongType }
        guard s.withUnsafeBytes({ HyperLogLog.isValid($0) }) else { return .notHLL }
        value = .string(.empty)  // the entry lets go, so `s` is edited in place
        let result = body(&s)
        value = .string(s)
        hint = .raw
        if let result { return .done(result) }
        return .corrupted
    }
    switch outcome {
    case nil: return (true, nil)
    case .wrongType?: c.replyWrongType()
    case .notHLL?: replyNotHLL(c)
    case .corrupted?: replyCorrupted(c)
    case .done(let result)?: return (false, result)
    }
    return (false, nil)
}

// MARK: - PFADD

private func pfadd(_ c: Client) {
    func addAll(_ s: inout ByteString) -> Int? {
        var updated = 0
        for j in 2..<c.argc {
            switch HyperLogLog.add(&s, c.arg(j), sparseMaxBytes: { sparseMaxBytes(c) }) {
            case 1: updated += 1
            case -1: return nil
            default: break
            }
        }
        if updated > 0 { HyperLogLog.invalidateCache(&s) }
        return updated
    }
    let (missing, result) = editHLL(c, 1, addAll)
    var updated: Int
    if missing {
        var s = HyperLogLog.empty()
        updated = 1 + (addAll(&s) ?? 0)
        HyperLogLog.invalidateCache(&s)  // created counts as an update, even with no elements
        c.db.add(c.argBytes(1), .string(s), hint: .raw, event: .none, changes: 0)
    } else {
        guard let result else { return }
        updated = result
    }
    if updated > 0 { c.db.didModify(c.arg(1), .pfadd, changes: updated) }
    c.reply.integer(updated > 0 ? 1 : 0)
}

// MARK: - PFCOUNT

private enum PFCountOutcome { case wrongType, notHLL, corrupted, cached(UInt64), computed(UInt64) }

/// PFCOUNT of one key with one probe of the keyspace: the cached cardinality when it is valid (and the value
/// already "raw", as Redis's dbUnshareStringValue leaves it), else computed and stored in place.
private func pfcount(_ c: Client) {
    if c.argc > 2 { return pfcountUnion(c) }
    let outcome = c.db.modify(c.arg(1), now: c.now) { value, hint -> PFCountOutcome in
        guard case .string(var s) = value else { return .wrongType }
        let cached: UInt64?? = s.withUnsafeBytes { bytes in
            HyperLogLog.isValid(bytes) ? .some(HyperLogLog.cachedCardinality(bytes)) : nil
        }
        guard let cached else { return .notHLL }
        if let cached, hint == .raw { return .cached(cached) }
        value = .string(.empty)  // the entry lets go, so `s` is edited in place
        defer { value = .string(s); hint = .raw }
        if let cached { return .cached(cached) }
        guard let count = s.withUnsafeBytes({ HyperLogLog.count($0) }) else { return .corrupted }
        HyperLogLog.storeCardinality(&s, count)
        return .computed(count)
    }
    // A read: counted as a keyspace hit or miss (Redis's lookupKeyRead).
    if outcome == nil { c.db.countMiss(c.arg(1)) } else { c.db.events.hits += 1 }
    switch outcome {
    case nil: c.reply.integer(0)
    case .wrongType?: c.replyWrongType()
    case .notHLL?: replyNotHLL(c)
    case .corrupted?: replyCorrupted(c)
    case .cached(let n)?: c.reply.integer(Int64(bitPattern: n))
    case .computed(let n)?:
        // Storing the cache changed the value: signalled and propagated, without a notification.
        c.db.didModify(c.arg(1), .none)
        c.reply.integer(Int64(bitPattern: n))
    }
}

/// PFCOUNT of several keys: the cardinality of their union, from the maximum of each register (nothing is
/// stored).
private func pfcountUnion(_ c: Client) {
    let max = UnsafeMutablePointer<UInt8>.allocate(capacity: HyperLogLog.registerCount)
    defer { max.deallocate() }
    max.initialize(repeating: 0, count: HyperLogLog.registerCount)
    let now = c.now
    for j in 1..<c.argc {
        guard let value = c.db.lookup(c.arg(j), now: now) else { continue }
        guard case .string(let s) = value else { return c.replyWrongType() }
        let ok: Bool? = s.withUnsafeBytes { bytes in
            guard HyperLogLog.isValid(bytes) else { return nil }
            return HyperLogLog.merge(into: max, bytes)
        }
        guard let ok else { return replyNotHLL(c) }
        if !ok { return replyCorrupted(c) }
    }
    c.reply.integer(Int64(bitPattern: HyperLogLog.estimate(HyperLogLog.histogram(rawRegisters: max))))
}

// MARK: - PFMERGE

private func pfmerge(_ c: Client) {
    let max = UnsafeMutablePointer<UInt8>.allocate(capacity: HyperLogLog.registerCount)
    defer { max.deallocate() }
    max.initialize(repeating: 0, count: HyperLogLog.registerCount)
    var useDense = false
    let now = c.now
    for j in 1..<c.argc {
        guard let value = c.db.lookup(c.arg(j), now: now) else { continue }
        guard case .string(let s) = value else { return c.replyWrongType() }
        let ok: Bool? = s.withUnsafeBytes { bytes in
            guard HyperLogLog.isValid(bytes) else { return nil }
            if bytes[4] == HyperLogLog.dense { useDense = true }
            return HyperLogLog.merge(into: max, bytes)
        }
        guard let ok else { return replyNotHLL(c) }
        if !ok { return replyCorrupted(c) }
    }
    var maxBytes: Int?
    func write(_ s: inout ByteString) -> Bool? {
        if useDense && !HyperLogLog.sparseToDense(&s) { return nil }
        for j in 0..<HyperLogLog.registerCount where max[j] != 0 {
            _ = HyperLogLog.set(&s, j, max[j], sparseMaxBytes: {
                if maxBytes == nil { maxBytes = sparseMaxBytes(c) }
                return maxBytes!
            })
        }
        HyperLogLog.invalidateCache(&s)
        return true
    }
    let (missing, result) = editHLL(c, 1, write)
    if missing {
        var s = HyperLogLog.empty()
        _ = write(&s)
        c.db.add(c.argBytes(1), .string(s), hint: .raw, event: .none, changes: 0)
    } else if result == nil {
        return
    }
    c.db.didModify(c.arg(1), .pfadd)
    c.reply.ok()
}

// MARK: - PFDEBUG, PFSELFTEST

private func pfdebug(_ c: Client) {
    enum Answer { case registers([UInt8]), decoded(String), encoding(Bool), converted(Bool), notSparse, unknown }
    guard c.db.lookup(c.arg(2), now: c.now, .write) != nil else {
        return c.reply.error("ERR The specified key does not exist")
    }
    let (_, answer) = editHLL(c, 2) { s -> Answer? in
        let sparse = s.withUnsafeBytes { $0[4] == HyperLogLog.sparse }
        if argOptionIs(c, 1, "getreg") {
            if sparse && !HyperLogLog.sparseToDense(&s) { return nil }
            return .registers(s.withUnsafeBytes { bytes in
                let registers = UnsafeRawBufferPointer(rebasing: bytes[HyperLogLog.headerSize...])
                return (0..<HyperLogLog.registerCount).map { HyperLogLog.denseRegister(registers, $0) }
            } + (sparse ? [1] : [0]))
        } else if argOptionIs(c, 1, "decode") {
            guard sparse else { return .notSparse }
            return .decoded(s.withUnsafeBytes { HyperLogLog.decode($0) })
        } else if argOptionIs(c, 1, "encoding") {
            return .encoding(sparse)
        } else if argOptionIs(c, 1, "todense") {
            if sparse && !HyperLogLog.sparseToDense(&s) { return nil }
            return .converted(sparse)
        }
        return .unknown
    }
    switch answer {
    case nil: return
    case .registers(var registers)?:
        if registers.removeLast() == 1 { c.db.didModify(c.arg(2), .none) }  // converted: propagated
        c.reply.array(registers.count)
        for r in registers { c.reply.integer(Int(r)) }
    case .decoded(let text)?: c.reply.bulk(text)
    case .encoding(let sparse)?: c.reply.simple(sparse ? "sparse" : "dense")
    case .converted(let converted)?:
        if converted { c.db.didModify(c.arg(2), .none) }
        c.reply.integer(converted ? 1 : 0)
    case .notSparse?: c.reply.error("ERR HLL encoding is not sparse")
    case .unknown?: c.reply.error("ERR Unknown PFDEBUG subcommand '\(String(decoding: cStringPrefix(c.arg(1)), as: UTF8.self))'")
    }
}

/// PFSELFTEST: checks the register accessors and that the sparse and dense encodings agree, on random input.
private func pfselftest(_ c: Client) {
    if let failure = hyperLogLogSelfTest() { return c.reply.error(failure) }
    c.reply.ok()
}

/// The self test's checks; a "TESTFAILED ..." text when one fails.
func hyperLogLogSelfTest() -> String? {
    var random = FastRandom()
    // 1: dense registers read back what was written, for every register, several times.
    var registers = [UInt8](repeating: 0, count: HyperLogLog.denseSize - HyperLogLog.headerSize)
    for _ in 0..<100 {
        var expected = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        let failure: String? = registers.withUnsafeMutableBytes { raw in
            for i in 0..<HyperLogLog.registerCount {
                let v = UInt8(truncatingIfNeeded: random.next()) & HyperLogLog.registerMax
                expected[i] = v
                HyperLogLog.setDenseRegister(raw, i, v)
            }
            for i in 0..<HyperLogLog.registerCount where HyperLogLog.denseRegister(UnsafeRawBufferPointer(raw), i) != expected[i] {
                return "TESTFAILED Register error at index \(i): \(HyperLogLog.denseRegister(UnsafeRawBufferPointer(raw), i)) != \(expected[i])"
            }
            return nil
        }
        if let failure { return failure }
    }
    // 2: the same elements give the same registers and cardinality in both encodings, across promotion.
    var sparse = HyperLogLog.empty()
    var dense = HyperLogLog.empty()
    HyperLogLog.sparseToDense(&dense)
    var element = [UInt8](repeating: 0, count: 8)
    for n in 1...2000 {
        let v = random.next()
        withUnsafeBytes(of: v) { for i in 0..<8 { element[i] = $0[i] } }
        let a = element.withUnsafeBytes { HyperLogLog.add(&sparse, $0, sparseMaxBytes: { 3000 }) }
        let b = element.withUnsafeBytes { HyperLogLog.add(&dense, $0, sparseMaxBytes: { 3000 }) }
        if a != b { return "TESTFAILED sparse and dense disagree on element \(n)" }
        if n % 100 == 0 {
            let ca = sparse.withUnsafeBytes { HyperLogLog.count($0) }
            let cb = dense.withUnsafeBytes { HyperLogLog.count($0) }
            if ca == nil || ca != cb { return "TESTFAILED sparse and dense cardinalities differ after \(n) elements" }
            let relative = abs(Double(cb!) - Double(n)) / Double(n)
            if relative > 0.05 { return "TESTFAILED cardinality error \(relative) after \(n) elements" }
        }
    }
    return nil
}
