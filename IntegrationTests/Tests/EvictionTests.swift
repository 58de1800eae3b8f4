import Glibc
import XCTest

/// maxmemory through the real server (Server/Eviction.swift): Needletail as a cache.
///
/// - The evicting policies, with more data written than fits (strings, hashes and sorted sets, with
///   and without TTLs): used_memory stays within 5% of the limit and no write is refused.
/// - Each policy's choice: LRU keeps keys read after the rest went idle, LFU keeps frequently read keys,
///   volatile-* never evict a key without a TTL (and refuse writes once only such keys are left),
///   volatile-ttl evicts the nearest expiry first, noeviction refuses denyoom commands only.
/// - What an eviction does besides freeing memory: `evicted` notifications, WATCH invalidated, DEL in the AOF,
///   evicted_keys counted.
/// - The access stamps: OBJECT IDLETIME / FREQ, CLIENT NO-TOUCH, TOUCH, RESTORE IDLETIME / FREQ, the LFU
///   counter's first steps compared with redis-server's.
final class EvictionTests: XCTestCase {
    /// Small, because the tests run the debug build of the server (a few thousand writes a second); the
    /// 100 MB cache side by side with redis-server is bench/eviction.sh's.
    static let limit = 3 * 1024 * 1024

    private func start(_ policy: String, limit: Int = EvictionTests.limit, extra: [String] = []) throws -> ServerUnderTest {
        try ServerUnderTest.start(extraArguments: ["--maxmemory", "\(limit)", "--maxmemory-policy", policy] + extra)
    }

    // MARK: - Memory stays at the limit

    /// Twice the limit through a debug server (about a thousand evicting writes a second), for the two ways
    /// a victim is found: the pool (LRU here; LFU and TTL rank the same pool, see the tests below) and a
    /// random draw. bench/eviction.py runs every policy on a 100 MB cache with ten times the data, release
    /// build, side by side with redis-server.
    func testPoliciesHoldMemoryAtTheLimitWithTwiceTheData() throws {
        for policy in ["allkeys-lru", "allkeys-random"] {
            let server = try start(policy)
            var passed = false
            defer { server.stop(keepLog: !passed) }
            let client = try WireSocket(port: server.port, timeoutMillis: 60_000)
            let volatile = policy.hasPrefix("volatile")
            var written = 0, batch = 0
            var peak = 0
            // Every key has a TTL under volatile-* (so something can be evicted), half of them otherwise.
            while written < 2 * Self.limit {
                var commands: [[String]] = []
                // About 300 bytes a key, so the cache holds thousands of keys: a debug server checks a whole
                // database of 2,000 keys or fewer after every write, which would make this test crawl.
                for i in 0..<200 {
                    let key = "k:\(batch):\(i)"
                    switch i % 3 {
                    case 0: commands.append(["SET", key, String(repeating: "v", count: 300)])
                    case 1: commands.append(["HSET", key] + (0..<4).flatMap { ["field\($0)", String(repeating: "h", count: 60)] })
                    default: commands.append(["ZADD", key] + (0..<4).flatMap { ["\($0)", "member-\($0)-" + String(repeating: "z", count: 60)] })
                    }
                    if volatile || i % 2 == 0 { commands.append(["EXPIRE", key, "\(3600 + i)"]) }
                    written += 300
                }
                for (n, reply) in try pipeline(client, commands).enumerated() {
                    if case .error(let e) = reply { return XCTFail("\(policy): \(commands[n]) refused: \(e)") }
                }
                batch += 1
                if batch % 10 == 0 { peak = max(peak, try usedMemory(client)) }
            }
            peak = max(peak, try usedMemory(client))
            let info = try infoFields(client, "stats")
            XCTAssertGreaterThan(Int(info["evicted_keys"] ?? "0") ?? 0, 0, "\(policy): nothing evicted")
            XCTAssertLessThanOrEqual(Double(peak), Double(Self.limit) * 1.05, "\(policy): used_memory peak \(peak)")
            let used = try usedMemory(client)
            XCTAssertGreaterThan(Double(used), Double(Self.limit) * 0.8, "\(policy): over-evicted to \(used)")
            passed = testRun?.hasSucceeded ?? false
        }
    }

    // MARK: - Which keys go

