import Glibc

/// A reply on which the two servers disagreed.
struct DiffMismatch {
    var index: Int
    var command: DiffCommand
    var redisReply: [UInt8]
    var needletailReply: [UInt8]
    /// Set when needletail did not reply at all (closed the connection, timed out, or died).
    var failure: String?
    /// For an element of EXEC's array (`command` is the EXEC, the replies are the element's): the queued
    /// command it answers, and its position in the array.
    var queued: DiffCommand?
    var element: Int?

    static let oracleFailure = "redis-server failed, not a needletail bug"

    var description: String {
        var s = "command #\(index): \(DiffCorpus.describe(command))\n"
        if let queued, let element { s += "  element \(element) of its array, answering the queued \(DiffCorpus.describe(queued))\n" }
        s += "  redis:      \(rawEscaped(redisReply))\n"
        s += "  needletail: \(failure ?? rawEscaped(needletailReply))"
        return s
    }

    /// What makes two mismatches "the same bug" for deduplication: the command name (any name, for
    /// unknown-command errors) and both replies with digits and quoted client bytes blanked, so different
    /// keys, counts or mangled names hitting the same bug collapse into one.
    var signature: String {
        func shape(_ r: [UInt8]) -> String {
            var out: [UInt8] = []
            var quoted = false
            for c in r.prefix(100) {
                if c == 39 {
                    quoted.toggle()
                    out.append(c)
                } else if !quoted {
                    out.append(c >= 48 && c <= 57 ? 35 : c)
                } else if out.last != 42 {
                    out.append(42)
                }
            }
            return rawEscaped(out)
        }
        let unknown = redisReply.starts(with: Array("-ERR unknown command".utf8))
        let length = unknown ? 26 : 100
        let name = unknown ? "?" : (queued.map { "exec>" + rawEscaped($0[0].map(diffLower)) } ?? rawEscaped(command[0].map(diffLower)))
        let theirs = failure.map { String($0.prefix(40)) } ?? shape(Array(needletailReply.prefix(length)))
        return name + "|" + shape(Array(redisReply.prefix(length))) + "|" + theirs
    }
}

/// Runs command lists on redis-server and needletail side by side and compares the replies.
///
/// Each run starts from FLUSHALL on both and fresh connections (so SELECT and HELLO state start clean);
/// a RESP3 run sends HELLO 3 first (and compares its reply too). Commands are pipelined in small windows,
/// the same window going to both servers before either is read, so both work in parallel and a window's
/// replies never fill a socket buffer while we are still sending.
///
/// Scripting: SCRIPT FLUSH and FUNCTION FLUSH follow FLUSHALL after a run that used scripts or functions (and
/// before the first run); SCRIPT DEBUG starts a window of its own (see `run`).
///
/// Another client: a command written `@admin <command>` is sent on the admin connections (`isAdmin`).
///
/// maxmemory and the encodings' thresholds: a run that CONFIG SETs only `memoryParameters` (the "oom" family, the
/// type families' thresholds) does not restart the servers;
/// the next run sets those parameters back to their defaults first.
///
/// Transactions: the runner follows the connection's MULTI state from redis-server's replies (+OK to MULTI;
/// +QUEUED; EXEC, DISCARD's +OK or +RESET end it), so a window ends after MULTI, EXEC, DISCARD or RESET. While
/// queuing, SCAN-family and HGETALL-family commands are pipelined like the others (their usual extra
/// requests would be queued too), and EXEC's array is compared element by element with the rule of the
/// queued command each element answers (`compareExec`).
final class DifferentialRunner {
    private(set) var redis: RawRedisServer
    private(set) var needletail: ServerUnderTest
    private var redisAdmin: RawClient
    private var needletailAdmin: RawClient
    private(set) var commandsCompared = 0
    private(set) var needletailRestarts = 0
    /// EXEC replies that ran a transaction (arrays), and those of them whose bytes differed and were found
    /// equivalent element by element (`compareExec`).
    private(set) var execArrays = 0
    private(set) var execArraysByElement = 0
    /// DIFF_TRACE=1 prints every command with redis-server's reply (to see what a generator produces).
    private let trace = getenv("DIFF_TRACE") != nil
    /// Set when a run changed server-wide state that FLUSHALL does not reset (CONFIG SET, DEBUG
    /// SET-ACTIVE-EXPIRE, CLIENT PAUSE, ...): the next run restarts both servers.
    private var serverStateChanged = false
    /// Set when a run may have cached scripts or loaded function libraries, which FLUSHALL keeps: the next
    /// run starts with SCRIPT FLUSH and FUNCTION FLUSH on both servers.
    /// (True at first: a server may have loaded libraries from an RDB file.)
    private var scriptsLoaded = true
    /// Set when a run may have changed `maxmemory` and its companions (`memoryParameters`, the "oom" family):
    /// the next run starts by setting them back to their defaults on both servers, before FLUSHALL (rather
    /// than restarting them, as for other CONFIG SETs).
    private var memoryLimitSet = false

    /// Both servers accept DEBUG (refused by default, in both), so case lists can use DEBUG SLEEP and friends.
    static let debugEnabled = ["--enable-debug-command", "yes"]

