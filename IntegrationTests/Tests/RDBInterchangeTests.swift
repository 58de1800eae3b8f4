import Glibc
import TestSupport
import XCTest

/// dump.rdb interchange with redis-server 7.0 (the oracle), both directions:
///
/// - `testOracleAndNeedletailReadEachOthersFiles` (rdbcompression yes and no): one seeded dataset (all five
///   types in small and large encodings, far-future PEXPIREAT times, keys in several of the 16 databases,
///   binary keys with NUL and CRLF, values past 1 MB) written to both servers and SAVEd by both. Needletail
///   started on redis-server's file holds the same DEBUG DIGEST, DBSIZE per database, expiry times and OBJECT
///   ENCODING of every key; Needletail's file passes `redis-check-rdb` and redis-server started on it holds
///   the same.
/// - `testChecksumlessFileLoadsInOracle`: a file written with `rdbchecksum no` ends in eight zero bytes and
///   redis-server loads it.
/// - `testHandCraftedVersion9File`: an RDB v9 file with the forms redis-server 7.0 no longer writes (zipmap
///   and ziplist hashes, ziplist list and zset, quicklist v1, the linked-list and ZSET v1 forms, an intset)
///   loads in redis-server and in Needletail to the same digests and encodings.
final class RDBInterchangeTests: XCTestCase {
    private var processes: [() -> Void] = []
    private var directories: [TemporaryDirectory] = []

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
    }

    override func tearDown() {
        for stop in processes.reversed() { stop() }
        processes = []
        for d in directories { d.remove() }
        directories = []
    }

    private func directory(_ tag: String) throws -> TemporaryDirectory {
        let d = try TemporaryDirectory(tag)
        directories.append(d)
        return d
    }

    private func oracle(on dir: TemporaryDirectory, file: String = "dump.rdb") throws -> RawClient {
        let server = try RawRedisServer(extraArguments: ["--dir", dir.path, "--dbfilename", file])
        processes.append { server.stop() }
        return try RawClient(port: server.port, timeoutMillis: 60_000)
    }

    private func needletail(on dir: TemporaryDirectory, file: String = "dump.rdb", _ more: [String] = []) throws -> RawClient {
        let server = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled
            + ["--dir", dir.path, "--dbfilename", file] + more)
        processes.append { [weak self] in server.stop(keepLog: (self?.testRun?.totalFailureCount ?? 1) > 0) }
        return try RawClient(port: server.port, timeoutMillis: 60_000)
    }

    // MARK: - Both directions

    func testOracleAndNeedletailReadEachOthersFiles() throws {
        let dataset = InterchangeDataset(seed: 11)
        let redisDir = try directory("rdb-oracle"), ourDir = try directory("rdb-needletail")
        let writers = [try oracle(on: redisDir), try needletail(on: ourDir)]
        let replies = try writers.map { try $0.pipelined(dataset.commands) }
        for i in dataset.commands.indices where replies[0][i] != replies[1][i] {
            return XCTFail("\(rawEscaped(Array(dataset.commands[i].joined(separator: [32])), limit: 100)): redis "
                + "\(replyText(replies[0][i])), needletail \(replyText(replies[1][i]))")
        }
        let digest = try writers[0].call("DEBUG", "DIGEST")
        XCTAssertEqual(replyText(try writers[1].call("DEBUG", "DIGEST")), replyText(digest), "the dataset differs before saving")
        let reference = try snapshot(writers[0], dataset)

        for compression in ["yes", "no"] {
            for c in writers {
                XCTAssertEqual(replyText(try c.call("CONFIG", "SET", "rdbcompression", compression)), "+OK\r\n")
                XCTAssertEqual(replyText(try c.call("SAVE")), "+OK\r\n")
            }
            // redis-server's file in Needletail.
            let loadHere = try directory("rdb-load-needletail")
            try redisDir.copy("dump.rdb", to: loadHere, as: "dump.rdb")
            let loaded = try snapshot(try needletail(on: loadHere), dataset)
            compare(loaded, reference, "needletail on redis-server's file (rdbcompression \(compression))")

            // Needletail's file in redis-server, after redis-check-rdb.
            let check = try runProgram(["/usr/bin/redis-check-rdb", ourDir.file("dump.rdb")])
            XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0, "redis-check-rdb (rdbcompression \(compression)): \(check.output.suffix(1500))")
            XCTAssertTrue(check.output.contains("RDB looks OK"), check.output)
            let loadThere = try directory("rdb-load-oracle")
            try ourDir.copy("dump.rdb", to: loadThere, as: "dump.rdb")
            let theirs = try snapshot(try oracle(on: loadThere), dataset)
            compare(theirs, reference, "redis-server on needletail's file (rdbcompression \(compression))")

            let sizes = try [redisDir, ourDir].map { try $0.read("dump.rdb").count }
            print("RDBInterchangeTests: rdbcompression \(compression): dump.rdb of \(sizes[0]) bytes (redis-server), \(sizes[1]) (needletail)")
            for stop in processes.dropFirst(2) { stop() }
            processes.removeLast(processes.count - 2)
        }
    }

    /// Streams with consumer groups (StreamDataset) SAVEd by each server load in the other to exactly what
    /// the writer holds (XINFO STREAM FULL with its times, ranges, digests); Needletail's file passes
    /// redis-check-rdb.
    func testStreamsWithGroupsInterchange() throws {
        let redisDir = try directory("rdb-stream-oracle"), ourDir = try directory("rdb-stream-needletail")
        let writers = [try oracle(on: redisDir), try needletail(on: ourDir)]
        for (i, command) in StreamDataset.commands.enumerated() {
            let replies = try writers.map { try $0.call(command) }
            XCTAssertEqual(replyText(replies[1]), replyText(replies[0]), "command \(i)")
        }
        for c in writers { XCTAssertEqual(replyText(try c.call("SAVE")), "+OK\r\n") }
        let check = try runProgram(["/usr/bin/redis-check-rdb", ourDir.file("dump.rdb")])
        XCTAssertTrue(check.output.contains("RDB looks OK"), check.output)
        let loadHere = try directory("rdb-stream-load-needletail"), loadThere = try directory("rdb-stream-load-oracle")
        try redisDir.copy("dump.rdb", to: loadHere, as: "dump.rdb")
        try ourDir.copy("dump.rdb", to: loadThere, as: "dump.rdb")
        let readers = [try needletail(on: loadHere), try oracle(on: loadThere)]
        for key in StreamDataset.keys {
            for (writer, reader, name) in [(writers[0], readers[0], "redis-server's file in needletail"),
                                           (writers[1], readers[1], "needletail's file in redis-server")] {
                let want = try StreamDataset.holdings(writer, key), got = try StreamDataset.holdings(reader, key)
                for (a, b) in zip(got, want) { XCTAssertEqual(a, b, "\(name): \(key)") }
            }
        }
        XCTAssertEqual(replyText(try readers[0].call("DEBUG", "DIGEST")), replyText(try writers[0].call("DEBUG", "DIGEST")))
        XCTAssertEqual(replyText(try readers[1].call("DEBUG", "DIGEST")), replyText(try writers[1].call("DEBUG", "DIGEST")))
    }

    /// What one server holds, as the comparisons need it.
    private struct Holdings: Equatable {
        var digest = ""
        var sizes: [String] = []
        var expiry: [String] = []
        var encodings: [String] = []
        var valueDigests: [String] = []
    }

    private func snapshot(_ c: RawClient, _ dataset: InterchangeDataset) throws -> Holdings {
        var h = Holdings()
        h.digest = replyText(try c.call("DEBUG", "DIGEST"))
        for db in 0..<16 {
            _ = try c.call("SELECT", "\(db)")
            h.sizes.append("db\(db): \(replyText(try c.call("DBSIZE")))")
            let keys = dataset.keysByDatabase[db] ?? []
            let replies = try c.pipelined(keys.flatMap { key in
                [[Array("PEXPIRETIME".utf8), key], [Array("OBJECT".utf8), Array("ENCODING".utf8), key],
                 [Array("DEBUG".utf8), Array("DIGEST-VALUE".utf8), key]]
            })
            for (i, key) in keys.enumerated() {
                let name = "db\(db) \(rawEscaped(key, limit: 40))"
                h.expiry.append("\(name): \(replyText(replies[3 * i]))")
                h.encodings.append("\(name): \(replyText(replies[3 * i + 1]))")
                h.valueDigests.append("\(name): \(replyText(replies[3 * i + 2]))")
            }
        }
        _ = try c.call("SELECT", "0")
        return h
    }

    private func compare(_ got: Holdings, _ want: Holdings, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.digest, want.digest, "\(context): DEBUG DIGEST", file: file, line: line)
        XCTAssertNotEqual(want.digest, "+" + String(repeating: "0", count: 40) + "\r\n", "empty dataset", file: file, line: line)
        for (name, a, b) in [("DBSIZE", got.sizes, want.sizes), ("PEXPIRETIME", got.expiry, want.expiry),
                             ("OBJECT ENCODING", got.encodings, want.encodings), ("DIGEST-VALUE", got.valueDigests, want.valueDigests)] {
            let differing = zip(a, b).filter { $0 != $1 }.prefix(5).map { "\($0.0) (want \($0.1.split(separator: ":").last ?? ""))" }
            XCTAssertTrue(differing.isEmpty && a.count == b.count, "\(context): \(name): \(differing)", file: file, line: line)
        }
        XCTAssertTrue(want.expiry.contains { !$0.hasSuffix(":-1\r\n") }, "no key with a TTL", file: file, line: line)
    }

    // MARK: - rdbchecksum no

    func testChecksumlessFileLoadsInOracle() throws {
        let ourDir = try directory("rdb-nocrc")
        let ours = try needletail(on: ourDir, ["--rdbchecksum", "no"])
        let dataset = InterchangeDataset(seed: 5, small: true)
        _ = try ours.pipelined(dataset.commands)
        XCTAssertEqual(replyText(try ours.call("SAVE")), "+OK\r\n")
        let file = try ourDir.read("dump.rdb")
        XCTAssertEqual(Array(file.suffix(8)), [UInt8](repeating: 0, count: 8), "rdbchecksum no writes a zero checksum")
        XCTAssertEqual(file.dropLast(8).last, 0xFF, "EOF before the checksum")
        let check = try runProgram(["/usr/bin/redis-check-rdb", ourDir.file("dump.rdb")])
        XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0, check.output)
        let loadThere = try directory("rdb-nocrc-oracle")
        try ourDir.copy("dump.rdb", to: loadThere, as: "dump.rdb")
        compare(try snapshot(try oracle(on: loadThere), dataset), try snapshot(ours, dataset), "redis-server on a checksum-less file")
    }

    // MARK: - Old forms

    func testHandCraftedVersion9File() throws {
        let (file, keys) = Self.version9File()
        let dir = try directory("rdb-v9")
        try dir.write("old.rdb", file)
        let copy = try directory("rdb-v9-copy")
        try copy.write("old.rdb", file)
        let sides = [try oracle(on: dir, file: "old.rdb"), try needletail(on: copy, file: "old.rdb")]
        var dataset = InterchangeDataset(seed: 0, small: true)
        dataset.keysByDatabase = keys
        let held = try sides.map { try snapshot($0, dataset) }
        compare(held[1], held[0], "a hand-made RDB v9 file")
        XCTAssertEqual(held[0].sizes[0], "db0: :\(keys[0]!.count)\r\n", "redis-server loaded every key of db 0")
        XCTAssertFalse(held[0].valueDigests.contains { $0.hasSuffix(String(repeating: "0", count: 40) + "\r\n") })
        // The loaded values read alike too.
        for command in [words("HGETALL", "zipmap"), words("LRANGE", "quicklist1", "0", "-1"), words("ZRANGE", "zset1", "0", "-1", "WITHSCORES"),
                        words("HGETALL", "ziplisthash"), words("SMEMBERS", "intset"), words("LRANGE", "ziplistlist", "0", "-1")] {
            let replies = try sides.map { try $0.call(command) }
            XCTAssertEqual(replyText(replies[1]), replyText(replies[0]), "\(command.map { replyText($0) })")
        }
    }

    /// A v9 file of the forms redis-server 7.0 reads but no longer writes, and its keys per database.
    static func version9File() -> ([UInt8], [Int: [[UInt8]]]) {
        var body: [UInt8] = [0xFA] + rdbString("redis-ver") + rdbString("5.0.7")
        var keys: [Int: [[UInt8]]] = [:]
        func entry(_ db: Int, _ type: UInt8, _ key: String, _ value: [UInt8], expireAt: UInt64? = nil) {
            if let at = expireAt { body += [0xFC] + littleEndianBytes(at) }
            body += [type] + rdbString(key) + value
            keys[db, default: []].append(Array(key.utf8))
        }
        body += [0xFE, 0]
        entry(0, 9, "zipmap", rdbString(zipmap([("name", "needletail"), ("n", "12"), ("", "empty field")])))
        entry(0, 13, "ziplisthash", rdbString(ziplist([.text("a"), .integer(7), .text("b"), .integer(-300),
                                                        .text("c"), .integer(5_000_000_000), .integer(12), .text("")])),
              expireAt: 4_100_000_000_000)
        entry(0, 10, "ziplistlist", rdbString(ziplist([.text("x"), .integer(0), .integer(1000), .text(String(repeating: "y", count: 63))])))
        entry(0, 14, "quicklist1", [2] + rdbString(ziplist([.text("first"), .integer(1)])) + rdbString(ziplist([.integer(2), .text("last")])))
        entry(0, 12, "zset1", rdbString(ziplist([.text("m3"), .text("-inf"), .text("m1"), .integer(1), .text("m2"), .text("2.5")])))
        entry(0, 11, "intset", rdbString(intset([-5, 3, 70000], width: 4)))
        entry(0, 1, "linkedlist", [3] + rdbString("one") + rdbString("2") + rdbString("three"))
        entry(0, 3, "zsetv1", [2] + rdbString("a") + [3] + Array("1.5".utf8) + rdbString("b") + [254])
        entry(0, 0, "plain", rdbString("a string"))
        body += [0xFE, 7]
        entry(7, 11, "intset64", rdbString(intset([1, -9_000_000_000, 9_000_000_000], width: 8)))
        entry(7, 4, "hash", [1] + rdbString("f") + rdbString("v"))
        return (sealedRDBFile(version: 9, body), keys)
    }

    private static func rdbString(_ s: String) -> [UInt8] { rdbString(Array(s.utf8)) }

    private static func rdbString(_ b: [UInt8]) -> [UInt8] {
        precondition(b.count < 16384)
        return (b.count < 64 ? [UInt8(b.count)] : [0x40 | UInt8(b.count >> 8), UInt8(b.count & 0xFF)]) + b
    }

    private enum ZiplistEntry {
        case text(String)
        case integer(Int64)
    }

    /// A ziplist (the pre-7.0 packed form): zlbytes, zltail, zllen, entries (previous entry's length,
    /// encoding, data), 0xFF. Strings up to 63 bytes; integers as 4-bit immediates, int16, int32 or int64.
    private static func ziplist(_ entries: [ZiplistEntry]) -> [UInt8] {
        var content: [UInt8] = []
        var previous = 0, tail = 10
        for e in entries {
            var encoded: [UInt8]
            switch e {
            case .text(let s):
                precondition(s.utf8.count < 64)
                encoded = [UInt8(s.utf8.count)] + Array(s.utf8)
            case .integer(let v) where (0...12).contains(v): encoded = [0xF1 + UInt8(v)]
            case .integer(let v) where Int64(Int16.min)...Int64(Int16.max) ~= v:
                encoded = [0xC0] + littleEndianBytes(UInt64(bitPattern: v), 2)
            case .integer(let v) where Int64(Int32.min)...Int64(Int32.max) ~= v:
                encoded = [0xD0] + littleEndianBytes(UInt64(bitPattern: v), 4)
            case .integer(let v): encoded = [0xE0] + littleEndianBytes(UInt64(bitPattern: v), 8)
            }
            precondition(previous < 254)
            let node = [UInt8(previous)] + encoded
            tail = 10 + content.count
            content += node
            previous = node.count
        }
        let total = 10 + content.count + 1
        return littleEndianBytes(UInt64(total), 4) + littleEndianBytes(UInt64(tail), 4)
            + littleEndianBytes(UInt64(entries.count), 2) + content + [0xFF]
    }

    /// A zipmap (the pre-2.6 hash form): count, then length-prefixed key and value (with a free byte), 0xFF.
    private static func zipmap(_ pairs: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = [UInt8(pairs.count)]
        for (k, v) in pairs { out += [UInt8(k.utf8.count)] + Array(k.utf8) + [UInt8(v.utf8.count), 0] + Array(v.utf8) }
        return out + [0xFF]
    }

    private static func intset(_ values: [Int64], width: Int) -> [UInt8] {
        littleEndianBytes(UInt64(width), 4) + littleEndianBytes(UInt64(values.count), 4)
            + values.sorted().flatMap { littleEndianBytes(UInt64(bitPattern: $0), width) }
    }
}

