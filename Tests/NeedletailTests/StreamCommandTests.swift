import XCTest
@testable import Needletail

/// The stream commands through the server's call path: what they propagate (Redis's forms: XADD with the
/// generated id, `~` trimming as `=` with the threshold reached, XREADGROUP/XCLAIM/XAUTOCLAIM as XCLAIM ...
/// FORCE JUSTID LASTID, NOACK reads as XGROUP SETID), the changes they count, and the keyspace lifecycle.
/// Replies are checked against redis-server by the differential test; these check what a client cannot see.
final class StreamCommandTests: XCTestCase {
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

    private func stream(_ key: String) -> StreamValue? {
        guard case .stream(let s)? = server.databases[0].lookup(ByteString(key), now: 0, [.noTouch, .write]) else { return nil }
        s.checkInvariants()
        return s
    }

    func testXaddPropagatesTheGeneratedID() {
        let reply = run("XADD", "s", "*", "a", "1")
        let id = String(reply.split(separator: "\r\n")[1])
        run("XADD", "s", "99999999999999-*", "a", "2")
        run("XADD", "s", "99999999999999-5", "a", "3")
        XCTAssertEqual(propagated, [["XADD", "s", id, "a", "1"], ["XADD", "s", "99999999999999-0", "a", "2"],
                                    ["XADD", "s", "99999999999999-5", "a", "3"]])
        recorder.units.removeAll()
        run("XADD", "s", "1-1", "a", "1")                  // refused: not propagated
        run("XADD", "nokey", "NOMKSTREAM", "*", "a", "1")   // nothing made: not propagated
        XCTAssertEqual(propagated, [])
        XCTAssertEqual(run("EXISTS", "nokey"), ":0\r\n")
    }

    func testApproximateTrimmingPropagatesTheThresholdReached() {
        server.config.streamNodeMaxEntries = 10
        for i in 1...35 { run("XADD", "s", "\(i)-0", "f", "v") }
        recorder.units.removeAll()
        XCTAssertEqual(run("XTRIM", "s", "MAXLEN", "~", "12"), ":20\r\n")  // whole nodes of 10 only
        XCTAssertEqual(run("XADD", "s", "MINID", "~", "28", "36-0", "f", "v"), "$4\r\n36-0\r\n")
        XCTAssertEqual(run("XTRIM", "s", "MAXLEN", "=", "3"), ":13\r\n")
        XCTAssertEqual(propagated, [["XTRIM", "s", "MAXLEN", "=", "15"], ["XADD", "s", "MINID", "=", "21-0", "36-0", "f", "v"],
                                    ["XTRIM", "s", "MAXLEN", "=", "3"]])
        XCTAssertEqual(stream("s")?.count, 3)
    }

    func testGroupReadsPropagateAsClaims() {
        run("XADD", "s", "1-0", "f", "v")
        run("XADD", "s", "2-0", "f", "v")
        run("XGROUP", "CREATE", "s", "g", "0")
        recorder.units.removeAll()
        run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
        let claims = propagated
        XCTAssertEqual(claims.count, 4, "\(claims)")
        XCTAssertEqual(claims[0], ["MULTI"])
        XCTAssertEqual(claims[3], ["EXEC"])
        for (i, id) in ["1-0", "2-0"].enumerated() {
            let c = claims[i + 1]
            XCTAssertEqual(Array(c[0...5]), ["XCLAIM", "s", "g", "alice", "0", id])
            XCTAssertEqual(c[6], "TIME")
            // LASTID: the group's last id as each entry is delivered.
            XCTAssertEqual(Array(c[8...]), ["RETRYCOUNT", "1", "FORCE", "JUSTID", "LASTID", id])
        }
        XCTAssertEqual(recorder.units.count, 1, "one unit")
        // History reads propagate nothing; NOACK reads move the group: XGROUP SETID.
        recorder.units.removeAll()
        run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")
        run("XADD", "s", "3-0", "f", "v")
        recorder.units.removeAll()
        run("XREADGROUP", "GROUP", "g", "bob", "NOACK", "STREAMS", "s", ">")
        XCTAssertEqual(propagated, [["XGROUP", "SETID", "s", "g", "3-0", "ENTRIESREAD", "3"]])
        // XACK as received; XCLAIM of a deleted entry drops it from the PEL, propagated as a claim.
        recorder.units.removeAll()
        run("XACK", "s", "g", "1-0")
        run("XDEL", "s", "2-0")
        run("XCLAIM", "s", "g", "carol", "0", "2-0")
        let last = propagated
        XCTAssertEqual(last[0], ["XACK", "s", "g", "1-0"])
        XCTAssertEqual(last[1], ["XDEL", "s", "2-0"])
        XCTAssertEqual(Array(last[2][0...5]), ["XCLAIM", "s", "g", "alice", "0", "2-0"])
        XCTAssertEqual(stream("s")?.group(named: "g")?.pending.count, 0)
    }

    func testChangesAreCountedAndEmptyStreamsStay() {
        let events = server.databases[0].events
        var before = events.dirty
        run("XADD", "s", "1-0", "f", "v")
        XCTAssertEqual(events.dirty - before, 1)
        run("XADD", "s", "2-0", "f", "v")
        before = events.dirty
        XCTAssertEqual(run("XDEL", "s", "1-0", "2-0", "3-0"), ":2\r\n")
        XCTAssertEqual(events.dirty - before, 2)
        // A stream emptied by XDEL keeps its key (streams may be empty), its last id and counters.
        XCTAssertEqual(run("EXISTS", "s"), ":1\r\n")
        XCTAssertEqual(run("XLEN", "s"), ":0\r\n")
        XCTAssertEqual(stream("s")?.lastID, StreamID(ms: 2, seq: 0))
        XCTAssertEqual(run("XADD", "s", "2-0", "f", "v"), "-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n")
        XCTAssertEqual(run("TYPE", "s"), "+stream\r\n")
        XCTAssertEqual(run("OBJECT", "ENCODING", "s"), "$6\r\nstream\r\n")
        // COPY shares nothing with the original.
        run("XADD", "s", "5-0", "f", "v")
        run("XGROUP", "CREATE", "s", "g", "0")
        run("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
        XCTAssertEqual(run("COPY", "s", "t"), ":1\r\n")
        run("XACK", "s", "g", "5-0")
        run("XADD", "s", "6-0", "f", "v")
        XCTAssertEqual(stream("t")?.count, 1)
        XCTAssertEqual(stream("t")?.group(named: "g")?.pending.count, 1)
        XCTAssertEqual(run("DEBUG", "DIGEST-VALUE", "t"), run("DEBUG", "DIGEST-VALUE", "t"))
    }
}
