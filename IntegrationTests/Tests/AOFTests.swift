import Glibc
import XCTest

/// The multi-part append-only file (Persistence/AppendOnlyFile*.swift) against redis-server 7.0: real
/// processes on free ports sharing a temporary `dir`, restarted, killed, and their files exchanged.
/// Until the RDB codec is merged, every server here runs with `aof-use-rdb-preamble no`.
final class AOFTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        guard ServerUnderTest.binaryPath() != nil else { throw XCTSkip("needletail-server is not built") }
        var template = Array("/tmp/needletail-aof-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw HarnessError("mkdtemp: \(String(cString: strerror(errno)))") }
        dir = String(cString: template)
    }

    override func tearDown() {
        if !dir.isEmpty { _ = runTool(["/bin/rm", "-rf", dir]) }
    }

    // MARK: - Tests

    /// Every type, TTLs, several databases, MULTI/EXEC and a rewrite in the middle survive a restart;
    /// redis-check-aof accepts the files.
    func testRestartKeepsEveryTypeAcrossDatabases() throws {
        var server: AOFProcess? = try startNeedletail(["--appendfsync", "always"])
        let c = try server!.client()
        try writeDataset(c, prefix: "a")
        XCTAssertEqual(try c.call("BGREWRITEAOF"), Array("+Background append only file rewriting started\r\n".utf8))
        try writeDataset(c, prefix: "b")
        let info = String(decoding: try c.call("INFO", "persistence"), as: UTF8.self)
        XCTAssertTrue(info.contains("aof_enabled:1") && info.contains("aof_rewrites:1"), info)
        let before = try dump(c)
        server!.stop()
        server = nil
        try assertCheckAOFAccepts()
        XCTAssertEqual(manifestLines().filter { $0.hasSuffix("type b") }, ["file appendonly.aof.2.base.aof seq 2 type b"])

        let again = try startNeedletail()
        XCTAssertEqual(try dump(again.client()), before)
        again.stop()
    }

    /// redis-server 7.0 loads what Needletail wrote, and Needletail loads what redis-server wrote (its
    /// incr file and, after its BGREWRITEAOF, its base).
    func testFilesAreInterchangeableWithRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let needletail = try startNeedletail()
        try writeDataset(needletail.client(), prefix: "n")
        let written = try dump(needletail.client())
        needletail.stop()

        let redis = try AOFProcess(binary: RawRedisServer.path, dir: dir, arguments: aofArguments)
        let rc = try redis.client()
        XCTAssertEqual(try dump(rc), written)
        try writeDataset(rc, prefix: "r")
        XCTAssertEqual(try rc.call("BGREWRITEAOF"), Array("+Background append only file rewriting started\r\n".utf8))
        try waitForRewrite(rc)
        try writeDataset(rc, prefix: "s")
        let redisDump = try dump(rc)
        redis.stop()

        let back = try startNeedletail()
        XCTAssertEqual(try dump(back.client()), redisDump)
        _ = try back.client().call("SET", "after", "1")
        back.stop()
        try assertCheckAOFAccepts()
    }

    /// A command cut off at the end of the last incr file: refused with aof-load-truncated no, cut away with
    /// yes (the file truncated to the last complete command, as Redis).
    func testTruncatedIncrFile() throws {
        let server = try startNeedletail()
        _ = try server.client().call("SET", "kept", "1")
        server.stop()
        let incr = dir + "/appendonlydir/appendonly.aof.1.incr.aof"
        let complete = fileLength(incr)
        let partial = Array("*3\r\n$3\r\nSET\r\n$4\r\nlost\r\n$5\r\nab".utf8)
        appendBytes(incr, partial)

        let refused = runNeedletailToExit(aofArguments + ["--aof-load-truncated", "no"])
        XCTAssertEqual(refused.status, 1, refused.log)
        XCTAssertTrue(refused.log.contains("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"), refused.log)
        XCTAssertEqual(fileLength(incr), complete + partial.count)

        let loaded = try startNeedletail(["--aof-load-truncated", "yes"])
        XCTAssertEqual(try loaded.client().call("GET", "kept"), Array("$1\r\n1\r\n".utf8))
        XCTAssertEqual(try loaded.client().call("EXISTS", "lost"), Array(":0\r\n".utf8))
        XCTAssertTrue(loaded.log.contains("!!! Truncating the AOF appendonly.aof.1.incr.aof at offset \(complete) !!!"), loaded.log)
        loaded.stop()
        XCTAssertEqual(fileLength(incr), complete)
    }

    /// Garbage in an AOF file or in the manifest stops the start-up with Redis's message and exit code 1,
    /// never a crash.
    func testCorruptFilesExitCleanly() throws {
        try startNeedletail().stop()
        let incr = dir + "/appendonlydir/appendonly.aof.1.incr.aof"
        appendBytes(incr, Array("this is not RESP\r\n".utf8))
        let garbage = runNeedletailToExit(aofArguments)
        XCTAssertEqual(garbage.status, 1, garbage.log)
        XCTAssertTrue(garbage.log.contains("Bad file format reading the append only file appendonly.aof.1.incr.aof"), garbage.log)

        writeFile(dir + "/appendonlydir/appendonly.aof.manifest", Array("file x seq 1 type q\n".utf8))
        let manifest = runNeedletailToExit(aofArguments)
        XCTAssertEqual(manifest.status, 1, manifest.log)
        XCTAssertTrue(manifest.log.contains("Unknown AOF file type"), manifest.log)
    }

    /// A pre-7.0 `appendonly.aof` in `dir` becomes the base of a new appendonlydir, as Redis 7.0 upgrades it.
    func testLegacySingleFileIsUpgraded() throws {
        writeFile(dir + "/appendonly.aof", RawClient.encode([Array("SET".utf8), Array("old".utf8), Array("v".utf8)]))
        let server = try startNeedletail()
        XCTAssertEqual(try server.client().call("GET", "old"), Array("$1\r\nv\r\n".utf8))
        XCTAssertTrue(server.log.contains("Successfully migrated an old-style AOF"), server.log)
        server.stop()
        XCTAssertEqual(manifestLines(), ["file appendonly.aof seq 1 type b", "file appendonly.aof.1.incr.aof seq 1 type i"])
        XCTAssertFalse(access(dir + "/appendonly.aof", F_OK) == 0)
        try assertCheckAOFAccepts()
    }

    /// CONFIG SET appendonly yes on a running server writes the dataset as a base and appends from then on.
    func testConfigSetAppendonlyCreatesTheFiles() throws {
        let server = try AOFProcess(binary: ServerUnderTest.binaryPath()!, dir: dir,
                                    arguments: ["--appendonly", "no", "--aof-use-rdb-preamble", "no"])
        let c = try server.client()
        try writeDataset(c, prefix: "before")
        XCTAssertEqual(try c.call("CONFIG", "SET", "appendonly", "yes"), Array("+OK\r\n".utf8))
        try writeDataset(c, prefix: "after")
        let expected = try dump(c)
        server.stop()
        XCTAssertEqual(manifestLines(), ["file appendonly.aof.1.base.aof seq 1 type b", "file appendonly.aof.1.incr.aof seq 1 type i"])
        try assertCheckAOFAccepts()
        let restarted = try startNeedletail()
        XCTAssertEqual(try dump(restarted.client()), expected)
        restarted.stop()
    }

    /// INFO persistence lists redis-server's fields in its order, with the AOF on.
    func testInfoPersistenceFieldsMatchRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let needletail = try startNeedletail()
        let ours = infoFieldNames(try needletail.client().call("INFO", "persistence"))
        needletail.stop()
        _ = runTool(["/bin/rm", "-rf", dir + "/appendonlydir"])
        let redis = try AOFProcess(binary: RawRedisServer.path, dir: dir, arguments: aofArguments)
        XCTAssertEqual(ours, infoFieldNames(try redis.client().call("INFO", "persistence")))
        redis.stop()
    }

    /// appendfsync always under a write load, then SIGKILL: every INCR whose reply a client received is in the
    /// data after the restart.
    func testKillNineLosesNoAcknowledgedWrite() throws {
        let server = try startNeedletail(["--appendfsync", "always"])
        let writers = 4
        var acknowledged = [Int](repeating: 0, count: writers + 1)
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        defer { lock.deallocate() }
        let port = server.port
        let pid = server.pid
        runOnThreads(writers + 1) { i in
            if i == 0 {
                rawSleepMillis(700)
                kill(pid, SIGKILL)
                return
            }
            guard let c = try? RawClient(port: port, timeoutMillis: 2000) else { return }
            while true {
                guard let reply = try? c.call("INCR", "counter:\(i)"), reply.first == UInt8(ascii: ":") else { return }
                let value = Int(String(decoding: reply.dropFirst().prefix { $0 != 13 }, as: UTF8.self)) ?? 0
                pthread_mutex_lock(lock)
                acknowledged[i] = value
                pthread_mutex_unlock(lock)
            }
        }
        server.reap()
        let restarted = try startNeedletail()
        let c = try restarted.client()
        for i in 1...writers {
            let reply = try c.call("GET", "counter:\(i)")
            let text = String(decoding: reply, as: UTF8.self).split(separator: "\r\n")
            let stored = text.count > 1 ? Int(text[1]) ?? 0 : 0
            XCTAssertGreaterThan(acknowledged[i], 0)
            // At most the one INCR in flight when the server died may be there unacknowledged.
            XCTAssertTrue(stored == acknowledged[i] || stored == acknowledged[i] + 1,
                          "counter:\(i) acknowledged \(acknowledged[i]), stored \(stored)")
        }
        restarted.stop()
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
    private func strings(_ reply: [UInt8]) -> [String] {
        var result: [String] = []
        var i = 0
        func line() -> String {
            let start = i
            while i + 1 < reply.count && !(reply[i] == 13 && reply[i + 1] == 10) { i += 1 }
            defer { i += 2 }
            return String(decoding: reply[start..<i], as: UTF8.self)
        }
        while i < reply.count {
            let type = reply[i]
            i += 1
            let header = line()
            if type == UInt8(ascii: "$"), let n = Int(header), n >= 0 {
                result.append(String(decoding: reply[i..<i + n], as: UTF8.self))
                i += n + 2
            }
        }
        return result
    }

    private func infoFieldNames(_ reply: [UInt8]) -> [String] {
        String(decoding: reply, as: UTF8.self).split(separator: "\r\n").dropFirst()
            .filter { !$0.hasPrefix("#") && $0.contains(":") }.map { String($0.prefix { $0 != ":" }) }
    }

    // MARK: - Processes and files

    private var aofArguments: [String] { ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"] }

    private func startNeedletail(_ extra: [String] = []) throws -> AOFProcess {
        try AOFProcess(binary: ServerUnderTest.binaryPath()!, dir: dir, arguments: aofArguments + extra)
    }

    /// Starts Needletail on the test's dir expecting it to refuse: its exit status and log.
    private func runNeedletailToExit(_ arguments: [String]) -> (status: Int32, log: String) {
        let log = "\(dir).exit.log"
        defer { unlink(log) }
        let status = runTool([ServerUnderTest.binaryPath()!, "--port", "\(freeTCPPort())", "--save", "", "--dir", dir]
                             + arguments, output: log)
        return (status, rawTail(of: log, 8000))
    }

    private func waitForRewrite(_ c: RawClient) throws {
        let deadline = clockMillis() + 10_000
        while clockMillis() < deadline {
            let info = String(decoding: try c.call("INFO", "persistence"), as: UTF8.self)
            if info.contains("aof_rewrite_in_progress:0") && !info.contains("aof_rewrite_scheduled:1") { return }
            rawSleepMillis(20)
        }
        throw HarnessError("the rewrite did not finish")
    }

    private func assertCheckAOFAccepts(file: StaticString = #filePath, line: UInt = #line) throws {
        let checker = "/usr/bin/redis-check-aof"
        guard access(checker, X_OK) == 0 else { throw XCTSkip("redis-check-aof is not installed") }
        let log = "\(dir).check.log"
        defer { unlink(log) }
        let status = runTool([checker, dir + "/appendonlydir/appendonly.aof.manifest"], output: log)
        let output = rawTail(of: log, 4000)
        XCTAssertEqual(status, 0, output, file: file, line: line)
        XCTAssertTrue(output.contains("All AOF files and manifest are valid"), output, file: file, line: line)
    }

    private func manifestLines() -> [String] {
        let text = rawTail(of: dir + "/appendonlydir/appendonly.aof.manifest", 100_000)
        return text.split(separator: "\n").map(String.init)
    }

    private func fileLength(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : -1
    }

    private func appendBytes(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_APPEND)
        XCTAssertGreaterThanOrEqual(fd, 0, path)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
    }

    private func writeFile(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0, path)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
    }
}