    init() throws {
        redis = try RawRedisServer()
        needletail = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled)
        redisAdmin = try RawClient(port: redis.port)
        needletailAdmin = try RawClient(port: needletail.port)
    }

    func stop() {
        redis.stop()
        needletail.stop()
    }

    /// Runs `commands` on protocol `resp` and returns the mismatches, none when every reply agreed.
    /// Replies of the commands at `loose` indexes (a `~` line in a case list) are compared by shape only, and
    /// those at `exact` indexes (a `=` line) byte for byte.
    ///
    /// A run goes on past a mismatch where both replies are errors (an error changes no state, so the
    /// servers still agree on the keyspace; one wrong error text must not hide later bugs) and stops at
    /// any other, after which the two keyspaces may differ.
    ///
    /// `keepGoing` (for hand-written case lists, whose lines are mostly independent checks) continues past
    /// every mismatch, up to 10, instead of stopping where the keyspaces may have diverged.
    func run(_ commands: [DiffCommand], resp: Int, loose: Set<Int> = [], exact: Set<Int> = [],
             keepGoing: Bool = false) -> [DiffMismatch] {
        let all = resp == 3 ? [[Array("HELLO".utf8), Array("3".utf8)]] + commands : commands
        defer {
            let sent = commands.map(Self.withoutAdmin)
            if sent.contains(where: Self.changesServerState) { serverStateChanged = true }
            if sent.contains(where: Self.usesScripting) { scriptsLoaded = true }
            if sent.contains(where: Self.setsMemoryParameters) { memoryLimitSet = true }
        }
        do {
            try reset()
        } catch {
            return [DiffMismatch(index: -1, command: [Array("FLUSHALL".utf8)], redisReply: [], needletailReply: [],
                                 failure: "reset failed: \(error)")]
        }
        let rc: RawClient
        let nc: RawClient
        do {
            rc = try RawClient(port: redis.port, timeoutMillis: 10_000)
            nc = try RawClient(port: needletail.port, timeoutMillis: 10_000)
        } catch {
            return [DiffMismatch(index: -1, command: [Array("CONNECT".utf8)], redisReply: [], needletailReply: [],
                                 failure: "connect failed: \(error)")]
        }
        defer {
            rc.close()
            nc.close()
        }
        let shift = resp == 3 ? 1 : 0
        var found: [DiffMismatch] = []
        /// Records a mismatch; says whether the run must stop there.
        func record(_ m: DiffMismatch) -> Bool {
            found.append(m)
            if m.failure != nil { return true }
            let bothErrors = m.redisReply.first == UInt8(ascii: "-") && m.needletailReply.first == UInt8(ascii: "-")
            return keepGoing ? found.count >= 10 : !bothErrors
        }
        // RANDOMKEY deletes the logically expired keys its random probes hit, so from then on DBSIZE
        // (which counts expired keys not yet reclaimed) may differ by chance.
        var afterRandomKey = false
        // While redis-server's connection is in MULTI: what it queued so far (see `QueuedCommand`).
        var transaction: [QueuedCommand]?
        var next = 0
        while next < all.count {
            // `@admin ...` goes to the admin connections, between two windows of the run's connection (which
            // may be in MULTI: this is another client's command arriving before EXEC).
            if Self.isAdmin(all[next]) {
                let command = Self.withoutAdmin(all[next])
                switch askBoth(command, redisAdmin, needletailAdmin) {
                case .failure(var m):
                    m.index = next - shift
                    return found + [m]
                case .success(let (r, n)):
                    if !DiffNormalizer.equivalent(command, r, n)
                        && record(DiffMismatch(index: next - shift, command: all[next], redisReply: r, needletailReply: n)) {
                        return found
                    }
                }
                next += 1
                continue
            }
            // Outside MULTI, the special commands go alone (their comparison sends more requests); inside,
            // those requests would be queued: they are queued themselves like any other (see compareExec).
            if transaction == nil {
                switch DiffSpecial(all[next]) {
                case .scan(let cursorIndex, let group):
                    if var m = compareFullScan(all[next], cursorIndex: cursorIndex, group: group, rc, nc) {
                        m.index = next - shift
                        if record(m) { return found }
                    }
                    next += 1
                    continue
                case .orderFree(let keyIndex, let pairs):
                    if var m = compareOrderFree(all[next], keyIndex: keyIndex, pairs: pairs, rc, nc) {
                        m.index = next - shift
                        if record(m) { return found }
                    }
                    next += 1
                    continue
                case .sort:
                    if var m = compareSort(all[next], rc, nc) {
                        m.index = next - shift
                        if record(m) { return found }
                    }
                    next += 1
                    continue
                case .frames:
                    if var m = compareFrames(all[next], rc, nc) {
                        m.index = next - shift
                        if record(m) { return found }
                    }
                    next += 1
                    continue
                case .none:
                    break
                }
            }
            // A window: up to 16 ordinary commands or 256 KB of requests. It ends after a command that can
            // enter or leave MULTI, whose reply says how the next window is built. Inside MULTI an order-free
            // command gets an OBJECT ENCODING of its key queued right after it: its element in EXEC's array
            // says whether the hash was a hashtable when the command ran.
            var end = next
            var slots: [(index: Int, command: DiffCommand, probe: Bool)] = []
            var bytes: [UInt8] = []
            while end < all.count && end - next < 16 && bytes.count < 256 * 1024 {
                if Self.isAdmin(all[end]) { break }
                let special = DiffSpecial(all[end])
                if transaction == nil && !special.isNone { break }
                // SCRIPT DEBUG is refused while earlier replies wait to be written, which deep in a pipeline
                // depends on how each server's reads split it: it starts a window of its own.
                if transaction == nil && end > next && Self.isScriptDebug(all[end]) { break }
                bytes += RawClient.encode(all[end])
                slots.append((end, all[end], false))
                if case .orderFree(let keyIndex, _) = special {
                    let probe = [Array("OBJECT".utf8), Array("ENCODING".utf8), all[end][keyIndex]]
                    bytes += RawClient.encode(probe)
                    slots.append((end, probe, true))
                }
                end += 1
                if Self.mayChangeTransactionState(all[end - 1]) { break }
            }
            do {
                try rc.send(bytes)
            } catch {
                return found + [redisFailed("sending to redis: \(error)", at: next, all)]
            }
            var needletailSendError: String?
            do { try nc.send(bytes) } catch { needletailSendError = "\(error)" }
            for (i, command, probe) in slots {
                let r: [UInt8]
                do { r = try rc.readReply() } catch { return found + [redisFailed("reading from redis: \(error)", at: i, all)] }
                if let e = needletailSendError {
                    return found + [needletailFailed(DiffMismatch(index: i - shift, command: command, redisReply: r,
                                                                  needletailReply: [], failure: "send failed: \(e)"))]
                }
                let n: [UInt8]
                do { n = try nc.readReply() } catch {
                    return found + [needletailFailed(DiffMismatch(index: i - shift, command: command, redisReply: r,
                                                                  needletailReply: [], failure: "\(error)"))]
                }
                if trace { print("  \(probe ? "(probe) " : "")\(DiffCorpus.describe(command))  ->  \(rawEscaped(r, limit: 120))") }
                let queuedReply = r == Array("+QUEUED\r\n".utf8)
                if probe {
                    if r != n && record(DiffMismatch(index: i - shift, command: command, redisReply: r, needletailReply: n)) {
                        return found
                    }
                    if queuedReply { transaction?.append(QueuedCommand(index: i - shift, command: command, probe: true)) }
                    continue
                }
                commandsCompared += 1
                let name = String(decoding: command[0].map(diffLower), as: UTF8.self)
                if let queued = transaction, name == "exec" {
                    // EXEC ends MULTI whatever it answers (its array, the null array, EXECABORT).
                    transaction = nil
                    let ran = r.first == UInt8(ascii: "*") && r != Array("*-1\r\n".utf8)
                    if ran { execArrays += 1 }
                    if r != n && ran && !loose.contains(i - shift) && !exact.contains(i - shift),
                       let elements = Self.compareExec(r, n, queued: queued, loose: loose, exact: exact, afterRandomKey: &afterRandomKey) {
                        if elements.isEmpty { execArraysByElement += 1 }
                        for var m in elements {
                            m.index = i - shift
                            m.command = command
                            if record(m) { return found }
                        }
                        continue
                    }
                    if ran && queued.contains(where: { $0.command[0].map(diffLower) == Array("randomkey".utf8) }) {
                        afterRandomKey = true
                    }
                } else if transaction != nil {
                    if (name == "discard" && r == Array("+OK\r\n".utf8)) || (name == "reset" && r == Array("+RESET\r\n".utf8)) {
                        transaction = nil
                    } else if queuedReply {
                        transaction!.append(QueuedCommand(index: i - shift, command: command, probe: false))
                    }
                } else if name == "multi" && r == Array("+OK\r\n".utf8) {
                    transaction = []
                }
                let same = loose.contains(i - shift) ? DiffNormalizer.sameKind(r, n)
                    : exact.contains(i - shift) ? r == n
                    : DiffNormalizer.equivalent(command, r, n, afterRandomKey: afterRandomKey)
                if name == "randomkey" && !queuedReply { afterRandomKey = true }
                if !same && record(DiffMismatch(index: i - shift, command: command, redisReply: r, needletailReply: n)) {
                    return found
                }
            }
            next = end
        }
        return found
    }

    /// EXEC's arrays, when their bytes differ, compared element by element, each with the rule of the queued
    /// command it answers: the normalizer's (order-free replies as multisets, TTLs within a second, ...), a
    /// SCAN-family reply by `DiffNormalizer.sameScan` (the scan cannot be continued inside EXEC), an HGETALL-
    /// family reply as a multiset only when its OBJECT ENCODING probe (the next element) says hashtable, and
    /// a case list's `~`/`=` lines as there. The mismatches of the elements, with `queued` and `element` set
    /// (the caller sets the index and command: EXEC's); nil when the two arrays do not even have the shape
    /// of the queue (then the whole replies are compared).
    static func compareExec(_ r: [UInt8], _ n: [UInt8], queued: [QueuedCommand], loose: Set<Int> = [], exact: Set<Int> = [],
                            afterRandomKey: inout Bool) -> [DiffMismatch]? {
        guard case .aggregate(let rt, let re?)? = try? RawReply.parse(r), case .aggregate(let nt, let ne?)? = try? RawReply.parse(n),
              rt == UInt8(ascii: "*"), nt == rt, re.count == queued.count, ne.count == queued.count else { return nil }
        var out: [DiffMismatch] = []
        for (j, q) in queued.enumerated() {
            let a = re[j].encoded
            let b = ne[j].encoded
            var same: Bool
            if q.probe || exact.contains(q.index) {
                same = a == b
            } else if loose.contains(q.index) {
                same = DiffNormalizer.sameKind(a, b)
            } else {
                switch DiffSpecial(q.command) {
                case .scan(_, let group):
                    same = DiffNormalizer.sameScan(a, b, group: group)
                case .orderFree(_, let pairs):
                    let hashtable = j + 1 < queued.count && queued[j + 1].probe
                        && re[j + 1] == .blob(UInt8(ascii: "$"), Array("hashtable".utf8))
                    same = a == b || (hashtable && DiffNormalizer.sameIgnoringOrder(a, b, pairs: pairs))
                case .sort:
                    // Inside EXEC the key's encoding at that moment is unknown: an ALPHA or BY nosort reply may
                    // order ties its own way whatever the type (looser than compareSort), and redis-server's
                    // sticky strtod errno (see compareSort) cannot be retried.
                    same = a == b || DiffNormalizer.sortTiesOrRedisErrno(q.command, a, b)
                case .frames:
                    // (P|S)(UN)SUBSCRIBE inside EXEC: byte for byte (a command with several names writes several
                    // frames into EXEC's array on both servers alike).
                    same = a == b
                case .none:
                    same = DiffNormalizer.equivalent(q.command, a, b, afterRandomKey: afterRandomKey)
                        || DiffNormalizer.refcountOfQueuedArgument(q.command, a, b)
                }
            }
            if q.command[0].map(diffLower) == Array("randomkey".utf8) { afterRandomKey = true }
            if !same {
                out.append(DiffMismatch(index: 0, command: [], redisReply: a, needletailReply: b, queued: q.command, element: j))
            }
        }
        return out
    }

    static func isScriptDebug(_ c: DiffCommand) -> Bool {
        c.count > 1 && c[0].map(diffLower) == Array("script".utf8) && c[1].map(diffLower) == Array("debug".utf8)
    }

    /// `@admin <command>` (any case): `command` is sent on the admin connections, as another client's request
    /// (the "oom" family's `@admin CONFIG SET maxmemory 1` between MULTI's queuing and EXEC). It must leave the
    /// admin connection's own state (SELECT, HELLO, MULTI) alone: `reset` uses that connection.
    static func isAdmin(_ c: DiffCommand) -> Bool { c.count >= 2 && c[0].map(diffLower) == Array("@admin".utf8) }

    static func withoutAdmin(_ c: DiffCommand) -> DiffCommand { isAdmin(c) ? Array(c.dropFirst()) : c }

    /// MULTI, EXEC, DISCARD and RESET: a window of pipelined commands ends after one of them.
    static func mayChangeTransactionState(_ c: DiffCommand) -> Bool {
        let name = c[0].map(diffLower)
        return ["multi", "exec", "discard", "reset"].contains { name == Array($0.utf8) }
    }

    /// Sends `command` alone to redis-server, then to needletail (`ask`: one reply, or a subscription's
    /// frames) and returns both replies, or the mismatch that says which side failed.
    private func askBoth(_ command: DiffCommand, _ rc: RawClient, _ nc: RawClient,
                         ask: (DiffCommand, RawClient) throws -> [UInt8] = { try $1.call($0) })
        -> Result<([UInt8], [UInt8]), DiffMismatch> {
        let r: [UInt8]
        do { r = try ask(command, rc) } catch {
            return .failure(DiffMismatch(index: 0, command: command, redisReply: Array("<redis failed: \(error)>".utf8),
                                         needletailReply: [], failure: DiffMismatch.oracleFailure))
        }
        do {
            let n = try ask(command, nc)
            commandsCompared += 1
            if trace { print("  \(DiffCorpus.describe(command))  ->  \(rawEscaped(r, limit: 120))") }
            return .success((r, n))
        } catch {
            return .failure(needletailFailed(DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: [],
                                                          failure: "\(error)")))
        }
    }

    /// SCAN-family replies depend on each server's table layout, so when the first replies differ, each
    /// server's scan is continued to cursor 0 and the unions of what they returned are compared (errors
    /// and the reply shape must still match exactly).
    private func compareFullScan(_ command: DiffCommand, cursorIndex: Int, group: Int,
                                 _ rc: RawClient, _ nc: RawClient) -> DiffMismatch? {
        let r: [UInt8]
        let n: [UInt8]
        switch askBoth(command, rc, nc) {
        case .failure(let m): return m
        case .success(let replies): (r, n) = replies
        }
        if r == n { return nil }
        let mismatch = DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: n)
        guard let ru = try? scanUnion(command, cursorIndex, group, first: r, rc),
              let nu = try? scanUnion(command, cursorIndex, group, first: n, nc) else { return mismatch }
        if ru == nu { return nil }
        var m = mismatch
        m.failure = "full-scan unions differ: redis \(ru.count) elements, needletail \(nu.count); first replies "
            + rawEscaped(n)
        return m
    }

    /// HGETALL/HKEYS/HVALS answer in insertion order from a listpack (exactly as redis-server) and in each
    /// table's own order from a hashtable: when the replies differ, redis-server is asked for the key's
    /// encoding, and only a hashtable's replies are compared as multisets (of field/value pairs when
    /// `pairs`).
    private func compareOrderFree(_ command: DiffCommand, keyIndex: Int, pairs: Bool,
                                  _ rc: RawClient, _ nc: RawClient) -> DiffMismatch? {
        let r: [UInt8]
        let n: [UInt8]
        switch askBoth(command, rc, nc) {
        case .failure(let m): return m
        case .success(let replies): (r, n) = replies
        }
        if r == n { return nil }
        let mismatch = DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: n)
        guard let encoding = try? rc.call([Array("OBJECT".utf8), Array("ENCODING".utf8), command[keyIndex]]),
              encoding == Array("$9\r\nhashtable\r\n".utf8) else { return mismatch }
        return DiffNormalizer.sameIgnoringOrder(r, n, pairs: pairs) ? nil : mismatch
    }

    /// SORT and SORT_RO (see DifferentialGenerator+Sort.swift). Byte for byte, except for two things that are
    /// redis-server's own:
    /// - its sticky errno: when it answers "One or more scores can't be converted into double" and needletail
    ///   sorts, redis-server is made to accept a connection (which leaves EAGAIN in errno) and the command is
    ///   sent again (it changed nothing: the error comes before any STORE);
    /// - a hashtable set or a sorted set is read in its dict's order: with ALPHA (where elements can tie), or a
    ///   set BY nosort (no sorting), the reply is compared as a multiset of its element groups (one per
    ///   element: the element, or its GET values), and under a LIMIT by its length only.
    private func compareSort(_ command: DiffCommand, _ rc: RawClient, _ nc: RawClient) -> DiffMismatch? {
        var r: [UInt8]
        let n: [UInt8]
        switch askBoth(command, rc, nc) {
        case .failure(let m): return m
        case .success(let replies): (r, n) = replies
        }
        if r == n { return nil }
        if DiffNormalizer.isRedisErrnoError(r, n) {
            if let other = try? RawClient(port: redis.port) {
                _ = try? other.call("PING")
                other.close()
            }
            if let again = try? rc.call(command) { r = again }
            if r == n { return nil }
        }
        let mismatch = DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: n)
        guard let options = DiffSortOptions(command), !options.store,
              let type = try? rc.call([Array("TYPE".utf8), options.key]),
              let encoding = try? rc.call([Array("OBJECT".utf8), Array("ENCODING".utf8), options.key]) else { return mismatch }
        let isSet = type == Array("+set\r\n".utf8), isZset = type == Array("+zset\r\n".utf8)
        let dictOrder = isZset || (isSet && encoding == Array("$9\r\nhashtable\r\n".utf8))
        guard dictOrder && (options.alpha || (isSet && options.dontSort)),
              case .aggregate(let t, let a?)? = try? RawReply.parse(r), case .aggregate(t, let b?)? = try? RawReply.parse(n),
              a.count == b.count else { return mismatch }
        return DiffNormalizer.sameSortIgnoringTies(options, a, b) ? nil : mismatch
    }

    /// (P|S)(UN)SUBSCRIBE: one frame per name (or one for none), read up to a sentinel PING sent once the
    /// first frame showed the command ran (an error, or +QUEUED in MULTI, is its only frame). Without names,
    /// the frames come in redis-server's hash table order: compared as a multiset (`DiffNormalizer.frames`).
    private func compareFrames(_ command: DiffCommand, _ rc: RawClient, _ nc: RawClient) -> DiffMismatch? {
        let r: [UInt8]
        let n: [UInt8]
        switch askBoth(command, rc, nc, ask: Self.readFrames) {
        case .failure(let m): return m
        case .success(let replies): (r, n) = replies
        }
        if r == n || DiffNormalizer.sameFrames(r, n, unordered: command.count == 1) { return nil }
        return DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: n)
    }

    private static func readFrames(_ command: DiffCommand, _ client: RawClient) throws -> [UInt8] {
        try client.send(command: command)
        let first = try client.readFrame()
        if first.first == UInt8(ascii: "-") || first.first == UInt8(ascii: "+") { return first }
        let mark = Array("diff-frames-sentinel".utf8)
        try client.send(command: [Array("PING".utf8), mark])
        var all = first
        while true {
            let f = try client.readFrame()
            all += f
            if Array(f.suffix(mark.count + 2).prefix(mark.count)) == mark { return all }
        }
    }

    /// Every element group (key, or member+score) a scan returns from `first` on until cursor 0, sorted
    /// and deduplicated; nil when a reply is not a well-formed scan reply.
    private func scanUnion(_ command: DiffCommand, _ cursorIndex: Int, _ group: Int, first: [UInt8],
                           _ client: RawClient) throws -> [[UInt8]]? {
        var seen = Set<[UInt8]>()
        var reply = first
        for _ in 0..<10_000 {
            guard case .aggregate(_, let top?) = try RawReply.parse(reply), top.count == 2,
                  case .blob(_, let cursor?) = top[0], case .aggregate(_, let elements?) = top[1],
                  elements.count % group == 0 else { return nil }
            var i = 0
            while i < elements.count {
                seen.insert(elements[i..<(i + group)].flatMap { $0.encoded })
                i += group
            }
            if cursor == Array("0".utf8) { return seen.sorted { $0.lexicographicallyPrecedes($1) } }
            var next = command
            next[cursorIndex] = cursor
            reply = try client.call(next)
        }
        return nil
    }

    /// Whether a command changes server-wide state that outlives FLUSHALL.
    static func changesServerState(_ c: DiffCommand) -> Bool {
        let name = c[0].map(diffLower)
        let sub = c.count > 1 ? c[1].map(diffLower) : []
        switch String(decoding: name, as: UTF8.self) {
        // CONFIG REWRITE and DEBUG CONFIG-REWRITE-FORCE-ALL fail without a config file (the runner's servers).
        case "config": return sub != Array("get".utf8) && sub != Array("rewrite".utf8) && !setsMemoryParameters(c)
        case "debug": return !["sleep", "protocol", "digest", "digest-value", "config-rewrite-force-all"]
            .contains(String(decoding: sub, as: UTF8.self))
        case "client": return sub == Array("pause".utf8) || sub == Array("unpause".utf8) || sub == Array("kill".utf8)
        // SHUTDOWN ABORT with nothing to abort, and SHUTDOWN's syntax errors, change nothing.
        case "shutdown": return !shutdownFails(c)
        case "save", "bgsave": return true
        default: return false
        }
    }

    /// Whether a SHUTDOWN is refused before it does anything: an unknown word, SAVE with NOSAVE, ABORT (with
    /// another flag a syntax error, alone "No shutdown in progress.").
    static func shutdownFails(_ c: DiffCommand) -> Bool {
        let words = c.dropFirst().map { String(decoding: $0.map(diffLower), as: UTF8.self) }
        let known: Set<String> = ["save", "nosave", "now", "force", "abort"]
        return words.contains { !known.contains($0) } || words.contains("abort")
            || (words.contains("save") && words.contains("nosave"))
    }

    /// The parameters a run may CONFIG SET without the servers being restarted after it, and the values
    /// `reset` puts back (redis-server's defaults).
    static let memoryParameters: [(name: String, value: String)] = [
        ("maxmemory", "0"), ("maxmemory-policy", "noeviction"), ("maxmemory-eviction-tenacity", "10"),
        ("lfu-log-factor", "10"), ("lfu-decay-time", "1"),
        // The streams family's node sizes, set back the same way rather than by a restart.
        ("stream-node-max-entries", "100"), ("stream-node-max-bytes", "4096"),
        // The diagnostics family's slow-log scenes (DifferentialGenerator+Diagnostics.swift).
        ("slowlog-log-slower-than", "10000"), ("slowlog-max-len", "128"), ("latency-monitor-threshold", "0"),
        ("requirepass", ""), ("masterauth", ""), ("maxmemory-samples", "5"),
        // The encodings' thresholds the type families CONFIG SET (restarting both servers after each such
        // run was most of the differential's time).
        ("set-max-intset-entries", "512"), ("hll-sparse-max-bytes", "3000"),
        ("hash-max-listpack-entries", "512"), ("hash-max-listpack-value", "64"),
        ("zset-max-listpack-entries", "128"), ("zset-max-listpack-value", "64"),
        ("list-max-listpack-size", "-2"), ("list-compress-depth", "0"),
    ]

    /// Other names of `memoryParameters` (CONFIG SET takes them; the reset sets the canonical name).
    static let memoryParameterAliases = ["hash-max-ziplist-entries", "hash-max-ziplist-value", "zset-max-ziplist-entries",
                                         "zset-max-ziplist-value", "list-max-ziplist-size"]

    /// `CONFIG SET` of `memoryParameters` only (in any case).
    static func setsMemoryParameters(_ c: DiffCommand) -> Bool {
        guard c.count >= 4, c.count % 2 == 0, c[0].map(diffLower) == Array("config".utf8),
              c[1].map(diffLower) == Array("set".utf8) else { return false }
        return stride(from: 2, to: c.count, by: 2).allSatisfy { i in
            let name = c[i].map(diffLower)
            return memoryParameters.contains { Array($0.name.utf8) == name }
                || memoryParameterAliases.contains { Array($0.utf8) == name }
        }
    }

    /// Whether a command may leave scripts in the cache or libraries loaded (or is an EVAL, whose script
    /// might have changed what the Lua state holds).
    static func usesScripting(_ c: DiffCommand) -> Bool {
        ["eval", "evalsha", "eval_ro", "evalsha_ro", "script", "function", "fcall", "fcall_ro"]
            .contains(String(decoding: c[0].map(diffLower), as: UTF8.self))
    }

    /// Shrinks a failing list to a short one that still fails on its last command: passes of one-at-a-time
    /// removal until a pass removes nothing (a command needed early may become removable once later ones
    /// are gone), bounded in time. The result ends with the command that mismatched.
    func minimize(_ commands: [DiffCommand], resp: Int, budgetMillis: Int64 = 8000) -> [DiffCommand] {
        let deadline = rawMonotonicMillis() + budgetMillis
        var current = commands
        var changed = true
        while changed && rawMonotonicMillis() < deadline {
            changed = false
            var j = current.count - 2
            while j >= 0 && rawMonotonicMillis() < deadline {
                var candidate = current
                candidate.remove(at: j)
                if run(candidate, resp: resp).contains(where: { $0.index == candidate.count - 1 }) {
                    current = candidate
                    changed = true
                }
                j -= 1
            }
        }
        return current
    }

    // MARK: - Resetting and recovering

    private func reset() throws {
        if !needletail.isRunning || serverStateChanged { try restartNeedletail() }
        if !redis.isRunning || serverStateChanged { try restartRedis() }
        serverStateChanged = false
        var commands: [[[UInt8]]] = []
        if memoryLimitSet {
            commands.append([Array("CONFIG".utf8), Array("SET".utf8)]
                            + Self.memoryParameters.flatMap { [Array($0.name.utf8), Array($0.value.utf8)] })
            memoryLimitSet = false
        }
        commands.append([Array("FLUSHALL".utf8)])
        if scriptsLoaded {
            commands += [["SCRIPT", "FLUSH"], ["FUNCTION", "FLUSH"]].map { $0.map { Array($0.utf8) } }
            scriptsLoaded = false
        }
        // Both servers at once (the resets are a good part of a short run's time); a server that does not
        // answer +OK to each is restarted.
        let ok = Array("+OK\r\n".utf8)
        let request = commands.flatMap(RawClient.encode)
        let redisSent = (try? redisAdmin.send(request)) != nil
        let needletailSent = (try? needletailAdmin.send(request)) != nil
        func allOK(_ client: RawClient) -> Bool { commands.indices.allSatisfy { _ in (try? client.readReply()) == ok } }
        if !redisSent || !allOK(redisAdmin) { try restartRedis() }
        if !needletailSent || !allOK(needletailAdmin) { try restartNeedletail() }
    }

    private func restartNeedletail() throws {
        needletail.stop()
        needletail = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled)
        needletailAdmin = try RawClient(port: needletail.port)
        needletailRestarts += 1
    }

    private func restartRedis() throws {
        redis.stop()
        redis = try RawRedisServer()
        redisAdmin = try RawClient(port: redis.port)
    }

    /// needletail did not answer: note whether it died (and its log), so the report says "crash".
    private func needletailFailed(_ m: DiffMismatch) -> DiffMismatch {
        var m = m
        // A crashing process may still be writing its backtrace when its socket closes.
        for _ in 0..<20 where needletail.isRunning { rawSleepMillis(50) }
        if !needletail.isRunning {
            m.failure = "needletail DIED (\(m.failure ?? "")); log tail:\n\(needletail.logTail())"
        }
        return m
    }

    private func redisFailed(_ what: String, at i: Int, _ all: [DiffCommand]) -> DiffMismatch {
        DiffMismatch(index: i, command: all[i], redisReply: Array("<redis failed: \(what)>".utf8), needletailReply: [],
                     failure: DiffMismatch.oracleFailure)
    }
}