/// The commands that build one seeded dataset for the file tests, and its keys per database.
struct InterchangeDataset {
    var commands: [[[UInt8]]] = []
    var keysByDatabase: [Int: [[UInt8]]] = [:]
    private var rng: SeededRandom
    private var database = 0

    init(seed: UInt64, small: Bool = false) {
        rng = SeededRandom(seed: seed &* 31 &+ 101)
        let databases = small ? [0, 9] : [0, 1, 5, 15] + [2 + rng.below(3)]
        for db in Set(databases).sorted() {
            database = db
            add(words("SELECT", "\(db)"))
            for kind in 0..<(small ? 10 : 20) { addKey(kind % 10) }
        }
        if !small {
            database = 0
            add(words("SELECT", "0"))
            // Values past 1 MB: a string, a list element (a node of its own) and a hash value.
            var big = DumpCase.bytes(1_200_000, seed: seed)
            for i in stride(from: 0, to: big.count, by: 3) { big[i] = 0x41 }  // partly compressible
            add([Array("SET".utf8), newKey()] + [big])
            add([Array("RPUSH".utf8), newKey(), Array("a".utf8), big, Array("b".utf8)])
            add([Array("HSET".utf8), newKey(), Array("f".utf8), big])
            add([Array("SET".utf8), newKey(), Array(repeating: 0x61, count: 1_500_000)])
        }
        add(words("SELECT", "0"))
    }

