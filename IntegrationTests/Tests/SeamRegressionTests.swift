import Glibc
import XCTest
@testable import Needletail

/// Differences from redis-server 7.0 that pinning the seams (SeamTests, BlockingTests, OutputBufferLimitTests)
/// found, one test each, now fixed: ZMPOP/BZMPOP propagate as ZPOPMIN|ZPOPMAX key count and SET ... GET
/// without GET; a blocked client that disconnects is forgotten (it is still read from); a blocked client is
/// served from the key that received data first; the soft output limit is enforced by the cron too.

// MARK: - Propagation (item 2)

extension SeamTests {
    /// Redis 7.0 propagates ZMPOP and BZMPOP (served at once or later) as ZPOPMIN/ZPOPMAX <key> <count
    /// actually popped>, and SET ... GET without the GET argument (needletail once propagated ZMPOP as received,
    /// BZMPOP as ZMPOP 1 <key> MIN|MAX COUNT <count asked>, and SET ... GET with GET).
    func testPopsAndSetGetPropagateAsRedis() throws {
        let (redis, needletail) = try transcripts(SeamScript.pops)
        compare(\.propagated, "propagated commands", SeamScript.pops, redis, needletail)
    }

    func testBlockedBZMPOPServedLaterPropagatesAsRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let scenario: [SeamServedLater.Step] = [
            .park(1, ["BZMPOP", "0", "1", "k", "MAX", "COUNT", "5"]), .waitBlocked(1),
            .send(0, ["ZADD", "k", "1", "a", "2", "b", "3", "c"]),
            .read(1),
        ]
        let redis = try SeamServedLater.onRedis(scenario)
        let needletail = try SeamServedLater.onNeedletail(scenario)
        XCTAssertEqual(needletail.replies, redis.replies, "replies")
        XCTAssertEqual(needletail.events, redis.events, "keyspace events")
        XCTAssertEqual(needletail.propagated, redis.propagated, "propagated commands")
    }
}

// MARK: - Blocked clients (item 4)

extension BlockingTests {
    /// redis-server keeps reading a blocked client, sees its EOF and forgets it (needletail once stopped reading
    /// blocked clients, never saw the close, and popped the next ZADD for the dead client).
    func testBlockedClientThatDisconnectsIsForgotten() throws {
        try onBothServers(["blocked: 1", "blocked: 0", ":1\r\n", ":1\r\n", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send(command: [bytes("BZPOPMIN"), bytes("k"), bytes("0")])
            try waitBlocked(admin, 1)
            var t = ["blocked: \(try blockedClients(admin))"]
            c.close()
            let deadline = clockMillis() + 1000
            while try blockedClients(admin) != 0 && clockMillis() < deadline { rawSleepMillis(5) }
            t.append("blocked: \(try blockedClients(admin))")
            t.append(string(try admin.call("ZADD", "k", "1", "a")))
            t.append(string(try admin.call("ZCARD", "k")))  // nobody took it
            t.append(string(try admin.call("ZRANGE", "k", "0", "-1", "WITHSCORES")))
            return t
        }
    }

    /// Two keys a client waits on receive data in one pipeline (ZADD k3, then ZADD k1): redis-server 7.0
    /// serves it from k3, the key that received data first (re-running the command alone would take the first
    /// non-empty key in argument order, k1, as Redis 7.2 does: Client.servingReadyKey prevents that).
    func testKeyThatReceivesDataFirstInOnePipelineServesTheClient() throws {
        try onBothServers(["*3\r\n$2\r\nk3\r\n$1\r\nx\r\n$1\r\n1\r\n", ":1\r\n"]) { port in
            let admin = try RawClient(port: port)
            let c = try RawClient(port: port)
            try c.send(command: [bytes("BZPOPMIN"), bytes("k1"), bytes("k2"), bytes("k3"), bytes("0")])
            try waitBlocked(admin, 1)
            try admin.send(RawClient.encode([bytes("ZADD"), bytes("k3"), bytes("1"), bytes("x")])
                           + RawClient.encode([bytes("ZADD"), bytes("k1"), bytes("5"), bytes("v")]))
            _ = try admin.readReply()
            _ = try admin.readReply()
            let t = [string(try c.readReply()), string(try admin.call("ZCARD", "k1"))]
            _ = try admin.call("DEL", "k1", "k3")
            return t
        }
    }
}

// MARK: - Output buffer limits (item 5)

extension OutputBufferLimitTests {
    /// redis-server also checks the limits in clientsCron (every client at least once a second), so a client
    /// over the soft limit for longer than its seconds is closed even if it sends nothing more (the server
    /// cron checks clients over their soft limit), and logged as closed there ("closed for overcoming", not
    /// "scheduled to be closed ASAP").
    func testSoftLimitIsEnforcedWithoutAnotherCommand() throws {
        let cronLogLine = "closed for overcoming of output buffer limits."
        func scenario(port: Int) throws -> Bool {
            let admin = try RawClient(port: port)
            XCTAssertEqual(try admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 0 256kb 1"), bytes("+OK\r\n"))
            XCTAssertEqual(try admin.call([bytes("SET"), bytes("big"), Self.big]), bytes("+OK\r\n"))
            rawSleepMillis(250)
            let flooder = try slowReader(port: port)
            try flooder.send((0..<12).flatMap { _ in RawClient.encode([bytes("GET"), bytes("big")]) })
            // Redis counts whole seconds (server.unixtime): closed 1-2 s after the limit was passed, plus the
            // cron's sweep.
            let deadline = clockMillis() + 3500
            while clockMillis() < deadline {
                if try connectedClients(admin) == 1 { return true }
                rawSleepMillis(20)
            }
            return false
        }
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        XCTAssertTrue(try scenario(port: redis.port), "redis-server closes it")
        XCTAssertTrue(rawTail(of: redis.logPath, 8000).contains(" \(cronLogLine)"), "redis-server logs it as closed by the cron")
        let server = try ServerUnderTest.start()
        defer { server.stop() }
        XCTAssertTrue(try scenario(port: server.port), "needletail closes it")
        let log = server.logTail(8000)
        XCTAssertTrue(log.contains(" \(cronLogLine)"), "needletail logs it as closed by the cron: \(log.suffix(600))")
    }
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
private func string(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