/// Commands the runner treats specially rather than pipelining.
enum DiffSpecial {
    case none
    /// SCAN, or SSCAN/HSCAN/ZSCAN key: compared by the union of a full scan when the replies differ.
    case scan(cursorIndex: Int, group: Int)
    /// HGETALL/HKEYS/HVALS key: exact for a compact encoding, as a multiset for a hashtable.
    case orderFree(keyIndex: Int, pairs: Bool)
    /// SORT and SORT_RO, also from a script: see `DifferentialRunner.compareSort`.
    case sort
    /// (P|S)(UN)SUBSCRIBE: several frames, read up to a sentinel.
    case frames

    init(_ command: DiffCommand) {
        let name = String(decoding: command[0].map(diffLower), as: UTF8.self)
        switch name {
        case "scan" where command.count >= 2: self = .scan(cursorIndex: 1, group: 1)
        case "sscan" where command.count >= 3: self = .scan(cursorIndex: 2, group: 1)
        case "hscan" where command.count >= 3, "zscan" where command.count >= 3: self = .scan(cursorIndex: 2, group: 2)
        case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe": self = .frames
        case "hgetall" where command.count == 2: self = .orderFree(keyIndex: 1, pairs: true)
        case "hkeys" where command.count == 2, "hvals" where command.count == 2: self = .orderFree(keyIndex: 1, pairs: false)
        case "sort" where command.count >= 2, "sort_ro" where command.count >= 2: self = .sort
        // The sort family's SORT from a script (its sources read alike on both servers; only the errno applies).
        case "eval" where command.count >= 4 && command[1].starts(with: Array("return redis.call('SORT".utf8)): self = .sort
        default: self = .none
        }
    }

    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}

