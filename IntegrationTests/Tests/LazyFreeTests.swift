import Glibc
import XCTest

/// The lazyfree handoff through the real server: big sorted sets, sets and hashes (more members than
/// LazyFree.threshold) leave the keyspace by every path that hands them to the background thread (DEL,
/// UNLINK, overwrite by SET, RENAME and a STORE command, expiry on access and by the active cycle, FLUSHDB,
/// FLUSHALL) while copies made from them stay and are read on the loop. Functionally a smoke test; its main use is under
/// `scripts/sanitize.sh thread|address`, where it puts the worker's frees next to the loop's work in a
/// sanitized server.
final class LazyFreeTests: XCTestCase {
    static let members = 200  // > LazyFree.threshold (64): freed on the worker
    static let sets = 21  // three of each of the seven ways out below

    /// Member names longer than an inline ByteString, so they live on the heap (and copies may share them).
    static func member(_ j: Int) -> String { "member-\(1000 + j)-long-enough-for-the-heap" }

    /// The commands of one type the test is run with.
    private struct Kind {
        var add: (String) -> [String]        // fills a key with `members` members
        var store: (String, String) -> [String]  // destination, source: a STORE command copying the source
        var card: (String) -> [String]
        var read: (String) -> [String]       // a read answering `firstThree` for a full key
        var firstThree: RESPValue
    }

    func testBigSortedSetsFreedOffTheLoopLeaveTheRestIntact() throws {
        let zadd = (0..<Self.members).flatMap { j in ["\(j)", Self.member(j)] }
        try run(Kind(add: { ["ZADD", $0] + zadd }, store: { ["ZUNIONSTORE", $0, "1", $1] }, card: { ["ZCARD", $0] },
                     read: { ["ZRANGE", $0, "0", "2"] },
                     firstThree: .array((0..<3).map { .bulk(Array(Self.member($0).utf8)) })))
    }

    /// Sets held in a HashTable (200 members of more than 22 bytes): the set object releases its table by
    /// hand (SetValue's tagged word), here on the worker.
    func testBigSetsFreedOffTheLoopLeaveTheRestIntact() throws {
        let members = (0..<Self.members).map { Self.member($0) }
        try run(Kind(add: { ["SADD", $0] + members }, store: { ["SUNIONSTORE", $0, $1] }, card: { ["SCARD", $0] },
                     read: { ["SMISMEMBER", $0, Self.member(0), Self.member(1), "absent"] },
                     firstThree: .array([.integer(1), .integer(1), .integer(0)])))
    }

    private func run(_ kind: Kind) throws {
        let server = try ServerUnderTest.start()
        var passed = false
        defer { server.stop(keepLog: !passed) }
        let client = try WireSocket(port: server.port, timeoutMillis: 60_000)
        let firstThree = kind.firstThree

        for round in 0..<3 {
            var setup: [[String]] = []
            for i in 0..<Self.sets {
                setup.append(["DEL", "src:\(i)"])  // what the last round left there: a string, a set, nothing
                setup.append(kind.add("src:\(i)"))
                setup.append(kind.store("keep:\(i)", "src:\(i)"))  // replaces the last round's
                setup.append(["COPY", "src:\(i)", "copy:\(i)", "REPLACE"])
            }
            for (n, reply) in try pipeline(client, setup).enumerated() where n % 4 != 0 {
                XCTAssertEqual(reply, n % 4 == 3 ? .integer(1) : .integer(Int64(Self.members)), "round \(round), setup \(n)")
            }

            var away: [[String]] = []
            for i in 0..<Self.sets {
                switch i % 7 {
                case 0: away.append(["DEL", "src:\(i)"])
                case 1: away.append(["UNLINK", "src:\(i)"])
                case 2: away.append(["SET", "src:\(i)", "now a string"])
                case 3: away.append(["RENAME", "copy:\(i)", "src:\(i)"])  // the old src:i goes
                case 4: away.append(kind.store("src:\(i)", "keep:\(i)"))  // likewise
                case 5: away.append(["PEXPIRE", "src:\(i)", "1"])  // reclaimed when GET meets it below
                default: away.append(["PEXPIRE", "src:\(i)", "1"])  // left to the active expire cycle
                }
                away.append(kind.card("keep:\(i)"))
                away.append(kind.read("keep:\(i)"))
            }
            for (n, reply) in try pipeline(client, away).enumerated() where n % 3 != 0 {
                XCTAssertEqual(reply, n % 3 == 1 ? .integer(Int64(Self.members)) : firstThree, "round \(round), reply \(n)")
            }

            usleep(300_000)  // several cron periods (hz 10): the active cycle takes the i % 7 == 6 sets
            var check: [[String]] = []
            for i in 0..<Self.sets where i % 7 == 5 { check.append(["GET", "src:\(i)"]) }
            for i in 0..<Self.sets where i % 7 == 6 { check.append(["EXISTS", "src:\(i)"]) }
            for reply in try pipeline(client, check) where reply != .null && reply != .integer(0) {
                XCTFail("round \(round): an expired set is still there: \(reply)")
            }
        }

        // Whole tables: FLUSHDB in database 1, then FLUSHALL (both sync and async forms).
        var flush: [[String]] = [["SELECT", "1"]]
        for i in 0..<Self.sets { flush.append(kind.add("db1:\(i)")) }
        flush += [["FLUSHDB", "ASYNC"], ["DBSIZE"], ["SELECT", "0"], ["FLUSHALL"], ["DBSIZE"]]
        for i in 0..<Self.sets { flush.append(kind.add("again:\(i)")) }
        flush += [["FLUSHALL", "ASYNC"], ["DBSIZE"], ["PING"]]
        let replies = try pipeline(client, flush)
        XCTAssertEqual(replies.suffix(3), [.simple("OK"), .integer(0), .simple("PONG")])
        XCTAssertEqual(replies[Self.sets + 1 ..< Self.sets + 6],
                       [.simple("OK"), .integer(0), .simple("OK"), .simple("OK"), .integer(0)])
        XCTAssertTrue(server.isRunning, "needletail died; log: \(server.logTail())")
        passed = testRun?.hasSucceeded ?? false
    }

