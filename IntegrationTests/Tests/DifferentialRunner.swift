import Glibc

/// A reply on which the two servers disagreed.
struct DiffMismatch {
    var index: Int
    var command: DiffCommand
    var redisReply: [UInt8]
    var needletailReply: [UInt8]
    /// Set when needletail did not reply at all (closed the connection, timed out, or died).
    var failure: String?

    static let oracleFailure = "redis-server failed, not a needletail bug"

    var description: String {
        var s = "command #\(index): \(DiffCorpus.describe(command))\n"
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
        let name = unknown ? "?" : rawEscaped(command[0].map(diffLower))
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
final class DifferentialRunner {
    private(set) var redis: RawRedisServer
    private(set) var needletail: ServerUnderTest
    private var redisAdmin: RawClient
    private var needletailAdmin: RawClient
    private(set) var commandsCompared = 0
    private(set) var needletailRestarts = 0
    /// DIFF_TRACE=1 prints every command with redis-server's reply (to see what a generator produces).
    private let trace = getenv("DIFF_TRACE") != nil
    /// Set when a run changed server-wide state that FLUSHALL does not reset (CONFIG SET, DEBUG
    /// SET-ACTIVE-EXPIRE, CLIENT PAUSE, ...): the next run restarts both servers.
    private var serverStateChanged = false

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
        defer { if commands.contains(where: Self.changesServerState) { serverStateChanged = true } }
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
        var next = 0
        while next < all.count {
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
            // A window: up to 16 ordinary commands or 256 KB of requests.
            var end = next
            var bytes: [UInt8] = []
            while end < all.count && end - next < 16 && bytes.count < 256 * 1024, case .none = DiffSpecial(all[end]) {
                bytes += RawClient.encode(all[end])
                end += 1
            }
            do {
                try rc.send(bytes)
            } catch {
                return found + [redisFailed("sending to redis: \(error)", at: next, all)]
            }
            var needletailSendError: String?
            do { try nc.send(bytes) } catch { needletailSendError = "\(error)" }
            for i in next..<end {
                let r: [UInt8]
                do { r = try rc.readReply() } catch { return found + [redisFailed("reading from redis: \(error)", at: i, all)] }
                if let e = needletailSendError {
                    return found + [needletailFailed(DiffMismatch(index: i - shift, command: all[i], redisReply: r,
                                                                  needletailReply: [], failure: "send failed: \(e)"))]
                }
                let n: [UInt8]
                do { n = try nc.readReply() } catch {
                    return found + [needletailFailed(DiffMismatch(index: i - shift, command: all[i], redisReply: r,
                                                                  needletailReply: [], failure: "\(error)"))]
                }
                commandsCompared += 1
                if trace { print("  \(DiffCorpus.describe(all[i]))  ->  \(rawEscaped(r, limit: 120))") }
                let same = loose.contains(i - shift) ? DiffNormalizer.sameKind(r, n)
                    : exact.contains(i - shift) ? r == n
                    : DiffNormalizer.equivalent(all[i], r, n, afterRandomKey: afterRandomKey)
                if all[i][0].map(diffLower) == Array("randomkey".utf8) { afterRandomKey = true }
                if !same && record(DiffMismatch(index: i - shift, command: all[i], redisReply: r, needletailReply: n)) {
                    return found
                }
            }
            next = end
        }
        return found
    }

    /// SCAN-family replies depend on each server's table layout, so when the first replies differ, each
    /// server's scan is continued to cursor 0 and the unions of what they returned are compared (errors
    /// and the reply shape must still match exactly).
    private func compareFullScan(_ command: DiffCommand, cursorIndex: Int, group: Int,
                                 _ rc: RawClient, _ nc: RawClient) -> DiffMismatch? {
        let r: [UInt8]
        let n: [UInt8]
        do { r = try rc.call(command) } catch {
            return DiffMismatch(index: 0, command: command, redisReply: Array("<redis failed: \(error)>".utf8),
                                needletailReply: [], failure: DiffMismatch.oracleFailure)
        }
        do { n = try nc.call(command) } catch {
            return needletailFailed(DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: [], failure: "\(error)"))
        }
        commandsCompared += 1
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
        do { r = try rc.call(command) } catch {
            return DiffMismatch(index: 0, command: command, redisReply: Array("<redis failed: \(error)>".utf8),
                                needletailReply: [], failure: DiffMismatch.oracleFailure)
        }
        do { n = try nc.call(command) } catch {
            return needletailFailed(DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: [], failure: "\(error)"))
        }
        commandsCompared += 1
        if r == n { return nil }
        let mismatch = DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: n)
        guard let encoding = try? rc.call([Array("OBJECT".utf8), Array("ENCODING".utf8), command[keyIndex]]),
              encoding == Array("$9\r\nhashtable\r\n".utf8) else { return mismatch }
        return DiffNormalizer.sameIgnoringOrder(r, n, pairs: pairs) ? nil : mismatch
    }

    /// (P|S)(UN)SUBSCRIBE: one frame per name (or one for none), read up to a sentinel PING sent once the
    /// first frame showed the command ran (an error, or +QUEUED in MULTI, is its only frame). Without names,
    /// the frames come in redis-server's hash table order: compared as a multiset (`DiffNormalizer.frames`).
    private func compareFrames(_ command: DiffCommand, _ rc: RawClient, _ nc: RawClient) -> DiffMismatch? {
        let r: [UInt8]
        let n: [UInt8]
        do { r = try Self.readFrames(command, rc) } catch {
            return DiffMismatch(index: 0, command: command, redisReply: Array("<redis failed: \(error)>".utf8),
                                needletailReply: [], failure: DiffMismatch.oracleFailure)
        }
        do { n = try Self.readFrames(command, nc) } catch {
            return needletailFailed(DiffMismatch(index: 0, command: command, redisReply: r, needletailReply: [], failure: "\(error)"))
        }
        commandsCompared += 1
        if trace { print("  \(DiffCorpus.describe(command))  ->  \(rawEscaped(r, limit: 120))") }
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
        case "config": return sub != Array("get".utf8)
        case "debug": return sub != Array("sleep".utf8) && sub != Array("protocol".utf8)
        case "client": return sub == Array("pause".utf8) || sub == Array("unpause".utf8) || sub == Array("kill".utf8)
        case "shutdown", "save", "bgsave": return true
        default: return false
        }
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
        let ok = Array("+OK\r\n".utf8)
        if (try? redisAdmin.call("FLUSHALL")) != ok { try restartRedis() }
        if (try? needletailAdmin.call("FLUSHALL")) != ok { try restartNeedletail() }
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
        default: self = .none
        }
    }
}