/// A command redis-server answered +QUEUED in a run: its index in the run (a case list's line), and whether
/// the runner queued it itself (an OBJECT ENCODING probe after an HGETALL-family command).
struct QueuedCommand {
    let index: Int
    let command: DiffCommand
    let probe: Bool
}

@inline(__always) func diffLower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }

/// The options of a SORT command that decide how its reply may differ, parsed as redis-server parses them
/// (nil when it would be a syntax error). Also the sort family's SORT from a script (`EVAL "return
/// redis.call('SORT', KEYS[1], unpack(ARGV))" 1 key option...`), where a set BY nosort is sorted ALPHA.
struct DiffSortOptions {
    var alpha = false, limit = false, store = false, dontSort = false
    var gets = 0
    /// The key sorted.
    var key: [UInt8]

    init?(_ command: DiffCommand) {
        var name = command[0].map(diffLower)
        var keyIndex = 1
        let fromScript = name == Array("eval".utf8) && command.count >= 4
            && command[1].starts(with: Array("return redis.call('SORT".utf8))
        if fromScript {
            name = command[1].starts(with: Array("return redis.call('SORT_RO".utf8)) ? Array("sort_ro".utf8) : Array("sort".utf8)
            keyIndex = 3
        }
        guard name == Array("sort".utf8) || name == Array("sort_ro".utf8), command.count > keyIndex else { return nil }
        key = command[keyIndex]
        let readonly = name == Array("sort_ro".utf8)
        func word(_ i: Int) -> String {
            let bytes = command[i]
            return String(decoding: (bytes.firstIndex(of: 0).map { bytes[..<$0] } ?? bytes[...]).map(diffLower), as: UTF8.self)
        }
        var j = keyIndex + 1
        while j < command.count {
            let left = command.count - j - 1
            switch word(j) {
            case "asc", "desc": break
            case "alpha": alpha = true
            case "limit" where left >= 2: limit = true; j += 2
            case "store" where left >= 1 && !readonly: store = true; j += 1
            case "by" where left >= 1:
                let pattern = command[j + 1]
                dontSort = !(pattern.firstIndex(of: 0).map { pattern[..<$0] } ?? pattern[...]).contains(UInt8(ascii: "*"))
                j += 1
            case "get" where left >= 1: gets += 1; j += 1
            default: return nil
            }
            j += 1
        }
    }
}