    func testLRUKeepsTheKeysReadAfterTheRestWentIdle() throws {
        let server = try start("allkeys-lru")
        defer { server.stop() }
        let client = try WireSocket(port: server.port, timeoutMillis: 60_000)
        // Fill to about 70% of the limit, let it all go idle, then read a hot tenth of it.
        let n = try fillToSevenTenths(client) { ["SET", "old:\($0)", Self.value] }
        sleep(2)  // the LRU clock has a one-second resolution
        let hot = stride(from: 0, to: n, by: 10).map { "old:\($0)" }
        _ = try pipeline(client, hot.map { ["GET", $0] })
        try writeSixTenthsMore(client, after: n) { ["SET", "new:\($0)", Self.value] }
        let evicted = Int(try infoFields(client, "stats")["evicted_keys"] ?? "0") ?? 0
        XCTAssertGreaterThan(evicted, n / 5, "not enough evictions to test anything")
        let present = try pipeline(client, hot.map { ["EXISTS", $0] }).filter { $0 == .integer(1) }.count
        XCTAssertGreaterThanOrEqual(Double(present), Double(hot.count) * 0.98,
                                    "hot keys kept: \(present) of \(hot.count), \(evicted) evicted")
    }

    func testLFUKeepsTheFrequentlyReadKeys() throws {
        let server = try start("allkeys-lfu")
        defer { server.stop() }
        let client = try WireSocket(port: server.port, timeoutMillis: 60_000)
        let n = try fillToSevenTenths(client) { ["SET", "k:\($0)", Self.value] }
        let hot = stride(from: 0, to: n, by: 10).map { "k:\($0)" }
        for _ in 0..<20 { _ = try pipeline(client, hot.map { ["GET", $0] }) }
        XCTAssertGreaterThan(try integer(client, ["OBJECT", "FREQ", hot[0]]), 5)
        try writeSixTenthsMore(client, after: n) { ["SET", "new:\($0)", Self.value] }
        let present = try pipeline(client, hot.map { ["EXISTS", $0] }).filter { $0 == .integer(1) }.count
        XCTAssertGreaterThanOrEqual(Double(present), Double(hot.count) * 0.98, "frequent keys kept: \(present) of \(hot.count)")
    }

    func testVolatilePoliciesNeverEvictKeysWithoutTTLAndThenRefuseWrites() throws {
        // One policy of each kind: the pool (LRU, LFU and TTL share it) and the random draw.
        for policy in ["volatile-lru", "volatile-random"] {
            let server = try start(policy)
            defer { server.stop() }
            let client = try WireSocket(port: server.port, timeoutMillis: 60_000)
            let value = String(repeating: "p", count: 100)
            var n = 0
            while try usedMemory(client) < Self.limit / 2 {
                _ = try pipeline(client, (0..<500).map { ["SET", "ttl:\(n + $0)", value, "EX", "1000"] })
                n += 500
            }
            // Keys without a TTL until the writes are refused: the keys with one make room, then nothing can.
            // As in redis-server, each write is judged by the memory in use when it arrives, so a write after
            // a refusal may still pass when memory fell meanwhile (a rehash finishing frees the old table):
            // every accepted key is kept, and every other reply is the OOM error.
            var written: [String] = []
            var refused = false
            for round in 0..<400 where !refused {
                let keys = (0..<200).map { "persistent:\(round * 200 + $0)" }
                for (key, reply) in zip(keys, try pipeline(client, keys.map { ["SET", $0, value] })) {
                    if reply == .simple("OK") {
                        written.append(key)
                    } else {
                        XCTAssertEqual(reply, .error("OOM command not allowed when used memory > 'maxmemory'."), policy)
                        refused = true
                    }
                }
            }
            XCTAssertTrue(refused, "\(policy): writes never refused")
            XCTAssertEqual(try pipeline(client, written.map { ["EXISTS", $0] }).filter { $0 == .integer(1) }.count,
                           written.count, "\(policy): a key without TTL was evicted")
            XCTAssertEqual(try pipeline(client, (0..<n).map { ["EXISTS", "ttl:\($0)"] }).filter { $0 == .integer(1) }.count,
                           0, "\(policy): refused writes while keys with a TTL were left")
            // Reads and deletions still work.
            XCTAssertEqual(try client.request(["GET", "persistent:0"]), Array("$100\r\n\(value)\r\n".utf8), policy)
            XCTAssertEqual(try integer(client, ["DEL", "persistent:0"]), 1, policy)
        }
    }

