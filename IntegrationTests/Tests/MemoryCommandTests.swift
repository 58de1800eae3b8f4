import Glibc
import XCTest

/// MEMORY USAGE and its siblings over TCP: the size reported for a key grows with its collection (every type
/// and encoding), a missing key is a null in both protocols, the errors and arity are redis-server's byte for
/// byte, and `redis-cli --memkeys` / `--bigkeys` run against needletail without a warning and report keys
/// of every type with non-zero sizes. (The sizes themselves are needletail's own, so they are not compared
/// with redis-server's.)
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
            ("intset", { lo, hi in ["SADD", "intset"] + (lo..<hi).map { "\($0)" } }),
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