/// Decides whether two replies are the same, byte for byte except where the reply is inherently
/// nondeterministic: TTLs (within a second), KEYS and CONFIG GET order, RANDOMKEY's, ZRANDMEMBER's and
/// HRANDFIELD's and SRANDMEMBER's choices (and DBSIZE after a RANDOMKEY), the order of a hashtable set's
/// members (SMEMBERS, SINTER, SUNION, SDIFF, SPOP: compared as multisets), HELLO's client id and version, TIME, CLIENT
/// ID/INFO/LIST, INFO, LASTSAVE, OBJECT IDLETIME, MEMORY USAGE's sizes. (SORT is compared by `compareSort`.)
enum DiffNormalizer {
    static func equivalent(_ command: DiffCommand, _ a: [UInt8], _ b: [UInt8], afterRandomKey: Bool = false) -> Bool {
        if a == b { return true }
        let name = String(decoding: command[0].map(diffLower), as: UTF8.self)
        if name == "publish" || name == "spublish" { return sameFrames(a, b, unordered: false) }
        guard let va = try? RawReply.parse(a), let vb = try? RawReply.parse(b) else { return false }
        let sub = command.count > 1 ? String(decoding: command[1].map(diffLower), as: UTF8.self) : ""
        switch name {
        case "ttl", "expiretime": return within(va, vb, 1)
        case "pttl", "pexpiretime": return within(va, vb, 1000)
        case "keys": return sorted(va) == sorted(vb)
        case "randomkey": return sameShape(va, vb)
        case "dbsize" where afterRandomKey: return sameShape(va, vb)
        case "hello": return maskHello(va) == maskHello(vb)
        case "lolwut": return maskLolwutVersion(va) == maskLolwutVersion(vb)
        case "time", "info", "lastsave": return sameShape(va, vb)
        case "client" where sub == "id" || sub == "info" || sub == "list": return sameShape(va, vb)
        case "object" where sub == "idletime": return within(va, vb, 1)
        case "zrandmember", "hrandfield", "srandmember": return sameShape(va, vb)
        // Delivery times, idle and seen times of stream consumer groups (DifferentialGenerator+Streams.swift).
        // (needletail's consumers also have 7.2's active times: not in the 7.0 oracle's replies.)
        case "xpending", "xinfo": return streamTimesClose(va, vb.withoutRedis72ConsumerFields, xpending: name == "xpending")
        // Each server's own cost of the key: an integer or a null on each side (errors must be the same bytes).
        // Not necessarily the same one: like DBSIZE, MEMORY USAGE still finds a key past its time until it is
        // reclaimed, which each server's active expiry (or RANDOMKEY's probes) does at its own moment.
        case "memory" where sub == "usage": return sizeOrNull(va) && sizeOrNull(vb)
        // A hashtable set's order is its table's; an intset answers sorted on both sides (equal bytes).
        case "smembers", "sinter", "sunion", "sdiff", "spop": return sorted(va) == sorted(vb)
        case "config" where sub == "get": return sortedPairs(va) == sortedPairs(vb)
        // Each server's own ids, times, durations and client addresses (DifferentialGenerator+Diagnostics.swift).
        case "slowlog" where sub == "get": return slowlogMasked(va) == slowlogMasked(vb)
        case "latency" where sub == "histogram": return histogramNames(va) == histogramNames(vb)
        case "pubsub" where sub == "channels" || sub == "shardchannels": return sorted(va) == sorted(vb)
        // Libraries and their functions in redis-server's hash table order (needletail's are sorted by name).
        case "function" where sub == "list": return sortedFunctionList(va) == sortedFunctionList(vb)
        case "function" where sub == "dump": return sameFunctionDump(va, vb)
        // Rule descriptions end with single commands in redis-server's hash order; the log has ages and clients.
        case "acl" where sub == "cat": return ACLTests.normalise(va, sortAggregates: true) == ACLTests.normalise(vb, sortAggregates: true)
        case "acl": return ACLTests.normalise(va) == ACLTests.normalise(vb)
        // A library clashing with several functions of others (or a payload with several existing libraries):
        // redis-server names the first clash in its hash table's order, needletail the first by name.
        case "function" where sub == "load" || sub == "restore":
            return (nameClash(a, "Function") && nameClash(b, "Function")) || (nameClash(a, "Library") && nameClash(b, "Library"))
        default: return false
        }
    }