    func testVolatileTTLEvictsTheNearestExpiryFirst() throws {
        let server = try start("volatile-ttl")
        defer { server.stop() }
        let client = try WireSocket(port: server.port, timeoutMillis: 60_000)
        // Alternate soon (1000 s) and late (100000 s) expiries.
        let n = try fillToSevenTenths(client) { ["SET", "k:\($0)", Self.value, "EX", $0 % 2 == 0 ? "1000" : "100000"] }
        // Enough new keys (4n/7) to evict about 15% of the keys, nearly a third of the soon ones (the pressure
        // this test had before it sized its data above start-up memory): the test is about which keys go
        // first while soon ones are still there to be sampled (sampling finds fewer of them as they run out).
        try writeSixTenthsMore(client, after: n, count: n * 4 / 7) { ["SET", "new:\($0)", Self.value, "EX", "200000"] }
        let replies = try pipeline(client, (0..<n).map { ["EXISTS", "k:\($0)"] })
        let soonLeft = stride(from: 0, to: n, by: 2).filter { replies[$0] == .integer(1) }.count
        let lateLeft = stride(from: 1, to: n, by: 2).filter { replies[$0] == .integer(1) }.count
        XCTAssertLessThan(soonLeft, n / 2, "nothing evicted")
        XCTAssertGreaterThanOrEqual(Double(lateLeft), Double(n / 2) * 0.98, "late expiries evicted: \(lateLeft) of \(n / 2) left, \(soonLeft) soon ones left")
    }

    func testNoevictionRefusesDenyoomCommandsOnlyAsRedis() throws {
        let server = try start("noeviction", limit: 1)
        defer { server.stop() }
        let client = try WireSocket(port: server.port)
        let oom = RESPValue.error("OOM command not allowed when used memory > 'maxmemory'.")
        XCTAssertEqual(try client.readReplyFor(["SET", "a", "1"]), oom)
        XCTAssertEqual(try client.readReplyFor(["GET", "a"]), .null)
        XCTAssertEqual(try client.readReplyFor(["DEL", "a"]), .integer(0))
        XCTAssertEqual(try client.readReplyFor(["CONFIG", "SET", "maxmemory", "0"]), .simple("OK"))
        XCTAssertEqual(try client.readReplyFor(["SET", "a", "1"]), .simple("OK"))
        XCTAssertEqual(try client.readReplyFor(["CONFIG", "SET", "maxmemory", "1"]), .simple("OK"))
        XCTAssertEqual(try client.readReplyFor(["INCR", "a"]), oom)
        XCTAssertEqual(try client.readReplyFor(["EXPIRE", "a", "100"]), .integer(1))
        let stats = try infoFields(client, "stats")
        XCTAssertEqual(stats["evicted_keys"], "0")
        XCTAssertNotEqual(stats["current_eviction_exceeded_time"], nil)
    }

    // MARK: - What an eviction does

    func testEvictionNotifiesInvalidatesWatchAndIsPropagatedAsDel() throws {
        let dir = try TemporaryDirectory("eviction")
        let server = try start("allkeys-random", limit: 64 * 1024 * 1024,
                               extra: ["--dir", dir.path, "--appendonly", "yes", "--notify-keyspace-events", "Ee"])
        defer { server.stop() }
        let client = try WireSocket(port: server.port)
        let subscriber = try WireSocket(port: server.port)
        let watcher = try WireSocket(port: server.port)
        XCTAssertEqual(try client.readReplyFor(["SET", "watched", "1"]), .simple("OK"))
        _ = try subscriber.readReplyFor(["SUBSCRIBE", "__keyevent@0__:evicted"])
        XCTAssertEqual(try watcher.readReplyFor(["WATCH", "watched"]), .simple("OK"))
        // A limit below what is used: the next write evicts the only key, the watched one.
        XCTAssertEqual(try client.readReplyFor(["CONFIG", "SET", "maxmemory", "1"]), .simple("OK"))
        XCTAssertEqual(try client.readReplyFor(["GET", "nothing"]), .null)
        XCTAssertEqual(try client.readReplyFor(["DBSIZE"]), .integer(0))
        XCTAssertEqual(try subscriber.readReply().value,
                       .array([.bulk(Array("message".utf8)), .bulk(Array("__keyevent@0__:evicted".utf8)), .bulk(Array("watched".utf8))]))
        // (Still over the limit with nothing left to evict, MULTI would queue nothing: Redis refuses it all.)
        XCTAssertEqual(try client.readReplyFor(["CONFIG", "SET", "maxmemory", "0"]), .simple("OK"))
        XCTAssertEqual(try watcher.readReplyFor(["MULTI"]), .simple("OK"))
        XCTAssertEqual(try watcher.readReplyFor(["PING"]), .simple("QUEUED"))
        XCTAssertEqual(try watcher.readReplyFor(["EXEC"]), .null)
        XCTAssertEqual(try infoFields(client, "stats")["evicted_keys"], "1")
        // The AOF has the SET, then the eviction's DEL.
        XCTAssertTrue(eventually(timeoutMillis: 5000) {
            let aof = (try? appendOnlyText(dir.path)) ?? ""
            guard let set = aof.range(of: "SET\r\n$7\r\nwatched"), let del = aof.range(of: "DEL\r\n$7\r\nwatched") else { return false }
            return set.lowerBound < del.lowerBound
        }, "the AOF does not record the eviction as DEL")
    }

