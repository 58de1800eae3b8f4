import XCTest
@testable import Needletail

/// What the set commands tell the rest of the server, which the differential test cannot see: what they
/// propagate (checked against redis-server 7.0.15's AOF), the keyspace notifications in Redis's order, and
/// the dirty counter. Commands run in-process on an internal client; replies are compared with
/// redis-server by the differential cases (IntegrationTests/Corpus/notes-sets-*.txt).
final class SetCommandTests: XCTestCase {
    private final class Recorder: PropagationSink, KeyspaceListener {
        var propagated: [[String]] = []
        var events: [String] = []
        func propagate(_ commands: [PropagatedCommand]) {
            propagated += commands.map { $0.argv.map(\.string) }
        }
        func keyChanged(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, event: KeyspaceEvent) {
            if !event.isNone { events.append("\(event.nameString) \(String(decoding: key, as: UTF8.self))") }
        }
        func databaseWillFlush(_ db: Int) {}
        func databasesWillSwap(_ first: Int, _ second: Int) {}
    }

    private var server: Server!
    private var client: Client!
    private let recorder = Recorder()

    override func setUp() {
        super.setUp()
        server = try! Server(config: Config())
        server.propagationSink = recorder
        server.keyspaceObserver = recorder
        client = server.makeInternalClient()
        client.replySink = .capture
    }

    @discardableResult
    private func run(_ words: String...) -> String {
        let reply = server.run(words.map { ByteString($0) }, on: client) ?? []
        return String(decoding: reply, as: UTF8.self)
    }

    private func take() -> (propagated: [[String]], events: [String]) {
        defer {
            recorder.propagated = []
            recorder.events = []
        }
        return (recorder.propagated, recorder.events)
    }

    func testSpopPropagatesAsSremOrDel() {
        run("SADD", "s", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
        _ = take()
        let dirty = server.dirty

        // One member: SREM key member.
        let one = run("SPOP", "s")
        var (propagated, events) = take()
        XCTAssertEqual(propagated.count, 1)
        XCTAssertEqual(propagated[0].prefix(2), ["SREM", "s"])
        XCTAssertTrue(one.contains(propagated[0][2]))
        XCTAssertEqual(events, ["spop s"])
        XCTAssertEqual(server.dirty, dirty + 1)

        // A few (CASE 2) and most (CASE 3): one SREM per member, in MULTI/EXEC, the SPOP itself not.
        for count in [2, 6] {
            let before = server.dirty
            run("SPOP", "s", String(count))
            (propagated, events) = take()
            XCTAssertEqual(propagated.first, ["MULTI"])
            XCTAssertEqual(propagated.last, ["EXEC"])
            XCTAssertEqual(propagated.count, count + 2)
            XCTAssertTrue(propagated.dropFirst().dropLast().allSatisfy { $0.count == 3 && $0[0] == "SREM" && $0[1] == "s" })
            XCTAssertEqual(events, ["spop s"])
            XCTAssertEqual(server.dirty, before + count)
        }
        XCTAssertEqual(run("SCARD", "s"), ":1\r\n")

        // The whole set (CASE 1): DEL key, "spop" then "del".
        let before = server.dirty
        run("SPOP", "s", "5")
        (propagated, events) = take()
        XCTAssertEqual(propagated, [["DEL", "s"]])
        XCTAssertEqual(events, ["spop s", "del s"])
        XCTAssertEqual(server.dirty, before + 1)
        XCTAssertEqual(run("EXISTS", "s"), ":0\r\n")

        // Nothing popped, nothing propagated.
        run("SPOP", "nokey", "3")
        run("SPOP", "nokey")
        XCTAssertTrue(take().propagated.isEmpty)
    }

    /// CASE 3 keeps the remainder in a new set: a hashtable of integers becomes an intset again.
    func testSpopKeepingFewRebuildsTheSet() {
        run("CONFIG", "SET", "set-max-intset-entries", "4")
        run("SADD", "h", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
        XCTAssertEqual(run("OBJECT", "ENCODING", "h"), "$9\r\nhashtable\r\n")
        _ = take()
        run("SPOP", "h", "9")  // 1 left: 1 * 5 <= 9
        XCTAssertEqual(run("OBJECT", "ENCODING", "h"), "$6\r\nintset\r\n")
        XCTAssertEqual(run("SCARD", "h"), ":1\r\n")
        let propagated = take().propagated
        XCTAssertEqual(propagated.count, 9 + 2)
        let popped = Set(propagated.dropFirst().dropLast().map { $0[2] })
        XCTAssertEqual(popped.count, 9)
        for member in popped { XCTAssertEqual(run("SISMEMBER", "h", member), ":0\r\n") }
    }

    func testNotificationsAndDirtyAsRedis() {
        let start = server.dirty
        run("SADD", "a", "1", "2", "x")
        run("SADD", "a", "1")
        XCTAssertEqual(take().events, ["sadd a"])
        XCTAssertEqual(server.dirty, start + 3)

        run("SREM", "a", "1", "nope")
        run("SREM", "a", "2", "x", "more")
        XCTAssertEqual(take().events, ["srem a", "srem a", "del a"])
        XCTAssertEqual(server.dirty, start + 6)

        run("SADD", "src", "m", "n")
        run("SADD", "dst", "n")
        _ = take()
        var before = server.dirty
        run("SMOVE", "src", "dst", "n")   // already in the destination: no "sadd"
        XCTAssertEqual(take().events, ["srem src"])
        XCTAssertEqual(server.dirty, before + 1)
        before = server.dirty
        run("SMOVE", "src", "new", "m")   // the source empties, the destination is created
        XCTAssertEqual(take().events, ["srem src", "del src", "sadd new"])
        XCTAssertEqual(server.dirty, before + 2)
        XCTAssertEqual(run("OBJECT", "ENCODING", "new"), "$9\r\nhashtable\r\n")

        run("SADD", "i", "1", "2")
        _ = take()
        before = server.dirty
        run("SINTERSTORE", "d", "i", "i")
        run("SUNIONSTORE", "d", "i")
        run("SDIFFSTORE", "d", "i", "nokey")
        run("SDIFFSTORE", "d", "i", "i")  // empty: the destination goes
        run("SDIFFSTORE", "d", "i", "i")  // nothing to delete: no event, no change
        XCTAssertEqual(take().events, ["sinterstore d", "sunionstore d", "sdiffstore d", "del d"])
        XCTAssertEqual(server.dirty, before + 4)
        // The STORE commands are propagated as received.
        run("SUNIONSTORE", "d", "i")
        XCTAssertEqual(take().propagated, [["SUNIONSTORE", "d", "i"]])
    }

    func testRepliesInResp3AreSets() {
        run("HELLO", "3")
        run("SADD", "s", "3", "1", "2")
        XCTAssertEqual(run("SMEMBERS", "s"), "~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        XCTAssertEqual(run("SINTER", "s", "s"), "~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        XCTAssertEqual(run("SUNION", "s", "nokey"), "~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        XCTAssertEqual(run("SDIFF", "nokey", "s"), "~0\r\n")
        XCTAssertEqual(run("SPOP", "nokey", "2"), "~0\r\n")
        XCTAssertEqual(run("SPOP", "s", "0"), "~0\r\n")
        XCTAssertEqual(run("SRANDMEMBER", "s", "5"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        XCTAssertEqual(run("SRANDMEMBER", "nokey", "5"), "*0\r\n")
        XCTAssertEqual(run("SPOP", "nokey"), "_\r\n")
        XCTAssertEqual(run("SPOP", "s", "9"), "~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
    }
}
