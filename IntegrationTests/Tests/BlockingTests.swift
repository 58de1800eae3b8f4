import Glibc
import XCTest

/// Blocked clients over TCP (Server/Blocking.swift), against the built needletail-server and redis-server
/// 7.0 side by side: each scenario runs on both servers and returns a transcript (every reply's exact bytes,
/// plus observations such as "nothing yet"); the transcripts must be equal, and the needletail one is also
/// checked against the bytes written out here.
///
/// Pinned: a BZPOPMIN/BZPOPMAX/BZMPOP that finds nothing parks the client until a ZADD from another
/// connection serves it; clients blocked on one key are served first come, first served; a client blocked
/// on several keys is served by the first one that receives data; data of another type leaves it blocked;
/// the timeout's null reply in RESP2 and RESP3 (after at least the timeout: lower bound only); requests
/// pipelined behind the blocking one wait for it; INFO's blocked_clients; CLIENT UNBLOCK; and the `timeout`
/// setting never closes a blocked client.
///
/// "Blocked" is observed, never slept on: `waitBlocked` polls INFO clients until blocked_clients reaches the
/// count; the short reads that show a client got nothing yet (`nothingWithin`) are the only waits.
final class BlockingTests: XCTestCase {
    private var needletail: ServerUnderTest!
    private var redis: RawRedisServer!

    /// Fresh servers for each test, so that a client one test leaves blocked cannot count in another.
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

    /// Runs `scenario` on both servers and checks the transcripts (`transcriptsAgree`), leaving no client blocked.
    func onBothServers(_ expected: [String], file: StaticString = #filePath, line: UInt = #line,
                       _ scenario: (Int) throws -> [String]) throws {
        try transcriptsAgree(redis: redis.port, needletail: needletail.port, expected, file: file, line: line,
                             afterEach: leavesNoClientBlocked, scenario)
    }

    // MARK: - Served by a write from another connection