    // MARK: - Access stamps

    func testIdleTimeNoTouchAndTouch() throws {
        let server = try start("allkeys-lru", limit: 0, extra: ["--enable-debug-command", "yes"])
        defer { server.stop() }
        let client = try WireSocket(port: server.port)
        _ = try client.readReplyFor(["SET", "k", "v"])
        _ = try client.readReplyFor(["SET", "other", "v"])
        XCTAssertEqual(try integer(client, ["OBJECT", "IDLETIME", "k"]), 0)
        sleep(2)
        XCTAssertGreaterThanOrEqual(try integer(client, ["OBJECT", "IDLETIME", "k"]), 1)  // OBJECT does not touch
        XCTAssertGreaterThanOrEqual(try integer(client, ["OBJECT", "IDLETIME", "k"]), 1)
        _ = try client.readReplyFor(["CLIENT", "NO-TOUCH", "ON"])
        _ = try client.readReplyFor(["GET", "k"])
        XCTAssertGreaterThanOrEqual(try integer(client, ["OBJECT", "IDLETIME", "k"]), 1, "NO-TOUCH's GET touched")
        _ = try client.readReplyFor(["TOUCH", "k"])  // TOUCH touches even for a NO-TOUCH client
        XCTAssertEqual(try integer(client, ["OBJECT", "IDLETIME", "k"]), 0)
        _ = try client.readReplyFor(["CLIENT", "NO-TOUCH", "OFF"])
        _ = try client.readReplyFor(["GET", "other"])
        XCTAssertEqual(try integer(client, ["OBJECT", "IDLETIME", "other"]), 0)
        guard case .simple(let line) = try client.readReplyFor(["DEBUG", "OBJECT", "k"]) else { return XCTFail("DEBUG OBJECT") }
        XCTAssertTrue(line.contains(" lru_seconds_idle:0"), line)
        // RESTORE IDLETIME sets the stamp under an LRU policy.
        guard case .bulk(let payload) = try client.readReplyFor(["DUMP", "k"]) else { return XCTFail("DUMP") }
        try client.send(multibulkRequest([Array("RESTORE".utf8), Array("r".utf8), Array("0".utf8), payload,
                                          Array("IDLETIME".utf8), Array("1000".utf8)]))
        XCTAssertEqual(try client.readReply().value, .simple("OK"))
        let idle = try integer(client, ["OBJECT", "IDLETIME", "r"])
        XCTAssertTrue((1000...1002).contains(idle), "RESTORE IDLETIME 1000 gives \(idle)")
    }

