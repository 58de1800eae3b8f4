import Glibc
import XCTest

/// Blocking XREAD and XREADGROUP over TCP (Commands/Streams.swift on Server/Blocking.swift), against the
/// built needletail-server and redis-server 7.0 side by side: each scenario runs on both servers and the
/// transcripts (every reply's exact bytes, plus "nothing yet" where a client must still wait) must be equal,
/// and equal to the one written here.
///
/// Pinned: XREAD BLOCK with "$" waits for entries after the last id at the time it blocked (not after the
/// last one when it is served); several streams and the one that received data; COUNT when served; the
/// timeout's null in RESP2 and RESP3; XREADGROUP '>' served with the group's next entries (and they become
/// pending); a deleted stream wakes a blocked XREADGROUP with "UNBLOCKED the stream key no longer exists", a
/// destroyed group with "NOGROUP the consumer group this client was blocked on no longer exists", while a
/// blocked XREAD keeps waiting; consumer-group commands do not abort a WATCH of the stream.
final class StreamBlockingTests: XCTestCase {
    private var needletail: ServerUnderTest!
    private var redis: RawRedisServer!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        needletail = try ServerUnderTest.start()
        redis = try RawRedisServer()
    }

    override func tearDown() {
        needletail?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        redis?.stop()
    }

    private func onBothServers(_ expected: [String], file: StaticString = #filePath, line: UInt = #line,
                               _ scenario: (Int) throws -> [String]) throws {
        try transcriptsAgree(redis: redis.port, needletail: needletail.port, expected, file: file, line: line,
                             afterEach: leavesNoClientBlocked, scenario)
    }

    func testXreadDollarWaitsForEntriesAfterTheLastIDWhenItBlocked() throws {
        try onBothServers([
            "$3\r\n1-1\r\n",
            "nothing yet",
            "$3\r\n2-1\r\n",
            "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nf\r\n$1\r\n2\r\n",
            "$3\r\n3-1\r\n",
            "$3\r\n4-1\r\n",
            "*1\r\n*2\r\n$2\r\nt2\r\n*1\r\n*2\r\n$3\r\n4-1\r\n*2\r\n$1\r\nf\r\n$1\r\n4\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            var t = [text(try admin.call("XADD", "s", "1-1", "f", "1"))]
            try c.send(command: [b("XREAD"), b("BLOCK"), b("0"), b("STREAMS"), b("s"), b("$")])
            try waitBlocked(admin, 1)
            t.append(try nothingWithin(c, 30))
            t.append(text(try admin.call("XADD", "s", "2-1", "f", "2")))
            t.append(text(try c.readReply()))
            // Several streams, COUNT 1: served by the one that receives data.
            t.append(text(try admin.call("XADD", "t1", "3-1", "f", "3")))
            try c.send(command: [b("XREAD"), b("COUNT"), b("1"), b("BLOCK"), b("0"), b("STREAMS"), b("t1"), b("t2"), b("$"), b("$")])
            try waitBlocked(admin, 1)
            t.append(text(try admin.call("XADD", "t2", "4-1", "f", "4")))
            t.append(text(try c.readReply()))
            return t
        }
    }

    func testTimeoutInBothProtocols() throws {
        try onBothServers(["*-1\r\n", "_\r\n", "*-1\r\n"]) { port in
            let c = try RawClient(port: port)
            var t = [text(try c.call("XREAD", "BLOCK", "20", "STREAMS", "nokey", "$"))]
            _ = try c.call("HELLO", "3")
            t.append(text(try c.call("XREAD", "BLOCK", "20", "STREAMS", "nokey", "0")))
            _ = try c.call("HELLO", "2")
            _ = try c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
            t.append(text(try c.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", "20", "STREAMS", "s", ">")))
            return t
        }
    }

    func testXreadgroupServedAndPending() throws {
        try onBothServers([
            "+OK\r\n",
            "nothing yet",
            "$3\r\n5-1\r\n",
            "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
            "*4\r\n:1\r\n$3\r\n5-1\r\n$3\r\n5-1\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            var t = [text(try admin.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))]
            try c.send(command: [b("XREADGROUP"), b("GROUP"), b("g"), b("alice"), b("BLOCK"), b("0"), b("STREAMS"), b("s"), b(">")])
            try waitBlocked(admin, 1)
            t.append(try nothingWithin(c, 30))
            t.append(text(try admin.call("XADD", "s", "5-1", "f", "v")))
            t.append(text(try c.readReply()))
            t.append(text(try admin.call("XPENDING", "s", "g")))
            return t
        }
    }

    /// Redis 7.0 signals no modification for consumer-group commands nor XSETID (no signalModifiedKey): a
    /// WATCH on the stream survives them, while XADD/XDEL/XTRIM abort the transaction.
    func testGroupCommandsLeaveWatchedStreamsAlone() throws {
        let group = [["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"], ["XACK", "s", "g", "1-1"],
                     ["XCLAIM", "s", "g", "d", "0", "2-1", "FORCE"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"],
                     ["XGROUP", "CREATECONSUMER", "s", "g", "z"], ["XAUTOCLAIM", "s", "g", "e", "0", "0"],
                     ["XGROUP", "SETID", "s", "g", "0"], ["XGROUP", "DELCONSUMER", "s", "g", "z"],
                     ["XGROUP", "CREATE", "s", "g2", "0"], ["XGROUP", "DESTROY", "s", "g2"]]
        let data = [["XADD", "s", "9-1", "f", "v"], ["XDEL", "s", "9-1"], ["XTRIM", "s", "MAXLEN", "1"]]
        try onBothServers(Array(repeating: "*1\r\n+PONG\r\n", count: group.count) + Array(repeating: "*-1\r\n", count: data.count)
                          + ["*1\r\n+PONG\r\n"]) { port in
            let a = try RawClient(port: port), other = try RawClient(port: port)
            for id in ["1-1", "2-1", "3-1"] { _ = try a.call("XADD", "s", id, "f", "v") }
            _ = try a.call("XGROUP", "CREATE", "s", "g", "0")
            var t: [String] = []
            for command in group + data + [["XSETID", "s", "99-0"]] {
                _ = try a.call("WATCH", "s")
                _ = try other.call(command.map { Array($0.utf8) })
                _ = try a.call("MULTI")
                _ = try a.call("PING")
                t.append(text(try a.call("EXEC")))
            }
            return t
        }
    }

    func testDeletedStreamAndDestroyedGroupWakeXreadgroupNotXread() throws {
        try onBothServers([
            ":1\r\n",
            "-UNBLOCKED the stream key no longer exists\r\n",
            ":1\r\n",
            "-NOGROUP the consumer group this client was blocked on no longer exists\r\n",
            "nothing yet",
            "+OK\r\n",
            "-UNBLOCKED the stream key no longer exists\r\n",
            "*1\r\n*2\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n9-9\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let group = try RawClient(port: port)
            let plain = try RawClient(port: port)
            _ = try admin.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
            try group.send(command: [b("XREADGROUP"), b("GROUP"), b("g"), b("c"), b("BLOCK"), b("0"), b("STREAMS"), b("s"), b(">")])
            try waitBlocked(admin, 1)
            var t = [text(try admin.call("DEL", "s"))]
            t.append(text(try group.readReply()))
            _ = try admin.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
            try group.send(command: [b("XREADGROUP"), b("GROUP"), b("g"), b("c"), b("BLOCK"), b("0"), b("STREAMS"), b("s"), b(">")])
            try waitBlocked(admin, 1)
            t.append(text(try admin.call("XGROUP", "DESTROY", "s", "g")))
            t.append(text(try group.readReply()))
            // XREAD keeps waiting through a deletion and a type change; XREADGROUP takes a type change as a deletion.
            _ = try admin.call("XADD", "x", "1-1", "a", "b")
            try plain.send(command: [b("XREAD"), b("BLOCK"), b("0"), b("STREAMS"), b("x"), b("$")])
            _ = try admin.call("XGROUP", "CREATE", "s", "g", "$")
            try group.send(command: [b("XREADGROUP"), b("GROUP"), b("g"), b("c"), b("BLOCK"), b("0"), b("STREAMS"), b("s"), b(">")])
            try waitBlocked(admin, 2)
            _ = try admin.call("DEL", "x")
            t.append(try nothingWithin(plain, 30))
            t.append(text(try admin.call("SET", "s", "string")))
            t.append(text(try group.readReply()))
            _ = try admin.call("XADD", "x", "9-9", "a", "b")
            t.append(text(try plain.readReply()))
            return t
        }
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
