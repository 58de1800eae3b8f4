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

    /// How the set is held under its key: inline while SADD and SREM keep it a small intset that fits the
    /// entry; a SetValue once it outgrows it, or when another command edits it; inline again when a STORE
    /// builds it anew. OBJECT ENCODING says "intset" for both, and the replies do not change.
    func testSmallIntegerSetsLiveInTheirEntry() {
        func stored(_ key: String) -> String {
            switch client.db.lookup(ByteString(key), now: server.now, [.write, .noTouch]) {
            case .inlineIntset?: return "inline"
            case .set(let set)?: return set.isIntset ? "intset" : "hashtable"
            case nil: return "none"
            default: return "other"
            }
        }
        run("SADD", "s", "3", "1", "2")
        XCTAssertEqual(stored("s"), "inline")
        XCTAssertEqual(run("OBJECT", "ENCODING", "s"), "$6\r\nintset\r\n")
        XCTAssertEqual(run("SMEMBERS", "s"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        XCTAssertEqual(run("SCARD", "s"), ":3\r\n")
        XCTAssertEqual(run("SMISMEMBER", "s", "2", "4", "x"), "*3\r\n:1\r\n:0\r\n:0\r\n")
        XCTAssertEqual(run("SADD", "s", "2", "4", "-4"), ":2\r\n")
        XCTAssertEqual(run("SREM", "s", "1", "x", "7"), ":1\r\n")
        XCTAssertEqual(stored("s"), "inline")
        // A TTL stays with an edit in place.
        run("EXPIRE", "s", "100")
        run("SADD", "s", "5")
        XCTAssertEqual(run("TTL", "s"), ":100\r\n")

        // Past what the entry holds: a SetValue, still an intset, the same members.
        run("SADD", "s", "-9223372036854775808", "9223372036854775807", "0")
        XCTAssertEqual(stored("s"), "intset")
        XCTAssertEqual(run("SCARD", "s"), ":8\r\n")
        XCTAssertEqual(run("TTL", "s"), ":100\r\n")
        // A string member in the same command: the members before it stay inline no more.
        run("SADD", "t", "1", "2", "x", "3")
        XCTAssertEqual(stored("t"), "hashtable")
        XCTAssertEqual(run("SCARD", "t"), ":4\r\n")
        // set-max-intset-entries bounds the inline form too.
        run("CONFIG", "SET", "set-max-intset-entries", "2")
        run("SADD", "u", "1", "2")
        XCTAssertEqual(stored("u"), "inline")
        XCTAssertEqual(run("SADD", "u", "2", "3"), ":1\r\n")
        XCTAssertEqual(stored("u"), "hashtable")
        run("CONFIG", "SET", "set-max-intset-entries", "512")

        // SPOP and SMOVE edit a SetValue; a STORE result that fits is inline again.
        run("SADD", "p", "1", "2", "3")
        XCTAssertEqual(run("SMOVE", "p", "p", "2"), ":1\r\n")
        XCTAssertEqual(stored("p"), "inline")
        XCTAssertEqual(run("SMOVE", "p", "q", "2"), ":1\r\n")
        XCTAssertEqual([stored("p"), stored("q")], ["intset", "intset"])
        run("SPOP", "p")
        XCTAssertEqual(stored("p"), "intset")
        run("SADD", "r", "1", "2", "3")
        run("SINTERSTORE", "d", "r", "r")
        XCTAssertEqual(stored("d"), "inline")
        XCTAssertEqual(run("SMEMBERS", "d"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        XCTAssertEqual(run("SDIFF", "r", "r"), "*0\r\n")

        // SREM of the first value where the rest would not fit the entry (its new base needs a wider field):
        // the set moves to a SetValue and the command goes on there.
        run("SADD", "w", "0", "40000", "41000", "42000", "43000", "44000", "45000", "46000", "47000", "48000", "49000")
        XCTAssertEqual(stored("w"), "inline")
        XCTAssertEqual(run("SREM", "w", "7", "0", "41000", "x"), ":2\r\n")
        XCTAssertEqual(stored("w"), "intset")
        XCTAssertEqual(run("SCARD", "w"), ":9\r\n")
        XCTAssertEqual(run("SISMEMBER", "w", "0"), ":0\r\n")
        // SMOVE of a member the source lacks, and SPOP of 0, change nothing (and move nothing to a SetValue).
        run("SADD", "m", "1", "2")
        XCTAssertEqual(run("SMOVE", "m", "w", "3"), ":0\r\n")
        XCTAssertEqual(run("SPOP", "m", "0"), "*0\r\n")
        XCTAssertEqual(stored("m"), "inline")
        // Many keys, one of them repeated: SUNION and SINTER read each inline set once.
        XCTAssertEqual(run("SINTERCARD", "3", "m", "m", "r"), ":2\r\n")
        XCTAssertEqual(run("SDIFF", "m", "nokey", "m"), "*0\r\n")

        // Emptied by SREM: the key goes, with Redis's events.
        _ = take()
        XCTAssertEqual(run("SREM", "r", "1", "2", "3", "4"), ":3\r\n")
        XCTAssertEqual(stored("r"), "none")
        XCTAssertEqual(take().events, ["srem r", "del r"])
        client.db.checkInvariants()
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