@inline(__always) func diffLower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }

/// Decides whether two replies are the same, byte for byte except where the reply is inherently
/// nondeterministic: TTLs (within a second), KEYS and CONFIG GET order, RANDOMKEY's, ZRANDMEMBER's and
/// HRANDFIELD's and SRANDMEMBER's choices (and DBSIZE after a RANDOMKEY), the order of a hashtable set's
/// members (SMEMBERS, SINTER, SUNION, SDIFF, SPOP: compared as multisets), HELLO's client id and version, TIME, CLIENT
/// ID/INFO/LIST, INFO, LASTSAVE, OBJECT IDLETIME.
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
        case "time", "info", "lastsave": return sameShape(va, vb)
        case "client" where sub == "id" || sub == "info" || sub == "list": return sameShape(va, vb)
        case "object" where sub == "idletime": return within(va, vb, 1)
        case "zrandmember", "hrandfield", "srandmember": return sameShape(va, vb)
        // A hashtable set's order is its table's; an intset answers sorted on both sides (equal bytes).
        case "smembers", "sinter", "sunion", "sdiff", "spop": return sorted(va) == sorted(vb)
        case "config" where sub == "get": return sortedPairs(va) == sortedPairs(vb)
        case "pubsub" where sub == "channels" || sub == "shardchannels": return sorted(va) == sorted(vb)
        default: return false
        }
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

    /// Same type byte, same null-ness, same element count: the contents are allowed to differ.
    private static func sameShape(_ a: RawReply, _ b: RawReply) -> Bool {
        switch (a, b) {
        case (.line(let x, _), .line(let y, _)): return x == y && x != UInt8(ascii: "-")
        case (.blob(let x, let p), .blob(let y, let q)): return x == y && (p == nil) == (q == nil)
        case (.aggregate(let x, let p), .aggregate(let y, let q)): return x == y && p?.count == q?.count
        default: return false
        }
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
