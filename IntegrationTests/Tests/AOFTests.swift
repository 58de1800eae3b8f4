import Glibc
import XCTest

/// The multi-part append-only file (Persistence/AppendOnlyFile*.swift) against redis-server 7.0: real
/// processes on free ports sharing a temporary `dir`, restarted, killed, and their files exchanged.
/// Until the RDB codec is merged, every server here runs with `aof-use-rdb-preamble no`.
final class AOFTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var dir: String { directory.path }

    override func setUpWithError() throws {
        guard ServerUnderTest.binaryPath() != nil else { throw XCTSkip("needletail-server is not built") }
        directory = try TemporaryDirectory("aof")
    }

    override func tearDown() { directory?.remove() }

    // MARK: - Tests

    /// Every type, TTLs, several databases, MULTI/EXEC and a rewrite in the middle survive a restart;
    /// redis-check-aof accepts the files.
    func testRestartKeepsEveryTypeAcrossDatabases() throws {
        let server = try needletail(["--appendfsync", "always"])
        let c = try RawClient(port: server.port)
        try writeDataset(c, prefix: "a")
        XCTAssertEqual(try c.call("BGREWRITEAOF"), Array("+Background append only file rewriting started\r\n".utf8))
        try writeDataset(c, prefix: "b")
        let info = String(decoding: try c.call("INFO", "persistence"), as: UTF8.self)
        XCTAssertTrue(info.contains("aof_enabled:1") && info.contains("aof_rewrites:1"), info)
        let before = try dump(c)
        server.stop()
        try assertCheckAOFAccepts()
        XCTAssertEqual(manifestLines().filter { $0.hasSuffix("type b") }, ["file appendonly.aof.2.base.aof seq 2 type b"])

        let again = try needletail()
        XCTAssertEqual(try dump(RawClient(port: again.port)), before)
        again.stop()
    }

    /// redis-server 7.0 loads what Needletail wrote, and Needletail loads what redis-server wrote (its
    /// incr file and, after its BGREWRITEAOF, its base).
    func testFilesAreInterchangeableWithRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let first = try needletail()
        try writeDataset(RawClient(port: first.port), prefix: "n")
        let written = try dump(RawClient(port: first.port))
        first.stop()

        let redis = try startOracle(dir: directory, aofArguments)
        let rc = try RawClient(port: redis.port)
        XCTAssertEqual(try dump(rc), written)
        try writeDataset(rc, prefix: "r")
        XCTAssertEqual(try rc.call("BGREWRITEAOF"), Array("+Background append only file rewriting started\r\n".utf8))
        guard try eventually(timeoutMillis: 10_000, {
            try rc.info("aof_rewrite_in_progress") == "0" && rc.info("aof_rewrite_scheduled") != "1"
        }) else { throw HarnessError("the rewrite did not finish") }
        try writeDataset(rc, prefix: "s")
        let redisDump = try dump(rc)
        redis.stop()

        let back = try needletail()
        XCTAssertEqual(try dump(RawClient(port: back.port)), redisDump)
        _ = try RawClient(port: back.port).call("SET", "after", "1")
        back.stop()
        try assertCheckAOFAccepts()
    }

    /// The incr file holds each write as redis-server 7.0 writes it, byte for byte: arguments of every
    /// length class (0, 1-9, 10-99, 100 and more bytes, counts of 1, 2 and 3 digits), inline requests (plain
    /// and quoted), binary bytes, and the SELECTs between databases.
    func testIncrFileBytesEqualRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        var requests: [[UInt8]] = []
        for length in [0, 1, 9, 10, 99, 100, 999, 1000, 70_000] {
            requests.append(RawClient.encode([Array("SET".utf8), Array("len\(length)".utf8), Array(repeating: 0x61, count: length)]))
        }
        requests.append(RawClient.encode([Array("rpush".utf8), Array("list".utf8)] + (0..<9).map { Array("\($0)".utf8) }))
        requests.append(RawClient.encode([Array("MSET".utf8)] + (0..<60).flatMap { [Array("m\($0)".utf8), [0, 13, 10, 255]] }))
        requests.append(Array("SET inline plain\r\n".utf8))
        requests.append(Array("SET \"quoted key\" 'single \\' quoted'\r\n".utf8))
        requests.append(RawClient.encode([Array("SELECT".utf8), Array("3".utf8)]))
        requests.append(RawClient.encode([Array("HSET".utf8), Array("h".utf8), Array("f".utf8), Array("v".utf8)]))
        requests.append(Array("INCR counter\n".utf8))
        requests.append(RawClient.encode([Array("SELECT".utf8), Array("12".utf8)]))
        requests.append(RawClient.encode([Array("SADD".utf8), Array("s".utf8), Array("x".utf8)]))

        func incrFile(of server: (port: Int, stop: () -> Void), directory: String) throws -> [UInt8] {
            let c = try RawClient(port: server.port)
            for request in requests {
                try c.send(request)
                _ = try c.readReply()
            }
            server.stop()
            return try XCTUnwrap(readFileBytes(directory + "/appendonlydir/appendonly.aof.1.incr.aof"))
        }
        let ours = try needletail()
        let written = try incrFile(of: (ours.port, { ours.stop() }), directory: dir)
        let redisDirectory = try TemporaryDirectory("aof-redis")
        defer { redisDirectory.remove() }
        let redis = try startOracle(dir: redisDirectory, aofArguments)
        let expected = try incrFile(of: (redis.port, { redis.stop() }), directory: redisDirectory.path)
        XCTAssertEqual(written.count, expected.count)
        XCTAssertTrue(written == expected, rawEscaped(written, limit: 600) + "\n---\n" + rawEscaped(expected, limit: 600))
    }

    /// A command cut off at the end of the last incr file: refused with aof-load-truncated no, cut away with
    /// yes (the file truncated to the last complete command, as Redis).
    func testTruncatedIncrFile() throws {
        let server = try needletail()
        _ = try RawClient(port: server.port).call("SET", "kept", "1")
        server.stop()
        let incr = dir + "/appendonlydir/appendonly.aof.1.incr.aof"
        let complete = try XCTUnwrap(readFileBytes(incr))
        let partial = Array("*3\r\n$3\r\nSET\r\n$4\r\nlost\r\n$5\r\nab".utf8)
        try writeFileBytes(incr, complete + partial)

        let refused = try needletailRefusingToStart(["--aof-load-truncated", "no"])
        XCTAssertEqual(refused.exitCode, 1, refused.log)
        XCTAssertTrue(refused.log.contains("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"), refused.log)
        XCTAssertEqual(readFileBytes(incr)?.count, complete.count + partial.count)

        let loaded = try needletail(["--aof-load-truncated", "yes"])
        let c = try RawClient(port: loaded.port)
        XCTAssertEqual(try c.call("GET", "kept"), Array("$1\r\n1\r\n".utf8))
        XCTAssertEqual(try c.call("EXISTS", "lost"), Array(":0\r\n".utf8))
        let log = loaded.logTail(20_000)
        XCTAssertTrue(log.contains("!!! Truncating the AOF appendonly.aof.1.incr.aof at offset \(complete.count) !!!"), log)
        loaded.stop()
        XCTAssertEqual(readFileBytes(incr)?.count, complete.count)
    }

    /// Garbage in an AOF file or in the manifest stops the start-up with Redis's message and exit code 1,
    /// never a crash.
    func testCorruptFilesExitCleanly() throws {
        try needletail().stop()
        let incr = dir + "/appendonlydir/appendonly.aof.1.incr.aof"
        try writeFileBytes(incr, XCTUnwrap(readFileBytes(incr)) + Array("this is not RESP\r\n".utf8))
        let garbage = try needletailRefusingToStart()
        XCTAssertEqual(garbage.exitCode, 1, garbage.log)
        XCTAssertTrue(garbage.log.contains("Bad file format reading the append only file appendonly.aof.1.incr.aof"), garbage.log)

        try writeFileBytes(dir + "/appendonlydir/appendonly.aof.manifest", Array("file x seq 1 type q\n".utf8))
        let manifest = try needletailRefusingToStart()
        XCTAssertEqual(manifest.exitCode, 1, manifest.log)
        XCTAssertTrue(manifest.log.contains("Unknown AOF file type"), manifest.log)
    }

    /// A pre-7.0 `appendonly.aof` in `dir` becomes the base of a new appendonlydir, as Redis 7.0 upgrades it.
    func testLegacySingleFileIsUpgraded() throws {
        try directory.write("appendonly.aof", RawClient.encode([Array("SET".utf8), Array("old".utf8), Array("v".utf8)]))
        let server = try needletail()
        XCTAssertEqual(try RawClient(port: server.port).call("GET", "old"), Array("$1\r\nv\r\n".utf8))
        let log = server.logTail(20_000)
        XCTAssertTrue(log.contains("Successfully migrated an old-style AOF"), log)
        server.stop()
        XCTAssertEqual(manifestLines(), ["file appendonly.aof seq 1 type b", "file appendonly.aof.1.incr.aof seq 1 type i"])
        XCTAssertFalse(directory.entries.contains("appendonly.aof"))
        try assertCheckAOFAccepts()
    }

    /// CONFIG SET appendonly yes on a running server writes the dataset as a base and appends from then on.
    func testConfigSetAppendonlyCreatesTheFiles() throws {
        let server = try startNeedletail(dir: directory, ["--appendonly", "no", "--aof-use-rdb-preamble", "no"])
        let c = try RawClient(port: server.port)
        try writeDataset(c, prefix: "before")
        XCTAssertEqual(try c.call("CONFIG", "SET", "appendonly", "yes"), Array("+OK\r\n".utf8))
        try writeDataset(c, prefix: "after")
        let expected = try dump(c)
        server.stop()
        XCTAssertEqual(manifestLines(), ["file appendonly.aof.1.base.aof seq 1 type b", "file appendonly.aof.1.incr.aof seq 1 type i"])
        try assertCheckAOFAccepts()
        let restarted = try needletail()
        XCTAssertEqual(try dump(RawClient(port: restarted.port)), expected)
        restarted.stop()
    }

    /// A transaction that turns the AOF off before EXEC leaves nothing behind for later: when the AOF is on
    /// again, its new base holds the current values, and the old transaction's write must not follow it into
    /// the incr file (replayed after the base, it would bring back the older value).
    func testAUnitWhoseAOFWasTurnedOffIsNotWrittenLater() throws {
        let server = try needletail(["--appendfsync", "always"])
        let c = try RawClient(port: server.port)
        XCTAssertEqual(try c.call("MULTI"), Array("+OK\r\n".utf8))
        for command in [["SET", "a", "1"], ["CONFIG", "SET", "appendonly", "no"]] {
            XCTAssertEqual(try c.call(command.map { Array($0.utf8) }), Array("+QUEUED\r\n".utf8))
        }
        XCTAssertEqual(try c.call("EXEC"), Array("*2\r\n+OK\r\n+OK\r\n".utf8))
        XCTAssertEqual(try c.call("SET", "a", "2"), Array("+OK\r\n".utf8))
        XCTAssertEqual(try c.call("CONFIG", "SET", "appendonly", "yes"), Array("+OK\r\n".utf8))
        guard try eventually(timeoutMillis: 10_000, {
            try c.info("aof_rewrite_in_progress") == "0" && c.info("aof_rewrite_scheduled") != "1"
        }) else { throw HarnessError("the rewrite did not finish") }
        XCTAssertEqual(try c.call("SET", "b", "1"), Array("+OK\r\n".utf8))
        server.stop()
        let restarted = try needletail()
        let r = try RawClient(port: restarted.port)
        XCTAssertEqual(try r.call("MGET", "a", "b"), Array("*2\r\n$1\r\n2\r\n$1\r\n1\r\n".utf8))
        restarted.stop()
    }

    /// INFO persistence lists redis-server's fields in its order, with the AOF on.
    func testInfoPersistenceFieldsMatchRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let server = try needletail()
        let ours = try RawClient(port: server.port).infoFieldNames()
        server.stop()
        removeTree(directory.file("appendonlydir"))
        let redis = try startOracle(dir: directory, aofArguments)
        XCTAssertEqual(ours, try RawClient(port: redis.port).infoFieldNames())
        redis.stop()
    }

    /// appendfsync always under a write load, then SIGKILL: every INCR whose reply a client received is in the
    /// data after the restart.
    func testKillNineLosesNoAcknowledgedWrite() throws {
        let server = try needletail(["--appendfsync", "always"])
        let writers = 4
        let acknowledged = Locked([Int](repeating: 0, count: writers + 1))
        let port = server.port
        runOnThreads(writers + 1) { i in
            if i == 0 {
                rawSleepMillis(700)
                server.kill9()
                return
            }
            guard let c = try? RawClient(port: port, timeoutMillis: 2000) else { return }
            while let value = Self.incr(c, "counter:\(i)") {
                acknowledged.with { $0[i] = value }
            }
        }
        server.removeLog()
        let acked = acknowledged.with { $0 }
        let stored = try storedCounters(writers)
        for i in 1...writers {
            XCTAssertGreaterThan(acked[i], 0)
            // At most the one INCR in flight when the server died may be there unacknowledged.
            XCTAssertTrue(stored[i] == acked[i] || stored[i] == acked[i] + 1,
                          "counter:\(i) acknowledged \(acked[i]), stored \(stored[i])")
        }
    }

    /// appendfsync everysec under the same load, for ~3 s, then SIGKILL: what a restart holds may lag
    /// behind, but never by an INCR acknowledged more than 2 s before the kill (Redis's bound: a second
    /// between fsyncs, and up to two when one is slow), and never by more than the one INCR in flight ahead.
    func testKillNineWithEverysecLosesAtMostTwoSeconds() throws {
        let server = try needletail(["--appendfsync", "everysec"])
        let writers = 4
        // Per writer, every acknowledged value with the monotonic time its reply arrived.
        let acknowledged = Locked([[(value: Int, at: Int64)]](repeating: [], count: writers + 1))
        let killedAt = Locked(Int64(0))
        let port = server.port
        runOnThreads(writers + 1) { i in
            if i == 0 {
                rawSleepMillis(3000)
                killedAt.with { $0 = clockMillis() }
                server.kill9()
                return
            }
            guard let c = try? RawClient(port: port, timeoutMillis: 2000) else { return }
            var mine: [(value: Int, at: Int64)] = []
            while let value = Self.incr(c, "counter:\(i)") { mine.append((value, clockMillis())) }
            acknowledged.with { $0[i] = mine }
        }
        server.removeLog()
        let acks = acknowledged.with { $0 }
        let kill = killedAt.with { $0 }
        let stored = try storedCounters(writers)
        var report: [String] = []
        for i in 1...writers {
            let durable = acks[i].last { $0.at <= kill - 2000 }?.value ?? 0
            let last = acks[i].last?.value ?? 0
            XCTAssertGreaterThan(durable, 0, "counter:\(i): no INCR acknowledged 2 s before the kill")
            XCTAssertGreaterThanOrEqual(stored[i], durable, "counter:\(i): lost an INCR acknowledged more than 2 s before the kill")
            XCTAssertLessThanOrEqual(stored[i], last + 1, "counter:\(i): acknowledged \(last), stored \(stored[i])")
            // How far back the loss reaches: the first acknowledged INCR missing after the restart.
            let lostSince = acks[i].first { $0.value > stored[i] }.map { "\(kill - $0.at) ms" } ?? "none"
            report.append("counter:\(i) acknowledged \(last) (\(durable) by kill-2s), stored \(stored[i]), lost since \(lostSince)")
        }
        print("AOFTests everysec: \(report.joined(separator: "; "))")
    }

    // MARK: - Data

    /// Every type, with TTLs, in databases 0, 3 and 9; containers above 64 items (several commands per key
    /// in a rewritten base); a transaction; deletions and overwrites.
    private func writeDataset(_ c: RawClient, prefix p: String) throws {
        var commands: [[String]] = [
            ["SELECT", "0"],
            ["SET", "\(p):s", "hello"], ["SET", "\(p):n", "12345"], ["SET", "\(p):bin", "a\r\nb\u{0}c"],
            ["SET", "\(p):ex", "v", "EX", "1000"], ["SET", "\(p):gone", "x"], ["DEL", "\(p):gone"],
            ["INCRBYFLOAT", "\(p):f", "1.25"], ["APPEND", "\(p):s", " world"],
            ["RPUSH", "\(p):l"] + (0..<150).map { "e\($0)" }, ["LPUSH", "\(p):l", "-1", "77"], ["LPOP", "\(p):l"],
            ["SADD", "\(p):iset", "1", "2", "3", "-5"], ["SADD", "\(p):set"] + (0..<100).map { "m\($0)" },
            ["ZADD", "\(p):z"] + (0..<130).flatMap { ["\(Double($0) / 3)", "z\($0)"] },
            ["ZADD", "\(p):zinf", "inf", "top", "-inf", "bottom", "0", "mid"],
            ["HSET", "\(p):h"] + (0..<70).flatMap { ["f\($0)", "v\($0)"] }, ["HSET", "\(p):small", "a", "1"],
            ["EXPIRE", "\(p):h", "5000"], ["PEXPIRE", "\(p):l", "900000"],
            ["SELECT", "3"], ["SET", "\(p):db3", "three"], ["ZADD", "\(p):z3", "1", "one"],
            ["MULTI"], ["INCR", "\(p):tx"], ["RPUSH", "\(p):txl", "a"], ["SET", "\(p):txs", "b", "PX", "600000"], ["EXEC"],
            ["SELECT", "9"], ["HSET", "\(p):h9", "k", "v"], ["SETEX", "\(p):e9", "100", "v"],
            ["SELECT", "0"],
        ]
        if p.hasPrefix("b") { commands.append(["FLUSHDB"]) }  // after the rewrite: db 0 emptied in the incr file
        for command in commands {
            let reply = try c.call(command.map { Array($0.utf8) })
            XCTAssertNotEqual(reply.first, UInt8(ascii: "-"), "\(command): \(String(decoding: reply, as: UTF8.self))")
        }
    }

    /// Every key of databases 0...15 with its type, value (sorted where order is not kept) and whether it
    /// has a time to live, as one comparable text.
    private func dump(_ c: RawClient) throws -> String {
        var out: [String] = []
        for db in 0..<16 {
            _ = try c.call("SELECT", "\(db)")
            for key in try strings(c.call("KEYS", "*")).sorted() {
                let type = String(decoding: try c.call("TYPE", key).dropFirst().dropLast(2), as: UTF8.self)
                var value: [String]
                switch type {
                case "string": value = try strings(c.call("GET", key))
                case "list": value = try strings(c.call("LRANGE", key, "0", "-1"))
                case "set": value = try strings(c.call("SMEMBERS", key)).sorted()
                case "zset": value = try strings(c.call("ZRANGE", key, "0", "-1", "WITHSCORES"))
                case "hash":
                    let flat = try strings(c.call("HGETALL", key))
                    value = stride(from: 0, to: flat.count, by: 2).map { flat[$0] + "=" + flat[$0 + 1] }.sorted()
                default: value = [type]
                }
                let ttl = try c.call("PTTL", key) == Array(":-1\r\n".utf8) ? "persist" : "volatile"
                out.append("\(db) \(key) \(type) \(ttl) \(value)")
            }
        }
        _ = try c.call("SELECT", "0")
        return out.joined(separator: "\n")
    }

    /// The bulk strings of a RESP2 reply (a bulk string or an array of them).
    private func strings(_ reply: [UInt8]) throws -> [String] {
        func text(_ r: RawReply) -> String? {
            if case .blob(_, let bytes?) = r { return String(decoding: bytes, as: UTF8.self) }
            return nil
        }
        let parsed = try RawReply.parse(reply)
        if case .aggregate(_, let elements?) = parsed { return elements.compactMap(text) }
        return text(parsed).map { [$0] } ?? []
    }

    // MARK: - Processes and files

    private var aofArguments: [String] { ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"] }

    private func needletail(_ extra: [String] = []) throws -> ServerUnderTest {
        try startNeedletail(dir: directory, aofArguments + extra)
    }

    /// Starts Needletail on the test's dir expecting it to refuse: its exit code (nil when it was still
    /// running after 10 s or died of a signal) and its log.
    private func needletailRefusingToStart(_ extra: [String] = []) throws -> (exitCode: Int32?, log: String) {
        let server = try ServerUnderTest.launch(extraArguments: ["--dir", dir] + aofArguments + extra)
        defer {
            server.stop()
            server.removeLog()
        }
        let status = server.waitForExit(timeoutMillis: 10_000)
        return (status.flatMap { exitedNormally($0) ? exitCode($0) : nil }, server.logTail(8000))
    }

    /// INCR `key`: the new value, nil once the server no longer answers.
    private static func incr(_ c: RawClient, _ key: String) -> Int? {
        guard let reply = try? RawReply.parse(c.call("INCR", key)), let value = reply.integer else { return nil }
        return Int(value)
    }

    /// After a kill: restarts Needletail on the files and reads counter:1...counter:`writers` (index 0 unused).
    private func storedCounters(_ writers: Int) throws -> [Int] {
        let restarted = try needletail()
        defer { restarted.stop() }
        let c = try RawClient(port: restarted.port)
        return try [0] + (1...writers).map { i in
            try bulkPayload(c.call("GET", "counter:\(i)")).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
        }
    }

    private func assertCheckAOFAccepts(file: StaticString = #filePath, line: UInt = #line) throws {
        let checker = "/usr/bin/redis-check-aof"
        guard access(checker, X_OK) == 0 else { throw XCTSkip("redis-check-aof is not installed") }
        let check = try runProgram([checker, dir + "/appendonlydir/appendonly.aof.manifest"])
        XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0, check.output, file: file, line: line)
        XCTAssertTrue(check.output.contains("All AOF files and manifest are valid"), check.output, file: file, line: line)
    }

    private func manifestLines() -> [String] {
        let text = String(decoding: readFileBytes(dir + "/appendonlydir/appendonly.aof.manifest") ?? [], as: UTF8.self)
        return text.split(separator: "\n").map(String.init)
    }
}