/// Runs a program to its end: its exit status (128 + signal when killed).
@discardableResult
private func runTool(_ command: [String], output: String = "/dev/null") -> Int32 {
    guard let pid = try? spawnServerProcess(command, output: output) else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// A server process (Needletail or redis-server) on a free port with `--dir` set, stopped by PID.
private final class AOFProcess {
    let pid: pid_t
    let port: Int
    let logPath: String
    private var reaped = false

    init(binary: String, dir: String, arguments: [String]) throws {
        port = freeTCPPort()
        logPath = "\(dir).\(port).log"
        pid = try spawnServerProcess([binary, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--dir", dir]
                                     + arguments, output: logPath)
        let deadline = clockMillis() + 10_000
        while clockMillis() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                throw HarnessError("\(binary) exited at start: \(rawTail(of: logPath))")
            }
            if let c = try? RawClient(port: port, timeoutMillis: 2000), (try? c.call("PING")) == Array("+PONG\r\n".utf8) {
                return
            }
            rawSleepMillis(20)
        }
        stop()
        throw HarnessError("\(binary) did not start: \(rawTail(of: logPath))")
    }

    deinit {
        stop()
        unlink(logPath)
    }

    var log: String { rawTail(of: logPath, 20_000) }

    func client() throws -> RawClient { try RawClient(port: port) }

    /// SIGTERM (a clean shutdown: the AOF is flushed and fsynced), SIGKILL after 10 s.
    func stop() {
        if reaped { return }
        kill(pid, SIGTERM)
        let deadline = clockMillis() + 10_000
        var status: Int32 = 0
        while clockMillis() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                return
            }
            rawSleepMillis(10)
        }
        kill(pid, SIGKILL)
        reap()
    }

    /// Waits for a process that was killed.
    func reap() {
        if reaped { return }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        reaped = true
    }
}