    private mutating func add(_ command: [[UInt8]]) { commands.append(command) }

    /// A key not used yet in the current database: plain, or binary with NUL and CRLF.
    private mutating func newKey() -> [UInt8] {
        var key: [UInt8]
        repeat {
            switch rng.below(4) {
            case 0: key = [0, 13, 10] + Array("bin\(rng.below(10_000))".utf8) + [0]
            case 1: key = DumpCase.bytes(rng.between(1, 12), seed: rng.next())
            default: key = Array("key:\(rng.below(1_000_000))".utf8)
            }
        } while keysByDatabase[database, default: []].contains(key)
        keysByDatabase[database, default: []].append(key)
        return key
    }

    private mutating func addKey(_ kind: Int) {
        let key = newKey()
        let large = kind >= 5
        func push(_ command: String, _ items: [[UInt8]]) {
            for start in stride(from: 0, to: items.count, by: 200) {
                add([Array(command.utf8), key] + items[start..<min(start + 200, items.count)])
            }
        }
        switch kind % 5 {
        case 0:
            add([Array("SET".utf8), key, large ? DumpCase.bytes(rng.between(100, 5000), seed: rng.next()) : element()])
        case 1:
            push(rng.oneIn(2) ? "RPUSH" : "LPUSH", DumpCase.listElements(large ? rng.between(300, 1500) : rng.between(1, 20), seed: rng.next()))
        case 2:
            let integers = rng.oneIn(2)
            push("SADD", (0..<(large ? rng.between(513, 800) : rng.between(1, 30))).map { i in
                integers ? Array("\(i * 37 - 5000)".utf8) : Array("s\(i)".utf8) + (rng.oneIn(5) ? [0, 13, 10] : [])
            })
        case 3:
            push("ZADD", (0..<(large ? rng.between(129, 400) : rng.between(1, 50))).flatMap { i -> [[UInt8]] in
                [Array(rng.pick(["\(i)", "\(Double(i) / 7)", "inf", "-inf", "1e300", "-0", "0.1"]).utf8), Array("z\(i)".utf8)]
            })
        default:
            push("HSET", (0..<(large ? rng.between(129, 400) : rng.between(1, 50))).flatMap { i -> [[UInt8]] in
                [Array("f\(i)".utf8), rng.oneIn(10) && large ? Array(repeating: 0x76, count: 100) : element()]
            })
        }
        if rng.oneIn(3) {
            add([Array("PEXPIREAT".utf8), key, Array("\(4_000_000_000_000 + rng.below(1_000_000_000))".utf8)])
        }
    }

    private mutating func element() -> [UInt8] {
        switch rng.below(4) {
        case 0: return Array("\(rng.between(-100_000, 100_000))".utf8)
        case 1: return Array("\(Int64(bitPattern: rng.next()))".utf8)
        case 2: return DumpCase.bytes(rng.between(0, 10), seed: rng.next())
        default: return Array("v\(rng.below(1000))".utf8)
        }
    }
}
