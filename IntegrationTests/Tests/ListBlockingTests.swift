import Glibc
import XCTest
@testable import Needletail

/// The blocking list pops over TCP (Commands/Lists.swift on Server/Blocking.swift), against the built
/// needletail-server and redis-server 7.0 side by side: each scenario runs on both servers and returns a
/// transcript (every reply's exact bytes, plus observations such as "nothing yet"); the transcripts must be
/// equal, and the needletail one is also checked against the bytes written out here.
///
/// Pinned: BLPOP/BRPOP/BLMPOP/BLMOVE/BRPOPLPUSH that find no list park the client until a push from another
/// connection serves it; clients blocked on one key are served in the order they blocked, as many as the
/// push brought elements; a client blocked on several keys is served by the first that receives data; a key
/// of another type leaves it blocked; a BLMOVE whose destination became another type gets WRONGTYPE when
/// served; the timeout's null array in RESP2 and RESP3; requests pipelined behind a blocked one wait.
///
/// "Blocked" is observed, never slept on: `waitBlocked` polls INFO clients until blocked_clients reaches the
/// count; the short reads that show a client got nothing yet (`nothingWithin`) are the only waits.
final class ListBlockingTests: XCTestCase {
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

    /// Runs `scenario` on both servers and checks the transcripts (`transcriptsAgree`), leaving no client blocked.
    private func onBothServers(_ expected: [String], file: StaticString = #filePath, line: UInt = #line,
                               _ scenario: (Int) throws -> [String]) throws {
        try transcriptsAgree(redis: redis.port, needletail: needletail.port, expected, file: file, line: line,
                             afterEach: leavesNoClientBlocked, scenario)
    }

