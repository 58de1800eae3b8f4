import XCTest
@testable import Needletail

/// The hash commands through the server's call path: what they propagate and count as changes, and the
/// keyspace lifecycle (created by a write, deleted when emptied). Replies are checked against redis-server
/// by the differential test; these check what a client cannot see.
final class HashCommandTests: XCTestCase {
    private final class Recorder: PropagationSink {
        var units: [[PropagatedCommand]] = []
        func propagate(_ commands: [PropagatedCommand]) { units.append(commands) }
    }

    private var process: InProcessServer!
    private var server: Server { process.server }
    private var client: Client { process.client }
    private let recorder = Recorder()

    override func setUpWithError() throws {
        process = try InProcessServer()
        server.propagationSink = recorder
    }

    @discardableResult
    private func run(_ words: String...) -> String { process.run(words) }

    private var propagated: [[String]] {
        recorder.units.flatMap { $0 }.map { $0.argv.map(\.string) }
    }

    func testHincrbyfloatPropagatesAsHset() {
        XCTAssertEqual(run("HINCRBYFLOAT", "h", "f", "1.5"), "$3\r\n1.5\r\n")
        XCTAssertEqual(run("HINCRBYFLOAT", "h", "f", "0.1"), "$3\r\n1.6\r\n")
        XCTAssertEqual(propagated, [["HSET", "h", "f", "1.5"], ["HSET", "h", "f", "1.6"]])
    }

    func testWritesPropagateAsReceivedAndOnlyWhenSomethingChanged() {
        run("HSET", "h", "a", "1", "b", "2")
        run("HSETNX", "h", "a", "9")       // nothing changes: not propagated
        run("HDEL", "h", "zz")             // nothing removed: not propagated
        run("HINCRBY", "h", "a", "5")
        run("HMSET", "h", "c", "3")
        XCTAssertEqual(propagated, [["HSET", "h", "a", "1", "b", "2"], ["HINCRBY", "h", "a", "5"], ["HMSET", "h", "c", "3"]])
    }

    func testDirtyCountsAsRedis() {
        let events = server.databases[0].events
        var before = events.dirty
        run("HSET", "h", "a", "1", "b", "2", "a", "3")   // every pair counts, new or not
        XCTAssertEqual(events.dirty - before, 3)
        before = events.dirty
        run("HDEL", "h", "a", "b", "nope")               // the fields removed; the emptied key adds nothing
        XCTAssertEqual(events.dirty - before, 2)
        XCTAssertEqual(run("EXISTS", "h"), ":0\r\n")
    }

    func testErrorsLeaveNoEmptyHash() {
        XCTAssertEqual(run("HINCRBY", "h", "f", "x"), "-ERR value is not an integer or out of range\r\n")
        XCTAssertEqual(run("HINCRBYFLOAT", "h", "f", "nan"), "-ERR value is not a valid float\r\n")
        XCTAssertEqual(run("HSET", "h", "f"), "-ERR wrong number of arguments for 'hset' command\r\n")
        XCTAssertEqual(run("EXISTS", "h"), ":0\r\n")
        XCTAssertTrue(propagated.isEmpty)
    }

    func testConversionFollowsConfigSet() {
        run("HSET", "h", "a", "1", "b", "2", "c", "3")
        XCTAssertEqual(run("OBJECT", "ENCODING", "h"), "$8\r\nlistpack\r\n")
        run("CONFIG", "SET", "hash-max-listpack-entries", "3")
        run("HSET", "h", "a", "2")
        XCTAssertEqual(run("OBJECT", "ENCODING", "h"), "$8\r\nlistpack\r\n")
        run("HSET", "h", "d", "4")
        XCTAssertEqual(run("OBJECT", "ENCODING", "h"), "$9\r\nhashtable\r\n")
        run("CONFIG", "SET", "hash-max-listpack-entries", "512")
        run("HDEL", "h", "a", "b", "c")
        XCTAssertEqual(run("OBJECT", "ENCODING", "h"), "$9\r\nhashtable\r\n", "never converts back")
        XCTAssertEqual(run("COPY", "h", "h2"), ":1\r\n")
        XCTAssertEqual(run("OBJECT", "ENCODING", "h2"), "$9\r\nhashtable\r\n", "COPY keeps the encoding")
        XCTAssertEqual(run("HGETALL", "h2"), "*2\r\n$1\r\nd\r\n$1\r\n4\r\n")
    }
}