    /// "-ERR Function <name> already exists" (or Library), whatever the name.
    static func nameClash(_ reply: [UInt8], _ kind: String) -> Bool {
        reply.starts(with: Array("-ERR \(kind) ".utf8)) && reply.reversed().starts(with: Array(" already exists\r\n".utf8).reversed())
    }

    /// FUNCTION LIST's reply with its libraries, and each library's functions, in sorted order.
    static func sortedFunctionList(_ v: RawReply) -> RawReply {
        guard case .aggregate(let t, let libraries?) = v else { return v }
        let canonical = libraries.map { library -> RawReply in
            guard case .aggregate(let lt, var fields?) = library else { return library }
            for i in stride(from: 1, to: fields.count, by: 2) where fields[i - 1] == .blob(UInt8(ascii: "$"), Array("functions".utf8)) {
                fields[i] = sorted(fields[i])
            }
            return .aggregate(lt, fields)
        }
        return sorted(.aggregate(t, canonical))
    }

    /// Two FUNCTION DUMP payloads holding the same libraries, in any order when there are several: each
    /// library is its opcode and RDB string (`functionDumpChunks`); the trailer's RDB version must be the same
    /// and its CRC64, which depends on the order, is not compared.
    static func sameFunctionDump(_ a: RawReply, _ b: RawReply) -> Bool {
        guard case .blob(_, let x?) = a, case .blob(_, let y?) = b, x.count == y.count, x.count >= 10,
              x[(x.count - 10)..<(x.count - 8)] == y[(y.count - 10)..<(y.count - 8)],
              let cx = functionDumpChunks(x.dropLast(10)), let cy = functionDumpChunks(y.dropLast(10)), cx.count > 1 else { return false }
        return cx.sorted { $0.lexicographicallyPrecedes($1) } == cy.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// A dump payload's libraries (without its trailer): each an RDB_OPCODE_FUNCTION2 byte and an RDB string,
    /// plain or LZF-compressed; nil when the bytes are not that.
    static func functionDumpChunks(_ p: ArraySlice<UInt8>) -> [[UInt8]]? {
        var chunks: [[UInt8]] = []
        var i = p.startIndex
        func length() -> Int? {
            guard i < p.endIndex else { return nil }
            let first = p[i]
            switch first >> 6 {
            case 0: i += 1; return Int(first & 0x3f)
            case 1:
                guard i + 1 < p.endIndex else { return nil }
                defer { i += 2 }
                return Int(first & 0x3f) << 8 | Int(p[i + 1])
            case 2 where first == 0x80:
                guard i + 4 < p.endIndex else { return nil }
                defer { i += 5 }
                return p[(i + 1)...(i + 4)].reduce(0) { $0 << 8 | Int($1) }
            default: return nil
            }
        }
        while i < p.endIndex {
            let start = i
            guard p[i] == 0xF5 else { return nil }
            i += 1
            if i < p.endIndex && p[i] == 0xC3 {  // LZF: compressed length, original length, compressed bytes
                i += 1
                guard let compressed = length(), length() != nil else { return nil }
                i += compressed
            } else {
                guard let n = length() else { return nil }
                i += n
            }
            guard i <= p.endIndex else { return nil }
            chunks.append(Array(p[start..<i]))
        }
        return chunks
    }

    /// Two SORT replies equal but for the order of ties: the same number of elements, and under no LIMIT
    /// the same groups (an element with its GET values) in any order.
    static func sameSortIgnoringTies(_ options: DiffSortOptions, _ a: [RawReply], _ b: [RawReply]) -> Bool {
        guard a.count == b.count else { return false }
        if options.limit { return true }
        let group = max(options.gets, 1)
        func groups(_ e: [RawReply]) -> [[UInt8]] {
            stride(from: 0, to: e.count, by: group).map { e[$0..<min($0 + group, e.count)].flatMap { $0.encoded } }
                .sorted { $0.lexicographicallyPrecedes($1) }
        }
        return groups(a) == groups(b)
    }

    /// redis-server's sticky strtod errno failed a sort (`r`, its reply; from a script with the script's
    /// suffix) that needletail did (`n`).
    static func isRedisErrnoError(_ r: [UInt8], _ n: [UInt8]) -> Bool {
        r.starts(with: Array("-ERR One or more scores can't be converted into double".utf8)) && n.first != UInt8(ascii: "-")
    }

    /// A SORT element of EXEC's array: ties ordered differently (ALPHA or BY nosort, not STORE), or
    /// redis-server's sticky "can't be converted into double" error where needletail sorted.
    static func sortTiesOrRedisErrno(_ command: DiffCommand, _ a: [UInt8], _ b: [UInt8]) -> Bool {
        if isRedisErrnoError(a, b) { return true }
        guard let options = DiffSortOptions(command), !options.store, options.alpha || options.dontSort,
              case .aggregate(let t, let x?)? = try? RawReply.parse(a), case .aggregate(t, let y?)? = try? RawReply.parse(b)
        else { return false }
        return sameSortIgnoringTies(options, x, y)
    }

    /// Frames (several values back to back) compared as a multiset: PUBLISH's messages to its own
    /// connection when several of its patterns match (redis-server walks them in hash table order), and
    /// UNSUBSCRIBE without names (`unordered`: the counts in those frames then depend on the order, so they
    /// are compared apart, as a sequence).
    static func sameFrames(_ a: [UInt8], _ b: [UInt8], unordered: Bool) -> Bool {
        guard let fa = split(a), let fb = split(b) else { return false }
        func key(_ frames: [[UInt8]]) -> ([[UInt8]], [[UInt8]]) {
            var counts: [[UInt8]] = []
            let stripped: [[UInt8]] = frames.map { f in
                guard unordered, case .aggregate(let t, var e?)? = try? RawReply.parse(f), e.count == 3,
                      e[2].integer != nil else { return f }
                counts.append(e[2].encoded)
                e[2] = .line(UInt8(ascii: "?"), [])
                return RawReply.aggregate(t, e).encoded
            }
            return (stripped.sorted { $0.lexicographicallyPrecedes($1) }, counts)
        }
        let (x, y) = (key(fa), key(fb))
        return x.0 == y.0 && x.1 == y.1
    }

    /// The values in `bytes`, nil when they do not split into whole RESP values.
    static func split(_ bytes: [UInt8]) -> [[UInt8]]? {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard let end = try? RESPFrame.end(of: bytes, from: i) else { return nil }
            out.append(Array(bytes[i..<end]))
            i = end
        }
        return out
    }