    func testZaddServesABlockedBZPOPMIN() throws {
        try onBothServers([
            "nothing yet",
            "*3\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\n1\r\n",
            ":0\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send(command: [b("BZPOPMIN"), b("k"), b("0")])
            try waitBlocked(admin, 1)
            var t = [try nothingWithin(c, 50)]
            _ = try admin.call("ZADD", "k", "1", "a")
            t.append(text(try c.readReply()))
            t.append(text(try admin.call("EXISTS", "k")))  // the pop emptied it
            return t
        }
    }

    func testServedRepliesInRESP3AndForEveryBlockingCommand() throws {
        try onBothServers([
            "*3\r\n$1\r\nk\r\n$1\r\nc\r\n,3\r\n",
            "*2\r\n$1\r\nk\r\n*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n",
            "*2\r\n$1\r\nk\r\n*1\r\n*2\r\n$1\r\nz\r\n$2\r\n26\r\n",
            "*3\r\n$2\r\nk2\r\n$1\r\ny\r\n$3\r\n0.5\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            _ = try c.call("HELLO", "3")
            var t: [String] = []
            try c.send(command: [b("BZPOPMAX"), b("k"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("ZADD", "k", "1", "a", "2", "b", "3", "c")
            t.append(text(try c.readReply()))
            try c.send(command: [b("BZMPOP"), b("0"), b("1"), b("k"), b("MIN"), b("COUNT"), b("5")])
            t.append(text(try c.readReply()))  // not blocked: a and b are left
            _ = try c.call("HELLO", "2")
            try c.send(command: [b("BZMPOP"), b("0"), b("1"), b("k"), b("MAX")])
            try waitBlocked(admin, 1)
            _ = try admin.call("ZADD", "k", "26", "z")
            t.append(text(try c.readReply()))
            try c.send(command: [b("BZPOPMIN"), b("k1"), b("k2"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("ZADD", "k2", "0.5", "y", "9", "w")
            t.append(text(try c.readReply()))
            _ = try admin.call("DEL", "k2")
            return t
        }
    }

    func testClientsBlockedOnOneKeyAreServedInTheOrderTheyBlocked() throws {
        try onBothServers([
            "first: *3\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\n1\r\n",
            "second: *3\r\n$1\r\nk\r\n$1\r\nb\r\n$1\r\n2\r\n",
            "third: nothing yet", "blocked: 1",
            "third: *3\r\n$1\r\nk\r\n$1\r\nc\r\n$1\r\n3\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let clients = try (0..<3).map { _ in try RawClient(port: port) }
            for (n, c) in clients.enumerated() {
                try c.send(command: [b("BZPOPMIN"), b("k"), b("0")])
                try waitBlocked(admin, n + 1)  // so the order they blocked in is known
            }
            _ = try admin.call("ZADD", "k", "2", "b", "1", "a")  // one command, two elements: two clients served
            var t = ["first: " + text(try clients[0].readReply()), "second: " + text(try clients[1].readReply())]
            t.append("third: " + (try nothingWithin(clients[2], 50)))
            t.append("blocked: \(try blockedClients(admin))")
            _ = try admin.call("ZADD", "k", "3", "c")
            t.append("third: " + text(try clients[2].readReply()))
            return t
        }
    }

    func testClientBlockedOnSeveralKeysIsServedByTheFirstToReceiveData() throws {
        try onBothServers([
            "*3\r\n$2\r\nk3\r\n$1\r\nx\r\n$1\r\n1\r\n",
            ":1\r\n",  // k1, written after, is left alone
            "*3\r\n$2\r\nk2\r\n$1\r\ny\r\n$1\r\n2\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send(command: [b("BZPOPMIN"), b("k1"), b("k2"), b("k3"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("ZADD", "k3", "1", "x")
            var t = [text(try c.readReply())]
            _ = try admin.call("ZADD", "k1", "5", "v")
            t.append(text(try admin.call("ZCARD", "k1")))
            _ = try admin.call("DEL", "k1")
            try c.send(command: [b("BZPOPMAX"), b("k1"), b("k2"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("ZADD", "k2", "2", "y")
            t.append(text(try c.readReply()))
            return t
        }
    }

    func testDataOfAnotherTypeLeavesTheClientBlocked() throws {
        try onBothServers([
            "nothing yet", "blocked: 1",
            "*3\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\n1\r\n",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send(command: [b("BZPOPMIN"), b("k"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("SET", "k", "a string")
            _ = try admin.call("APPEND", "k", "more")
            var t = [try nothingWithin(c, 100), "blocked: \(try blockedClients(admin))"]
            _ = try admin.call("DEL", "k")
            _ = try admin.call("ZADD", "k", "1", "a")
            t.append(text(try c.readReply()))
            _ = try admin.call("SET", "k", "a string")
            t.append(text(try c.call("BZPOPMIN", "nothing", "k", "0")))  // a string already there: an error at once
            return t
        }
    }

    // MARK: - Leaving without data

    func testTimeoutRepliesNullAfterTheTimeout() throws {
        var elapsed: [Int64] = []
        try onBothServers(["*-1\r\n", "*-1\r\n", "_\r\n", "_\r\n"]) { port in
            let c = try RawClient(port: port)
            var t: [String] = []
            for (n, request) in [["BZPOPMIN", "k", "0.2"], ["BZMPOP", "0.2", "2", "k", "k2", "MIN"],
                                 ["HELLO", "3"], ["BZPOPMAX", "k", "0.2"], ["BZMPOP", "0.2", "1", "k", "MAX", "COUNT", "3"]].enumerated() {
                let started = clockMillis()
                let reply = try c.call(request.map(b))
                if n == 2 { continue }  // HELLO
                elapsed.append(clockMillis() - started)
                t.append(text(reply))
            }
            return t
        }
        // A lower bound only: a busy machine may run late, never early.
        for ms in elapsed { XCTAssertGreaterThanOrEqual(ms, 195, "a 200 ms timeout replied after \(ms) ms") }
    }

    func testPipelinedRequestsWaitForTheBlockedOne() throws {
        try onBothServers([
            "nothing yet", "$-1\r\n",
            "*3\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\n1\r\n", "+PONG\r\n", "+OK\r\n", "$3\r\nyes\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send([[b("BZPOPMIN"), b("k"), b("0")], [b("PING")], [b("SET"), b("after"), b("yes")], [b("GET"), b("after")]]
                .flatMap(RawClient.encode))
            try waitBlocked(admin, 1)
            var t = [try nothingWithin(c, 100)]
            t.append(text(try admin.call("GET", "after")))  // the SET behind the blocked request has not run
            _ = try admin.call("ZADD", "k", "1", "a")
            for _ in 0..<4 { t.append(text(try c.readReply())) }
            return t
        }
    }

    func testInfoCountsBlockedClients() throws {
        try onBothServers(["0", "2", "1", "0"]) { port in
            let admin = try RawClient(port: port)
            var t = ["\(try blockedClients(admin))"]
            let c1 = try RawClient(port: port)
            let c2 = try RawClient(port: port)
            try c1.send(command: [b("BZPOPMIN"), b("k1"), b("0")])
            try c2.send(command: [b("BZMPOP"), b("0"), b("2"), b("k1"), b("k2"), b("MIN")])
            try waitBlocked(admin, 2)
            t.append("\(try blockedClients(admin))")
            _ = try admin.call("ZADD", "k2", "1", "a")
            _ = try c2.readReply()
            t.append("\(try blockedClients(admin))")
            _ = try admin.call("ZADD", "k1", "1", "a")
            _ = try c1.readReply()
            t.append("\(try blockedClients(admin))")
            return t
        }
    }

    func testClientUnblock() throws {
        try onBothServers([
            ":1\r\n", "*-1\r\n",
            ":1\r\n", "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
            ":0\r\n", "+PONG\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            let id = String(try RawReply.parse(try c.call("CLIENT", "ID")).integer!)
            var t: [String] = []
            for reason in ["TIMEOUT", "ERROR"] {
                try c.send(command: [b("BZPOPMIN"), b("k"), b("0")])
                try waitBlocked(admin, 1)
                t.append(text(try admin.call("CLIENT", "UNBLOCK", id, reason)))
                t.append(text(try c.readReply()))
            }
            t.append(text(try admin.call("CLIENT", "UNBLOCK", id)))  // not blocked
            t.append(text(try c.call("PING")))
            return t
        }
    }

    /// `timeout 1` closes an idle connection after a second but never a blocked one (Redis's
    /// clientsCronHandleTimeout skips blocked clients; their own timeout applies). needletail only:
    /// redis-server checks idle clients once a second in its cron, so it may take twice as long there.
    func testTimeoutSettingDoesNotCloseABlockedClient() throws {
        let server = try ServerUnderTest.start(extraArguments: ["--timeout", "1"])
        defer { server.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0) }
        let blocked = try RawClient(port: server.port)
        let idle = try RawClient(port: server.port, timeoutMillis: 4000)
        XCTAssertEqual(try idle.call("PING"), b("+PONG\r\n"))
        try blocked.send(command: [b("BZPOPMIN"), b("k"), b("0")])
        let started = clockMillis()
        XCTAssertEqual(try idle.readUntilClosed(), [], "the idle client is closed by the timeout")
        XCTAssertGreaterThanOrEqual(clockMillis() - started, 900)
        rawSleepMillis(300)  // well past the second for the blocked client too
        let admin = try RawClient(port: server.port)
        XCTAssertEqual(try blockedClients(admin), 1, "the blocked client is still there")
        XCTAssertEqual(try admin.call("ZADD", "k", "1", "a"), b(":1\r\n"))
        XCTAssertEqual(text(try blocked.readReply()), "*3\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\n1\r\n")
    }
}

// MARK: - Helpers (BlockingTests, ListBlockingTests, ClientPauseTests and SeamRegressionTests use them)

/// Runs `scenario` on redis-server, then on needletail (each after FLUSHALL; `afterEach` then checks or
/// resets the server through an admin connection), and checks that the transcripts agree and that
/// needletail's is `expected`.
func transcriptsAgree(redis: Int, needletail: Int, _ expected: [String], file: StaticString, line: UInt,
                      afterEach: (RawClient, StaticString, UInt) throws -> Void,
                      _ scenario: (Int) throws -> [String]) throws {
    var transcripts: [[String]] = []
    for port in [redis, needletail] {
        let admin = try RawClient(port: port)
        XCTAssertEqual(try admin.call("FLUSHALL"), Array("+OK\r\n".utf8), file: file, line: line)
        transcripts.append(try scenario(port))
        try afterEach(admin, file, line)
    }
    XCTAssertEqual(transcripts[1], transcripts[0], "needletail (first) differs from redis-server (second)", file: file, line: line)
    XCTAssertEqual(transcripts[1], expected, "needletail's transcript", file: file, line: line)
}

/// `transcriptsAgree`'s check for blocking scenarios: every client they blocked was served or released.
func leavesNoClientBlocked(_ admin: RawClient, _ file: StaticString, _ line: UInt) throws {
    XCTAssertEqual(try blockedClients(admin), 0, "the scenario leaves no client blocked", file: file, line: line)
}

func blockedClients(_ admin: RawClient) throws -> Int {
    let info = String(decoding: try admin.call("INFO", "clients"), as: UTF8.self)
    guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("blocked_clients:") }),
          let n = Int(line.dropFirst("blocked_clients:".count)) else {
        throw HarnessError("no blocked_clients in INFO clients: \(info.debugDescription)")
    }
    return n
}

/// Polls INFO until `count` clients are blocked (5 s at most).
func waitBlocked(_ admin: RawClient, _ count: Int) throws {
    let deadline = clockMillis() + 5000
    while true {
        let n = try blockedClients(admin)
        if n == count { return }
        if clockMillis() > deadline { throw HarnessError("blocked_clients stayed \(n), expected \(count)") }
        rawSleepMillis(2)
    }
}

/// "nothing yet" if no reply arrives within `ms`, else the reply (a failure in the transcript).
func nothingWithin(_ c: RawClient, _ ms: Int32) throws -> String {
    let saved = c.timeoutMillis
    defer { c.timeoutMillis = saved }
    c.timeoutMillis = ms
    do {
        return "unexpected reply " + text(try c.readReply())
    } catch RawClientError.timeout(let partial) where partial.isEmpty {
        return "nothing yet"
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
