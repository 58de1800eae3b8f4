import Glibc
import XCTest

/// MEMORY USAGE and its siblings over TCP: the size reported for a key grows with its collection (every type
/// and encoding), a missing key is a null in both protocols, the errors and arity are redis-server's byte for
/// byte, and `redis-cli --memkeys` / `--bigkeys` run against needletail without a warning and report keys
/// of every type with non-zero sizes. MEMORY STATS and INFO memory have redis-server 7.0's fields, in its
/// order and with its reply types, and their numbers add up and move with the data; MEMORY DOCTOR's text is
/// redis-server's. (The sizes themselves are needletail's own, so they are not compared with redis-server's.)
final class MemoryCommandTests: XCTestCase {
    private var server: ServerUnderTest!
    private var client: RawClient!

    override func setUpWithError() throws {
        server = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled)
        client = try RawClient(port: server.port)
    }

    override func tearDown() {
        client?.close()
        server?.stop()
        super.tearDown()
    }

    private func usage(_ key: String, _ extra: String...) throws -> Int64 {
        let reply = try client.call(["MEMORY", "USAGE", key].map { Array($0.utf8) } + extra.map { Array($0.utf8) })
        guard let n = try RawReply.parse(reply).integer else {
            XCTFail("MEMORY USAGE \(key): \(rawEscaped(reply))")
            return -1
        }
        return n
    }

    /// Sends `args` and checks the reply is not an error.
    private func run(_ args: [String]) throws {
        let reply = try client.call(args.map { Array($0.utf8) })
        XCTAssertNotEqual(reply.first, UInt8(ascii: "-"), "\(args.prefix(3)): \(rawEscaped(reply))")
    }

    /// Each type, grown step by step through its compact and large forms: every step costs more than the
    /// last, by at least the bytes it added beyond what fits in place.
    func testUsageGrowsWithTheCollection() throws {
        let steps = [1, 20, 100, 600, 3000]
        let kinds: [(key: String, add: (Int, Int) -> [String])] = [
            ("list", { lo, hi in ["RPUSH", "list"] + (lo..<hi).map { "element-\($0)" } }),
            // Values far apart: past the first step the intset no longer fits in the key's entry (below).
            ("intset", { lo, hi in ["SADD", "intset"] + (lo..<hi).map { "\($0 * 100_000)" } }),
            ("strset", { lo, hi in ["SADD", "strset"] + (lo..<hi).map { "member-\($0)" } }),
            ("hash", { lo, hi in ["HSET", "hash"] + (lo..<hi).flatMap { ["field-\($0)", "value-\($0)"] } }),
            ("zset", { lo, hi in ["ZADD", "zset"] + (lo..<hi).flatMap { ["\($0)", "member-\($0)"] } }),
        ]
        for kind in kinds {
            var previous: Int64 = 0
            var count = 0
            for step in steps {
                try run(kind.add(count, step))
                count = step
                let now = try usage(kind.key)
                XCTAssertGreaterThan(now, previous, "\(kind.key) at \(step) elements")
                previous = now
            }
            // Sampling every element gives the same order of magnitude as the default 5 samples here (the
            // elements are alike), and SAMPLES 1 still answers.
            let all = try usage(kind.key, "SAMPLES", "0")
            XCTAssertGreaterThan(all, Int64(count), kind.key)
            XCTAssertLessThan(abs(all - previous), previous / 2, "\(kind.key): SAMPLES 0 \(all), default \(previous)")
            XCTAssertGreaterThan(try usage(kind.key, "SAMPLES", "1"), 0, kind.key)
        }
        // Strings: short ones live in the key's entry, long ones add their buffer (malloc's usable size).
        try run(["SET", "short", "abc"])
        try run(["SET", "long", String(repeating: "x", count: 1000)])
        try run(["SET", "longer", String(repeating: "x", count: 100_000)])
        let short = try usage("short"), long = try usage("long"), longer = try usage("longer")
        XCTAssertGreaterThan(short, 0)
        // So do small intsets of close values (Storage/InlineIntSet.swift), up to 21 of them.
        try run(["SADD", "close"] + (0..<21).map { "\($0 * 3)" })
        XCTAssertEqual(try usage("close"), short, "an inline intset costs its entry, as a short string")
        try run(["SADD", "close", "100"])
        XCTAssertGreaterThan(try usage("close"), short + 32, "22 values: an object and a block")
        XCTAssertGreaterThanOrEqual(long - short, 1000)
        XCTAssertGreaterThanOrEqual(longer - long, 98_000)
        // A big collection is sampled: the default answer is near the exact one for uniform elements and
        // far cheaper to compute; long members count their buffers.
        try run(["SADD", "big"] + (0..<5000).map { "a-rather-long-member-name-to-leave-the-entry-\($0)" })
        let big = try usage("big"), bigAll = try usage("big", "SAMPLES", "0")
        XCTAssertGreaterThan(bigAll, 5000 * 70)
        XCTAssertLessThan(abs(big - bigAll), bigAll / 10)
        // A time to live costs its entry in the expires table.
        let before = try usage("short")
        try run(["EXPIRE", "short", "1000"])
        XCTAssertGreaterThan(try usage("short"), before)
    }

    func testMissingKeyIsNullInBothProtocols() throws {
        XCTAssertEqual(try client.call("MEMORY", "USAGE", "nosuchkey"), Array("$-1\r\n".utf8))
        XCTAssertEqual(try client.call("MEMORY", "USAGE", "nosuchkey", "SAMPLES", "0"), Array("$-1\r\n".utf8))
        _ = try client.call("HELLO", "3")
        XCTAssertEqual(try client.call("MEMORY", "USAGE", "nosuchkey"), Array("_\r\n".utf8))
        // A key that has expired but is still stored is counted, as redis-server's dictFind sees it.
        _ = try client.call("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        _ = try client.call("SET", "gone", "v", "PX", "1")
        rawSleepMillis(20)
        XCTAssertNotNil(try RawReply.parse(try client.call("MEMORY", "USAGE", "gone")).integer)
        XCTAssertEqual(try client.call("EXISTS", "gone"), Array(":0\r\n".utf8))
        XCTAssertEqual(try client.call("MEMORY", "USAGE", "gone"), Array("_\r\n".utf8))
    }

    /// Replies that do not depend on sizes, byte for byte against redis-server 7.0.
    func testErrorsAndHelpMatchRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        let oracle = try RawClient(port: redis.port)
        let cases: [[String]] = [
            ["MEMORY"], ["MEMORY", "USAGE"], ["MEMORY", "FOO"], ["memory", "nosuch", "x"], ["MEMORY", "HELP"],
            ["MEMORY", "help", "extra"], ["MEMORY", "USAGE", "k", "SAMPLES"], ["MEMORY", "USAGE", "k", "SAMPLES", "-1"],
            ["MEMORY", "USAGE", "k", "SAMPLES", "abc"], ["MEMORY", "USAGE", "k", "SAMPLES", "1.5"],
            ["MEMORY", "USAGE", "k", "SAMPLES", "99999999999999999999"], ["MEMORY", "USAGE", "k", "foo"],
            ["MEMORY", "USAGE", "k", "SAMPLES", "1", "SAMPLES"], ["MEMORY", "USAGE", "k", "samples", "0", "x", "1"],
            ["MEMORY", "USAGE", "k"], ["MEMORY", "USAGE", "k", "SAMPLES", "0"], ["MEMORY", "PURGE"],
            ["MEMORY", "PURGE", "x"], ["MEMORY", "MALLOC-STATS", "x"], ["MEMORY", "USAGE", "str", "SAMPLES", "-5"],
            ["SET", "str", "v"], ["MEMORY", "USAGE", "str", "SAMPLES", "x"], ["COMMAND", "INFO", "memory|usage"],
            ["COMMAND", "GETKEYS", "MEMORY", "USAGE", "somekey", "SAMPLES", "3"], ["COMMAND", "COUNT", "x"],
            ["MEMORY", "STATS", "x"], ["MEMORY", "DOCTOR", "x"], ["memory", "doctor", "x", "y"],
            ["COMMAND", "INFO", "memory|stats", "memory|doctor"], ["COMMAND", "DOCS", "memory|stats"],
            ["COMMAND", "DOCS", "memory|doctor"], ["COMMAND", "GETKEYS", "MEMORY", "STATS"],
        ]
        for resp in ["2", "3"] {
            _ = try oracle.call("HELLO", resp)
            _ = try client.call("HELLO", resp)
            for c in cases {
                let args = c.map { Array($0.utf8) }
                XCTAssertEqual(rawEscaped(try client.call(args)), rawEscaped(try oracle.call(args)), "RESP\(resp) \(c)")
            }
        }
    }

    // MARK: - MEMORY STATS, MEMORY DOCTOR, INFO memory

    /// MEMORY STATS as lines "name type" (nested maps indented), the reply's own type first: what two servers
    /// must agree on whatever their sizes.
    private func statsShape(_ reply: RawReply, indent: String = "") -> [String] {
        guard case .aggregate(let type, let items?) = reply else { return ["not an aggregate: \(reply)"] }
        var lines = [indent + String(UnicodeScalar(type))]
        for i in stride(from: 0, to: items.count - 1, by: 2) {
            guard case .blob(UInt8(ascii: "$"), let name?) = items[i] else { return lines + ["name is not a bulk string"] }
            let label = indent + String(decoding: name, as: UTF8.self)
            switch items[i + 1] {
            case .line(let t, _), .blob(let t, _): lines.append(label + " " + String(UnicodeScalar(t)))
            case .aggregate: lines += [label] + statsShape(items[i + 1], indent: indent + "  ")
            case .attributed: lines.append(label + " attributed")
            }
        }
        return lines
    }

    /// MEMORY STATS as numbers: "db.N" sub-map fields are named "db.N/field"; doubles (bulk strings in RESP2)
    /// are parsed.
    private func stats(_ c: RawClient) throws -> [String: Double] {
        var values: [String: Double] = [:]
        func collect(_ reply: RawReply, prefix: String) {
            guard case .aggregate(_, let items?) = reply else { return XCTFail("MEMORY STATS: \(reply)") }
            for i in stride(from: 0, to: items.count - 1, by: 2) {
                guard case .blob(_, let nameBytes?) = items[i] else { return XCTFail("MEMORY STATS name \(items[i])") }
                let name = prefix + String(decoding: nameBytes, as: UTF8.self)
                switch items[i + 1] {
                case .line(_, let text), .blob(_, let text?):
                    guard let value = Double(String(decoding: text, as: UTF8.self)) else { return XCTFail("\(name): \(items[i + 1])") }
                    values[name] = value
                case .aggregate: collect(items[i + 1], prefix: name + "/")
                default: XCTFail("\(name): \(items[i + 1])")
                }
            }
        }
        collect(try RawReply.parse(c.call("MEMORY", "STATS")), prefix: "")
        return values
    }

    private func infoMemory(_ c: RawClient) throws -> [String: String] {
        guard case .blob(_, let body?) = try RawReply.parse(c.call("INFO", "memory")) else { return [:] }
        var fields: [String: String] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\r\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    /// The same data on both servers (keys in databases 0 and 3, TTLs in 3): MEMORY STATS has the same
    /// fields in the same order with the same reply types in RESP2 and RESP3 (a db.N map for each database
    /// holding keys), and INFO memory the same field names in the same order.
    func testStatsAndInfoMemoryHaveRedisFieldsAndTypes() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        let oracle = try RawClient(port: redis.port)
        for side in [client!, oracle] {
            XCTAssertEqual(try side.call("SET", "a", "1"), Array("+OK\r\n".utf8))
            _ = try side.call("SELECT", "3")
            _ = try side.call("MSET", "x", "1", "y", "2", "z", "3")
            _ = try side.call("EXPIRE", "y", "1000")
            _ = try side.call("SELECT", "0")
        }
        for resp in ["2", "3"] {
            _ = try client.call("HELLO", resp)
            _ = try oracle.call("HELLO", resp)
            let ours = statsShape(try RawReply.parse(client.call("MEMORY", "STATS")))
            XCTAssertEqual(ours, statsShape(try RawReply.parse(oracle.call("MEMORY", "STATS"))), "RESP\(resp)")
            XCTAssertTrue(ours.contains("db.3"), "\(ours)")
            XCTAssertEqual(try client.infoFieldNames(section: "memory"), try oracle.infoFieldNames(section: "memory"))
        }
    }

    /// An empty server's MEMORY DOCTOR is redis-server's text, byte for byte, in both protocols (a verbatim
    /// string in RESP3).
    func testDoctorOnAnEmptyServerMatchesRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        let oracle = try RawClient(port: redis.port)
        for resp in ["2", "3"] {
            _ = try client.call("HELLO", resp)
            _ = try oracle.call("HELLO", resp)
            let ours = try client.call("MEMORY", "DOCTOR")
            XCTAssertEqual(rawEscaped(ours, limit: 1000), rawEscaped(try oracle.call("MEMORY", "DOCTOR"), limit: 1000), "RESP\(resp)")
            XCTAssertEqual(ours.first, UInt8(ascii: resp == "2" ? "$" : "="))
        }
    }

    /// The accounting adds up as Redis defines it, and moves with the data: keys add dataset and main-table
    /// overhead, TTLs add expires-table overhead, each non-empty database gets its db.N entry, keys.count is
    /// the sum of DBSIZE, clients add client memory; the peak is kept by the server (not by INFO) across a
    /// FLUSHALL, and the lazily freed keys of FLUSHALL ASYNC are counted.
    func testStatsAddUpAndMoveWithTheData() throws {
        func checkSums(_ m: [String: Double], _ context: String) {
            let parts = ["startup.allocated", "replication.backlog", "clients.slaves", "clients.normal", "cluster.links",
                         "aof.buffer", "lua.caches", "functions.caches"].map { m[$0] ?? .nan }.reduce(0, +)
            let tables = m.filter { $0.key.hasPrefix("db.") }.map(\.value).reduce(0, +)
            XCTAssertEqual(m["overhead.total"], parts + tables, context)
            XCTAssertEqual(m["dataset.bytes"], max(0, m["total.allocated"]! - m["overhead.total"]!), context)
            let net = max(1, m["total.allocated"]! - m["startup.allocated"]!)
            let keys = m["keys.count"]!
            XCTAssertEqual(m["keys.bytes-per-key"], keys > 0 ? (net / keys).rounded(.down) : 0, context)
            XCTAssertEqual(m["allocator.allocated"], m["total.allocated"], context)
            XCTAssertGreaterThanOrEqual(m["allocator.active"]!, m["allocator.allocated"]! * 0.9, context)
            XCTAssertGreaterThan(m["fragmentation"]!, 0, context)
            XCTAssertGreaterThan(m["startup.allocated"]!, 0, context)
        }
        let empty = try stats(client)
        checkSums(empty, "empty")
        XCTAssertEqual(empty["keys.count"], 0)
        XCTAssertTrue(empty.keys.filter { $0.hasPrefix("db.") }.isEmpty, "\(empty)")

        // 3,000 keys in db 5, 1,000 of them with a TTL, then 20,000 in db 0 (and later 20,000 more). Few
        // commands while a database holds under 2,000 keys: a debug server then checks it after each write.
        try run(["SELECT", "5"])
        try run(["MSET"] + (0..<2000).flatMap { ["k5:\($0)", "v"] })
        let db5 = try client.pipelined((2000..<3000).map { words("SET", "k5:\($0)", "v", "EX", "5000") })
        XCTAssertEqual(Set(db5), [Array("+OK\r\n".utf8)])
        try run(["SELECT", "0"])
        let only5 = try stats(client)
        checkSums(only5, "db 5")
        XCTAssertEqual(only5["keys.count"], 3000)
        XCTAssertNil(only5["db.0/overhead.hashtable.main"])
        let mset = (0..<20).map { batch in ["MSET"] + (0..<1000).flatMap { ["key:\(batch * 1000 + $0)", "value-\($0)"] } }
        for command in mset { try run(command) }
        let few = try stats(client)
        checkSums(few, "db 0 and 5")
        for command in mset { try run([command[0]] + command.dropFirst().enumerated().map { $0.offset % 2 == 0 ? "more-" + $0.element : $0.element }) }
        let many = try stats(client)
        checkSums(many, "db 0 and 5")
        XCTAssertEqual(many["keys.count"], 43_000)
        let dbsizes = try [0, 5].map { db -> Int64 in
            _ = try client.call("SELECT", "\(db)")
            return try RawReply.parse(client.call("DBSIZE")).integer ?? -1
        }
        _ = try client.call("SELECT", "0")
        XCTAssertEqual(many["keys.count"], Double(dbsizes.reduce(0, +)))
        XCTAssertEqual(Set(many.keys.filter { $0.hasPrefix("db.") }),
                       ["db.0/overhead.hashtable.main", "db.0/overhead.hashtable.expires", "db.0/overhead.hashtable.slot-to-keys",
                        "db.5/overhead.hashtable.main", "db.5/overhead.hashtable.expires", "db.5/overhead.hashtable.slot-to-keys"])
        XCTAssertGreaterThan(many["db.0/overhead.hashtable.main"]!, few["db.0/overhead.hashtable.main"]!)
        XCTAssertGreaterThanOrEqual(many["db.0/overhead.hashtable.main"]!, 40_000 * 8, "at least each entry's link and hash")
        XCTAssertEqual(many["db.0/overhead.hashtable.expires"], 0)
        XCTAssertGreaterThan(many["db.5/overhead.hashtable.expires"]!, 1000 * 8)
        XCTAssertGreaterThan(many["dataset.bytes"]!, few["dataset.bytes"]! + 20_000 * 16, "the new keys' entries")
        XCTAssertGreaterThan(few["dataset.bytes"]!, only5["dataset.bytes"]! + 20_000 * 16)
        XCTAssertGreaterThan(only5["dataset.bytes"]!, empty["dataset.bytes"]!)
        XCTAssertGreaterThan(many["total.allocated"]!, few["total.allocated"]!)
        // INFO memory says the same things.
        let info = try infoMemory(client)
        XCTAssertGreaterThan(Double(info["used_memory_dataset"]!)!, few["dataset.bytes"]!)
        XCTAssertGreaterThan(Double(info["used_memory_overhead"]!)!, few["overhead.total"]!)
        XCTAssertEqual(info["used_memory_startup"].flatMap(Double.init), many["startup.allocated"])
        XCTAssertGreaterThanOrEqual(Double(info["used_memory_peak"]!)!, Double(info["used_memory"]!)!)
        XCTAssertEqual(info["mem_not_counted_for_evict"], "0", "AOF is off")
        XCTAssertEqual(info["mem_aof_buffer"], "0")

        // Clients: three more connections add client memory.
        let others = try (0..<3).map { _ in try RawClient(port: server.port) }
        for other in others { _ = try other.call("PING") }
        XCTAssertGreaterThan(try stats(client)["clients.normal"]!, many["clients.normal"]!)
        for other in others { other.close() }

        // The peak: sampled by the server as it runs, so it outlives the data without INFO in between (the
        // INFO above saw 4 MB less).
        try run(["SET", "big", String(repeating: "x", count: 4_000_000)])
        let before = try stats(client)
        try run(["FLUSHALL"])
        XCTAssertTrue(try eventually(timeoutMillis: 5000) { try self.stats(self.client)["total.allocated"]! < before["total.allocated"]! - 1_000_000 })
        let after = try stats(client)
        checkSums(after, "flushed")
        XCTAssertGreaterThanOrEqual(after["peak.allocated"]!, before["total.allocated"]! - 65536)
        XCTAssertEqual(after["keys.count"], 0)
        XCTAssertLessThan(after["peak.percentage"]!, 100)

        // FLUSHALL ASYNC: the keys are freed off the loop and counted as lazily freed objects.
        XCTAssertTrue(try eventually(timeoutMillis: 5000) { try self.infoMemory(self.client)["lazyfree_pending_objects"] == "0" })
        for command in mset { try run(command) }
        let freedBefore = Int(try infoMemory(client)["lazyfreed_objects"]!)!
        try run(["FLUSHALL", "ASYNC"])
        XCTAssertTrue(try eventually(timeoutMillis: 5000) {
            let info = try self.infoMemory(self.client)
            return info["lazyfree_pending_objects"] == "0" && Int(info["lazyfreed_objects"]!)! == freedBefore + 20_000
        }, "\((try? infoMemory(client)) ?? [:])")
    }

    /// With AOF on, its buffer is reported and is memory not counted for eviction.
    func testAOFBufferIsReported() throws {
        let dir = try TemporaryDirectory("memory-aof")
        let aofServer = try startNeedletail(dir: dir, ["--appendonly", "yes"])
        defer { aofServer.stop() }
        let c = try RawClient(port: aofServer.port)
        _ = try c.call("SET", "k", "v")
        let info = try infoMemory(c)
        XCTAssertGreaterThan(Int(info["mem_aof_buffer"] ?? "") ?? 0, 0, "\(info)")
        XCTAssertEqual(info["mem_not_counted_for_evict"], info["mem_aof_buffer"])
        XCTAssertEqual(try stats(c)["aof.buffer"], Double(info["mem_aof_buffer"]!))
    }

    /// Past 5 MB the doctor checks for issues: either none, or a report in Redis's frame.
    func testDoctorReportsOnAFilledServer() throws {
        for batch in 0..<100 { try run(["MSET"] + (0..<500).flatMap { ["key:\(batch * 500 + $0)", String(repeating: "v", count: 100)] }) }
        guard case .blob(_, let body?) = try RawReply.parse(client.call("MEMORY", "DOCTOR")) else { return XCTFail("MEMORY DOCTOR") }
        let text = String(decoding: body, as: UTF8.self)
        XCTAssertFalse(text.contains("this instance is empty"), text)
        XCTAssertTrue(text == "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
                      || (text.hasPrefix("Sam, I detected a few issues in this Redis instance memory implants:\n\n * ")
                          && text.hasSuffix(".\n\nI'm here to keep you safe, Sam. I want to help you.\n")), text)
    }

    /// redis-cli's --memkeys asks MEMORY USAGE of every key (it warns and reports 0 bytes when the command
    /// fails); --bigkeys asks STRLEN/LLEN/SCARD/ZCARD/HLEN. Both must see every type with a size.
    func testRedisCliMemkeysAndBigkeys() throws {
        let cli = "/usr/bin/redis-cli"
        guard access(cli, X_OK) == 0 else { throw XCTSkip("redis-cli is not installed") }
        try run(["SET", "s:short", "hello"])
        try run(["SET", "s:long", String(repeating: "v", count: 500)])
        try run(["RPUSH", "l:1"] + (0..<200).map { "item\($0)" })
        try run(["SADD", "set:ints"] + (0..<50).map { "\($0)" })
        try run(["SADD", "set:strs", "a", "b", "c"])
        try run(["HSET", "h:1"] + (0..<30).flatMap { ["f\($0)", "v\($0)"] })
        try run(["ZADD", "z:1", "1", "a", "2", "b"])
        for mode in ["--memkeys", "--bigkeys"] {
            let output = try runTool([cli, "-p", "\(server.port)", mode])
            let lines = output.split(separator: "\n").map(String.init)
            XCTAssertFalse(lines.contains { $0.contains("Warning") || $0.contains("ERR") || $0.contains("rror") },
                           "\(mode):\n\(output)")
            XCTAssertTrue(output.contains("Sampled 7 keys in the keyspace!"), "\(mode):\n\(output)")
            // "Biggest   list found '"l:1"' has 1234 bytes" (or items/members/fields): every type, non-zero.
            for type in ["string", "list", "set", "zset", "hash"] {
                guard let line = lines.first(where: { $0.hasPrefix("Biggest") && $0.contains(" \(type) found ") }) else {
                    XCTFail("\(mode): no biggest \(type):\n\(output)")
                    continue
                }
                let words = line.split(separator: " ")
                guard let has = words.firstIndex(of: "has"), has + 1 < words.count, let size = Int(words[has + 1]) else {
                    XCTFail("\(mode): \(line)")
                    continue
                }
                XCTAssertGreaterThan(size, 0, "\(mode): \(line)")
            }
            for type in ["lists", "hashs", "strings", "sets", "zsets"] {
                guard let line = lines.first(where: { $0.contains(" \(type) with ") }) else {
                    XCTFail("\(mode): no \(type) line:\n\(output)")
                    continue
                }
                XCTAssertFalse(line.contains(" with 0 "), "\(mode): \(line)")
            }
        }
    }

    /// Runs a tool to completion and returns its stdout and stderr.
    private func runTool(_ command: [String]) throws -> String {
        let path = "/tmp/needletail-memory-test-\(getpid()).out"
        defer { unlink(path) }
        let pid = try spawnServerProcess(command, output: path)
        var status: Int32 = 0
        let deadline = clockMillis() + 30_000
        while waitpid(pid, &status, WNOHANG) == 0 {
            if clockMillis() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                XCTFail("\(command) did not finish")
                break
            }
            usleep(10_000)
        }
        return rawTail(of: path, 1 << 20)
    }
}