    /// The LFU counter's deterministic steps, reply for reply with redis-server: 5 for a new key, 6 after
    /// the first access (probability 1 below LFU_INIT_VAL + 1), FREQ as RESTORE sets it, the policy errors.
    func testLFUCounterAndErrorsMatchRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let oracle = try RawRedisServer()
        defer { oracle.stop() }
        let server = try start("noeviction", limit: 0)
        defer { server.stop() }
        let sides = [try WireSocket(port: server.port), try WireSocket(port: oracle.port)]
        let script: [[String]] = [
            ["SET", "k", "v"], ["OBJECT", "FREQ", "k"], ["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
            ["OBJECT", "IDLETIME", "k"], ["SET", "n", "v"], ["OBJECT", "FREQ", "n"], ["GET", "n"], ["OBJECT", "FREQ", "n"],
            ["SET", "n", "w"], ["OBJECT", "FREQ", "missing"], ["DUMP", "n"],
            ["CONFIG", "SET", "maxmemory-policy", "volatile-lru"], ["OBJECT", "FREQ", "n"],
        ]
        var dumps: [[UInt8]] = []
        for command in script {
            let replies = try sides.map { try $0.readReplyFor(command) }
            if command[0] == "DUMP", case .bulk(let p) = replies[1] { dumps.append(p); continue }
            XCTAssertEqual(replies[0], replies[1], "\(command)")
        }
        for side in sides {
            _ = try side.readReplyFor(["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"])
            try side.send(multibulkRequest(["RESTORE", "f", "0"].map { Array($0.utf8) } + [dumps[0]] + [Array("FREQ".utf8), Array("100".utf8)]))
            XCTAssertEqual(try side.readReply().value, .simple("OK"))
            XCTAssertEqual(try side.readReplyFor(["OBJECT", "FREQ", "f"]), .integer(100))
        }
    }

    // MARK: - Helpers

    static let value = String(repeating: "x", count: 100)

    /// Writes `command(i)` for i = 0, 1, ... until used_memory fills 70% of the room the limit leaves for data
    /// (above used_memory_startup: over a megabyte in a debug server, a third of the 3 MB limit, so the
    /// scenarios keep their proportions as start-up memory changes); returns how many.
    private func fillToSevenTenths(_ client: WireSocket, _ command: (Int) -> [String]) throws -> Int {
        let startup = Int(try infoFields(client, "memory")["used_memory_startup"] ?? "0") ?? 0
        var n = 0
        while try usedMemory(client) < startup + (Self.limit - startup) * 7 / 10 {
            _ = try pipeline(client, (n..<n + 500).map(command))
            n += 500
        }
        return n
    }

    /// After `fillToSevenTenths` wrote `n` keys: new keys worth about 60% of that room, so evictions take
    /// about half of the old ones.
    /// `count` overrides how many (volatile-ttl's test evicts about half of the soon-expiring keys only).
    private func writeSixTenthsMore(_ client: WireSocket, after n: Int, count: Int? = nil,
                                    _ command: (Int) -> [String]) throws {
        var m = 0
        while m < count ?? n * 6 / 7 {
            _ = try pipeline(client, (m..<m + 500).map(command))
            m += 500
        }
    }

    private func pipeline(_ client: WireSocket, _ commands: [[String]]) throws -> [RESPValue] {
        try client.send(commands.flatMap { multibulkRequest($0.map { Array($0.utf8) }) })
        return try commands.map { _ in try client.readReply().value }
    }

    private func integer(_ client: WireSocket, _ command: [String]) throws -> Int {
        guard case .integer(let n) = try client.readReplyFor(command) else {
            throw HarnessError("\(command) did not answer an integer")
        }
        return Int(n)
    }

    private func infoFields(_ client: WireSocket, _ section: String) throws -> [String: String] {
        guard case .bulk(let text) = try client.readReplyFor(["INFO", section]) else { throw HarnessError("INFO \(section)") }
        var fields: [String: String] = [:]
        for line in String(decoding: text, as: UTF8.self).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }

    private func usedMemory(_ client: WireSocket) throws -> Int {
        Int(try infoFields(client, "memory")["used_memory"] ?? "0") ?? 0
    }
}

private extension WireSocket {
    func readReplyFor(_ command: [String]) throws -> RESPValue {
        try send(multibulkRequest(command.map { Array($0.utf8) }))
        return try readReply().value
    }
}

/// The AOF's incremental files of `dir`'s appendonlydir, concatenated.
private func appendOnlyText(_ dir: String) throws -> String {
    let sub = dir + "/appendonlydir"
    guard let d = opendir(sub) else { throw HarnessError("no appendonlydir") }
    defer { closedir(d) }
    var text = ""
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard name.hasSuffix(".incr.aof") else { continue }
        if let f = fopen(sub + "/" + name, "r") {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = fread(&buffer, 1, buffer.count, f)
                if n <= 0 { break }
                text += String(decoding: buffer[0..<n], as: UTF8.self)
            }
            fclose(f)
        }
    }
    return text
}