    /// The same elements (or field/value pairs, when `pairs`) in any order: a hashtable's replies.
    static func sameIgnoringOrder(_ a: [UInt8], _ b: [UInt8], pairs: Bool) -> Bool {
        guard let va = try? RawReply.parse(a), let vb = try? RawReply.parse(b) else { return false }
        return pairs ? sortedPairs(va) == sortedPairs(vb) : sorted(va) == sorted(vb)
    }

    /// A known difference, inside EXEC only: redis-server stores a SET-family command's argument object
    /// itself as the value, and the transaction's queue still holds that object until EXEC ends, so OBJECT
    /// REFCOUNT of a value stored earlier in the same transaction answers 2 there (1 after EXEC); needletail
    /// has no shared argument objects and answers 1. (Redis tags OBJECT REFCOUNT nondeterministic_output.)
    /// Exactly that pair is allowed; any other OBJECT REFCOUNT difference is still a mismatch.
    static func refcountOfQueuedArgument(_ command: DiffCommand, _ a: [UInt8], _ b: [UInt8]) -> Bool {
        command.count == 3 && command[0].map(diffLower) == Array("object".utf8)
            && command[1].map(diffLower) == Array("refcount".utf8) && a == Array(":2\r\n".utf8) && b == Array(":1\r\n".utf8)
    }

    /// A SCAN-family reply that cannot be continued (inside EXEC's array): errors must be equal; otherwise both
    /// are scan replies whose element groups (key, or member and score) have the same types, and a side that
    /// answered cursor 0 returned every matching element, so the other side's elements must be among its
    /// (all of them when both answered 0). Two unfinished scans may hold different elements.
    static func sameScan(_ a: [UInt8], _ b: [UInt8], group: Int) -> Bool {
        if a == b { return true }
        func scan(_ bytes: [UInt8]) -> (done: Bool, groups: Set<[UInt8]>, types: Set<[UInt8]>)? {
            guard case .aggregate(let t, let top?)? = try? RawReply.parse(bytes), t == UInt8(ascii: "*"), top.count == 2,
                  case .blob(_, let cursor?) = top[0], case .aggregate(_, let elements?) = top[1],
                  elements.count % group == 0 else { return nil }
            var groups = Set<[UInt8]>()
            var types = Set<[UInt8]>()
            var i = 0
            while i < elements.count {
                let members = elements[i..<(i + group)]
                groups.insert(members.flatMap { $0.encoded })
                types.insert(members.map { $0.encoded[0] })
                i += group
            }
            return (cursor == Array("0".utf8), groups, types)
        }
        guard let x = scan(a), let y = scan(b) else { return false }
        if !x.types.isEmpty && !y.types.isEmpty && x.types != y.types { return false }
        switch (x.done, y.done) {
        case (true, true): return x.groups == y.groups
        case (true, false): return y.groups.isSubset(of: x.groups)
        case (false, true): return x.groups.isSubset(of: y.groups)
        case (false, false): return true
        }
    }