    /// Big hashes (hashtable-encoded: values longer than hash-max-listpack-value) leave by DEL, UNLINK,
    /// overwrite, RENAME, expiry on access and by the cycle, and FLUSHALL ASYNC, while their copies stay.
    func testBigHashesFreedOffTheLoopLeaveTheRestIntact() throws {
        let server = try ServerUnderTest.start()
        var passed = false
        defer { server.stop(keepLog: !passed) }
        let client = try WireSocket(port: server.port, timeoutMillis: 60_000)
        let value = String(repeating: "v", count: 80)  // > 64 bytes: the hash is a table
        let hset = (0..<Self.members).flatMap { j in [Self.member(j), value] }
        let probe = RESPValue.bulk(Array(value.utf8))
        for round in 0..<3 {
            var setup: [[String]] = []
            for i in 0..<Self.sets {
                setup.append(["DEL", "hsrc:\(i)"])
                setup.append(["HSET", "hsrc:\(i)"] + hset)
                setup.append(["COPY", "hsrc:\(i)", "hcopy:\(i)", "REPLACE"])
                setup.append(["COPY", "hsrc:\(i)", "hkeep:\(i)", "REPLACE"])
            }
            for (n, reply) in try pipeline(client, setup).enumerated() where n % 4 != 0 {
                XCTAssertEqual(reply, n % 4 == 1 ? .integer(Int64(Self.members)) : .integer(1), "round \(round), setup \(n)")
            }
            var away: [[String]] = []
            for i in 0..<Self.sets {
                switch i % 6 {
                case 0: away.append(["DEL", "hsrc:\(i)"])
                case 1: away.append(["UNLINK", "hsrc:\(i)"])
                case 2: away.append(["SET", "hsrc:\(i)", "now a string"])
                case 3: away.append(["RENAME", "hcopy:\(i)", "hsrc:\(i)"])
                default: away.append(["PEXPIRE", "hsrc:\(i)", "1"])  // i % 6 == 4 is reclaimed by HLEN below
                }
                away.append(["HLEN", "hkeep:\(i)"])
                away.append(["HGET", "hkeep:\(i)", Self.member(7)])
            }
            for (n, reply) in try pipeline(client, away).enumerated() where n % 3 != 0 {
                XCTAssertEqual(reply, n % 3 == 1 ? .integer(Int64(Self.members)) : probe, "round \(round), reply \(n)")
            }
            usleep(300_000)
            var check: [[String]] = []
            for i in 0..<Self.sets where i % 6 >= 4 { check.append(["HLEN", "hsrc:\(i)"]) }
            for reply in try pipeline(client, check) where reply != .integer(0) {
                XCTFail("round \(round): an expired hash is still there: \(reply)")
            }
        }
        let replies = try pipeline(client, [["FLUSHALL", "ASYNC"], ["DBSIZE"], ["PING"]])
        XCTAssertEqual(replies, [.simple("OK"), .integer(0), .simple("PONG")])
        XCTAssertTrue(server.isRunning, "needletail died; log: \(server.logTail())")
        passed = testRun?.hasSucceeded ?? false
    }

    /// Sends every command at once and reads their replies in order.
    private func pipeline(_ client: WireSocket, _ commands: [[String]]) throws -> [RESPValue] {
        try client.send(commands.flatMap { multibulkRequest($0.map { Array($0.utf8) }) })
        return try commands.map { _ in try client.readReply().value }
    }
}

private extension RESPValue {
    var isError: Bool { if case .error = self { return true } else { return false } }
}
