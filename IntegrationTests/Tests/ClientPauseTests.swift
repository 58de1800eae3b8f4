import Glibc
import XCTest

/// CLIENT PAUSE and CLIENT UNPAUSE over TCP (Server/Blocking.swift, "CLIENT PAUSE"), against the built
/// needletail-server and redis-server 7.0 side by side: each scenario runs on both and their transcripts
/// (exact reply bytes, plus "nothing yet" where a reply must not have arrived) must be equal, and equal to
/// the one written here.
///
/// Pinned: WRITE holds writes back and lets reads through; ALL holds everything, CLIENT UNPAUSE included,
/// until its end; held clients run in the order they arrived, each with the requests it pipelined behind;
/// a write queued in MULTI waits, and so does EXEC of a transaction that queued one; a blocked client's
/// timeout keeps running; expired keys are not deleted while paused; a second pause only extends.
///
/// Pauses end by CLIENT UNPAUSE wherever possible, so no test depends on the machine's speed beyond the short
/// reads that show a reply has not come (`nothingWithin`).
final class ClientPauseTests: XCTestCase {
    private var needletail: ServerUnderTest!
    private var redis: RawRedisServer!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        needletail = try ServerUnderTest.start(extraArguments: ["--enable-debug-command", "yes"])
        redis = try RawRedisServer()  // DEBUG enabled, as needletail here
    }

    override func tearDown() {
        needletail?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        redis?.stop()
    }

    /// Runs `scenario` on both servers and checks the transcripts (`transcriptsAgree`), then ends any pause.
    private func onBothServers(_ expected: [String], file: StaticString = #filePath, line: UInt = #line,
                               _ scenario: (Int) throws -> [String]) throws {
        try transcriptsAgree(redis: redis.port, needletail: needletail.port, expected, file: file, line: line,
                             afterEach: { admin, file, line in
                                 XCTAssertEqual(try admin.call("CLIENT", "UNPAUSE"), b("+OK\r\n"), file: file, line: line)
                             }, scenario)
    }

    func testWritePauseHoldsWritesAndLetsReadsThrough() throws {
        try onBothServers([
            "+OK\r\n", "nothing yet", "$-1\r\n", "+PONG\r\n", ":0\r\n", "held: 1", "+OK\r\n", "+OK\r\n", "$1\r\nv\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let writer = try RawClient(port: port)
            let reader = try RawClient(port: port)
            var t = [text(try admin.call("CLIENT", "PAUSE", "100000", "WRITE"))]
            try writer.send(command: [b("SET"), b("k"), b("v")])
            t.append(try nothingWithin(writer, 100))
            t.append(text(try reader.call("GET", "k")))
            t.append(text(try reader.call("PING")))
            t.append(text(try reader.call("EXISTS", "k")))
            t.append("held: \(try heldClients(admin))")
            t.append(text(try admin.call("CLIENT", "UNPAUSE")))
            t.append(text(try writer.readReply()))
            t.append(text(try reader.call("GET", "k")))
            return t
        }
    }

    /// PUBLISH may replicate: a WRITE pause holds it (the subscriber gets nothing) until it ends; PUBSUB
    /// introspection goes through.
    func testWritePauseHoldsPublish() throws {
        try onBothServers([
            "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", "+OK\r\n", "nothing yet", "nothing yet",
            "*2\r\n$2\r\nch\r\n:1\r\n",
            "+OK\r\n", ":1\r\n", "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let publisher = try RawClient(port: port)
            let subscriber = try RawClient(port: port)
            var t = [text(try subscriber.call("SUBSCRIBE", "ch"))]
            t.append(text(try admin.call("CLIENT", "PAUSE", "100000", "WRITE")))
            try publisher.send(command: [b("PUBLISH"), b("ch"), b("hello")])
            t.append(try nothingWithin(publisher, 100))
            t.append(try nothingWithin(subscriber, 50))
            t.append(text(try admin.call("PUBSUB", "NUMSUB", "ch")))
            t.append(text(try admin.call("CLIENT", "UNPAUSE")))
            t.append(text(try publisher.readReply()))
            t.append(text(try subscriber.readReply()))
            return t
        }
    }

    func testHeldClientsRunInArrivalOrderWithTheirPipelines() throws {
        try onBothServers([
            ":1\r\n", ":2\r\n", ":3\r\n", ":4\r\n", "*4\r\n$1\r\na\r\n$2\r\na2\r\n$1\r\nb\r\n$1\r\nc\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let first = try RawClient(port: port)
            let second = try RawClient(port: port)
            let third = try RawClient(port: port)
            _ = try admin.call("CLIENT", "PAUSE", "100000", "WRITE")
            try first.send(RawClient.encode([b("RPUSH"), b("l"), b("a")]) + RawClient.encode([b("RPUSH"), b("l"), b("a2")]))
            try waitHeld(admin, 1)
            try second.send(command: [b("RPUSH"), b("l"), b("b")])
            try waitHeld(admin, 2)
            try third.send(command: [b("RPUSH"), b("l"), b("c")])
            try waitHeld(admin, 3)
            _ = try admin.call("CLIENT", "UNPAUSE")
            return [text(try first.readReply()), text(try first.readReply()), text(try second.readReply()),
                    text(try third.readReply()), text(try admin.call("LRANGE", "l", "0", "-1"))]
        }
    }

    func testAllPauseHoldsEveryCommandUntilItsEnd() throws {
        try onBothServers(["+OK\r\n", "nothing yet", "nothing yet", "+PONG\r\n", "+OK\r\n", "waited"]) { port in
            let admin = try RawClient(port: port)
            let other = try RawClient(port: port)
            let started = clockMillis()
            var t = [text(try admin.call("CLIENT", "PAUSE", "400", "ALL"))]
            try other.send(command: [b("PING")])
            t.append(try nothingWithin(other, 100))
            try admin.send(command: [b("CLIENT"), b("UNPAUSE")])  // held too: ALL holds every command
            t.append(try nothingWithin(admin, 50))
            other.timeoutMillis = 10_000
            admin.timeoutMillis = 10_000
            t.append(text(try other.readReply()))
            t.append(text(try admin.readReply()))
            t.append(clockMillis() - started >= 390 ? "waited" : "ended early")
            return t
        }
    }

    func testSecondPauseOnlyExtendsAndStrengthens() throws {
        try onBothServers(["+OK\r\n", "+OK\r\n", "nothing yet", "+OK\r\n", "+OK\r\n", "nothing yet", "$1\r\nv\r\n"]) { port in
            let admin = try RawClient(port: port)
            let writer = try RawClient(port: port)
            let reader = try RawClient(port: port)
            // A shorter WRITE pause leaves the long one in place.
            var t = [text(try admin.call("CLIENT", "PAUSE", "100000", "WRITE"))]
            t.append(text(try admin.call("CLIENT", "PAUSE", "1", "WRITE")))
            rawSleepMillis(20)
            try writer.send(command: [b("SET"), b("k"), b("v")])
            t.append(try nothingWithin(writer, 100))
            t.append(text(try admin.call("CLIENT", "UNPAUSE")))
            t.append(text(try writer.readReply()))
            // A short ALL pause on top of a longer WRITE one: reads wait too, until the longer end.
            _ = try admin.call("CLIENT", "PAUSE", "600", "WRITE")
            _ = try admin.call("CLIENT", "PAUSE", "1", "ALL")
            rawSleepMillis(20)
            try reader.send(command: [b("GET"), b("k")])
            t.append(try nothingWithin(reader, 100))
            reader.timeoutMillis = 10_000
            t.append(text(try reader.readReply()))
            return t
        }
    }

    func testTransactionsWaitForTheirWrites() throws {
        try onBothServers([
            "+OK\r\n", "+QUEUED\r\n", "nothing yet", "+QUEUED\r\n", "*2\r\n$-1\r\n+OK\r\n",
            "+OK\r\n", "+QUEUED\r\n", "+OK\r\n", "nothing yet", "*1\r\n:2\r\n",
            "+OK\r\n", "+QUEUED\r\n", "*1\r\n$1\r\n2\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            _ = try admin.call("CLIENT", "PAUSE", "100000", "WRITE")
            // A write is held at queuing time, as in Redis (the pause is checked before MULTI queues).
            var t = [text(try c.call("MULTI")), text(try c.call("GET", "k"))]
            try c.send(command: [b("SET"), b("k"), b("1")])
            t.append(try nothingWithin(c, 100))
            _ = try admin.call("CLIENT", "UNPAUSE")
            t.append(text(try c.readReply()))
            t.append(text(try c.call("EXEC")))
            // A write queued before the pause: EXEC waits.
            t.append(text(try c.call("MULTI")))
            t.append(text(try c.call("INCR", "k")))
            t.append(text(try admin.call("CLIENT", "PAUSE", "100000", "WRITE")))
            try c.send(command: [b("EXEC")])
            t.append(try nothingWithin(c, 100))
            _ = try admin.call("CLIENT", "UNPAUSE")
            t.append(text(try c.readReply()))
            // A read-only transaction runs during the pause.
            _ = try admin.call("CLIENT", "PAUSE", "100000", "WRITE")
            t.append(text(try c.call("MULTI")))
            t.append(text(try c.call("GET", "k")))
            t.append(text(try c.call("EXEC")))
            return t
        }
    }

    /// EVAL, EVALSHA and FCALL may replicate: a WRITE pause holds them, unless the script declares flags without
    /// writes (Redis's getCommandFlags); the _RO forms run.
    func testScriptsWaitUnlessTheyDeclareNoWrites() throws {
        try onBothServers([
            "+OK\r\n", ":1\r\n", ":2\r\n", "-ERR Function not found\r\n", "nothing yet", "nothing yet", "nothing yet", "+OK\r\n", ":4\r\n", ":5\r\n",
            "-NOSCRIPT No matching script. Please use EVAL.\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let reader = try RawClient(port: port)
            let plain = try RawClient(port: port), flagged = try RawClient(port: port), bySHA = try RawClient(port: port)
            var t = [text(try admin.call("CLIENT", "PAUSE", "100000", "WRITE"))]
            t.append(text(try reader.call("EVAL_RO", "return 1", "0")))
            t.append(text(try reader.call("EVAL", "#!lua flags=no-writes\nreturn 2", "0")))
            t.append(text(try reader.call("FCALL_RO", "nosuch", "0")))
            try plain.send(command: [b("EVAL"), b("return 4"), b("0")])
            t.append(try nothingWithin(plain, 100))
            try flagged.send(command: [b("EVAL"), b("#!lua flags=allow-oom\nreturn 5"), b("0")])
            t.append(try nothingWithin(flagged, 50))
            try bySHA.send(command: [b("EVALSHA"), b("0000000000000000000000000000000000000000"), b("0")])
            t.append(try nothingWithin(bySHA, 50))
            t.append(text(try admin.call("CLIENT", "UNPAUSE")))
            t.append(text(try plain.readReply()))
            t.append(text(try flagged.readReply()))
            t.append(text(try bySHA.readReply()))
            return t
        }
    }

    func testBlockedClientsTimeOutWhilePaused() throws {
        try onBothServers([":0\r\n", "*-1\r\n", "+OK\r\n"]) { port in
            let admin = try RawClient(port: port)
            let blocked = try RawClient(port: port)
            try blocked.send(command: [b("BLPOP"), b("l"), b("0.2")])
            try waitBlocked(admin, 1)
            _ = try admin.call("CLIENT", "PAUSE", "100000", "WRITE")
            blocked.timeoutMillis = 10_000
            return [text(try admin.call("EXISTS", "l")), text(try blocked.readReply()),
                    text(try admin.call("CLIENT", "UNPAUSE"))]
        }
    }

    func testExpiredKeysAreNotDeletedWhilePaused() throws {
        try onBothServers(["$-1\r\n", ":0\r\n", ":1\r\n", "$-1\r\n", ":0\r\n"]) { port in
            let admin = try RawClient(port: port)
            _ = try admin.call("DEBUG", "SET-ACTIVE-EXPIRE", "0")
            defer { _ = try? admin.call("DEBUG", "SET-ACTIVE-EXPIRE", "1") }
            _ = try admin.call("SET", "e", "v", "PX", "30")
            _ = try admin.call("CLIENT", "PAUSE", "100000", "WRITE")
            rawSleepMillis(60)
            // Reported missing, but still stored: nothing is deleted during a pause.
            var t = [text(try admin.call("GET", "e")), text(try admin.call("EXISTS", "e")),
                     text(try admin.call("DBSIZE"))]
            _ = try admin.call("CLIENT", "UNPAUSE")
            t += [text(try admin.call("GET", "e")), text(try admin.call("DBSIZE"))]
            return t
        }
    }

    /// Needletail's own choices, where redis-server 7.0 differs (and 7.2 agrees with us).
    func testHeldClientsAreNotUnblockableAndMayDisconnect() throws {
        let admin = try RawClient(port: needletail.port)
        let held = try RawClient(port: needletail.port)
        _ = try admin.call("CLIENT", "PAUSE", "100000", "WRITE")
        try held.send(command: [b("CLIENT"), b("ID")])
        let id = String(decoding: try held.readReply().filter { $0 >= 48 && $0 <= 57 }, as: UTF8.self)
        try held.send(command: [b("SET"), b("gone"), b("v")])
        try waitHeld(admin, 1)
        // Redis 7.0 lets CLIENT UNBLOCK release a held client (and can crash when the pause ends later);
        // 7.2 answers 0, as we do: only the pause's end releases it.
        XCTAssertEqual(text(try admin.call("CLIENT", "UNBLOCK", id)), ":0\r\n")
        XCTAssertEqual(try nothingWithin(held, 50), "nothing yet")
        XCTAssertEqual(try blockedClients(admin), 0, "INFO blocked_clients does not count held clients")
        held.close()
        let deadline = clockMillis() + 5000
        while String(decoding: try admin.call("CLIENT", "LIST"), as: UTF8.self).contains("id=\(id) ") {
            if clockMillis() > deadline { throw HarnessError("the closed client stayed in CLIENT LIST") }
            rawSleepMillis(2)
        }
        let other = try RawClient(port: needletail.port)
        try other.send(command: [b("SET"), b("k"), b("w")])
        try waitHeld(admin, 1)
        XCTAssertEqual(text(try admin.call("CLIENT", "UNPAUSE")), "+OK\r\n")
        XCTAssertEqual(text(try other.readReply()), "+OK\r\n")
        XCTAssertEqual(text(try admin.call("GET", "k")), "$1\r\nw\r\n")
        XCTAssertEqual(text(try admin.call("EXISTS", "gone")), ":0\r\n", "the disconnected client's SET never ran")
    }

    func testArgumentErrors() throws {
        try onBothServers([
            "-ERR timeout is not an integer or out of range\r\n", "-ERR timeout is negative\r\n",
            "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n",
            "-ERR wrong number of arguments for 'client|pause' command\r\n",
            "-ERR wrong number of arguments for 'client|unpause' command\r\n", "+OK\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            return [text(try admin.call("CLIENT", "PAUSE", "1.5")), text(try admin.call("CLIENT", "PAUSE", "-1")),
                    text(try admin.call("CLIENT", "PAUSE", "10", "READ")), text(try admin.call("CLIENT", "PAUSE")),
                    text(try admin.call("CLIENT", "UNPAUSE", "x")), text(try admin.call("CLIENT", "UNPAUSE"))]
        }
    }
}

/// Clients held back by a pause: those CLIENT LIST flags `b` (INFO's blocked_clients does not count them).
private func heldClients(_ admin: RawClient) throws -> Int {
    let list = String(decoding: try admin.call("CLIENT", "LIST"), as: UTF8.self)
    return list.split(separator: "\n").filter { $0.contains(" flags=b ") }.count
}

private func waitHeld(_ admin: RawClient, _ count: Int) throws {
    let deadline = clockMillis() + 5000
    while try heldClients(admin) != count {
        if clockMillis() > deadline { throw HarnessError("held clients never reached \(count)") }
        rawSleepMillis(2)
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