    /// The same kind of reply: the same type byte (an error on one side only is never the same kind).
    static func sameKind(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.first == b.first
    }

    /// Integers that are both non-negative (a TTL, not -1/-2) and differ by at most `tolerance`.
    private static func within(_ a: RawReply, _ b: RawReply, _ tolerance: Int64) -> Bool {
        guard let x = a.integer, let y = b.integer, x >= 0, y >= 0 else { return false }
        return abs(x - y) <= tolerance
    }

    private static func sorted(_ v: RawReply) -> RawReply {
        guard case .aggregate(let t, let e?) = v else { return v }
        return .aggregate(t, e.sorted { $0.encoded.lexicographicallyPrecedes($1.encoded) })
    }

    /// A map (or RESP2 flat array) with its key/value pairs in sorted order: CONFIG GET's order is
    /// redis-server's hash table order.
    private static func sortedPairs(_ v: RawReply) -> RawReply {
        guard case .aggregate(let t, let e?) = v, e.count % 2 == 0 else { return v }
        let pairs = stride(from: 0, to: e.count, by: 2).map { [e[$0], e[$0 + 1]] }
        return .aggregate(t, pairs.sorted { $0[0].encoded.lexicographicallyPrecedes($1[0].encoded) }.flatMap { $0 })
    }

    /// An integer reply, or a null (RESP2 or RESP3).
    private static func sizeOrNull(_ v: RawReply) -> Bool {
        switch v {
        case .line(UInt8(ascii: ":"), _), .line(UInt8(ascii: "_"), _), .blob(_, nil): return true
        default: return false
        }
    }

    /// Same type byte, same null-ness, same element count: the contents are allowed to differ.
    /// Two replies equal but for the times of stream groups, within 1.5 s of each other: XPENDING's idle
    /// times (the third element of each row), and in XINFO's maps the values after "idle" and "seen-time" and
    /// the delivery times in "pending" lists (third of a group's rows, second of a consumer's).
    static func streamTimesClose(_ a: RawReply, _ b: RawReply, xpending: Bool) -> Bool {
        var ta: [Int64] = [], tb: [Int64] = []
        let ma = maskStreamTimes(a, &ta, rows: xpending), mb = maskStreamTimes(b, &tb, rows: xpending)
        guard ma == mb, ta.count == tb.count else { return false }
        return zip(ta, tb).allSatisfy { abs($0 - $1) <= 1500 }
    }

    private static func maskStreamTimes(_ v: RawReply, _ times: inout [Int64], rows: Bool) -> RawReply {
        guard case .aggregate(let t, var e?) = v else { return v }
        func mask(_ i: Int) {
            if i < e.count, let x = e[i].integer { times.append(x); e[i] = .line(UInt8(ascii: ":"), Array("0".utf8)) }
        }
        if rows {
            // XPENDING's rows: [id, consumer, idle, deliveries].
            for i in e.indices {
                if case .aggregate(let rt, var row?) = e[i], row.count == 4, let x = row[2].integer {
                    times.append(x)
                    row[2] = .line(UInt8(ascii: ":"), Array("0".utf8))
                    e[i] = .aggregate(rt, row)
                }
            }
            return .aggregate(t, e)
        }
        var i = 0
        while i < e.count {
            if case .blob(_, let key?) = e[i], i + 1 < e.count {
                let name = String(decoding: key, as: UTF8.self)
                if name == "idle" || name == "seen-time" { mask(i + 1) }
                if name == "pending", case .aggregate(let pt, var list?) = e[i + 1] {
                    for j in list.indices {
                        if case .aggregate(let rt, var row?) = list[j], row.count == 4 || row.count == 3 {
                            let k = row.count == 4 ? 2 : 1
                            if let x = row[k].integer { times.append(x); row[k] = .line(UInt8(ascii: ":"), Array("0".utf8)) }
                            list[j] = .aggregate(rt, row)
                        }
                    }
                    e[i + 1] = .aggregate(pt, list)
                }
            }
            e[i] = maskStreamTimes(e[i], &times, rows: false)
            i += 1
        }
        return .aggregate(t, e)
    }

    /// SLOWLOG GET's entries with the id, time, duration and client address blanked: the arguments and the
    /// client name remain.
    static func slowlogMasked(_ v: RawReply) -> RawReply {
        guard case .aggregate(let t, let entries?) = v else { return v }
        return .aggregate(t, entries.map { entry in
            guard case .aggregate(let et, var fields?) = entry, fields.count == 6 else { return entry }
            for i in [0, 1, 2] { fields[i] = .line(UInt8(ascii: ":"), []) }
            fields[4] = .blob(UInt8(ascii: "$"), [])
            return .aggregate(et, fields)
        })
    }

    /// LATENCY HISTOGRAM's command names, sorted, each with its two field names (the counts are timings).
    static func histogramNames(_ v: RawReply) -> [String] {
        guard case .aggregate(_, let elements?) = v else { return ["\(v)"] }
        var names: [String] = []
        for i in stride(from: 0, to: elements.count - 1, by: 2) {
            guard case .blob(_, let name?) = elements[i], case .aggregate(_, let fields?) = elements[i + 1], fields.count == 4
            else { return ["malformed"] }
            names.append(String(decoding: name, as: UTF8.self) + "\(fields[0])\(fields[2])")
        }
        return names.sorted()
    }

    private static func sameShape(_ a: RawReply, _ b: RawReply) -> Bool {
        switch (a, b) {
        case (.line(let x, _), .line(let y, _)): return x == y && x != UInt8(ascii: "-")
        case (.blob(let x, let p), .blob(let y, let q)): return x == y && (p == nil) == (q == nil)
        case (.aggregate(let x, let p), .aggregate(let y, let q)): return x == y && p?.count == q?.count
        default: return false
        }
    }

    /// LOLWUT's text with the version it prints blanked (redis-server says 7.0.15, Needletail 7.2.4).
    private static func maskLolwutVersion(_ v: RawReply) -> RawReply {
        guard case .blob(let t, let p?) = v else { return v }
        var text = String(decoding: p, as: UTF8.self)
        for version in ["7.0.15", "7.2.4"] { text = text.replacingOccurrences(of: "Redis ver. \(version)\n", with: "Redis ver. V\n") }
        return .blob(t, Array(text.utf8))
    }

    /// HELLO's map (or flat array in RESP2) with the values of "id" and "version" blanked.
    private static func maskHello(_ v: RawReply) -> RawReply {
        guard case .aggregate(let t, var e?) = v else { return v }
        var i = 0
        while i + 1 < e.count {
            if e[i] == .blob(UInt8(ascii: "$"), Array("id".utf8)) || e[i] == .blob(UInt8(ascii: "$"), Array("version".utf8)) {
                e[i + 1] = .line(UInt8(ascii: "?"), [])
            }
            i += 2
        }
        return .aggregate(t, e)
    }
}

extension DiffMismatch: Error {}