    func testPushServesABlockedBLPOP() throws {
        try onBothServers([
            "nothing yet",
            ":2\r\n",
            "*2\r\n$1\r\nk\r\n$1\r\na\r\n",
            ":1\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send(command: [b("BLPOP"), b("k"), b("0")])
            try waitBlocked(admin, 1)
            var t = [try nothingWithin(c, 50)]
            t.append(text(try admin.call("RPUSH", "k", "a", "b")))
            t.append(text(try c.readReply()))
            t.append(text(try admin.call("LLEN", "k")))
            return t
        }
    }

    /// Redis serves blocked clients right after the command that filled their key, before the next request
    /// of the same pipeline: LLEN already sees the list emptied, and CLIENT UNBLOCK finds nobody to unblock.
    func testBlockedClientIsServedBeforeTheNextPipelinedRequest() throws {
        try onBothServers([":1\r\n:0\r\n:0\r\n", "*2\r\n$1\r\nk\r\n$1\r\nx\r\n"]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            let id = String(decoding: try c.call("CLIENT", "ID").filter { $0 >= 48 && $0 <= 57 }, as: UTF8.self)
            try c.send(command: [b("BLPOP"), b("k"), b("0")])
            try waitBlocked(admin, 1)
            try admin.send(RawClient.encode([b("LPUSH"), b("k"), b("x")]) + RawClient.encode([b("LLEN"), b("k")])
                + RawClient.encode([b("CLIENT"), b("UNBLOCK"), b(id)]))
            let replies = try (0..<3).map { _ in text(try admin.readReply()) }.joined()
            return [replies, text(try c.readReply())]
        }
    }

    func testEveryBlockingListCommandServedLaterInRESP2AndRESP3() throws {
        try onBothServers([
            "*2\r\n$2\r\nk2\r\n$1\r\nz\r\n",
            "*2\r\n$1\r\nk\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n",
            "$1\r\nx\r\n",
            "*1\r\n$1\r\nx\r\n",
            "$1\r\np\r\n",
            "*3\r\n$1\r\nq\r\n$1\r\np\r\n$1\r\nx\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            _ = try c.call("HELLO", "3")
            var t: [String] = []
            try c.send(command: [b("BRPOP"), b("k1"), b("k2"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("RPUSH", "k2", "y", "z")
            t.append(text(try c.readReply()))
            try c.send(command: [b("BLMPOP"), b("0"), b("2"), b("nokey"), b("k"), b("RIGHT"), b("COUNT"), b("2")])
            try waitBlocked(admin, 1)
            _ = try admin.call("RPUSH", "k", "a", "b", "c")
            t.append(text(try c.readReply()))
            _ = try c.call("HELLO", "2")
            try c.send(command: [b("BLMOVE"), b("src"), b("dst"), b("left"), b("RIGHT"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("LPUSH", "src", "x")
            t.append(text(try c.readReply()))
            t.append(text(try admin.call("LRANGE", "dst", "0", "-1")))
            try c.send(command: [b("BRPOPLPUSH"), b("src2"), b("dst"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("RPUSH", "src2", "p")
            t.append(text(try c.readReply()))
            _ = try admin.call("LPUSH", "dst", "q")
            t.append(text(try admin.call("LRANGE", "dst", "0", "-1")))
            _ = try admin.call("DEL", "k", "k2", "dst")
            return t
        }
    }

    func testClientsBlockedOnOneKeyAreServedInTheOrderTheyBlocked() throws {
        try onBothServers([
            "first: *2\r\n$1\r\nk\r\n$1\r\na\r\n",
            "second: *2\r\n$1\r\nk\r\n$1\r\nb\r\n",
            "third: nothing yet", "blocked: 1", "exists: :0\r\n",
            "third: *2\r\n$1\r\nk\r\n$1\r\nc\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let clients = try (0..<3).map { _ in try RawClient(port: port) }
            for (n, c) in clients.enumerated() {
                try c.send(command: [b("BLPOP"), b("k"), b("0")])
                try waitBlocked(admin, n + 1)
            }
            _ = try admin.call("RPUSH", "k", "a", "b")  // one command, two elements: two clients served
            var t = ["first: " + text(try clients[0].readReply()), "second: " + text(try clients[1].readReply())]
            t.append("third: " + (try nothingWithin(clients[2], 50)))
            t.append("blocked: \(try blockedClients(admin))")
            t.append("exists: " + text(try admin.call("EXISTS", "k")))  // the pops emptied and deleted it
            _ = try admin.call("RPUSH", "k", "c")
            t.append("third: " + text(try clients[2].readReply()))
            return t
        }
    }

    func testAnotherTypeLeavesTheClientBlockedAndAWrongDestinationFailsTheMove() throws {
        try onBothServers([
            "nothing yet",
            "*2\r\n$1\r\nk\r\n$1\r\na\r\n",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            "*1\r\n$1\r\nv\r\n",
        ]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send(command: [b("BLPOP"), b("k"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("SET", "k", "string")
            var t = [try nothingWithin(c, 50)]
            _ = try admin.call("DEL", "k")
            _ = try admin.call("LPUSH", "k", "a")
            t.append(text(try c.readReply()))
            try c.send(command: [b("BLMOVE"), b("src"), b("dst"), b("LEFT"), b("LEFT"), b("0")])
            try waitBlocked(admin, 1)
            _ = try admin.call("SET", "dst", "string")
            _ = try admin.call("RPUSH", "src", "v")
            t.append(text(try c.readReply()))  // served, but the destination is a string now
            t.append(text(try admin.call("LRANGE", "src", "0", "-1")))  // nothing moved
            _ = try admin.call("DEL", "src", "dst")
            return t
        }
    }

    func testTimeoutRepliesANullArrayAndPipelinedRequestsWait() throws {
        try onBothServers([
            "*-1\r\n", "+PONG\r\n", "_\r\n", "*-1\r\n", "$-1\r\n",
        ]) { port in
            let c = try RawClient(port: port)
            var t: [String] = []
            let started = clockMillis()
            try c.send(RawClient.encode([b("BLPOP"), b("k"), b("0.1")]) + RawClient.encode([b("PING")]))
            t.append(text(try c.readReply()))
            t.append(text(try c.readReply()))
            // Deadlines are whole wall-clock milliseconds (both servers): the wait can be 1 ms short of 100.
            XCTAssertGreaterThanOrEqual(clockMillis() - started, 99)
            _ = try c.call("HELLO", "3")
            t.append(text(try c.call("BLMPOP", "0.05", "1", "k", "LEFT")))
            _ = try c.call("HELLO", "2")
            t.append(text(try c.call("BLMOVE", "k", "d", "LEFT", "LEFT", "0.05")))
            t.append(text(try c.call("RPOPLPUSH", "k", "d")))
            return t
        }
    }

    // MARK: - Propagation of a command served after blocking

    /// What a client served after blocking propagates, each as its own unit after the push that served it,
    /// as redis-server 7.0.15 writes them to its AOF (recorded with `--appendonly yes`): BLMOVE as LMOVE with
    /// lowercase "left"/"right" (the client wrote "lEft riGht"), BLPOP as LPOP key, BLMPOP as RPOP key and
    /// the popped count, BRPOPLPUSH as RPOPLPUSH. An in-process server whose loop runs on its own thread.
    func testServedLaterPropagatesAsRedisDoes() throws {
        let config = Config()
        config.port = 0
        config.bind = ["127.0.0.1"]
        config.loglevel = "warning"
        let server = try Server(config: config, ephemeralPort: true)
        let recorder = LockedRecorder()
        server.propagationSink = recorder
        try server.listen()
        let loop = try startServerLoop(server)
        defer {
            server.stop()
            pthread_join(loop, nil)
        }
        let admin = try RawClient(port: server.port)
        let waiting: [[String]] = [["BLMOVE", "src", "dst", "lEft", "riGht", "0"], ["BLPOP", "k1", "0"],
                                   ["BLMPOP", "0", "1", "k2", "RIGHT", "COUNT", "5"], ["BRPOPLPUSH", "k3", "d2", "0"]]
        var clients: [RawClient] = []
        for (n, argv) in waiting.enumerated() {
            let c = try RawClient(port: server.port)
            try c.send(command: argv.map { b($0) })
            try waitBlocked(admin, n + 1)
            clients.append(c)
        }
        let pushes: [[String]] = [["RPUSH", "src", "v"], ["RPUSH", "k1", "a", "b"], ["RPUSH", "k2", "a", "b", "c"],
                                  ["LPUSH", "k3", "x"]]
        for (c, push) in zip(clients, pushes) {
            _ = try admin.call(push.map { b($0) })
            _ = try c.readReply()
        }
        XCTAssertEqual(recorder.units, [
            ["RPUSH src v"], ["LMOVE src dst left right"], ["RPUSH k1 a b"], ["LPOP k1"],
            ["RPUSH k2 a b c"], ["RPOP k2 3"], ["LPUSH k3 x"], ["RPOPLPUSH k3 d2"],
        ])
    }

    private final class LockedRecorder: PropagationSink {
        private var lock = pthread_mutex_t()
        private var recorded: [[String]] = []

        init() { pthread_mutex_init(&lock, nil) }
        deinit { pthread_mutex_destroy(&lock) }

        func propagate(_ commands: [PropagatedCommand]) {
            pthread_mutex_lock(&lock)
            recorded.append(commands.map { $0.argv.map(\.string).joined(separator: " ") })
            pthread_mutex_unlock(&lock)
        }

        var units: [[String]] {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            return recorded
        }
    }

}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
